"""Activations of today's CNNs (hardswish, hardsigmoid, elu, mish, prelu), torch's other
elementwise ones (softplus, selu, celu, hardtanh, logsigmoid, softsign, tanhshrink,
threshold), glu, stochastic depth, and torch's dropouts beside nn.Dropout and nn.Dropout2d
(Dropout1d, AlphaDropout, FeatureAlphaDropout: the identity in eval).

Counts: an activation does no multiply-accumulate (MACs 0, as for relu); prelu holds one
slope per channel (or one shared). glu halves one dim, which must be even.
stochastic_depth is torchvision.ops.StochasticDepth: in training it scales each sample
(`row`) or the whole batch (`batch`) by 0 or 1 / (1 - p), in eval it is the identity.
"""

from collections.abc import Callable, Mapping, Sequence
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
from .words import Word


def _elementwise(
    kind: str,
    torch_name: str,
    summary: str,
    fields: dict[str, tuple[Any, Any]],
    category: Category = "act",
    base: type[_Elementwise] = _Elementwise,
) -> None:
    """Register a shape-preserving kind whose fields are torch's keyword arguments (a field
    without a default is required, and always written)."""
    spec = simple_spec(kind, torch_name, summary, fields)
    register(
        type(
            torch_name,
            (base,),
            {
                "__module__": __name__,
                "kind": kind,
                "spec": spec,
                "torch_name": torch_name,
                "summary": summary,
                "defaults": {k: (None if v[1] is ... else v[1]) for k, v in fields.items()},
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


class _Refusing(_Elementwise):
    """An elementwise kind whose arguments torch refuses in some combinations: each rule is
    (what must hold of the attributes, the field at fault, the message), E409 when it fails,
    before torch's assertion or ZeroDivisionError could."""

    rules: tuple[tuple[Callable[[Mapping[str, Any]], bool], str, str], ...] = ()

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        for holds, field, message in self.rules:
            if not holds(attrs):
                raise ShapeFailure("E409", f"{self.kind} {message.format(**attrs)}", None, field)
        return super().infer(attrs, inputs, ctx)


class _Softplus(_Refusing):
    rules = ((lambda a: a["beta"] != 0, "beta", "beta must not be 0: softplus divides by it"),)


#: The largest float32: torch converts each scalar it computes with to the input's dtype.
FLOAT32_MAX = 3.4028234663852886e38


class _Celu(_Refusing):
    rules = (
        (
            lambda a: a["alpha"] != 0 and abs(1 / a["alpha"]) <= FLOAT32_MAX,
            "alpha",
            "alpha {alpha!r} is too close to 0: celu divides by it, and torch refuses a "
            "1 / alpha past the largest float32",
        ),
    )


class _Hardtanh(_Refusing):
    rules = (
        (
            lambda a: a["max_val"] > a["min_val"],
            "max_val",
            "max_val ({max_val}) must be greater than min_val ({min_val})",
        ),
    )


_elementwise(
    "softplus",
    "Softplus",
    "log(1 + exp(beta * x)) / beta, linear past threshold",
    {"beta": (Float(), 1.0), "threshold": (Float(), 20.0)},
    base=_Softplus,
)
_elementwise("selu", "SELU", "scaled exponential linear unit", {"inplace": (Bool, False)})
_elementwise(
    "celu",
    "CELU",
    "continuously differentiable ELU",
    {"alpha": (Float(), 1.0), "inplace": (Bool, False)},
    base=_Celu,
)
_elementwise(
    "hardtanh",
    "Hardtanh",
    "x clamped to [min_val, max_val]",
    {"min_val": (Float(), -1.0), "max_val": (Float(), 1.0), "inplace": (Bool, False)},
    base=_Hardtanh,
)
_elementwise("logsigmoid", "LogSigmoid", "log(sigmoid(x))", {})
_elementwise("softsign", "Softsign", "x / (1 + |x|)", {})
_elementwise("tanhshrink", "Tanhshrink", "x - tanh(x)", {})
_elementwise(
    "threshold",
    "Threshold",
    "x where x > threshold, else value",
    {"threshold": (Float(), ...), "value": (Float(), ...), "inplace": (Bool, False)},
)


def _glu_spec() -> type[LayerSpec]:
    class GLUSpec(LayerSpec):
        """glu: gated linear unit, the first half of `dim` times the sigmoid of the second."""

        type: Literal["glu"]
        dim: Int() = -1  # type: ignore[valid-type]

    return GLUSpec


@register
class GLU(Op):
    kind = "glu"
    spec = LazySpec(_glu_spec)
    torch_name = "GLU"
    category = "act"
    summary = "gated linear unit: halves a dim, a * sigmoid(b)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        dim = attrs["dim"]
        if not -len(x) <= dim < len(x):
            raise ShapeFailure("E401", f"glu dim={dim} is out of range for {fmt(x)}", None, "dim")
        d = dim % len(x)
        half = x[d].floordiv(2)
        ctx.require_equal(
            half * 2,
            x[d],
            "E404",
            f"glu halves dim {d} of {fmt(x)}, which must be even: it is {{b}}",
            "give that dim an even size, or choose another dim",
            "dim",
        )
        return Inferred(attrs, (*x[:d], half, *x[d + 1 :]))

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return nn.GLU(a["dim"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call("nn.GLU", [], {"dim": (a["dim"], -1)}, lit)


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
                "num_parameters",
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
        mode: Word(("row", "batch"))  # type: ignore[valid-type]

    return StochasticDepthSpec


@register
class StochasticDepth(Op):
    kind = "stochastic_depth"
    spec = LazySpec(_stochastic_depth_spec)
    torch_name = "StochasticDepth"
    category = "dropout"
    emits_words = frozenset({"mode"})
    read_by_running = True
    summary = "drops residual branches in training (torchvision.ops.StochasticDepth)"

    def read_module(self, module: Any) -> dict[str, Any] | None:
        """torchvision's StochasticDepth by its name and fields, or a module of the model's
        own that draws and scales as it does (timm's DropPath), found by running it."""
        from .reading import random_reading

        fields = super().read_module(module)
        return fields or random_reading(self, module, {"mode": ("row", "batch")})

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


_DROPOUT_FIELDS = {"p": (Float(ge=0, le=1), 0.5), "inplace": (Bool, False)}


class _Dropout1d(_Elementwise):
    """nn.Dropout1d: drops whole channels of an (N, C, L) or (C, L) input in training; torch
    refuses any other rank in both modes."""

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) not in (2, 3):
            raise ShapeFailure(
                "E401",
                f"dropout1d needs an (N, C, L) or (C, L) input, got {fmt(x)}",
                "dropout2d drops the channels of (N, C, H, W) maps, dropout any element",
            )
        return Inferred(attrs, x)


class _FeatureAlphaDropout(_Elementwise):
    """nn.FeatureAlphaDropout: alpha dropout of whole channels, which torch refuses for an
    input without a channel dim in training (eval returns any input: refused here in both
    modes, since a layer that can only be evaluated drops nothing)."""

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) < 2:
            raise ShapeFailure(
                "E401",
                f"feature_alpha_dropout drops channels, and {fmt(x)} has none: torch "
                "refuses it in training",
                "give it an (N, C, ...) input, or use alpha_dropout",
            )
        return Inferred(attrs, x)


_elementwise(
    "dropout1d", "Dropout1d", "channel dropout of sequences", _DROPOUT_FIELDS, "dropout", _Dropout1d
)
_elementwise(
    "alpha_dropout",
    "AlphaDropout",
    "dropout that keeps a SELU network's mean and variance",
    _DROPOUT_FIELDS,
    "dropout",
)
_elementwise(
    "feature_alpha_dropout",
    "FeatureAlphaDropout",
    "alpha dropout of whole channels",
    _DROPOUT_FIELDS,
    "dropout",
    _FeatureAlphaDropout,
)
