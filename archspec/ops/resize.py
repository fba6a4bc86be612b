"""Layers that change the spatial size upward: transposed convolution and upsampling
(`upsample` module, `interpolate` in forward); padding.py pads.

Transposed convolution: each output extent is `(X - 1)s - 2p + d(k - 1) + op + 1` exactly,
and torch wants the output padding `op` below the stride or below the dilation. Its MACs
are those of its input: every input element meets `out_channels / groups * prod(k)` weights.

Upsampling with `scale_factor` s: torch computes each extent as `int(X * s)` in double
precision. For a concrete X archspec computes the same float product; for a symbolic X it
writes `floor(X * p / 2**k)` for s = p / 2**k, which is that product exactly when p has at
most 21 bits (2, 1.5, 0.25, 1.75, ...); other factors (0.3, 1.1) need a concrete input size
or `size`.
"""

import math
from collections.abc import Callable, Mapping, Sequence
from fractions import Fraction
from functools import cache, partial
from typing import Any, ClassVar, Literal

from pydantic import Field

from ..dims import SPATIAL_NAMES, Dim, Shape, product
from .base import (
    INT32_MAX,
    Bool,
    Float,
    Inferred,
    Int,
    Ints,
    LayerSpec,
    LazySpec,
    Op,
    ShapeContext,
    ShapeFailure,
    channels,
    channels_at_dim_1,
    fmt,
    ntuple,
    register,
)
from .emitting import emit_call, module_arguments, module_values
from .merge import _FunctionOp
from .shapectx import check_declared
from .words import Word

#: A transposed convolution's fields after its channel counts, in ConvTranspose2d's order.
TRANSPOSED_FIELDS = (
    ("kernel_size", None),
    ("stride", 1),
    ("padding", 0),
    ("output_padding", 0),
    ("groups", 1),
    ("bias", True),
    ("dilation", 1),
)


def _tup(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _extent_message(kind: str, axis: str, x: Shape) -> str:
    return f"{kind} makes the {axis} extent {{d}} (input {fmt(x)})"


def require_extents(kind: str, out: Sequence[Dim], x: Shape, ctx: ShapeContext) -> None:
    """E405 (or a requirement on the input's symbols) for an output extent below 1."""
    names = SPATIAL_NAMES.get(len(out), ())
    for i, extent in enumerate(out):
        if extent.is_const and extent.value >= 1:
            continue
        axis = names[i] if len(names) == len(out) else str(i)
        ctx.require_positive(
            extent,
            "E405",
            partial(_extent_message, kind, axis, x),
            "the output would be empty: use a larger input or other sizes for this layer",
        )


_TRANSPOSED_FIELDS = ("kernel_size", "stride", "padding", "output_padding", "dilation")


def _below_int32(kind: str, what: str, values: Sequence[int]) -> None:
    """E409 for a size of 2**31 or more: torch's transposed convolutions read their sizes as
    32-bit ints, so such a value fails (stride 2**31 becomes negative) or runs as another
    value (2**32 + 1 as 1), where the shape rule would use the value written."""
    for v in values:
        if v > INT32_MAX:
            raise ShapeFailure(
                "E409",
                f"{kind} {what} {v:,} is 2**31 or more: PyTorch reads it as one of its "
                "32-bit ints, and fails or uses another value",
                "use a value below 2**31",
                what,
            )


@cache
def _conv_transpose_spec() -> type[LayerSpec]:
    class _ConvTransposeSpec(LayerSpec):
        out_channels: Int(ge=1)  # type: ignore[valid-type]
        kernel_size: Ints(ge=1)  # type: ignore[valid-type]
        stride: Ints(ge=1) = 1  # type: ignore[valid-type]
        padding: Ints(ge=0) = 0  # type: ignore[valid-type]
        output_padding: Ints(ge=0) = 0  # type: ignore[valid-type]
        groups: Int(ge=1) = 1  # type: ignore[valid-type]
        bias: Bool = True
        dilation: Ints(ge=1) = 1  # type: ignore[valid-type]
        in_channels: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; checked if given"
        )

    return _ConvTransposeSpec


def _conv_transpose1d_spec() -> type[LayerSpec]:
    class ConvTranspose1dSpec(_conv_transpose_spec()):
        """conv_transpose1d: transposed convolution over (N, C, L); in_channels is inferred."""

        type: Literal["conv_transpose1d"]

    return ConvTranspose1dSpec


def _conv_transpose2d_spec() -> type[LayerSpec]:
    class ConvTranspose2dSpec(_conv_transpose_spec()):
        """conv_transpose2d: transposed convolution; in_channels is inferred from the input."""

        type: Literal["conv_transpose2d"]

    return ConvTranspose2dSpec


def _conv_transpose3d_spec() -> type[LayerSpec]:
    class ConvTranspose3dSpec(_conv_transpose_spec()):
        """conv_transpose3d: transposed convolution over (N, C, D, H, W); in_channels inferred."""

        type: Literal["conv_transpose3d"]

    return ConvTranspose3dSpec


class _ConvTranspose(Op):
    """nn.ConvTranspose1d/2d/3d: one shape rule, count and constructor for 1, 2 or 3 dims."""

    channel_axis = channels_at_dim_1
    inferred = ("in_channels",)
    category = "conv"
    optional_tensors = ("bias",)
    #: spatial dims, and the input layout named in errors
    nd: ClassVar[int]
    layout: ClassVar[str]

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        nd = self.nd
        if len(x) != nd + 2:
            raise ShapeFailure(
                "E401", f"{self.kind} needs an {self.layout} input, got {fmt(x)}", None
            )
        c_in = channels(x, self.kind)
        check_declared(self.kind, "in_channels", attrs.get("in_channels"), c_in)
        g, c_out = attrs["groups"], attrs["out_channels"]
        if c_in % g or c_out % g:
            raise ShapeFailure(
                "E409",
                f"groups={g} must divide both in_channels ({c_in}) and out_channels ({c_out})",
                None,
                "groups",
            )
        k, s, p, op, d = (ntuple(attrs[f], nd, f) for f in _TRANSPOSED_FIELDS)
        for what, values in zip(_TRANSPOSED_FIELDS, (k, s, p, op, d)):
            _below_int32(self.kind, what, values)
        for i in range(nd):
            if op[i] >= s[i] and op[i] >= d[i]:
                raise ShapeFailure(
                    "E409",
                    f"{self.kind} output_padding {op[i]} must be smaller than the stride "
                    f"({s[i]}) or the dilation ({d[i]})",
                    "PyTorch refuses an output padding at least both stride and dilation",
                    "output_padding",
                )
        out = [
            (x[2 + i] - 1) * s[i] + (d[i] * (k[i] - 1) + op[i] + 1 - 2 * p[i]) for i in range(nd)
        ]
        require_extents(self.kind, out, x, ctx)
        return Inferred(dict(attrs, in_channels=c_in), (x[0], Dim.of(c_out), *out))

    def params(self, a: Mapping[str, Any]) -> int:
        k = ntuple(a["kernel_size"], self.nd, "kernel_size")
        w = a["in_channels"] * (a["out_channels"] // a["groups"]) * math.prod(k)
        return w + (a["out_channels"] if a["bias"] else 0)

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        k = ntuple(a["kernel_size"], self.nd, "kernel_size")
        return product(inputs[0]) * ((a["out_channels"] // a["groups"]) * math.prod(k))

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {"weight": self.nd + 2, **({"bias": 1} if a.get("bias", True) else {})}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        kw = module_values(module_arguments(a, TRANSPOSED_FIELDS))
        return getattr(nn, self.torch_name)(a["in_channels"], a["out_channels"], **kw)

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            f"nn.{self.torch_name}",
            [a["in_channels"], a["out_channels"]],
            module_arguments(a, TRANSPOSED_FIELDS),
            lit,
        )


@register
class ConvTranspose1d(_ConvTranspose):
    kind = "conv_transpose1d"
    spec = LazySpec(_conv_transpose1d_spec)
    torch_name = "ConvTranspose1d"
    summary = "1-d transposed convolution"
    nd, layout = 1, "(N, C, L)"


@register
class ConvTranspose2d(_ConvTranspose):
    kind = "conv_transpose2d"
    spec = LazySpec(_conv_transpose2d_spec)
    torch_name = "ConvTranspose2d"
    summary = "2-d transposed convolution"
    nd, layout = 2, "(N, C, H, W)"


@register
class ConvTranspose3d(_ConvTranspose):
    kind = "conv_transpose3d"
    spec = LazySpec(_conv_transpose3d_spec)
    torch_name = "ConvTranspose3d"
    summary = "3-d transposed convolution"
    nd, layout = 3, "(N, C, D, H, W)"


_MODES = ("nearest", "nearest-exact", "linear", "bilinear", "bicubic", "trilinear", "area")
#: mode -> the input ranks torch implements it for
_MODE_RANKS = {
    "nearest": (3, 4, 5),
    "nearest-exact": (3, 4, 5),
    "area": (3, 4, 5),
    "linear": (3,),
    "bilinear": (4,),
    "bicubic": (4,),
    "trilinear": (5,),
}
#: The largest odd mantissa of a scale factor whose product with any extent below 2**32 is a
#: double computed exactly (2**53 / 2**32).
_EXACT_MANTISSA = 2**21
_SCALE_MAX = 2**16


@cache
def _resize_spec() -> type[LayerSpec]:
    class _ResizeSpec(LayerSpec):
        size: Ints(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="the output's spatial size: one int, or one per spatial dim"
        )
        scale_factor: Float(gt=0, le=_SCALE_MAX) | None = Field(  # type: ignore[valid-type]
            None, description="multiplies every spatial extent (torch rounds down)"
        )
        mode: Word(_MODES) = "nearest"  # type: ignore[valid-type]
        align_corners: Bool | None = Field(
            None, description="only for linear, bilinear, bicubic and trilinear"
        )

    return _ResizeSpec


def _upsample_spec() -> type[LayerSpec]:
    class UpsampleSpec(_resize_spec()):
        """upsample: resizes the spatial dims (nn.Upsample); give `size` or `scale_factor`."""

        type: Literal["upsample"]

    return UpsampleSpec


def _interpolate_spec() -> type[LayerSpec]:
    class InterpolateSpec(_resize_spec()):
        """interpolate: F.interpolate in forward; give `size` or `scale_factor`."""

        type: Literal["interpolate"]

    return InterpolateSpec


class _Resize(Op):
    category = "pool"
    emits_words = frozenset({"mode"})

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        _check_mode(self.kind, attrs, x)
        size, scale = attrs["size"], attrs["scale_factor"]
        if (size is None) == (scale is None):
            raise ShapeFailure(
                "E409",
                f"{self.kind} needs exactly one of size and scale_factor",
                None,
                "size" if size is not None else None,
            )
        nd = len(x) - 2
        if size is not None:
            out = [Dim.of(v) for v in ntuple(size, nd, "size")]
        else:
            out = [_scaled(d, scale, self.kind, x) for d in x[2:]]
            require_extents(self.kind, out, x, ctx)
        return Inferred(attrs, (x[0], x[1], *out))

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def _kwargs(self, a: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
        return {
            "size": (_tup(a["size"]), None if a["size"] is not None else ...),
            "scale_factor": (a["scale_factor"], None if a["scale_factor"] is not None else ...),
            "mode": (a["mode"], "nearest"),
            "align_corners": (a["align_corners"], None if a["align_corners"] is not None else ...),
        }


def _check_mode(kind: str, attrs: Mapping[str, Any], x: Shape) -> None:
    """The input rank the mode takes, and align_corners only for interpolating modes."""
    mode = attrs["mode"]
    if len(x) not in _MODE_RANKS[mode]:
        ranks = " or ".join(map(str, _MODE_RANKS[mode]))
        raise ShapeFailure(
            "E401",
            f"{kind} mode '{mode}' needs an input of rank {ranks}, got {fmt(x)}",
            "bilinear and bicubic take (N, C, H, W), linear (N, C, L), trilinear (N, C, D, H, W)",
            "mode",
        )
    if attrs["align_corners"] is not None and mode in ("nearest", "nearest-exact", "area"):
        raise ShapeFailure(
            "E409",
            f"{kind} align_corners applies to interpolating modes, not '{mode}'",
            "drop align_corners, or use mode linear, bilinear, bicubic or trilinear",
            "align_corners",
        )


def _scaled(d: Dim, scale: float, kind: str, x: Shape) -> Dim:
    """The extent torch computes, `int(d * scale)` in doubles."""
    if d.is_const:
        return Dim.of(int(float(d.value) * float(scale)))
    ratio = Fraction(scale)
    if ratio.numerator > _EXACT_MANTISSA:
        raise ShapeFailure(
            "E406",
            f"{kind} scale_factor {scale!r} rounds differently for different sizes: archspec "
            f"needs a concrete spatial size to apply it to the input {fmt(x)}",
            "declare a concrete input size, give `size`, or use a scale factor with a short "
            "binary expansion (2, 1.5, 0.5, 0.25, 1.75, ...)",
            "scale_factor",
        )
    return (d * ratio.numerator).floordiv(ratio.denominator)


def _present(kw: dict[str, tuple[Any, Any]]) -> dict[str, tuple[Any, Any]]:
    """Keyword arguments that are set (a default of `...` marks one left out)."""
    return {k: v for k, v in kw.items() if v[1] is not ...}


@register
class Upsample(_Resize):
    kind = "upsample"
    spec = LazySpec(_upsample_spec)
    torch_name = "Upsample"
    summary = "resizes the spatial dims (nearest, bilinear, ...)"

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return nn.Upsample(
            size=_tup(a["size"]),
            scale_factor=a["scale_factor"],
            mode=a["mode"],
            align_corners=a["align_corners"],
        )

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call("nn.Upsample", [], _present(self._kwargs(a)), lit)


@register
class Interpolate(_Resize):
    kind = "interpolate"
    spec = LazySpec(_interpolate_spec)
    style = "function"
    summary = "resizes the spatial dims in forward (F.interpolate)"

    def function(self, a: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch.nn.functional as F

        return F.interpolate, {
            "size": _tup(a["size"]),
            "scale_factor": a["scale_factor"],
            "mode": a["mode"],
            "align_corners": a["align_corners"],
        }

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        call = emit_call("F.interpolate", [], _present(self._kwargs(a)), lit)
        inner = call[len("F.interpolate(") :]
        sep = ", " if inner != ")" else ""
        return f"F.interpolate({a['_inputs'][0]}{sep}{inner}"


def _interpolate_as_spec() -> type[LayerSpec]:
    class InterpolateAsSpec(LayerSpec):
        """interpolate_as: F.interpolate of the first input to the spatial size of the second,
        `from: [x, like]` (DeepLabV3's ASPP pooling, upsampled back to its input's size)."""

        type: Literal["interpolate_as"]
        mode: Word(_MODES) = "nearest"  # type: ignore[valid-type]
        align_corners: Bool | None = Field(
            None, description="only for linear, bilinear, bicubic and trilinear"
        )

    return InterpolateAsSpec


@register
class InterpolateAs(_FunctionOp):
    kind = "interpolate_as"
    spec = LazySpec(_interpolate_as_spec)
    arity = 2
    category = "pool"
    emits_words = frozenset({"mode"})
    summary = "resizes the first input to the spatial size of the second (F.interpolate)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        x, like = inputs
        _check_mode(self.kind, attrs, x)
        if len(like) != len(x):
            raise ShapeFailure(
                "E401",
                f"{self.kind} resizes {fmt(x)} to the spatial size of {fmt(like)}: the two "
                "need the same rank",
                "the second input gives only its size: read a tensor of the first one's layout",
            )
        return Inferred(attrs, (x[0], x[1], *like[2:]))

    def function(self, a: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return interpolate_as, {"mode": a["mode"], "align_corners": a["align_corners"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        x, like = a["_inputs"]
        kwargs = {
            "mode": (a["mode"], None),
            "align_corners": (a["align_corners"], None if a["align_corners"] is not None else ...),
        }
        call = emit_call("F.interpolate", [], _present(kwargs), lit)
        return f"F.interpolate({x}, size={like}.shape[2:], {call[len('F.interpolate(') :]}"


def interpolate_as(x: Any, like: Any, mode: str, align_corners: bool | None) -> Any:
    """`F.interpolate(x, size=like.shape[2:], ...)`, the same call emitted files write."""
    from torch.nn.functional import interpolate

    return interpolate(x, size=like.shape[2:], mode=mode, align_corners=align_corners)
