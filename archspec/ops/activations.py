"""Activations of today's CNNs (hardswish, hardsigmoid, elu, mish, prelu) and stochastic depth.

Counts: an activation does no multiply-accumulate (MACs 0, as for relu); prelu holds one
slope per channel (or one shared). stochastic_depth is torchvision.ops.StochasticDepth: in
training it scales each sample (`row`) or the whole batch (`batch`) by 0 or 1 / (1 - p),
in eval it is the identity.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..dims import Shape
from .base import (
    Bool,
    Category,
    Float,
    Inferred,
    Int,
    LayerSpec,
    LazySpec,
    Op,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)
from .emitting import emit_call
from .layers import _Elementwise, simple_spec
from .support import support_class, support_source


def _elementwise(
    kind: str,
    torch_name: str,
    summary: str,
    fields: dict[str, tuple[Any, Any]],
    category: Category = "act",
) -> None:
    """Register a shape-preserving kind whose fields are torch's keyword arguments."""
    spec = simple_spec(kind, torch_name, summary, fields)
    register(
        type(
            torch_name,
            (_Elementwise,),
            {
                "__module__": __name__,
                "kind": kind,
                "spec": spec,
                "torch_name": torch_name,
                "summary": summary,
                "defaults": {k: v[1] for k, v in fields.items()},
                "category": category,
            },
        )
    )


_elementwise("hardswish", "Hardswish", "x * relu6(x + 3) / 6", {"inplace": (Bool, False)})
_elementwise("hardsigmoid", "Hardsigmoid", "relu6(x + 3) / 6", {"inplace": (Bool, False)})
_elementwise(
    "elu",
    "ELU",
    "exponential linear unit",
    {"alpha": (Float(), 1.0), "inplace": (Bool, False)},
)
_elementwise("mish", "Mish", "x * tanh(softplus(x))", {"inplace": (Bool, False)})


def _p_re_lu_spec() -> type[LayerSpec]:
    class PReLUSpec(LayerSpec):
        """prelu: leaky ReLU with a learned slope, shared (num_parameters 1) or one per channel."""

        type: Literal["prelu"]
        num_parameters: Int(ge=1) = 1  # type: ignore[valid-type]
        init: Float() = 0.25  # type: ignore[valid-type]

    return PReLUSpec


@register
class PReLU(Op):
    kind = "prelu"
    spec = LazySpec(_p_re_lu_spec)
    torch_name = "PReLU"
    category = "act"
    summary = "leaky ReLU with learned slopes"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        n = attrs["num_parameters"]
        if n != 1:
            if len(x) < 2:
                raise ShapeFailure(
                    "E401",
                    f"prelu with num_parameters={n} needs a channel dim (rank >= 2), got {fmt(x)}",
                    "use num_parameters: 1",
                    "num_parameters",
                )
            ctx.require_equal(
                x[1],
                n,
                "E402",
                f"prelu has num_parameters={n}, but the input has {{a}} channels {fmt(x)}",
                "use num_parameters: 1 (one shared slope) or the channel count",
            )
        return Inferred(attrs, x)

    def params(self, a: Mapping[str, Any]) -> int:
        return a["num_parameters"]

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {"weight": 1}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return nn.PReLU(a["num_parameters"], init=a["init"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            "nn.PReLU",
            [],
            {"num_parameters": (a["num_parameters"], 1), "init": (a["init"], 0.25)},
            lit,
        )


def _stochastic_depth_spec() -> type[LayerSpec]:
    class StochasticDepthSpec(LayerSpec):
        """stochastic_depth: drops the input per sample (`row`) or per batch in training."""

        type: Literal["stochastic_depth"]
        p: Float(ge=0, le=1)  # type: ignore[valid-type]
        mode: Literal["row", "batch"]

    return StochasticDepthSpec


@register
class StochasticDepth(Op):
    kind = "stochastic_depth"
    spec = LazySpec(_stochastic_depth_spec)
    torch_name = "StochasticDepth"
    category = "dropout"
    summary = "drops residual branches in training (torchvision.ops.StochasticDepth)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if attrs["mode"] == "row" and len(x) < 1:
            raise ShapeFailure(
                "E401", "stochastic_depth mode 'row' needs a batch dim", None, "mode"
            )
        return Inferred(attrs, x)

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def emit_support(self) -> str:
        return support_source("StochasticDepth")

    def build(self, a: Mapping[str, Any]) -> Any:
        return support_class("StochasticDepth")(a["p"], a["mode"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call("StochasticDepth", [a["p"], a["mode"]], {}, lit)
