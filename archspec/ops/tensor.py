"""Layout ops: permute, reshape, channel_shuffle, pixel_shuffle and pixel_unshuffle, the
reductions `mean` and `sum`, and `stack` (no parameters, no MACs).

`permute` is a module (torchvision's `ops.misc.Permute`, which ConvNeXt puts inside an
`nn.Sequential`, so it takes a position there like any module) where it is unnamed, and
`x.permute(0, 2, 1)` in forward where the spec names it (ViT's patch embedding); `reshape` and
`channel_shuffle` are computed in `forward`, as torchvision writes them (`x.reshape(...)`,
ShuffleNetV2's `channel_shuffle(x, 2)`), and hold no `state_dict` entry either way; so is
`mean` (MNASNet's `x.mean([2, 3])`, a global average pool and flatten with no module call).
`pixel_shuffle` and `pixel_unshuffle` are torch's `nn.PixelShuffle` and `nn.PixelUnshuffle`
modules (a sub-pixel convolution's tail, ESPCN's), which hold no `state_dict` entry either.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal

from pydantic import Field, StrictInt

from ..dims import Dim, Shape, product
from .base import (
    INT32_MAX,
    Bool,
    ExprStr,
    Final,
    Inferred,
    Int,
    LayerSpec,
    LazySpec,
    Op,
    Reuse,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)
from .emitting import emit_call
from .support import definitions

#: A list of ints (each possibly an expression), never a single int.
IntList = Annotated[list[StrictInt | ExprStr], Reuse(), Final("ints", ge=-1)]
#: A list of dims, counted from the end when negative as torch counts them (`[-2, -1]`);
#: the shape rule checks them against the input's rank.
DimList = Annotated[list[StrictInt | ExprStr], Reuse(), Final("ints")]


class StatelessOp(Op):
    """Holds no tensors and no modules (the base of every reshaping kind: here, attention.py's
    token ops and partition.py's partitions)."""

    category = "reshape"

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()


def _as_list(value: Any, kind: str, field: str) -> list[int]:
    if not isinstance(value, list):
        raise ShapeFailure("E401", f"{kind} {field} must be a list, got {value!r}", None, field)
    return value


def _permute_spec() -> type[LayerSpec]:
    class PermuteSpec(LayerSpec):
        """permute: reorders the dims of its input, `dims: [0, 2, 3, 1]` (NCHW -> NHWC)."""

        type: Literal["permute"]
        dims: DimList = Field(description="the input dim each output dim takes, a permutation")

    return PermuteSpec


@register
class Permute(StatelessOp):
    kind = "permute"
    spec = LazySpec(_permute_spec)
    torch_name = "Permute"
    summary = "reorders dims (torchvision's ops.misc.Permute; named: `x.permute` in forward)"
    functional = True

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        dims = _as_list(attrs["dims"], self.kind, "dims")
        r = len(x)
        if len(dims) != r:
            raise ShapeFailure(
                "E401",
                f"permute dims {dims} name {len(dims)} dims, the input {fmt(x)} has {r}",
                "give one entry per input dim",
                "dims",
            )
        if any(not -r <= d < r for d in dims):
            raise ShapeFailure(
                "E401", f"permute dims {dims} are out of range for {fmt(x)}", None, "dims"
            )
        norm = [d % r for d in dims]
        if len(set(norm)) != r:
            raise ShapeFailure(
                "E409",
                f"permute dims {dims} repeat a dim: they must be a permutation of 0..{r - 1}",
                None,
                "dims",
            )
        return Inferred(attrs, tuple(x[d] for d in norm))

    def channel_axis(
        self, attrs: Mapping[str, Any], axis: int | None, inputs: Sequence[Shape], out: Shape
    ) -> int | None:
        """The output dim that takes the input's channel dim (NCHW -> NHWC: 1 -> 3)."""
        if axis is None:
            return None
        r = len(out)
        taken = [d % r for d in attrs["dims"]]
        return taken.index(axis) if axis in taken else axis  # rank < 2: no channel dim

    def build(self, a: Mapping[str, Any]) -> Any:
        from . import tensor_modules

        return tensor_modules.Permute(list(a["dims"]))

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call("Permute", [a["dims"]], {}, lit)

    def emit_support(self) -> str:
        return definitions("tensor_modules.py")

    def function(self, a: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.permute, {"dims": list(a["dims"])}

    def emit_call(self, a: Mapping[str, Any], lit: Any) -> str:
        """`x.permute(0, 2, 1)`, as torchvision's ViT writes it in forward."""
        return f"{a['_inputs'][0]}.permute({', '.join(lit(d) for d in a['dims'])})"


def _reshape_spec() -> type[LayerSpec]:
    class ReshapeSpec(LayerSpec):
        """reshape: gives the input a new shape of the same size; in `shape`, `0` keeps the
        input's dim at that position and one `-1` takes what is left (`[0, -1]`: flatten)."""

        type: Literal["reshape"]
        shape: IntList = Field(
            description="sizes; 0 keeps the input's dim there, one -1 is inferred"
        )

    return ReshapeSpec


@register
class Reshape(StatelessOp):
    kind = "reshape"
    spec = LazySpec(_reshape_spec)
    style = "function"
    summary = "new shape of the same size (0 keeps a dim, -1 is inferred)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        sizes = _as_list(attrs["shape"], self.kind, "shape")
        if not sizes:
            raise ShapeFailure("E401", "reshape needs at least one size", None, "shape")
        if sizes.count(-1) > 1:
            raise ShapeFailure(
                "E409",
                f"reshape shape {sizes} has more than one -1",
                "only one size can be inferred: give the others",
                "shape",
            )
        kept = [i for i, s in enumerate(sizes) if s == 0]
        if kept and kept[-1] >= len(x):
            raise ShapeFailure(
                "E401",
                f"reshape shape {sizes} keeps dim {kept[-1]} (a 0), the input {fmt(x)} has "
                f"{len(x)} dims",
                "0 keeps the input's dim at the same position; write the size instead",
                "shape",
            )
        rest = product([d for i, d in enumerate(x) if i not in kept])
        given = 1
        for s in sizes:
            given *= s if s > 0 else 1
        message = _size_message(sizes, x, given)
        if -1 in sizes:
            inferred = rest.floordiv(given)
            ctx.require_equal(inferred * given, rest, "E404", message, _SIZE_HINT, "shape")
        else:
            inferred = Dim.of(1)
            ctx.require_equal(rest, given, "E404", message, _SIZE_HINT, "shape")
        out = tuple(
            x[i] if s == 0 else inferred if s == -1 else Dim.of(s) for i, s in enumerate(sizes)
        )
        return Inferred(attrs, out)

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return reshape_keeping, {"sizes": tuple(attrs["shape"])}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        (x,) = a["_inputs"]
        parts = [f"{x}.size({i})" if s == 0 else lit(s) for i, s in enumerate(a["shape"])]
        return f"{x}.reshape({', '.join(parts)})"


def reshape_keeping(x: Any, sizes: tuple[int, ...]) -> Any:
    """`x.reshape(sizes)` where a 0 keeps x's dim at that position."""
    return x.reshape(tuple(x.size(i) if s == 0 else s for i, s in enumerate(sizes)))


_SIZE_HINT = (
    "the sizes must multiply to the input's size: use -1 for the dim to infer, "
    "0 to keep an input dim"
)


def _size_message(sizes: list[int], x: Shape, given: int) -> Callable[[], str]:
    """The E404 text; with a -1, the size left for it that the other sizes do not divide
    (`{a}`, `{b}`: the two sides of the requirement, filled in where it fails)."""

    def message() -> str:
        head = f"reshape to {sizes} does not fit the input {fmt(x)}: "
        if -1 in sizes:
            return (
                head
                + f"the -1 gets {{b}} elements, not a multiple of {given}, the other sizes' product"
            )
        return head + "the sizes do not multiply out ({a} vs {b})"

    return message


def _channel_shuffle_spec() -> type[LayerSpec]:
    class ChannelShuffleSpec(LayerSpec):
        """channel_shuffle: ShuffleNet's interleaving of the channels of `groups` groups."""

        type: Literal["channel_shuffle"]
        groups: Int(ge=1)  # type: ignore[valid-type]

    return ChannelShuffleSpec


@register
class ChannelShuffle(StatelessOp):
    kind = "channel_shuffle"
    spec = LazySpec(_channel_shuffle_spec)
    style = "function"
    summary = "interleaves channel groups (ShuffleNet), as nn.ChannelShuffle computes"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) < 3:
            raise ShapeFailure(
                "E401",
                f"channel_shuffle needs an input of rank >= 3, got {fmt(x)}",
                "shuffle the channels of a conv's output, before any flatten",
            )
        g = attrs["groups"]
        c = x[1]
        ctx.require_equal(
            c.floordiv(g) * g,
            c,
            "E409",
            f"channel_shuffle groups={g} does not divide the {{b}} input channels",
            "use a groups count that divides the channels",
            "groups",
        )
        return Inferred(attrs, x)

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch.nn.functional as F

        return F.channel_shuffle, {"groups": attrs["groups"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"F.channel_shuffle({a['_inputs'][0]}, {lit(a['groups'])})"


def _contiguous_spec() -> type[LayerSpec]:
    class ContiguousSpec(LayerSpec):
        """contiguous: the input laid out in row-major order (`x.contiguous()`): the same
        values, whose strides a later kernel (F.scaled_dot_product_attention, a convolution)
        reads, so its float results are the original's bit for bit."""

        type: Literal["contiguous"]

    return ContiguousSpec


@register
class Contiguous(StatelessOp):
    kind = "contiguous"
    spec = LazySpec(_contiguous_spec)
    style = "function"
    summary = "the input in row-major memory (`x.contiguous()`), as timm's attention lays q, k, v"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        return Inferred(attrs, x)

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.Tensor.contiguous, {}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"{a['_inputs'][0]}.contiguous()"


def _mean_spec() -> type[LayerSpec]:
    class MeanSpec(LayerSpec):
        """mean: the average over `dim` (MNASNet's and ShuffleNetV2's `x.mean([2, 3])`)."""

        type: Literal["mean"]
        dim: DimList = Field(description="the dims to average over, e.g. [2, 3] for H and W")
        keepdim: Bool = False

    return MeanSpec


@register
class Mean(StatelessOp):
    kind = "mean"
    spec = LazySpec(_mean_spec)
    style = "function"
    category = "pool"
    summary = "average over dims (`x.mean([2, 3])`: a global average pool and flatten)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        dims = _as_list(attrs["dim"], self.kind, "dim")
        r = len(x)
        hint = f"list the dims to reduce, each once, from 0 to {r - 1} (or -{r} to -1)"
        if not dims:
            raise ShapeFailure("E401", f"{self.kind} dims are empty", hint, "dim")
        if any(not -r <= d < r for d in dims):
            raise ShapeFailure(
                "E401", f"{self.kind} dims {dims} are out of range for {fmt(x)}", hint, "dim"
            )
        norm = {d % r for d in dims}
        if len(norm) != len(dims):
            raise ShapeFailure("E409", f"{self.kind} dims {dims} repeat a dim", hint, "dim")
        if attrs["keepdim"]:
            return Inferred(attrs, tuple(Dim.of(1) if i in norm else d for i, d in enumerate(x)))
        return Inferred(attrs, tuple(d for i, d in enumerate(x) if i not in norm))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        # the kind is torch's name of the reduction (`mean`, `sum`)
        return getattr(torch, self.kind), {"dim": list(attrs["dim"]), "keepdim": attrs["keepdim"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        keep = ", keepdim=True" if a["keepdim"] is True else ""
        return f"{a['_inputs'][0]}.{self.kind}({lit(a['dim'])}{keep})"


def _sum_spec() -> type[LayerSpec]:
    class SumSpec(LayerSpec):
        """sum: the sum over `dim` (a selective kernel's paths, `torch.stack(paths, 1).sum(1)`)."""

        type: Literal["sum"]
        dim: DimList = Field(description="the dims to add up, e.g. [1] for stacked paths")
        keepdim: Bool = False

    return SumSpec


@register
class Sum(Mean):
    kind = "sum"
    spec = LazySpec(_sum_spec)
    summary = "sum over dims (`x.sum(1)`: stacked paths added up, as timm's SelectiveKernel)"


def _amax_spec() -> type[LayerSpec]:
    class AmaxSpec(LayerSpec):
        """amax: the largest value over `dim` (CBAM's `x.amax(1, keepdim=True)`)."""

        type: Literal["amax"]
        dim: DimList = Field(description="the dims to take the maximum over, e.g. [1]")
        keepdim: Bool = False

    return AmaxSpec


@register
class Amax(Mean):
    kind = "amax"
    spec = LazySpec(_amax_spec)
    summary = "maximum over dims (`x.amax(1, keepdim=True)`: CBAM's channel max)"


def _amin_spec() -> type[LayerSpec]:
    class AminSpec(LayerSpec):
        """amin: the smallest value over `dim` (`torch.min(x, 2)[0]`, its values)."""

        type: Literal["amin"]
        dim: DimList = Field(description="the dims to take the minimum over, e.g. [2]")
        keepdim: Bool = False

    return AminSpec


@register
class Amin(Mean):
    kind = "amin"
    spec = LazySpec(_amin_spec)
    summary = "minimum over dims (`x.amin(2)`: the values of `torch.min(x, 2)`)"


def _stack_spec() -> type[LayerSpec]:
    class StackSpec(LayerSpec):
        """stack: inputs of one shape stacked along a new dim `dim`; `from: [a, b, ...]`."""

        type: Literal["stack"]
        dim: Int() = 1  # type: ignore[valid-type]

    return StackSpec


@register
class Stack(StatelessOp):
    kind = "stack"
    spec = LazySpec(_stack_spec)
    style = "function"
    arity = "many"
    category = "merge"
    summary = "inputs of one shape stacked along a new dim (torch.stack: selective-kernel paths)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        first = inputs[0]
        rank = len(first)
        dim = attrs["dim"]
        if not -rank - 1 <= dim <= rank:
            raise ShapeFailure(
                "E401",
                f"stack dim={dim} is out of range for inputs of rank {rank}",
                f"the new dim goes at 0 to {rank} (or {-rank - 1} to -1)",
                "dim",
            )
        for s in inputs[1:]:
            if len(s) != rank:
                raise ShapeFailure(
                    "E403",
                    f"stack joins inputs of different rank: {', '.join(fmt(x) for x in inputs)}",
                    "stack inputs of one shape",
                )
            for i in range(rank):
                if s[i] != first[i]:
                    ctx.require_equal(
                        s[i],
                        first[i],
                        "E403",
                        f"stack joins inputs whose dim {i} differ: {{b}} vs {{a}}",
                        "stack inputs of one shape: check each input's strides and channels",
                    )
        d = dim % (rank + 1)
        out = (*first[:d], Dim.of(len(inputs)), *first[d:])
        return Inferred(dict(attrs, dim=d), out)

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.stack, {"dim": attrs["dim"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"torch.stack([{', '.join(a['_inputs'])}], {lit(a['dim'])})"


def _pixel_shuffle_spec() -> type[LayerSpec]:
    class PixelShuffleSpec(LayerSpec):
        """pixel_shuffle: (*, C * r^2, H, W) -> (*, C, H * r, W * r), nn.PixelShuffle(r)."""

        type: Literal["pixel_shuffle"]
        upscale_factor: Int(ge=1) = Field(  # type: ignore[valid-type]
            description="r: each group of r^2 channels becomes an r x r block of pixels"
        )

    return PixelShuffleSpec


def _pixel_unshuffle_spec() -> type[LayerSpec]:
    class PixelUnshuffleSpec(LayerSpec):
        """pixel_unshuffle: (*, C, H, W) -> (*, C * r^2, H / r, W / r), nn.PixelUnshuffle(r)."""

        type: Literal["pixel_unshuffle"]
        downscale_factor: Int(ge=1) = Field(  # type: ignore[valid-type]
            description="r: each r x r block of pixels becomes r^2 channels"
        )

    return PixelUnshuffleSpec


def _image_rank(x: Shape, kind: str, field: str, r: int) -> None:
    """torch's pixel (un)shuffle reads the last three dims as C, H, W, after any batch dims.
    A factor r of 2**31 or more needs r^2 >= 2**62 elements in the input (C for a shuffle,
    H * W for an unshuffle): no tensor holds that many, so no input works (E409, as a stride
    or window that large is)."""
    if len(x) < 3:
        raise ShapeFailure(
            "E401",
            f"{kind} needs an input of rank >= 3 (*, C, H, W), got {fmt(x)}",
            "shuffle a conv's output (N, C, H, W), before any flatten",
        )
    if r > INT32_MAX:
        raise ShapeFailure(
            "E409",
            f"{kind} {field}={r} takes an input of at least r^2 = 2**62 elements, "
            "more than any tensor holds",
            "use a factor below 2**31",
            field,
        )


class _PixelShuffling(StatelessOp):
    """nn.PixelShuffle and nn.PixelUnshuffle: a module of one int field, `factor_field`."""

    factor_field: ClassVar[str]

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        return getattr(nn, self.torch_name)(a[self.factor_field])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(f"nn.{self.torch_name}", [a[self.factor_field]], {}, lit)


@register
class PixelShuffle(_PixelShuffling):
    kind = "pixel_shuffle"
    spec = LazySpec(_pixel_shuffle_spec)
    torch_name = "PixelShuffle"
    factor_field = "upscale_factor"
    summary = "r^2 channels into r x r pixels (sub-pixel convolution, ESPCN)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        r = attrs["upscale_factor"]
        _image_rank(x, self.kind, "upscale_factor", r)
        *batch, c, h, w = x
        ctx.require_equal(
            c.floordiv(r * r) * (r * r),
            c,
            "E409",
            f"pixel_shuffle upscale_factor={r} takes a multiple of {r * r} (r^2) channels, "
            "the input has {b}",
            f"give it a multiple of {r * r} channels (the conv before it: out_channels "
            f"{r * r} * C for C channels out)",
            "upscale_factor",
        )
        return Inferred(attrs, (*batch, c.floordiv(r * r), h * r, w * r))


@register
class PixelUnshuffle(_PixelShuffling):
    kind = "pixel_unshuffle"
    spec = LazySpec(_pixel_unshuffle_spec)
    torch_name = "PixelUnshuffle"
    factor_field = "downscale_factor"
    summary = "r x r pixels into r^2 channels (the inverse of pixel_shuffle)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        r = attrs["downscale_factor"]
        _image_rank(x, self.kind, "downscale_factor", r)
        *batch, c, h, w = x
        for side, which in ((h, "height"), (w, "width")):
            ctx.require_equal(
                side.floordiv(r) * r,
                side,
                "E412",
                f"pixel_unshuffle downscale_factor={r} does not divide the map's {which} ({{b}})",
                f"give the network an input whose size, after the layers before this one, is "
                f"a multiple of {r} (archspec check prints the sizes it accepts)",
                "downscale_factor",
            )
        return Inferred(attrs, (*batch, c * (r * r), h.floordiv(r), w.floordiv(r)))
