"""Convolutions in 1, 2 and 3 spatial dimensions (the output extent of a window along one
dim: ops/extents.py), and the registration of the pools beside them (ops/pools.py)."""

from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any, Literal

from pydantic import Field, create_model

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
from .extents import check_spatial, conv_extent, known_extents
from .pools import (
    BlurPoolBase,
    GlobalAvgBase,
    _adaptive_spec,
    _AdaptiveBase,
    _global_avg_spec,
    _pool_spec,
    _PoolBase,
)
from .shapectx import check_declared
from .support import support_class, support_code
from .words import Word

#: A convolution module's fields after its two channel counts, in its signature's order,
#: with torch's defaults (None: required).
CONV_FIELDS = (
    ("kernel_size", None),
    ("stride", 1),
    ("padding", 0),
    ("dilation", 1),
    ("groups", 1),
    ("bias", True),
)
#: std_conv2d's: a conv's, then the standardisation's.
STD_CONV_FIELDS = (*CONV_FIELDS, ("eps", 1e-6), ("scaled", False), ("gamma", 1.0))


def _conv_spec(kind: str) -> type[LayerSpec]:
    return create_model(
        f"{kind.capitalize()}Spec",
        __base__=LayerSpec,
        __doc__=f"{kind}: convolution; in_channels is inferred from the input.",
        type=(Literal[kind], ...),
        out_channels=(Int(ge=1), Field(..., description="number of filters")),
        kernel_size=(Ints(ge=1), ...),
        stride=(Ints(ge=1), 1),
        padding=(Ints(ge=0, choices=("same", "valid")), 0),
        dilation=(Ints(ge=1), 1),
        groups=(Int(ge=1), 1),
        bias=(Bool, True),
        padding_mode=(Word(("zeros", "reflect", "replicate", "circular")), "zeros"),
        in_channels=(Int(ge=1) | None, Field(None, description="optional; checked if given")),
    )


class _ConvBase(Op):
    nd: int = 2
    #: not `padding`: `same` with a stride is another class (samepad.py)
    emits_words = frozenset({"padding_mode"})
    #: the support class of `padding: same` with a stride (TensorFlow's SAME), if the kind
    #: takes one (samepad.py)
    same_class: str | None = None
    channel_axis = channels_at_dim_1
    inferred = ("in_channels",)
    category = "conv"
    optional_tensors = ("bias",)

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        nd = self.nd
        if len(x) != nd + 2:
            raise ShapeFailure(
                "E401",
                f"{self.kind} needs a rank-{nd + 2} input (N, C, {', '.join(SPATIAL_NAMES[nd])}), "
                f"got {fmt(x)}",
                "check the layers before it",
            )
        c_in = channels(x, self.kind)
        check_declared(self.kind, "in_channels", attrs.get("in_channels"), c_in)
        groups = attrs["groups"]
        if c_in % groups or attrs["out_channels"] % groups:
            raise ShapeFailure(
                "E409",
                f"groups={groups} must divide both in_channels ({c_in}) and "
                f"out_channels ({attrs['out_channels']})",
                None,
                "groups",
            )
        k, s, d = attrs["kernel_size"], attrs["stride"], attrs["dilation"]
        # ntuple of each, without its call for a plain int (the common case)
        k = (k,) * nd if type(k) is int else ntuple(k, nd, "kernel_size")
        s = (s,) * nd if type(s) is int else ntuple(s, nd, "stride")
        d = (d,) * nd if type(d) is int else ntuple(d, nd, "dilation")
        pad = attrs["padding"]
        if pad == "same":
            out = list(x[2:])
            if any(si != 1 for si in s):
                from .samepad import same_extents

                out = same_extents(self, attrs, x, k, s, ctx)
        else:
            if pad == "valid":
                p = (0,) * nd
            else:
                p = (pad,) * nd if type(pad) is int else ntuple(pad, nd, "padding")
            known = known_extents(x, 2, k, s, p, d)
            if known is not None:
                out = known
            else:
                out = [conv_extent(x[2 + i], k[i], s[i], p[i], d[i]) for i in range(nd)]
                check_spatial(self.kind, out, x, ctx, SPATIAL_NAMES[nd], k, p)
            for i in range(nd):
                if s[i] > INT32_MAX:
                    # measured on torch 2.x: with a stride past int32, an output size whose
                    # numerator reaches 2**31 comes out wrong (or fails); below it, exact
                    reach = x[2 + i] + (2 * p[i] - d[i] * (k[i] - 1) - 1)
                    ctx.require_positive(
                        Dim.of(2**31) - reach,
                        "E409",
                        partial(_wide_stride_message, self.kind, SPATIAL_NAMES[nd][i], s[i], x),
                        "use a stride below 2**31, or less padding",
                    )
        if attrs["padding_mode"] in _PAD_NEEDS:
            self._check_padded_copy(attrs, x, ctx)
        new = dict(attrs, in_channels=c_in)
        return Inferred(new, (x[0], Dim.of(attrs["out_channels"]), *out))

    def _check_padded_copy(self, attrs: Mapping[str, Any], x: Shape, ctx: ShapeContext) -> None:
        """`reflect` mirrors inside the input, so it needs padding < extent; `circular` wraps
        around once at most, so padding <= extent (torch.nn.functional.pad's own rules)."""
        mode = attrs["padding_mode"]
        from .samepad import side_padding

        for i, (left, right) in enumerate(side_padding(attrs, self.nd)):
            need = _PAD_NEEDS[mode](max(left, right))
            if need <= 1:
                continue
            axis = SPATIAL_NAMES[self.nd][i]
            ctx.require_positive(
                x[2 + i] - (need - 1),
                "E405",
                partial(_pad_message, self.kind, mode, axis, x, max(left, right), need),
                f"use a larger input, less padding, or padding_mode 'zeros' or 'replicate' "
                f"(padding_mode '{mode}' copies from inside the input)",
            )

    def params(self, a: Mapping[str, Any]) -> int:
        k = ntuple(a["kernel_size"], self.nd, "kernel_size")
        w = a["out_channels"] * (a["in_channels"] // a["groups"])
        for ki in k:
            w *= ki
        return w + (a["out_channels"] if a["bias"] else 0)

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        k = ntuple(a["kernel_size"], self.nd, "kernel_size")
        per_out = (a["in_channels"] // a["groups"]) * _prod(k)
        return product(out) * per_out

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {"weight": self.nd + 2, **({"bias": 1} if a.get("bias", True) else {})}

    def tensor_shapes(self, a: Mapping[str, Any]) -> Mapping[str, tuple[int, ...]]:
        k = ntuple(a["kernel_size"], self.nd, "kernel_size")
        out = a["out_channels"]
        weight = (out, a["in_channels"] // a["groups"], *k)
        return {"weight": weight, **({"bias": (out,)} if a["bias"] else {})}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()

    def scratch_numel(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        # zeros padding is implicit; the other modes, and TensorFlow's SAME, pad a copy of
        # the input first (F.pad)
        (x,) = inputs
        if self._strided_same(a):
            from .samepad import padded_numel

            return padded_numel(a, x, self.nd)
        if a["padding_mode"] == "zeros":
            return Dim.of(0)
        from .samepad import side_padding

        grow = [left + right for left, right in side_padding(a, self.nd)]
        return product([x[0], x[1], *(x[2 + i] + grow[i] for i in range(self.nd))])

    def _no_scratch(self, a: Mapping[str, Any]) -> bool:
        """Whether `scratch_numel` is 0 for these attributes, without the shapes (the
        passes' count of activations asks this first: most convs pad with zeros)."""
        return a["padding_mode"] == "zeros" and not self._strided_same(a)

    def build(self, a: Mapping[str, Any]) -> Any:
        import torch.nn as nn

        if self._strided_same(a):
            name, args = self.same_module(a)
            return support_class(name)(a["in_channels"], a["out_channels"], **module_values(args))
        cls = getattr(nn, f"Conv{self.nd}d")
        kw = module_values(module_arguments(a, CONV_FIELDS))
        return cls(a["in_channels"], a["out_channels"], **kw, padding_mode=a["padding_mode"])

    def _strided_same(self, a: Mapping[str, Any]) -> bool:
        """`padding: same` with a stride, on a kind that has its class (samepad.py)."""
        if a["padding"] != "same" or self.same_class is None:
            return False  # most convs: no import, no ntuple
        from .samepad import strided_same

        return strided_same(a, self.nd)

    def same_module(self, a: Mapping[str, Any]) -> tuple[str, dict[str, tuple[Any, Any]]]:
        """The support class of a strided `same` node and its constructor's arguments after
        the two channel counts (`module_arguments`)."""
        assert self.same_class is not None
        return self.same_class, module_arguments(dict(a, padding=0), CONV_FIELDS)

    def read_module(self, module: Any) -> dict[str, Any] | None:
        """A module of the kind's class; or one named as its strided `same` class (timm's
        Conv2dSame, a Conv2d padded in forward), read as `padding: same`."""
        if self.same_class is None or type(module).__name__ != self.same_class:
            return super().read_module(module)
        from .samepad import same_reading

        return same_reading(self, module)

    def emit_support_for(self, attrs: Mapping[str, Any]) -> str | tuple[str, ...]:
        if self._strided_same(attrs):
            return support_code(self.same_module(attrs)[0])
        return self.emit_support()

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        if self._strided_same(a):
            name, args = self.same_module(a)
            return emit_call(name, [a["in_channels"], a["out_channels"]], args, lit)
        return emit_call(
            f"nn.Conv{self.nd}d",
            [a["in_channels"], a["out_channels"]],
            {
                **module_arguments(a, CONV_FIELDS),
                "padding_mode": (a["padding_mode"], "zeros"),
            },
            lit,
        )


def _std_conv2d_spec() -> type[LayerSpec]:
    class StdConv2dSpec(LayerSpec):
        """std_conv2d: a conv2d whose weight is standardised per output channel in forward."""

        type: Literal["std_conv2d"]
        out_channels: Int(ge=1) = Field(..., description="number of filters")  # type: ignore[valid-type]
        kernel_size: Ints(ge=1)  # type: ignore[valid-type]
        stride: Ints(ge=1) = 1  # type: ignore[valid-type]
        padding: Ints(ge=0, choices=("same", "valid")) = 0  # type: ignore[valid-type]
        dilation: Ints(ge=1) = 1  # type: ignore[valid-type]
        groups: Int(ge=1) = 1  # type: ignore[valid-type]
        bias: Bool = True
        eps: Float(gt=0) = 1e-6  # type: ignore[valid-type]
        scaled: Bool = False
        gamma: Float(gt=0) = 1.0  # type: ignore[valid-type]
        in_channels: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; checked if given"
        )

    return StdConv2dSpec


@register
class StdConv2d(_ConvBase):
    """Weight standardisation (timm's StdConv2d; `scaled`: ScaledStdConv2d, NFNets'): each
    filter is normalised to zero mean and unit variance over its fan-in, as F.batch_norm of
    the weight computes it, then convolved. `scaled` multiplies it by a learned per-filter
    `gain` (starting at 1) times gamma / sqrt(fan_in)."""

    kind = "std_conv2d"
    spec = LazySpec(_std_conv2d_spec)
    nd = 2
    window_dims = 2
    torch_name = "StdConv2d"
    same_class = "StdConv2dSame"
    summary = "2-d convolution of a standardised weight (BiT's StdConv2d, NFNets' ScaledStdConv2d)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        if not attrs["scaled"] and attrs["gamma"] != 1.0:
            raise ShapeFailure(
                "E409",
                f"gamma={attrs['gamma']} scales the learned gain, which only `scaled: true` has",
                "set scaled: true (ScaledStdConv2d), or drop gamma",
                "gamma",
            )
        done = super().infer(dict(attrs, padding_mode="zeros"), inputs, ctx)
        fields = {k: v for k, v in done.attrs.items() if k != "padding_mode"}
        fan_in = (
            fields["in_channels"]
            // fields["groups"]
            * _prod(ntuple(fields["kernel_size"], 2, "kernel_size"))
        )
        if fan_in < 2:
            raise ShapeFailure(
                "E409",
                f"std_conv2d standardises each filter over its {fan_in} weight: it needs at "
                "least 2 (torch's batch_norm refuses one value per channel)",
                "use a larger kernel, fewer groups, or conv2d",
                "kernel_size",
            )
        return Inferred(fields, done.shape)

    def params(self, a: Mapping[str, Any]) -> int:
        return super().params(a) + (a["out_channels"] if a["scaled"] else 0)

    def same_module(self, a: Mapping[str, Any]) -> tuple[str, dict[str, tuple[Any, Any]]]:
        """StdConv2dSame, or ScaledStdConv2dSame when scaled (timm's two classes), whose
        padding is worked out in forward."""
        left = ("padding", "scaled") if a["scaled"] else ("padding", "scaled", "gamma")
        fields = [f for f in STD_CONV_FIELDS if f[0] not in left]
        name = "ScaledStdConv2dSame" if a["scaled"] else "StdConv2dSame"
        return name, module_arguments(a, fields)

    def read_module(self, module: Any) -> dict[str, Any] | None:
        """A module named StdConv2d (the default reading), or a Conv2d that standardises its
        weight with a learned per-filter `gain` and a `scale` of gamma / sqrt(fan_in) (timm's
        ScaledStdConv2d): gamma is the number whose scale is the module's to the last bit.
        One named as a strided `same` class (timm's StdConv2dSame, ScaledStdConv2dSame) that
        pads in forward is read as `padding: same`."""
        from .reading import read_fields, scaled_std_reading

        fields = read_fields(self, module) or scaled_std_reading(self, module)
        if fields is None or type(module).__name__ not in _STD_SAME:
            return fields
        from .samepad import same_padded

        return same_padded(fields, module)

    def scratch_numel(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        return super().scratch_numel(a, inputs, out) if self._strided_same(a) else Dim.of(0)

    def _no_scratch(self, a: Mapping[str, Any]) -> bool:
        return not self._strided_same(a)

    def emit_support_for(self, attrs: Mapping[str, Any]) -> str | tuple[str, ...]:
        return support_code(
            self.same_module(attrs)[0] if self._strided_same(attrs) else "StdConv2d"
        )

    def build(self, a: Mapping[str, Any]) -> Any:
        if self._strided_same(a):
            return super().build(a)
        kw = module_values(module_arguments(a, STD_CONV_FIELDS))
        return support_class("StdConv2d")(a["in_channels"], a["out_channels"], **kw)

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        if self._strided_same(a):
            return super().emit(a, lit)
        return emit_call(
            "StdConv2d",
            [a["in_channels"], a["out_channels"]],
            module_arguments(a, STD_CONV_FIELDS),
            lit,
        )


#: The support classes of a strided `same` std_conv2d, named as timm's.
_STD_SAME = frozenset({"StdConv2dSame", "ScaledStdConv2dSame"})

#: The smallest input extent each copying padding mode takes, given the padding on one side.
_PAD_NEEDS = {"reflect": lambda p: p + 1, "circular": lambda p: p}


def _wide_stride_message(kind: str, axis: str, stride: int, x: Shape) -> str:
    return (
        f"{kind}'s {axis} stride {stride:,} is 2**31 or more, and its padded {axis} extent "
        f"reaches 2**31: PyTorch then computes the output size in 32-bit ints (input {fmt(x)})"
    )


def _pad_message(kind: str, mode: str, axis: str, x: Shape, pad: int, need: int) -> str:
    return (
        f"{kind} pads the {axis} extent by {pad} with padding_mode '{mode}', which needs an "
        f"extent of at least {need} (input {fmt(x)})"
    )


def _prod(xs: Sequence[int]) -> int:
    out = 1
    for x in xs:
        out *= x
    return out


def _register_family() -> None:
    for nd in (1, 2, 3):
        kind = f"conv{nd}d"
        register(
            type(
                f"Conv{nd}d",
                (_ConvBase,),
                {
                    "kind": kind,
                    "spec": LazySpec(partial(_conv_spec, kind)),
                    "nd": nd,
                    "window_dims": nd,
                    "torch_name": f"Conv{nd}d",
                    "summary": f"{nd}-d convolution",
                    "same_class": "Conv2dSame" if nd == 2 else None,
                },
            )
        )
        for avg in (False, True):
            kind = f"{'avg' if avg else 'max'}pool{nd}d"
            register(
                type(
                    f"{'Avg' if avg else 'Max'}Pool{nd}d",
                    (_PoolBase,),
                    {
                        "kind": kind,
                        "spec": LazySpec(partial(_pool_spec, kind, avg, nd == 2, nd > 1)),
                        "nd": nd,
                        "avg": avg,
                        "window_dims": nd,
                        "torch_name": f"{'Avg' if avg else 'Max'}Pool{nd}d",
                        "summary": f"{nd}-d {'average' if avg else 'max'} pooling",
                        "same_class": f"{'Avg' if avg else 'Max'}Pool2dSame" if nd == 2 else None,
                    },
                )
            )
            kind = f"adaptive_{'avg' if avg else 'max'}pool{nd}d"
            register(
                type(
                    f"Adaptive{'Avg' if avg else 'Max'}Pool{nd}d",
                    (_AdaptiveBase,),
                    {
                        "kind": kind,
                        "spec": LazySpec(partial(_adaptive_spec, kind)),
                        "nd": nd,
                        "avg": avg,
                        "torch_name": f"Adaptive{'Avg' if avg else 'Max'}Pool{nd}d",
                        "summary": f"{nd}-d adaptive {'average' if avg else 'max'} pooling",
                    },
                )
            )
        kind = f"global_avgpool{nd}d"
        register(
            type(
                f"GlobalAvgPool{nd}d",
                (GlobalAvgBase,),
                {
                    "kind": kind,
                    "spec": LazySpec(partial(_global_avg_spec, kind)),
                    "nd": nd,
                    "summary": (
                        f"average over the whole map as `F.avg_pool{nd}d(x, x.shape[2:])` "
                        "adds it up (code before adaptive pools: CBAM, torchaudio's M5)"
                    ),
                },
            )
        )

    register(type("BlurPool2d", (BlurPoolBase,), {}))  # named here: the pools' table


_register_family()
