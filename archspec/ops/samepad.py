"""A conv's padding on each side (`side_padding`), and `padding: same` with a stride:
TensorFlow's SAME (timm's Conv2dSame, StdConv2dSame), whose output extent
is `ceil(X / s)` and whose padding, worked out in forward from the input's size, is
`max((ceil(X / s) - 1) * s + d * (k - 1) + 1 - X, 0)`, the odd element on the right. With
stride 1 that is torch's own `padding='same'`, so only a strided conv builds the class. A 2-d
pool's `padding: same` (timm's MaxPool2dSame, AvgPool2dSame) is that padding at any stride,
as torch's pools have no `same` (`same_pool`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..dims import SPATIAL_NAMES, Dim, Shape, product
from .base import INT32_MAX, Inferred, Op, ShapeContext, ShapeFailure, at_most, ntuple
from .extents import check_spatial


def strided_same(a: Mapping[str, Any], nd: int) -> bool:
    """Whether a conv's fields ask for TensorFlow's SAME: `padding: same` and a stride other
    than 1. A stride the emitter holds as an expression cannot decide which class to write,
    so it is a TypeError there (the emitter then writes the instance's own numbers)."""
    if a["padding"] != "same":
        return False
    strides = ntuple(a["stride"], nd, "stride")
    if not all(type(s) is int for s in strides):
        raise TypeError("a `same` conv's stride decides its class")
    return any(s != 1 for s in strides)


def same_extents(
    op: Any, attrs: Mapping[str, Any], x: Shape, k: Sequence[int], s: Sequence[int],
    ctx: ShapeContext,
) -> list[Dim]:  # fmt: skip
    """The output extents of a strided `same` conv, `ceil(X / s)` along each spatial dim (at
    least 1 for X >= 1); E409 for a kind without the class, or another padding_mode."""
    if op.same_class is None:
        raise ShapeFailure(
            "E409",
            f"{op.kind} takes padding 'same' with stride 1 only (a strided 'same', "
            "TensorFlow's, is conv2d's and std_conv2d's)",
            "give explicit padding",
            "padding",
        )
    if attrs["padding_mode"] != "zeros":
        raise ShapeFailure(
            "E409",
            "padding 'same' with a stride pads with zeros in forward (TensorFlow's SAME), "
            f"not with padding_mode '{attrs['padding_mode']}'",
            "use padding_mode 'zeros', or explicit padding",
            "padding_mode",
        )
    out = [x[2 + i] if si == 1 else x[2 + i].ceildiv(si) for i, si in enumerate(s)]
    check_spatial(op.kind, out, x, ctx, SPATIAL_NAMES[op.nd], k)
    return out


def padded_extent(x: Dim, k: int, s: int, d: int) -> Dim:
    """The extent F.pad makes before the conv: exact for a number, and for a symbol when the
    window spans at least the stride (every padding is then `span - remainder`) or one
    element (no padding); otherwise the most it can be, `X + span - 1`."""
    span = d * (k - 1) + 1
    if x.is_const:
        n = x.value
        return Dim.of(max(n, (-(n // -s) - 1) * s + span))
    if span >= s:
        return (x.ceildiv(s) - 1) * s + span
    return x if span == 1 else x + (span - 1)


def same_reading(op: Op, module: Any) -> dict[str, Any] | None:
    """A module of the strided `same` class's name (timm's Conv2dSame: a conv built with
    padding 0 and padded in forward) as `padding: same`; the importer accepts the reading
    only for a class it knows computes that (importer/leaves.py, MIRRORED)."""
    from .reading import read_attributes

    fields = read_attributes(op, module)
    return None if fields is None else same_padded(fields, module)


def same_padded(fields: dict[str, Any], module: Any) -> dict[str, Any] | None:
    """The reading of a module of a `same` class's name with `padding: same` when its class
    pads in forward: built with padding 0 and a stride, and its `same_pad` flag, when it has
    one (timm's StdConv2dSame built with padding it can state), true. A flag that says the
    class pads in forward, and a stride of 1 (whose padding torch's own `same` states, in
    another class), read nothing; a false flag leaves the reading as it is."""
    flag = getattr(module, "same_pad", True)
    if flag is False:
        return fields
    if flag is not True or any(fields["padding"]) or all(s == 1 for s in fields["stride"]):
        return None
    return fields | {"padding": "same"}


def padded_numel(a: Mapping[str, Any], x: Shape, nd: int) -> Dim:
    """The elements of the padded copy a strided `same` conv convolves (`padded_extent`)."""
    k, s, d = (ntuple(a[f], nd, f) for f in ("kernel_size", "stride", "dilation"))
    return product([x[0], x[1], *(padded_extent(x[2 + i], k[i], s[i], d[i]) for i in range(nd))])


def side_padding(a: Mapping[str, Any], nd: int) -> list[tuple[int, int]]:
    """(left, right) padding per spatial dim, `same` and `valid` resolved as torch's Conv
    modules do (`same` puts the odd element on the right)."""
    pad = a["padding"]
    if pad == "valid":
        return [(0, 0)] * nd
    if pad == "same":
        k = ntuple(a["kernel_size"], nd, "kernel_size")
        d = ntuple(a["dilation"], nd, "dilation")
        totals = [di * (ki - 1) for ki, di in zip(k, d)]
        return [(t // 2, t - t // 2) for t in totals]
    return [(p, p) for p in ntuple(pad, nd, "padding")]


def same_pool(op: Any, attrs: Mapping[str, Any], x: Shape, ctx: ShapeContext) -> Inferred:
    """A pool with `padding: same` (TensorFlow's SAME, timm's MaxPool2dSame and
    AvgPool2dSame): the last dims padded in forward (max with -inf, average with zeros it
    counts) so that the output is `ceil(X / s)` for every stride, ceil_mode or not."""
    from .pools import _INT32_WHY

    nd = op.nd
    k = ntuple(attrs["kernel_size"], nd, "kernel_size")
    stride = attrs["stride"] if attrs["stride"] is not None else attrs["kernel_size"]
    s = ntuple(stride, nd, "stride")
    d = ntuple(attrs.get("dilation", 1), nd, "dilation")
    for what, values in (("kernel_size", k), ("stride", s), ("dilation", d)):
        at_most(op.kind, what, values, INT32_MAX, _INT32_WHY)
    lead = len(x) - nd
    out = [x[lead + i] if s[i] == 1 else x[lead + i].ceildiv(s[i]) for i in range(nd)]
    check_spatial(op.kind, out, x, ctx, SPATIAL_NAMES[nd], k)
    return Inferred(dict(attrs, stride=stride), (*x[:lead], *out))


def same_pool_arguments(op: Any, a: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """The keyword arguments (value, default) of a `same` pool's support class after its
    kernel size, as `emit_call` takes them (lists as tuples)."""

    def value(name: str) -> Any:
        return tuple(a[name]) if isinstance(a[name], list) else a[name]

    kw = {"stride": (value("stride"), value("kernel_size"))}
    if not op.avg:
        kw["dilation"] = (value("dilation"), 1)
    kw["ceil_mode"] = (a["ceil_mode"], False)
    if op.avg:
        kw["count_include_pad"] = (a["count_include_pad"], True)
    return kw
