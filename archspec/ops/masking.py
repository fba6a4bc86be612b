"""`masked_fill`: a tensor with a value written where a mask marks it, as minGPT's causal
self-attention hides the future: `att.masked_fill(self.bias[:, :, :T, :T] == 0,
float("-inf"))`, its `bias` a buffer of ones on and below the diagonal (`fill: tril`) cut to
the scores' size (`slice_as`).

A spec holds no boolean tensor, so the comparison is the node's: the first input is the
tensor, the second the mask, and the value goes where the mask equals `equal_to` (0 by
default: `mask == 0`). The mask broadcasts against the tensor as torch broadcasts it, and
the output is their broadcast shape, the tensor's dtype. `value` is a number or `-inf` /
`inf` (the loader refuses infinite numbers, so they are words here).

`full_like`: a tensor of its input's shape and dtype filled with one value
(`torch.zeros_like(x)`), the constant of a size read in forward.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from ..dims import Shape
from .base import _FLOAT, Final, Float, Inferred, LayerSpec, LazySpec, ShapeContext, register
from .broadcasting import _Join, broadcast_all
from .merge import _FunctionOp

#: the infinite values `value` takes as words
INFINITIES = {"-inf": float("-inf"), "inf": float("inf")}

_MASK = _Join(
    "masked_fill",
    "masked by",
    "the mask broadcasts against the tensor: each dim equal, or 1 on one side (a causal mask "
    "(1, 1, T, T) against scores (N, heads, T, T)); cut a mask buffer to the scores' size "
    "with `slice_as`",
)


def _masked_fill_spec() -> type[LayerSpec]:
    class MaskedFillSpec(LayerSpec):
        """masked_fill: the first input with `value` where the second, a mask, equals
        `equal_to` (`att.masked_fill(mask == 0, float("-inf"))`, minGPT's causal mask), the
        mask broadcast against it; `from: [x, mask]`."""

        type: Literal["masked_fill"]
        value: Annotated[_FLOAT, Final("float", choices=tuple(INFINITIES))] = Field(  # type: ignore[valid-type]
            ..., description="what goes where the mask matches: a number, or `-inf` / `inf`"
        )
        equal_to: Float() = Field(  # type: ignore[valid-type]
            0, description="the mask's value that marks a position to fill (`mask == 0`)"
        )

    return MaskedFillSpec


def fill_value(value: Any) -> float:
    """The number `value` stands for (`-inf` is minus infinity)."""
    return INFINITIES[value] if isinstance(value, str) else float(value)


def masked_fill(x: Any, mask: Any, value: float, equal_to: float) -> Any:
    """`x.masked_fill(mask == equal_to, value)`: what a `masked_fill` node computes."""
    return x.masked_fill(mask == equal_to, value)


@register
class MaskedFill(_FunctionOp):
    kind = "masked_fill"
    spec = LazySpec(_masked_fill_spec)
    arity = 2
    category = "merge"
    summary = "the first input with `value` where the mask (the second) equals `equal_to`"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        return Inferred(attrs, broadcast_all(_MASK, inputs, ctx))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return masked_fill, {"value": fill_value(attrs["value"]), "equal_to": attrs["equal_to"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        x, mask = a["_inputs"]
        value = a["value"]
        shown = f'float("{value}")' if isinstance(value, str) else lit(value)
        equal = a["equal_to"]
        if isinstance(equal, float) and equal.is_integer() and abs(equal) < 2**53:
            equal = int(equal)  # `mask == 0`, as minGPT writes it (the same comparison)
        return f"{x}.masked_fill({mask} == {lit(equal)}, {shown})"


def _full_like_spec() -> type[LayerSpec]:
    class FullLikeSpec(LayerSpec):
        """full_like: a tensor of its input's shape and dtype, every element `value`
        (`torch.zeros_like(x)`, `torch.ones_like(x)`, `torch.full_like(x, v)`): a size read in
        forward as a tensor of it; the input's values are not read."""

        type: Literal["full_like"]
        value: Annotated[_FLOAT, Final("float", choices=tuple(INFINITIES))] = Field(  # type: ignore[valid-type]
            0, description="every element's value: a number, or `-inf` / `inf`"
        )

    return FullLikeSpec


def full_like(x: Any, value: float) -> Any:
    """`torch.full_like(x, value)`: what a `full_like` node computes."""
    import torch

    return torch.full_like(x, value)


@register
class FullLike(_FunctionOp):
    kind = "full_like"
    spec = LazySpec(_full_like_spec)
    category = "reshape"  # made of the input's shape alone, as expand's
    summary = "a tensor of the input's shape and dtype, every element `value` (zeros_like)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        return Inferred(attrs, tuple(x))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return full_like, {"value": fill_value(attrs["value"])}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        (x,) = a["_inputs"]
        value = a["value"]
        if isinstance(value, str):
            return f'torch.full_like({x}, float("{value}"))'
        if type(value) in (int, float) and value in (0, 1):  # `torch.zeros_like(x)`, the same
            return f"torch.{'zeros' if value == 0 else 'ones'}_like({x})"
        return f"torch.full_like({x}, {lit(value)})"
