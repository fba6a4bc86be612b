"""Pooling, in 1, 2 and 3 spatial dimensions: windowed (max, average; `padding: same`,
TensorFlow's SAME, on the 2-d ones: ops/samepad.py) and adaptive; and the anti-aliased
`blur_pool2d`; and the average over the whole map computed as torch's window kernel does
(`global_avgpool2d`: `F.avg_pool2d(x, x.shape[2:])`). Registered with the convolutions in
conv.py."""

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Annotated, Any, Literal

from pydantic import Field, StrictInt, create_model

from ..dims import SPATIAL_NAMES, Dim, Shape, product
from .base import (
    INT32_MAX,
    Bool,
    ExprStr,
    Final,
    Inferred,
    Int,
    Ints,
    LayerSpec,
    LazySpec,
    Op,
    ShapeContext,
    ShapeFailure,
    at_most,
    channels,
    fmt,
    ntuple,
)
from .emitting import emit_call
from .extents import check_spatial, conv_extent, known_extents
from .lazyspec import Reuse
from .shapectx import check_declared
from .words import Word

_INT32_WHY = "PyTorch's pooling kernels take sizes below 2**31"


def _avg3d_message(kind: str, axis: str, x: Shape, k: Sequence[int]) -> str:
    return f"{kind} needs its {axis} extent at least its kernel {tuple(k)} (input {fmt(x)})"


def _empty_message(kind: str, x: Shape) -> str:
    return f"{kind} receives an empty extent {{d}} (input {fmt(x)})"


def _tup(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _pool_spec(kind: str, avg: bool, same: bool, divisor: bool = False) -> type[LayerSpec]:
    fields: dict[str, Any] = dict(
        type=(Literal[kind], ...),
        kernel_size=(Ints(ge=1), ...),
        stride=(Ints(ge=1) | None, Field(None, description="default: kernel_size")),
        padding=(Ints(ge=0, choices=("same",)) if same else Ints(ge=0), 0),
        ceil_mode=(Bool, False),
    )
    if avg:
        fields["count_include_pad"] = (Bool, True)
        if divisor:  # nn.AvgPool2d's and 3d's: each window's sum over this, not its size
            fields["divisor_override"] = (Int(ge=1) | None, None)
    else:
        fields["dilation"] = (Ints(ge=1), 1)
    return create_model(
        f"{kind.capitalize()}Spec", __base__=LayerSpec, __doc__=f"{kind} pooling.", **fields
    )


class _PoolBase(Op):
    nd: int = 2
    avg: bool = False
    #: the support class of `padding: same` (TensorFlow's SAME), if the kind takes it
    same_class: str | None = None
    category = "pool"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        nd = self.nd
        if len(x) not in (nd + 1, nd + 2):
            raise ShapeFailure(
                "E401",
                f"{self.kind} needs a rank-{nd + 2} input, got {fmt(x)}",
                "check the layers before it",
            )
        if attrs["padding"] == "same" and attrs.get("divisor_override") is not None:
            raise ShapeFailure(
                "E409",
                f"{self.kind} with padding 'same' takes no divisor_override",
                "give the padding as numbers, or drop divisor_override",
                "divisor_override",
            )
        if attrs["padding"] == "same":
            from .samepad import same_pool

            return same_pool(self, attrs, x, ctx)
        k = ntuple(attrs["kernel_size"], nd, "kernel_size")
        stride = attrs["stride"] if attrs["stride"] is not None else attrs["kernel_size"]
        s = ntuple(stride, nd, "stride")
        p = ntuple(attrs["padding"], nd, "padding")
        d = ntuple(attrs.get("dilation", 1), nd, "dilation")
        for what, values in (("kernel_size", k), ("stride", s), ("padding", p), ("dilation", d)):
            at_most(self.kind, what, values, INT32_MAX, _INT32_WHY)
        for ki, pi in zip(k, p):
            # PyTorch checks the kernel size itself, not the dilated window: pad <= k // 2
            if pi > ki // 2:
                raise ShapeFailure(
                    "E409",
                    f"padding {pi} is more than half the kernel size {ki}",
                    "PyTorch requires pad <= kernel_size / 2 (whatever the dilation)",
                    "padding",
                )
        lead = len(x) - nd
        ceil_mode = attrs["ceil_mode"]
        out = known_extents(x, lead, k, s, p, d, ceil_mode)  # type: ignore[assignment]
        if out is None:
            out = [conv_extent(x[lead + i], k[i], s[i], p[i], d[i], ceil_mode) for i in range(nd)]
            check_spatial(self.kind, out, x, ctx, SPATIAL_NAMES[nd], k, p)
        if self.avg and nd == 3:  # torch's avg_pool3d alone compares the unpadded input
            for i in range(nd):
                if k[i] > 1:
                    ctx.require_positive(
                        x[lead + i] - (k[i] - 1),
                        "E405",
                        partial(_avg3d_message, self.kind, SPATIAL_NAMES[nd][i], x, k),
                        "use a larger input or a smaller kernel: PyTorch's 3-d average "
                        "pooling needs every input extent at least the kernel, padding aside",
                    )
        return Inferred(dict(attrs, stride=stride), (*x[:lead], *out))

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        if a["padding"] == "same":
            from .samepad import same_pool_arguments
            from .support import support_class

            kw = {k: v for k, (v, _) in same_pool_arguments(self, a).items()}
            return support_class(self.same_class)(_tup(a["kernel_size"]), **kw)
        if self.avg:
            divisor = {"divisor_override": a["divisor_override"]} if self.nd > 1 else {}
            return getattr(nn, f"AvgPool{self.nd}d")(
                _tup(a["kernel_size"]),
                stride=_tup(a["stride"]),
                padding=_tup(a["padding"]),
                ceil_mode=a["ceil_mode"],
                count_include_pad=a["count_include_pad"],
                **divisor,
            )
        return getattr(nn, f"MaxPool{self.nd}d")(
            _tup(a["kernel_size"]),
            stride=_tup(a["stride"]),
            padding=_tup(a["padding"]),
            dilation=_tup(a["dilation"]),
            ceil_mode=a["ceil_mode"],
        )

    def read_module(self, module: Any) -> dict[str, Any] | None:
        """A module of the kind's class; or one named as its `same` class (timm's
        MaxPool2dSame, AvgPool2dSame: built with padding 0, padded in forward), read as
        `padding: same`."""
        if self.same_class is None or type(module).__name__ != self.same_class:
            return super().read_module(module)
        from .reading import read_attributes

        fields = read_attributes(self, module)
        if fields is None or any(fields["padding"]):
            return None
        return fields | {"padding": "same"}

    def emit_support_for(self, attrs: Mapping[str, Any]) -> str | tuple[str, ...]:
        if attrs["padding"] != "same":
            return ""
        from .support import support_code

        return support_code(self.same_class)

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        if a["padding"] == "same":
            from .samepad import same_pool_arguments

            args = same_pool_arguments(self, a)
            return emit_call(self.same_class, [_tup(a["kernel_size"])], args, lit)
        kw: dict[str, tuple[Any, Any]] = {
            "stride": (_tup(a["stride"]), _tup(a["kernel_size"])),
            "padding": (_tup(a["padding"]), 0),
        }
        if self.avg:
            kw["ceil_mode"] = (a["ceil_mode"], False)
            kw["count_include_pad"] = (a["count_include_pad"], True)
            if a.get("divisor_override") is not None:
                kw["divisor_override"] = (a["divisor_override"], None)
            name = f"nn.AvgPool{self.nd}d"
        else:
            kw["dilation"] = (_tup(a["dilation"]), 1)
            kw["ceil_mode"] = (a["ceil_mode"], False)
            name = f"nn.MaxPool{self.nd}d"
        return emit_call(name, [_tup(a["kernel_size"])], kw, lit)


#: an adaptive pool's output_size: an int, or one entry per spatial dim, each an int, an
#: expression or null (torch's None: that dim keeps the input's extent)
_OUTPUT_SIZE = Annotated[
    StrictInt | ExprStr | list[StrictInt | ExprStr | None], Reuse(), Final("ints", ge=1, nulls=True)
]


def _adaptive_spec(kind: str) -> type[LayerSpec]:
    return create_model(
        f"{kind.capitalize()}Spec",
        __base__=LayerSpec,
        __doc__=f"{kind}: pools any input extent to `output_size`.",
        type=(Literal[kind], ...),
        output_size=(
            _OUTPUT_SIZE,
            Field(..., description="one size, or one per spatial dim; null keeps the input's"),
        ),
    )


class _AdaptiveBase(Op):
    nd: int = 2
    avg: bool = True
    category = "pool"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        nd = self.nd
        if len(x) not in (nd + 1, nd + 2):
            raise ShapeFailure(
                "E401", f"{self.kind} needs a rank-{nd + 2} input, got {fmt(x)}", None
            )
        size = ntuple(attrs["output_size"], nd, "output_size")
        lead = len(x) - nd
        for i in range(nd):
            ctx.require_positive(
                x[lead + i],
                "E405",
                partial(_empty_message, self.kind, x),
                "the input is too small for the layers before this pool",
            )
        kept = x[lead:]  # a None entry keeps that extent, as torch's output_size does
        out = (kept[i] if v is None else Dim.of(v) for i, v in enumerate(size))
        return Inferred(attrs, (*x[:lead], *out))

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def read_module(self, module: Any) -> dict[str, Any] | None:
        """The module's output_size, None entries kept (which `plain` refuses, as a
        tensor's mark)."""
        names = {cls.__name__ for cls in type(module).__mro__}
        size = getattr(module, "output_size", None)
        if self.torch_name not in names:
            return None
        if type(size) is int:
            return {"output_size": size}
        if not isinstance(size, tuple | list) or len(size) != self.nd:
            return None
        if not all(v is None or type(v) is int for v in size):
            return None
        return {"output_size": list(size)}

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        prefix = "AdaptiveAvgPool" if self.avg else "AdaptiveMaxPool"
        return getattr(nn, f"{prefix}{self.nd}d")(_tup(a["output_size"]))

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        prefix = "AdaptiveAvgPool" if self.avg else "AdaptiveMaxPool"
        return emit_call(f"nn.{prefix}{self.nd}d", [_tup(a["output_size"])], {}, lit)


def _global_avg_spec(kind: str) -> type[LayerSpec]:
    return create_model(
        f"{kind.capitalize()}Spec",
        __base__=LayerSpec,
        __doc__=(
            f"{kind}: the average over the whole map, a window the input's own spatial size "
            "(`F.avg_pool2d(x, x.shape[2:])`), as torch's window kernel adds it up."
        ),
        type=(Literal[kind], ...),
    )


def whole_avg_pool(x: Any, nd: int) -> Any:
    """`F.avg_poolNd(x, x.shape[2:])`: one window over the whole map (computed in forward:
    its window follows the input)."""
    import torch.nn.functional as F

    return getattr(F, f"avg_pool{nd}d")(x, x.shape[2:])


class GlobalAvgBase(Op):
    """An average over the whole map as code written before adaptive pools computes it,
    `F.avg_pool2d(x, x.size()[2:])` (CBAM's ChannelGate, torchaudio's M5): torch's window
    kernel adds in another order than `F.adaptive_avg_pool2d(x, 1)` and `x.mean([2, 3])`,
    so those give other last bits at most sizes; this kind is torch's own call."""

    nd: int = 2
    category = "pool"
    style = "function"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        nd = self.nd
        if len(x) != nd + 2:
            raise ShapeFailure(
                "E401",
                f"{self.kind} needs a rank-{nd + 2} input (N, C and {nd} spatial dims), "
                f"got {fmt(x)}",
                "pool a batched map, or use `mean` over the dims to average",
            )
        for i in range(nd):
            ctx.require_positive(
                x[2 + i],
                "E405",
                partial(_empty_message, self.kind, x),
                "the input is too small for the layers before this pool",
            )
        return Inferred(attrs, (*x[:2], *(Dim.of(1) for _ in range(nd))))

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return whole_avg_pool, {"nd": self.nd}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        x = a["_inputs"][0]
        return f"F.avg_pool{self.nd}d({x}, {x}.shape[2:])"


def _blur_pool_spec() -> type[LayerSpec]:
    return create_model(
        "BlurPool2dSpec",
        __base__=LayerSpec,
        __doc__="blur_pool2d: anti-aliased downsampling by a fixed binomial filter.",
        type=(Literal["blur_pool2d"], ...),
        filt_size=(Int(ge=2), 3),
        stride=(Int(ge=1), 2),
        pad_mode=(Word(("reflect", "replicate", "constant", "circular")), "reflect"),
        channels=(Int(ge=1) | None, Field(None, description="optional; checked if given")),
    )


class BlurPoolBase(Op):
    """Anti-aliased downsampling (Zhang, 2019, "Making convolutional networks shift-invariant
    again"; timm's BlurPool2d): the input padded by `((stride - 1) + (filt_size - 1)) // 2`
    on every side with `pad_mode`, then each channel convolved with the outer product of
    the binomial coefficients of `filt_size` taps (summing to 1), with that stride. The
    filter is a non-persistent buffer (`filt`, (channels, 1, filt_size, filt_size)): no
    state_dict holds it. Registered in conv.py as `blur_pool2d`."""

    kind = "blur_pool2d"
    spec = LazySpec(_blur_pool_spec)
    inferred = ("channels",)
    torch_name = "BlurPool2d"
    summary = "anti-aliased downsampling: a fixed binomial blur with a stride (timm's BlurPool2d)"
    category = "pool"
    emits_words = frozenset({"pad_mode"})

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if len(x) != 4:
            raise ShapeFailure(
                "E401", f"blur_pool2d needs a rank-4 input (N, C, H, W), got {fmt(x)}", None
            )
        c = channels(x, self.kind)
        check_declared(self.kind, "channels", attrs["channels"], c)
        k, s, mode = attrs["filt_size"], attrs["stride"], attrs["pad_mode"]
        p = (s - 1 + k - 1) // 2
        # F.pad's own rules: reflect mirrors inside the input (pad < extent), circular
        # wraps once at most (pad <= extent)
        need = {"reflect": p, "circular": p - 1}.get(mode, -1)
        for i, axis in enumerate(SPATIAL_NAMES[2]):
            if need >= 1:
                ctx.require_positive(
                    x[2 + i] - need,
                    "E405",
                    partial(_blur_pad_message, axis, x, p, mode, need + 1),
                    "use a larger input, or pad_mode 'replicate' or 'constant'",
                )
        out = [conv_extent(x[2 + i], k, s, p, 1) for i in range(2)]
        check_spatial(self.kind, out, x, ctx, SPATIAL_NAMES[2], (k, k))
        return Inferred(dict(attrs, channels=c), (x[0], x[1], *out))

    def buffers(self, a: Mapping[str, Any]) -> int:
        return a["channels"] * a["filt_size"] ** 2

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        return product(out) * (a["filt_size"] ** 2)

    def scratch_numel(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        (x,) = inputs  # the padded copy F.pad makes
        grow = 2 * ((a["stride"] - 1 + a["filt_size"] - 1) // 2)
        return product([x[0], x[1], x[2] + grow, x[3] + grow])

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def emit_support(self) -> str:
        from .support import support_source

        return support_source("BlurPool2d")

    def build(self, a: Mapping[str, Any]) -> Any:
        from .support import support_class

        kw = {k: a[k] for k in ("filt_size", "stride", "pad_mode")}
        return support_class("BlurPool2d")(a["channels"], **kw)

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        kw = {"filt_size": (a["filt_size"], 3), "stride": (a["stride"], 2)}
        kw["pad_mode"] = (a["pad_mode"], "reflect")
        return emit_call("BlurPool2d", [a["channels"]], kw, lit)


def _blur_pad_message(axis: str, x: Shape, pad: int, mode: str, least: int) -> str:
    return (
        f"blur_pool2d pads the {axis} extent by {pad} with pad_mode '{mode}', which needs an "
        f"extent of at least {least} (input {fmt(x)})"
    )
