"""`slice`: a range of one dim, `x[:, 1:]`, every `step`-th position of it, `x[:, :, ::2]`
(no parameters).

A vision transformer with a class token cuts it off its tokens before folding them back into
a map (PiT, DeiT's heads, CaiT): `x[:, 1:]` of (N, 1 + L, D) tokens, where L follows the
image size. `split` takes sizes, which must be numbers; a slice takes positions, which may
count from the end, so the range keeps a symbolic length (`L - 1`).

torch clamps a slice that runs past its dim, and returns an empty tensor for a range that
holds nothing; a spec's node has one shape for every input, so the range must lie inside the
dim and hold one position at least: a number that breaks this is an error at the field, and a
symbolic size becomes a requirement of the input domain (`x[:, 1:]` of L tokens: L >= 2).
A step keeps the first position of the range and every `step`-th after it (the CIFAR ResNet's
option-A shortcut subsamples its map so, `x[:, :, ::2, ::2]`): ceil(length / step) positions.
"""

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Literal

from pydantic import Field

from ..dims import Dim, Shape
from .base import Inferred, Int, LayerSpec, LazySpec, ShapeContext, ShapeFailure, fmt, register
from .tensor import StatelessOp

_HINT = (
    "give a range inside the dim, its start before its end (a negative position counts from "
    "the end: `start: 1` keeps all but the first, `end: -1` all but the last)"
)


def _slice_spec() -> type[LayerSpec]:
    class SliceSpec(LayerSpec):
        """slice: positions `start` to `end` (excluded) of dim `dim`, as `x[:, start:end]`."""

        type: Literal["slice"]
        dim: Int(ge=0) = Field(  # type: ignore[valid-type]
            1,
            description="the dim to slice (dim 0: a learned tensor's rows, tokens sequence "
            "first; a range of the batch is warned, W406)",
        )
        start: Int() = Field(0, description="the first position kept; negative counts from the end")  # type: ignore[valid-type]
        end: Int() | None = Field(  # type: ignore[valid-type]
            None,
            description="the position after the last one kept (default: the dim's end); "
            "negative counts from the end",
        )
        step: Int(ge=1) = Field(  # type: ignore[valid-type]
            1, description="keep every step-th position of the range, from its start"
        )

    return SliceSpec


def sliced(x: Any, dim: int, start: int, end: int | None, step: int = 1) -> Any:
    """`x[:, start:end:step]` with `dim` colons before the range (what compile calls)."""
    return x[(slice(None),) * dim + (slice(start, end, step),)]


def _where(start: int, end: int | None, dim: int, x: Shape, what: str) -> Callable[[], str]:
    """A message of the range (`slice [1:] of dim 1 of (N, L, 64) ...`), worded when read."""
    return lambda: f"slice [{start}:{'' if end is None else end}] of dim {dim} of {fmt(x)} {what}"


def _bound(position: int, size: Dim) -> Dim:
    """A position as an offset from 0 (a negative one counts from the end)."""
    return Dim.of(position) if position >= 0 else size + position


@register
class Slice(StatelessOp):
    kind = "slice"
    spec = LazySpec(_slice_spec)
    style = "function"
    summary = "a range of one dim (`x[:, 1:]`: the tokens after a class token)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        dim, start, end = attrs["dim"], attrs["start"], attrs["end"]
        if dim >= len(x):
            raise ShapeFailure(
                "E401",
                f"slice dim {dim} is out of range for {fmt(x)}",
                f"slice one of dims 0 to {len(x) - 1}",
                "dim",
            )
        size = x[dim]
        first = _bound(start, size)
        last = size if end is None else _bound(end, size)
        # the messages are worded only when one is read (the rule runs on every check)
        where = partial(_where, start, end, dim, x)
        if start < 0:  # the start inside the dim: size >= -start
            ctx.require_positive(first + 1, "E405", where("starts before the dim"), _HINT, "start")
        if end is not None and end >= 0:  # the end inside the dim: size >= end
            ctx.require_positive(size - end + 1, "E405", where("ends past the dim"), _HINT, "end")
        length = last - first
        field = "end" if end is not None else "start"
        ctx.require_positive(
            length, "E405", where("holds no position (its length is {d})"), _HINT, field
        )
        if attrs["step"] != 1:
            length = length.ceildiv(attrs["step"])
        return Inferred(attrs, (*x[:dim], length, *x[dim + 1 :]))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        names = ("dim", "start", "end", "step")
        return sliced, {k: attrs[k] for k in names}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        """`x[:, 1:]`: the range after `dim` colons, its defaults left out (`x[:, ::2]`)."""
        (x,) = a["_inputs"]
        start, end, step = a["start"], a["end"], a["step"]
        low = "" if start == 0 else lit(start)
        high = "" if end is None else lit(end)
        by = "" if step == 1 else f":{lit(step)}"
        return f"{x}[{', '.join([':'] * a['dim'] + [f'{low}:{high}{by}'])}]"


def _slice_as_spec() -> type[LayerSpec]:
    class SliceAsSpec(LayerSpec):
        """slice_as: the first input's positions 0 up to the second's size of dim `dim`,
        `from: [table, like]`: `table[:, : like.shape[1]]`, a positional table cut to the
        tokens' length."""

        type: Literal["slice_as"]
        dim: Int(ge=0) = Field(1, description="the dim cut to the second input's size of it")  # type: ignore[valid-type]
        like_dim: Int(ge=0) | None = Field(  # type: ignore[valid-type]
            None,
            description="the second input's dim whose size it is, when not `dim` "
            "(`pos[: idx.size(1)]`: `dim: 0, like_dim: 1`)",
        )

    return SliceAsSpec


def sliced_as(x: Any, like: Any, dim: int, like_dim: int | None = None) -> Any:
    """`x[:, : like.shape[dim]]` with `dim` colons before the range (what compile calls);
    the size of `like`'s dim `like_dim` where given."""
    size = like.shape[dim if like_dim is None else like_dim]
    return x[(slice(None),) * dim + (slice(None, size),)]


def _cut_message(dim: int, x: Shape, like: Shape, at: int) -> str:
    which = "that of" if at == dim else f"dim {at} of"
    return (
        f"slice_as cuts dim {dim} of {fmt(x)} to {which} {fmt(like)}, which is longer "
        "({d} is below 1)"
    )


@register
class SliceAs(StatelessOp):
    kind = "slice_as"
    spec = LazySpec(_slice_as_spec)
    style = "function"
    arity = 2
    summary = "the first input cut to the second's size of one dim (`pe[:, : x.size(1)]`)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        x, like = inputs
        dim, at = attrs["dim"], attrs.get("like_dim")
        at = dim if at is None else at
        if dim >= len(x) or at >= len(like):
            field = "dim" if at == dim or dim >= len(x) else "like_dim"
            raise ShapeFailure(
                "E401",
                f"slice_as dim {dim} of {fmt(x)}, to the size of dim {at} of {fmt(like)}, is "
                "out of range",
                "cut a dim the first input has to the size of a dim the second has "
                "(`like_dim` when it is another)",
                field,
            )
        ctx.require_positive(
            x[dim] - like[at] + 1,
            "E405",
            partial(_cut_message, dim, x, like, at),
            "slice_as only cuts: the first input's dim must be as long as the second's at least "
            "(a longer table, `max_len`)",
            "dim",
        )
        return Inferred(attrs, (*x[:dim], like[at], *x[dim + 1 :]))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return sliced_as, {"dim": attrs["dim"], "like_dim": attrs.get("like_dim")}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        """`pe[:, : x.shape[1]]`, as the model writes it (`pos[: idx.shape[1]]`)."""
        x, like = a["_inputs"]
        dim, at = a["dim"], a.get("like_dim")
        at = dim if at is None else at
        return f"{x}[{', '.join([':'] * dim + [f': {like}.shape[{lit(at)}]'])}]"
