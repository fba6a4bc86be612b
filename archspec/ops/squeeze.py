"""Rank changes: `squeeze` drops dims of size 1, `unsqueeze` inserts one (no parameters).

ECA's attention turns a pooled (N, C, 1, 1) map into the sequence a 1-d conv slides over
(`y.squeeze(-1).transpose(-1, -2)`) and back (`.unsqueeze(-1)`); GCNet's context block adds a
dim for a batched product (`x.unsqueeze(1)`). Both are computed in `forward`, as those
networks write them, and hold no `state_dict` entry.

torch's `squeeze(dim)` leaves a dim whose size is not 1 where it is, so the output's rank
would depend on the input's sizes; a spec's nodes each have one rank. A squeezed dim must
therefore be 1: a size known to be another number is E409 at the node, and a size that is a
symbol (`H`) becomes a requirement of the domain (`H = 1`), as a reshape's sizes do.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from ..dims import Dim, Shape, product
from .base import (
    Inferred,
    Int,
    Ints,
    LayerSpec,
    LazySpec,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)
from .tensor import StatelessOp


def _squeeze_spec() -> type[LayerSpec]:
    class SqueezeSpec(LayerSpec):
        """squeeze: drops the dims `dim` names, each of size 1 (`x.squeeze(-1)`)."""

        type: Literal["squeeze"]
        dim: Ints() = Field(  # type: ignore[valid-type]
            description="the dim to drop, or a list of them; each must have size 1"
        )

    return SqueezeSpec


def _unsqueeze_spec() -> type[LayerSpec]:
    class UnsqueezeSpec(LayerSpec):
        """unsqueeze: inserts a dim of size 1 at `dim` (`x.unsqueeze(1)`)."""

        type: Literal["unsqueeze"]
        dim: Int() = Field(  # type: ignore[valid-type]
            description="where the new dim goes in the output, 0 to rank (or -rank-1 to -1)"
        )

    return UnsqueezeSpec


def _squeezed(attrs: Mapping[str, Any], rank: int) -> list[int]:
    """The dims a squeeze drops, counted from 0 (its `dim`, an int or a list)."""
    dim = attrs["dim"]
    dims = dim if isinstance(dim, list) else [dim]
    return [d % rank for d in dims]


@register
class Squeeze(StatelessOp):
    kind = "squeeze"
    spec = LazySpec(_squeeze_spec)
    style = "function"
    summary = "drops dims of size 1 (`x.squeeze(-1)`: ECA's pooled map to a sequence)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        r = len(x)
        dim = attrs["dim"]
        dims = dim if isinstance(dim, list) else [dim]
        hint = f"name each dim once, from 0 to {r - 1} (or -{r} to -1)"
        if not dims:
            raise ShapeFailure("E401", "squeeze dims are empty", hint, "dim")
        if any(not -r <= d < r for d in dims):
            raise ShapeFailure(
                "E401", f"squeeze dim {dim} is out of range for {fmt(x)}", hint, "dim"
            )
        norm = [d % r for d in dims]
        if len(set(norm)) != len(norm):
            raise ShapeFailure("E409", f"squeeze dims {dim} repeat a dim", hint, "dim")
        size_hint = (
            "squeeze only dims of size 1: reduce a dim with mean, sum or amax, or pool it to 1 "
            "first (adaptive_avgpool2d with output_size 1)"
        )
        for d in norm:
            message = (
                f"squeeze drops dim {d} of {fmt(x)}, whose size is {{a}}, not 1 (torch would "
                "leave it, and the output's rank would depend on the input)"
            )
            ctx.require_equal(x[d], 1, "E409", message, size_hint, "dim")
        return Inferred(attrs, tuple(s for i, s in enumerate(x) if i not in norm))

    def channel_axis(
        self, attrs: Mapping[str, Any], axis: int | None, inputs: Sequence[Shape], out: Shape
    ) -> int | None:
        """The channel dim after the dims before it are dropped (None when it is dropped)."""
        if axis is None:
            return None
        dropped = _squeezed(attrs, len(inputs[0]))
        return None if axis in dropped else axis - sum(d < axis for d in dropped)

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        dim = attrs["dim"]
        return torch.squeeze, {"dim": tuple(dim) if isinstance(dim, list) else dim}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        """`x.squeeze(-1)`, or a list of dims as torch takes it, `x.squeeze([2, 3])`."""
        return f"{a['_inputs'][0]}.squeeze({lit(a['dim'])})"


@register
class Unsqueeze(StatelessOp):
    kind = "unsqueeze"
    spec = LazySpec(_unsqueeze_spec)
    style = "function"
    summary = "inserts a dim of size 1 (`x.unsqueeze(-1)`: ECA's sequence back to a map)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        r = len(x)
        d = attrs["dim"]
        if not -r - 1 <= d <= r:
            raise ShapeFailure(
                "E401",
                f"unsqueeze dim={d} is out of range for {fmt(x)}",
                f"the new dim goes at 0 to {r} (or {-r - 1} to -1)",
                "dim",
            )
        d %= r + 1
        return Inferred(attrs, (*x[:d], Dim.of(1), *x[d:]))

    def channel_axis(
        self, attrs: Mapping[str, Any], axis: int | None, inputs: Sequence[Shape], out: Shape
    ) -> int | None:
        """The channel dim, one further on when the new dim goes before it."""
        if axis is None:
            return None
        return axis + 1 if attrs["dim"] % len(out) <= axis else axis

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.unsqueeze, {"dim": attrs["dim"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"{a['_inputs'][0]}.unsqueeze({lit(a['dim'])})"


def _unflatten_as_spec() -> type[LayerSpec]:
    from .tensor import DimList

    class UnflattenAsSpec(LayerSpec):
        """unflatten_as: splits dim `dim` of its first input into the sizes of the dims `dims`
        of its second, `from: [x, like]` (`x.unflatten(0, (like.shape[0], like.shape[1]))`)."""

        type: Literal["unflatten_as"]
        dim: Int() = Field(description="the dim of the first input to split")  # type: ignore[valid-type]
        dims: DimList = Field(description="the dims of the second input whose sizes it takes")

    return UnflattenAsSpec


@register
class UnflattenAs(StatelessOp):
    kind = "unflatten_as"
    spec = LazySpec(_unflatten_as_spec)
    style = "function"
    category = "reshape"
    arity = 2
    summary = (
        "splits a dim into the sizes of another tensor's dims (a batch of rows or columns "
        "folded back after an LSTM, tokens back into a map)"
    )

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        x, like = inputs
        dim, dims = attrs["dim"], attrs["dims"]
        if not -len(x) <= dim < len(x):
            raise ShapeFailure(
                "E401", f"unflatten_as dim {dim} is out of range for {fmt(x)}", None, "dim"
            )
        if not isinstance(dims, list) or not dims:
            raise ShapeFailure(
                "E401", "unflatten_as needs a list of the second input's dims", None, "dims"
            )
        if any(not -len(like) <= j < len(like) for j in dims):
            raise ShapeFailure(
                "E401",
                f"unflatten_as dims {dims} are out of range for the second input {fmt(like)}",
                f"name dims of the second input, from 0 to {len(like) - 1}",
                "dims",
            )
        d = dim % len(x)
        sizes = [like[j % len(like)] for j in dims]
        whole = product(sizes)
        if Dim.of(x[d]) != whole:  # equal for every input, not only where a domain says
            raise ShapeFailure(
                "E404",
                f"unflatten_as splits dim {d} of {fmt(x)}, of size {x[d]}, into dims {dims} of "
                f"{fmt(like)}, whose sizes multiply to {whole}: they must be equal for every input",
                "name the dims of the second input that the first one's dim was flattened from "
                "(a batch of rows after `flatten` of dims 0 and 1 of an (N, H, W, C) map: "
                "`dims: [0, 1]` of that map)",
                "dims",
            )
        return Inferred(attrs, (*x[:d], *sizes, *x[d + 1 :]))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return unflatten_as, {"dim": attrs["dim"], "dims": tuple(attrs["dims"])}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        """`x.unflatten(0, (like.shape[0], like.shape[1]))`, as a forward writes it."""
        x, like = a["_inputs"]
        sizes = ", ".join(f"{like}.shape[{lit(j)}]" for j in a["dims"])
        return f"{x}.unflatten({lit(a['dim'])}, ({sizes}{',' if len(a['dims']) == 1 else ''}))"


def unflatten_as(x: Any, like: Any, dim: int, dims: tuple[int, ...]) -> Any:
    """`x` with dim `dim` split into the sizes of `like`'s dims `dims` (emitted files write
    the same call inline)."""
    return x.unflatten(dim, tuple(like.shape[j] for j in dims))
