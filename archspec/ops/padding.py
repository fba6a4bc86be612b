"""Padding of the last 1, 2 or 3 dims, torch's four families: zeros (`zero_pad2d`), a constant
(`constant_pad2d`, with `value`), a mirror of the input (`reflection_pad2d`) and a copy of
its edge (`replication_pad2d`). One shape rule serves all twelve kinds.

`padding` lists (before, after) pairs from the last dim backwards, as torch's `F.pad` reads
them. Zero and constant padding take any input of at least the dims they pad, as torch's do
(every dim padded may be any one: ZeroPad3d on (N, C, L) pads all three); reflection and
replication an input batched or not, (C, ...) or (N, C, ...), as torch allows. Reflection
mirrors inside the input without repeating the edge, so torch needs each side's padding
below the extent it pads (`pad < X`, checked per side: ReflectionPad1d((3, 0)) refuses a
length of 3); the other modes take any extent. No kind holds a tensor or counts a MAC.
"""

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, ClassVar, Literal

from pydantic import Field, create_model

from ..dims import SPATIAL_NAMES, Shape
from .base import (
    Float,
    Inferred,
    Ints,
    LayerSpec,
    LazySpec,
    Op,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)
from .emitting import emit_call
from .merge import _FunctionOp
from .resize import require_extents
from .tensor import DimList

#: padded dims -> the input layouts named in errors, the names of the padded sides
_LAYOUTS = {
    1: ("(C, L) or (N, C, L)", "left, right"),
    2: ("(C, H, W) or (N, C, H, W)", "left, right, top, bottom"),
    3: ("(C, D, H, W) or (N, C, D, H, W)", "left, right, top, bottom, front, back"),
}
_COUNT = {2: "two", 4: "four", 6: "six"}
#: family -> (kind prefix, torch class prefix, what fills the border, the summary's word)
_FAMILIES = {
    "zeros": ("zero_pad", "ZeroPad", "zeros", "zero"),
    "constant": ("constant_pad", "ConstantPad", "a constant `value`", "constant"),
    "reflect": ("reflection_pad", "ReflectionPad", "the input mirrored at its edge", "reflection"),
    "replicate": ("replication_pad", "ReplicationPad", "copies of the input's edge", "replication"),
}
_WHICH = {1: "the last dim", 2: "the last two dims", 3: "the last three dims"}
#: the families torch pads at any rank of at least the dims padded (its constant pad, which
#: ZeroPad and ConstantPad call: nn.ZeroPad2d pads a (H, W) map or a 5-d one's last two
#: dims, and ZeroPad3d an (N, C, L) input's three); reflection and replication take a
#: batched or unbatched input only, (C, ...) or (N, C, ...)
_ANY_RANK = ("zeros", "constant")


def _pad_spec(kind: str, nd: int, family: str) -> type[LayerSpec]:
    """The model of one padding kind: `padding`, and a constant pad's `value`."""
    sides = _LAYOUTS[nd][1]
    fields: dict[str, Any] = {
        "type": (Literal[kind], ...),
        "padding": (
            Ints(ge=0),
            Field(..., description=f"one int for every side, or [{sides}]"),
        ),
    }
    if family == "constant":
        fields["value"] = (Float(), Field(..., description="the number the border holds"))
    doc = f"{kind}: pads {_WHICH[nd]} with {_FAMILIES[family][2]}."
    if kind == "zero_pad1d":
        doc = f"{kind}: pads the last dim with zeros (causal padding is `[k - 1, 0]`)."
    return create_model(
        f"{_FAMILIES[family][1]}{nd}dSpec", __base__=LayerSpec, __doc__=doc, **fields
    )


def _tup(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _reflect_message(kind: str, axis: str, x: Shape, pad: int) -> str:
    return (
        f"{kind} pads the {axis} extent by {pad}, which needs an extent of at least {pad + 1} "
        f"(reflection mirrors inside the input; input {fmt(x)})"
    )


class _Pad(Op):
    """nn.ZeroPad/ConstantPad/ReflectionPad/ReplicationPad 1d/2d/3d."""

    category = "reshape"
    nd: ClassVar[int]
    family: ClassVar[str]

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        nd = self.nd
        layouts, sides = _LAYOUTS[nd]
        if self.family in _ANY_RANK and len(x) < nd:
            raise ShapeFailure(
                "E401",
                f"{self.kind} pads {_WHICH[nd]} and needs an input of at least {nd} dims, "
                f"got {fmt(x)}",
                None,
            )
        if self.family not in _ANY_RANK and len(x) not in (nd + 1, nd + 2):
            raise ShapeFailure("E401", f"{self.kind} needs a {layouts} input, got {fmt(x)}", None)
        pad = attrs["padding"]
        if isinstance(pad, (list, tuple)) and len(pad) != 2 * nd:
            raise ShapeFailure(
                "E409",
                f"{self.kind} padding has {len(pad)} values; give one or {_COUNT[2 * nd]} "
                f"({sides})",
                None,
                "padding",
            )
        pads = list(pad) if isinstance(pad, (list, tuple)) else [pad] * (2 * nd)
        names = SPATIAL_NAMES.get(nd, ())
        out = []
        # pairs run from the last dim backwards: (left, right) pads dim -1, (top, bottom) -2
        for i in reversed(range(nd)):
            extent, before, after = x[-1 - i], pads[2 * i], pads[2 * i + 1]
            axis = names[nd - 1 - i] if len(names) == nd else str(nd - 1 - i)
            if self.family == "reflect" and max(before, after) >= 1:
                widest = max(before, after)
                ctx.require_positive(
                    extent - widest,
                    "E405",
                    partial(_reflect_message, self.kind, axis, x, widest),
                    f"use a larger input, less padding, or {_FAMILIES['replicate'][0]}{nd}d "
                    "(which copies the edge and takes any size)",
                )
            out.append(extent + (before + after))
        require_extents(self.kind, out, x, ctx)
        return Inferred(attrs, (*x[:-nd], *out))

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def _values(self, a: Mapping[str, Any]) -> list[Any]:
        pad = _tup(a["padding"])
        return [pad, a["value"]] if self.family == "constant" else [pad]

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return getattr(nn, self.torch_name)(*self._values(a))

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(f"nn.{self.torch_name}", self._values(a), {}, lit)


def _register_family(family: str) -> None:
    prefix, torch_prefix, _, word = _FAMILIES[family]
    for nd in (1, 2, 3):
        kind = f"{prefix}{nd}d"
        register(
            type(
                f"{torch_prefix}{nd}d",
                (_Pad,),
                {
                    "__module__": __name__,
                    "kind": kind,
                    "spec": LazySpec(partial(_pad_spec, kind, nd, family)),
                    "torch_name": f"{torch_prefix}{nd}d",
                    "summary": f"{word} padding of {_WHICH[nd]}",
                    "nd": nd,
                    "family": family,
                },
            )
        )


for _family in _FAMILIES:
    _register_family(_family)


def _pad_as_spec() -> type[LayerSpec]:
    class PadAsSpec(LayerSpec):
        """pad_as: pads the first input's spatial dims (2, 3, ...) with `value` to the sizes of
        the second's, `from: [x, like]`, each difference split as a U-Net's `F.pad(x1,
        [diffX // 2, diffX - diffX // 2, diffY // 2, diffY - diffY // 2])` does."""

        type: Literal["pad_as"]
        value: Float() = Field(0.0, description="the number the border holds")  # type: ignore[valid-type]

    return PadAsSpec


def _pad_as_message(axis: str, x: Shape, like: Shape) -> str:
    return (
        f"pad_as pads {fmt(x)} to the spatial size of {fmt(like)}: its {axis} extent is "
        "larger than the one it is padded to ({d} is below 1)"
    )


@register
class PadAs(_FunctionOp):
    kind = "pad_as"
    spec = LazySpec(_pad_as_spec)
    arity = 2
    category = "reshape"
    summary = "pads the first input to the spatial size of the second (a U-Net's F.pad to the skip)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        x, like = inputs
        if len(like) != len(x) or len(x) < 3:
            raise ShapeFailure(
                "E401",
                f"pad_as pads {fmt(x)} to the spatial size of {fmt(like)}: the two need one "
                "rank, with a spatial dim at least ((N, C, L), (N, C, H, W), ...)",
                "the second input gives only its size: read a map of the first one's layout",
            )
        names = SPATIAL_NAMES.get(len(x) - 2, ())
        for i in range(2, len(x)):
            axis = names[i - 2] if len(names) == len(x) - 2 else f"dim {i}"
            ctx.require_positive(
                like[i] - x[i] + 1,
                "E405",
                partial(_pad_as_message, axis, x, like),
                "pad_as only pads: make the first input no larger than the second (a crop is a "
                "`slice`)",
            )
        return Inferred(attrs, (x[0], x[1], *like[2:]))

    def function(self, a: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        return pad_as, {"value": a["value"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        x, like = a["_inputs"]
        value = f", value={lit(a['value'])}" if a["value"] else ""
        return f"pad_as({x}, {like}{value})"

    def emit_support(self) -> str:
        return PAD_AS_SOURCE


PAD_AS_SOURCE = """\
def pad_as(x: torch.Tensor, like: torch.Tensor, value: float = 0.0) -> torch.Tensor:
    pads = []
    for dim in range(x.dim() - 1, 1, -1):  # the last dim first, as F.pad reads pads
        diff = like.shape[dim] - x.shape[dim]
        pads += [diff // 2, diff - diff // 2]
    return F.pad(x, pads, value=value)
"""


def pad_as(x: Any, like: Any, value: float = 0.0) -> Any:
    """`x` padded to `like`'s spatial sizes, the extra row or column after (the same code as
    emitted files' `pad_as`)."""
    from torch.nn.functional import pad

    pads: list[int] = []
    for dim in range(x.dim() - 1, 1, -1):  # the last dim first, as F.pad reads pads
        diff = like.shape[dim] - x.shape[dim]
        pads += [diff // 2, diff - diff // 2]
    return pad(x, pads, value=value)


def _pad_to_multiple_spec() -> type[LayerSpec]:
    class PadToMultipleSpec(LayerSpec):
        """pad_to_multiple: pads each of `dims` at its end with `value` up to the next
        multiple of its `multiple`, as Swin pads a map to its windows: `F.pad(x, (0, 0, 0,
        (ws - W % ws) % ws, 0, (ws - H % ws) % ws))` of (N, H, W, C) is `dims: [1, 2],
        multiple: ws`."""

        type: Literal["pad_to_multiple"]
        dims: DimList = Field(description="the dims padded, e.g. [1, 2] for (N, H, W, C)")
        multiple: Ints(ge=1) = Field(description="one int for every dim, or one per dim")  # type: ignore[valid-type]
        value: Float() = Field(0.0, description="the number the border holds")  # type: ignore[valid-type]

    return PadToMultipleSpec


@register
class PadToMultiple(_FunctionOp):
    kind = "pad_to_multiple"
    spec = LazySpec(_pad_to_multiple_spec)
    category = "reshape"
    summary = "pads dims at their end up to a multiple (Swin's pad of a map to its windows)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        dims, multiple, r = attrs["dims"], attrs["multiple"], len(x)
        multiple = [multiple] * len(dims) if isinstance(multiple, int) else list(multiple)
        hint = f"list the dims to pad, each once, from 0 to {r - 1} (or -{r} to -1)"
        if not dims or any(type(d) is not int or not -r <= d < r for d in dims):
            raise ShapeFailure(
                "E401", f"pad_to_multiple dims {dims} are out of range for {fmt(x)}", hint, "dims"
            )
        if len({d % r for d in dims}) != len(dims):
            raise ShapeFailure("E409", f"pad_to_multiple dims {dims} repeat a dim", hint, "dims")
        if len(multiple) != len(dims):
            raise ShapeFailure(
                "E409",
                f"pad_to_multiple has {len(multiple)} multiples for {len(dims)} dims",
                "give one multiple for every dim, or one per dim in `dims`' order",
                "multiple",
            )
        ends = {d % r: k for d, k in zip(dims, multiple)}
        out = tuple(
            (d + (ends[i] - 1)).floordiv(ends[i]) * ends[i] if i in ends else d
            for i, d in enumerate(x)
        )
        return Inferred(attrs, out)

    def function(self, a: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        return pad_to_multiple, {
            "dims": list(a["dims"]),
            "multiple": a["multiple"],
            "value": a["value"],
        }

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        (x,) = a["_inputs"]
        value = f", value={lit(a['value'])}" if a["value"] else ""
        return f"pad_to_multiple({x}, {lit(a['dims'])}, {lit(a['multiple'])}{value})"

    def emit_support(self) -> str:
        return PAD_TO_MULTIPLE_SOURCE


PAD_TO_MULTIPLE_SOURCE = """\
def pad_to_multiple(
    x: torch.Tensor, dims: list[int], multiple: int | list[int], value: float = 0.0
) -> torch.Tensor:
    multiples = [multiple] * len(dims) if isinstance(multiple, int) else list(multiple)
    ends = {d % x.dim(): (k - x.shape[d] % k) % k for d, k in zip(dims, multiples)}
    pads = []
    for dim in range(x.dim() - 1, min(ends) - 1, -1):  # the last dim first, as F.pad reads pads
        pads += [0, ends.get(dim, 0)]
    return F.pad(x, pads, value=value)
"""


def pad_to_multiple(x: Any, dims: list[int], multiple: Any, value: float = 0.0) -> Any:
    """`x` padded at the end of each of `dims` to a multiple (the same code as emitted
    files' `pad_to_multiple`)."""
    from torch.nn.functional import pad

    multiples = [multiple] * len(dims) if isinstance(multiple, int) else list(multiple)
    ends = {d % x.dim(): (k - x.shape[d] % k) % k for d, k in zip(dims, multiples)}
    pads: list[int] = []
    for dim in range(x.dim() - 1, min(ends) - 1, -1):  # the last dim first, as F.pad reads pads
        pads += [0, ends.get(dim, 0)]
    return pad(x, pads, value=value)
