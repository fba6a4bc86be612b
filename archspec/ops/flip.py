"""`flip`: the input with the order of some dims reversed (`torch.flip(x, dims)`), no
parameters. N-BEATS reads its series newest first (`x.flip(dims=(1,))`), a reverse reader
walks a sequence backwards, test-time augmentation mirrors an image. Computed in `forward`,
as those networks write it (`x.flip([1])`), with no `state_dict` entry; the output has the
input's shape and dtype, so it may move int64 indices too (passes/dtypes.py follows them).
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from ..dims import Shape
from .base import Inferred, LayerSpec, LazySpec, ShapeContext, ShapeFailure, fmt, register
from .tensor import DimList, StatelessOp


def _flip_spec() -> type[LayerSpec]:
    class FlipSpec(LayerSpec):
        """flip: the input with the dims `dims` lists read backwards (`x.flip([1])`)."""

        type: Literal["flip"]
        dims: DimList = Field(description="the dims to reverse, e.g. [1], or [-1] for the last")

    return FlipSpec


def flipped_dims(dims: Sequence[int], x: Shape) -> list[int]:
    """The dims a flip of `x` reverses, counted from 0; E401/E409 where torch refuses them."""
    return distinct_dims("flip", dims, x, "to reverse")


def distinct_dims(kind: str, dims: Sequence[int], x: Shape, doing: str) -> list[int]:
    """`dims` of `x` counted from 0, each once (a flip's, the dims a check_size states):
    E401 when there are none or one is out of range, E409 when one repeats."""
    rank = len(x)
    hint = f"list the dims {doing}, each once, from 0 to {rank - 1} (or -{rank} to -1)"
    if not dims:
        raise ShapeFailure("E401", f"{kind} dims are empty", hint, "dims")
    if any(not -rank <= d < rank for d in dims):
        message = f"{kind} dims {list(dims)} are out of range for {fmt(x)}"
        raise ShapeFailure("E401", message, hint, "dims")
    norm = [d % rank for d in dims]
    if len(set(norm)) != len(norm):
        raise ShapeFailure("E409", f"{kind} dims {list(dims)} repeat a dim", hint, "dims")
    return norm


@register
class Flip(StatelessOp):
    kind = "flip"
    spec = LazySpec(_flip_spec)
    style = "function"
    summary = "reverses the order of dims (`x.flip([1])`: N-BEATS reads a series newest first)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        flipped_dims(list(attrs["dims"]), x)
        return Inferred(attrs, x)

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.flip, {"dims": list(attrs["dims"])}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"{a['_inputs'][0]}.flip({lit(list(a['dims']))})"
