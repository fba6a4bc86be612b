"""The output extent of a conv's or pool's window along one spatial dim, exact for numbers and
symbols alike: `floor((X + 2p - d(k-1) - 1) / s) + 1`; with `ceil_mode` PyTorch rounds up but
never starts a window in the right padding, which is
`floor((X + min(2p - d(k-1) - 1 + s - 1, p - 1)) / s) + 1` exactly."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from ..dims import Dim, Shape, const_values
from .base import ShapeContext, fmt


def conv_extent(x: Dim, k: int, s: int, p: int, d: int, ceil_mode: bool = False) -> Dim:
    """Exact output extent of one spatial dim of a conv or pool."""
    span = d * (k - 1) + 1
    if x.is_const and type(s) is int and s > 0 and type(p) is int and type(span) is int:
        return Dim.of(_int_extent(x.const, span, s, p, ceil_mode))  # the common case
    key = None
    if type(x) is Dim and type(s) is int and type(p) is int and type(span) is int:
        key = (x, span, s, p, ceil_mode is True)
        found = _EXTENTS.get(key)
        if found is not None:
            return found
    if not ceil_mode:
        out = (x + (2 * p - span)).floordiv(s) + 1
    else:
        out = (x + min(2 * p - span + s - 1, p - 1)).floordiv(s) + 1
    if key is not None:
        if len(_EXTENTS) >= _EXTENTS_SIZE:
            _EXTENTS.clear()
        _EXTENTS[key] = out
    return out


def _int_extent(x: int, span: int, s: int, p: int, ceil_mode: bool) -> int:
    """conv_extent of a number: the arithmetic of the symbolic form, on ints."""
    c = 2 * p - span if not ceil_mode else min(2 * p - span + s - 1, p - 1)
    return (x + c) // s + 1


def known_extents(
    x: Shape,
    lead: int,
    k: Sequence[int],
    s: Sequence[int],
    p: Sequence[int],
    d: Sequence[int],
    ceil_mode: bool = False,
) -> list[Dim] | None:
    """conv_extent of every spatial dim of `x` (from `lead`) when each is a number, each
    window field a plain int and each extent at least 1, which check_spatial then finds:
    the common case, in one call. None otherwise: conv_extent and check_spatial decide."""
    sizes = const_values(x[lead:])
    if sizes is None:
        return None
    out = []
    for xi, ki, si, pi, di in zip(sizes, k, s, p, d):
        if type(ki) is not int or type(si) is not int or type(pi) is not int:
            return None
        if type(di) is not int or si <= 0:
            return None
        extent = _int_extent(xi, di * (ki - 1) + 1, si, pi, ceil_mode)
        if extent < 1:
            return None
        out.append(Dim.of(extent))
    return out


#: Symbolic extents made before, by (input extent, window span, stride, padding, ceil_mode):
#: the convs of a stage all read one extent (a ResNet's H//4) with the same few windows,
#: and each floor division re-sorts its terms. Only plain ints: the emitter passes ints
#: that record the arithmetic done with them (backends/emit/rules.py).
_EXTENTS: dict[tuple[object, ...], Dim] = {}
_EXTENTS_SIZE = 4096


def _extent_message(
    kind: str, axis: str, inp: Shape, ksize: tuple[int, ...], padding: tuple[int, ...]
) -> str:
    # the padding, where there is one, is in the window's reach: YOLOv5's 6x6 stem conv
    # padded by 2 takes 2 rows, which the kernel alone does not say
    padded = f", padding {padding}" if any(padding) else ""
    return f"{kind} makes the {axis} extent {{d}} (input {fmt(inp)}, kernel {ksize}{padded})"


def check_spatial(
    kind: str,
    out: list[Dim],
    inp: Shape,
    ctx: ShapeContext,
    name_dims: Sequence[str],
    ksize: Sequence[int],
    padding: Sequence[int] = (),
) -> None:
    for i, extent in enumerate(out):
        if extent.is_const and extent.value >= 1:
            continue  # the common case: no need to format a message nobody reads
        axis = name_dims[i] if len(name_dims) == len(out) else str(i)
        ctx.require_positive(
            extent,
            "E405",
            partial(_extent_message, kind, axis, inp, tuple(ksize), tuple(padding)),
            "the input is too small for this layer: use a larger input, "
            "less downsampling before it, or padding",
        )
