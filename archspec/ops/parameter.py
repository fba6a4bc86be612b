"""`parameter`: a learned tensor owned by the enclosing module, not by a layer inside it.

ConvNeXt's CNBlock holds `self.layer_scale = nn.Parameter(torch.ones(dim, 1, 1) *
layer_scale)` beside its children, so its state_dict key is `features.1.0.layer_scale`, one
level up from any layer's; a ViT holds its class token and position embedding the same way.
A parameter node reads no input: its value is the tensor itself, of the shape it declares
(no batch dim), which merges (`mul`, `add`) broadcast against activations.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field

from ..dims import Dim, Shape
from .base import Float, Inferred, Ints, LayerSpec, Op, ShapeContext, ShapeFailure, register

if TYPE_CHECKING:  # pragma: no cover
    import torch

#: The largest number of elements one parameter may have (the model's own bound is E501).
MAX_NUMEL = 10**10


class ParameterSpec(LayerSpec):
    """parameter: a learned tensor of `shape`, registered on the enclosing module under the
    node's name (or `key`), initialised to `value` (`init: constant`) or drawn from a
    normal or truncated normal distribution."""

    type: Literal["parameter"]
    shape: Ints(ge=1) = Field(..., description="the tensor's shape, e.g. `[in_channels, 1, 1]`")  # type: ignore[valid-type]
    init: Literal["constant", "normal", "trunc_normal"] = Field(
        "constant", description="how the tensor starts: every element `value`, or random"
    )
    value: Float() = Field(0.0, description="the constant (`init: constant`)")  # type: ignore[valid-type]
    mean: Float() = 0.0  # type: ignore[valid-type]
    std: Float(ge=0) = Field(1.0, description="of `normal` and `trunc_normal`")  # type: ignore[valid-type]


def _dims(attrs: Mapping[str, Any]) -> list[Any]:
    shape = attrs["shape"]
    return list(shape) if isinstance(shape, (list, tuple)) else [shape]


@register
class ParameterOp(Op):
    kind = "parameter"
    spec = ParameterSpec
    style = "tensor"
    arity = 0
    torch_name = "nn.Parameter"
    summary = "a learned tensor held by the enclosing module (layer scale, class token)"
    category = "linear"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        dims = _dims(attrs)
        numel = 1
        for d in dims:
            numel *= d
        if numel > MAX_NUMEL:
            raise ShapeFailure(
                "E409",
                f"parameter of shape {tuple(dims)} has {numel:,} elements, over {MAX_NUMEL:,}",
                "a learned tensor this large is a mistake in its shape",
                "shape",
            )
        if attrs["init"] == "trunc_normal" and not attrs["std"] > 0:
            raise ShapeFailure("E204", "trunc_normal needs a std above 0", "give `std` > 0", "std")
        return Inferred(attrs, tuple(Dim.of(d) for d in dims))

    def params(self, attrs: Mapping[str, Any]) -> int:
        numel = 1
        for d in _dims(attrs):
            numel *= d
        return numel

    def activation_numel(self, out: Shape) -> Dim:
        return Dim.of(0)  # it is state, counted in params, not an activation

    def init_tensors(self, attrs: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, attrs: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, attrs: Mapping[str, Any]) -> torch.nn.Parameter:
        import torch

        dims = _dims(attrs)
        if attrs["init"] == "normal":
            data = torch.empty(*dims).normal_(mean=attrs["mean"], std=attrs["std"])
        elif attrs["init"] == "trunc_normal":
            data = torch.nn.init.trunc_normal_(
                torch.empty(*dims), mean=attrs["mean"], std=attrs["std"]
            )
        else:
            data = torch.ones(*dims) * attrs["value"]
        return torch.nn.Parameter(data)

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        dims = ", ".join(lit(d) for d in _dims(a))
        init, value = a["init"], a["value"]
        if init == "constant":
            literal = isinstance(value, (int, float)) and not isinstance(value, bool)
            if literal and value == 0:
                data = f"torch.zeros({dims})"
            elif literal and value == 1:
                data = f"torch.ones({dims})"
            else:  # torchvision's layer scale: torch.ones(dim, 1, 1) * layer_scale
                data = f"torch.ones({dims}) * {lit(value)}"
        else:
            args = ", ".join(
                f"{k}={lit(a[k])}" for k, d in (("mean", 0.0), ("std", 1.0)) if a[k] != d
            )
            data = (
                f"torch.empty({dims}).normal_({args})"
                if init == "normal"
                else f"nn.init.trunc_normal_(torch.empty({dims}){', ' + args if args else ''})"
            )
        return f"nn.Parameter({data})"
