"""`tile`: the input repeated along its dims, as `x.repeat(1, 2, 1)` (torch.Tensor.repeat;
the construct `repeat` makes copies of a layer, so the kind has numpy's and torch.tile's
name): a learned token repeated over a batch or a length, a mask over heads, a tensor
copied to `n` views (`x.repeat(n, 1, 1, 1)`). Computed in `forward`, no parameters, no MACs.

The shape rule is Tensor.repeat's, exactly: `repeats` lists one count per output dim, at
least as many as the input has dims; the last dims of the output are the input's times
their counts, the dims before them new, of their counts' sizes. The output holds the
input's values and dtype (passes/dtypes.py follows int64 through it).
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt

from ..dims import Dim, Shape
from .base import (
    ExprStr,
    Final,
    Inferred,
    LayerSpec,
    LazySpec,
    Reuse,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)
from .tensor import StatelessOp

#: one count per output dim, each at least 1 (a count of 0 would make an empty tensor)
Counts = Annotated[list[StrictInt | ExprStr], Reuse(), Final("ints", ge=1)]


def _tile_spec() -> type[LayerSpec]:
    class TileSpec(LayerSpec):
        """tile: the input repeated `repeats[i]` times along each dim, `x.repeat(1, 2, 1)`;
        counts before the input's dims add new leading dims (`x.repeat(4, 1, 1)` of (C, L))."""

        type: Literal["tile"]
        repeats: Counts = Field(
            description="the count of each output dim, at least one per input dim, e.g. [1, 2, 1]"
        )

    return TileSpec


@register
class Tile(StatelessOp):
    kind = "tile"
    spec = LazySpec(_tile_spec)
    style = "function"
    summary = "the input repeated along its dims (`x.repeat(1, 2, 1)`, torch.Tensor.repeat)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        repeats = list(attrs["repeats"])
        lead = len(repeats) - len(x)
        if lead < 0:
            raise ShapeFailure(
                "E409",
                f"tile lists {len(repeats)} counts for {fmt(x)}, which has {len(x)} dims: "
                "torch's repeat takes one count per dim at least",
                f"give {len(x)} counts (1 keeps a dim), or more to add leading dims",
                "repeats",
            )
        out = [Dim.of(r) for r in repeats[:lead]]
        out += [d * r if r != 1 else d for d, r in zip(x, repeats[lead:], strict=True)]
        return Inferred(attrs, tuple(out))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.Tensor.repeat, {"repeats": list(attrs["repeats"])}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"{a['_inputs'][0]}.repeat({', '.join(lit(r) for r in a['repeats'])})"
