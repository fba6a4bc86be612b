"""Swin Transformer's kinds: `shifted_window_attention` and `patch_merging`, v1 and v2.

Both work channels-last, on (N, H, W, C) tensors (Swin permutes after its patch conv), and
both pad, so any H, W >= 1 is accepted: attention pads to whole windows and crops back (the
output is the input's shape), patch merging pads to even sizes (ceil(H / 2), ceil(W / 2)).
Their modules (ops/window_modules.py) are torchvision's, key for key.

Counts (what torchvision's `_ops` counts, pytorch/vision#6936): attention's qkv and proj
Linear layers on the padded map, `N * Hp * Wp * C * 4C`; its two matmuls (q k^T and attn v)
`2 * N * windows * (Wh * Ww)^2 * C`; v2 adds its cpb_mlp on the (2Wh-1)(2Ww-1) relative
coordinates, `(2Wh-1)(2Ww-1) * 512 * (2 + heads)`, once per forward whatever the batch.
Patch merging counts its Linear, `N * H' * W' * 4C * 2C`.
"""

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from ..dims import Dim, Shape, product
from .base import (
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
    fmt,
    ntuple,
    register,
)
from .emitting import emit_call
from .shapectx import check_declared
from .support import definitions

#: cpb_mlp's hidden width in Swin V2 (torchvision's constant)
CPB_HIDDEN = 512
#: The largest relative_position_index (Wh * Ww)^2 a window may need.
MAX_INDEX = 10**9


def _channels_last(kind: str, x: Shape, given: Any, field: str) -> int:
    """C of an (N, H, W, C) input, which must be a number (and `given`, if stated)."""
    if len(x) != 4:
        raise ShapeFailure(
            "E401",
            f"{kind} needs a channels-last (N, H, W, C) input, got {fmt(x)}",
            f"{kind} is Swin's, over the two dims of a map: a video's (N, D, H, W, C) "
            "(torchvision's Swin3D) has no kind of its own, a plugin's layer can hold it "
            "(docs/plugins.md)"
            if len(x) == 5 and x[4].is_const
            else "permute after the patch conv: {type: permute, dims: [0, 2, 3, 1]}",
        )
    c = x[3]
    if not c.is_const:
        raise ShapeFailure(
            "E406",
            f"{kind} needs a known number of channels (the last dim), got {fmt(x)}",
            "give the input's channel dimension as a number",
        )
    check_declared(kind, field, given, c.value)
    return c.value


class _Window(Op):
    category = "linear"

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def emit_support(self) -> str:
        return definitions("window_modules.py")


def _shifted_window_attention_spec() -> type[LayerSpec]:
    class ShiftedWindowAttentionSpec(LayerSpec):
        """shifted_window_attention: Swin's window multi-head self-attention on (N, H, W, C)."""

        type: Literal["shifted_window_attention"]
        num_heads: Int(ge=1)  # type: ignore[valid-type]
        window_size: Ints(ge=1) = Field(description="the window's (height, width), or one int")  # type: ignore[valid-type]
        shift_size: Ints(ge=0) = Field(  # type: ignore[valid-type]
            0, description="the cyclic shift (height, width); 0: not shifted"
        )
        version: Int(ge=1, le=2) = Field(  # type: ignore[valid-type]
            1, description="1: a learned bias table (Swin); 2: cosine attention, cpb_mlp (Swin V2)"
        )
        qkv_bias: Bool = True
        proj_bias: Bool = True
        attention_dropout: Float(ge=0, le=1) = 0.0  # type: ignore[valid-type]
        dropout: Float(ge=0, le=1) = 0.0  # type: ignore[valid-type]
        dim: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; the channels (last dim), checked if given"
        )

    return ShiftedWindowAttentionSpec


def _windows(a: Mapping[str, Any]) -> tuple[int, int]:
    wh, ww = ntuple(a["window_size"], 2, "window_size")
    return wh, ww


@register
class ShiftedWindowAttentionOp(_Window):
    kind = "shifted_window_attention"
    spec = LazySpec(_shifted_window_attention_spec)
    inferred = ("dim",)
    torch_name = "ShiftedWindowAttention"
    summary = "Swin's (shifted) window self-attention with relative position bias, NHWC"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        c = _channels_last(self.kind, x, attrs.get("dim"), "dim")
        heads = attrs["num_heads"]
        if c % heads:
            raise ShapeFailure(
                "E409",
                f"{self.kind} num_heads={heads} does not divide the {c} channels",
                "use a number of heads that divides the channels",
                "num_heads",
            )
        wh, ww = _windows(attrs)
        shift = ntuple(attrs["shift_size"], 2, "shift_size")
        if (wh * ww) ** 2 > MAX_INDEX:
            raise ShapeFailure(
                "E409",
                f"{self.kind} window_size {[wh, ww]} needs a relative position index of "
                f"{(wh * ww) ** 2:,} entries, over {MAX_INDEX:,}",
                "Swin's windows are a few pixels wide (7, 8, 12)",
                "window_size",
            )
        if attrs["version"] == 2 and min(wh, ww) < 2:
            raise ShapeFailure(
                "E409",
                f"{self.kind} version 2 with window_size {[wh, ww]}: its relative "
                "coordinates divide by window_size - 1",
                "use windows of at least 2 in both dims with version 2",
                "window_size",
            )
        out = dict(attrs, dim=c, window_size=[wh, ww], shift_size=list(shift))
        return Inferred(out, x)

    def params(self, a: Mapping[str, Any]) -> int:
        c, heads = a["dim"], a["num_heads"]
        wh, ww = a["window_size"]
        linear = 3 * c * c + c * c + (3 * c if a["qkv_bias"] else 0) + (c if a["proj_bias"] else 0)
        if a["version"] == 1:
            return linear + (2 * wh - 1) * (2 * ww - 1) * heads
        return linear + heads + 3 * CPB_HIDDEN + CPB_HIDDEN * heads

    def buffers(self, a: Mapping[str, Any]) -> int:
        wh, ww = a["window_size"]
        index = (wh * ww) ** 2
        return index if a["version"] == 1 else index + (2 * wh - 1) * (2 * ww - 1) * 2

    def _padded(self, a: Mapping[str, Any], x: Shape) -> tuple[Dim, Dim]:
        wh, ww = a["window_size"]
        return x[1].ceildiv(wh), x[2].ceildiv(ww)

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        (x,) = inputs
        c = a["dim"]
        wh, ww = a["window_size"]
        rows, cols = self._padded(a, x)
        windows = x[0] * rows * cols
        tokens = wh * ww
        linear = windows * (tokens * 4 * c * c)  # qkv and proj on the padded map
        matmul = windows * (2 * tokens * tokens * c)  # q k^T and attn v, every head
        if a["version"] == 1:
            return linear + matmul
        cpb = (2 * wh - 1) * (2 * ww - 1) * CPB_HIDDEN * (2 + a["num_heads"])
        return linear + matmul + cpb

    def scratch_numel(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        # the padded input, q, k and v, and the attention matrices of every window and head
        (x,) = inputs
        wh, ww = a["window_size"]
        rows, cols = self._padded(a, x)
        windows = x[0] * rows * cols
        return windows * (4 * wh * ww * a["dim"] + a["num_heads"] * (wh * ww) ** 2)

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        inner = (("qkv", "nn.Linear"), ("proj", "nn.Linear"))
        if a.get("version", 1) == 1:
            return inner
        mlp = (("cpb_mlp.0", "nn.Linear"), ("cpb_mlp.1", "nn.ReLU"), ("cpb_mlp.2", "nn.Linear"))
        return (*inner, ("cpb_mlp", "nn.Sequential"), *mlp)

    def read_module(self, module: Any) -> dict[str, Any] | None:
        """torchvision's ShiftedWindowAttention(V2), for `archspec import`."""
        version = {"ShiftedWindowAttention": 1, "ShiftedWindowAttentionV2": 2}.get(
            type(module).__name__
        )
        if version is None:
            return None
        return {
            "num_heads": module.num_heads,
            "window_size": list(module.window_size),
            "shift_size": list(module.shift_size),
            "version": version,
            "qkv_bias": module.qkv.bias is not None,
            "proj_bias": module.proj.bias is not None,
            "attention_dropout": module.attention_dropout,
            "dropout": module.dropout,
            "dim": module.qkv.in_features,
        }

    def build(self, a: Mapping[str, Any]) -> Any:
        from . import window_modules as wm

        cls = wm.ShiftedWindowAttention if a["version"] == 1 else wm.ShiftedWindowAttentionV2
        return cls(
            a["dim"],
            list(a["window_size"]),
            list(a["shift_size"]),
            a["num_heads"],
            qkv_bias=a["qkv_bias"],
            proj_bias=a["proj_bias"],
            attention_dropout=a["attention_dropout"],
            dropout=a["dropout"],
        )

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return emit_call(
            _versioned("ShiftedWindowAttention", a["version"], lit),
            [a["dim"], _pair(a["window_size"]), _pair(a["shift_size"]), a["num_heads"]],
            {
                "qkv_bias": (a["qkv_bias"], True),
                "proj_bias": (a["proj_bias"], True),
                "attention_dropout": (a["attention_dropout"], 0.0),
                "dropout": (a["dropout"], 0.0),
            },
            lit,
        )


def _versioned(name: str, version: Any, lit: Any) -> str:
    """The class of a version: `name` (1) or `nameV2` (2); inside a block class whose
    version is an argument, the choice written out (`(X if version == 1 else XV2)`)."""
    if isinstance(version, int):
        return name if version == 1 else f"{name}V2"
    return f"({name} if {lit(version)} == 1 else {name}V2)"


def _pair(value: Any) -> Any:
    """A (height, width) list, as torchvision's modules take it, from one int or two; an
    argument of a block class (`window_size`) as it is: the modules take an int too."""
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value, value] if isinstance(value, int) else value


def _patch_merging_spec() -> type[LayerSpec]:
    class PatchMergingSpec(LayerSpec):
        """patch_merging: Swin's 2x downsampling of (N, H, W, C) to (N, ceil(H/2), ceil(W/2), 2C)."""  # noqa: E501

        type: Literal["patch_merging"]
        version: Int(ge=1, le=2) = Field(  # type: ignore[valid-type]
            1, description="1: norm over 4C then the Linear (Swin); 2: Linear, then norm over 2C"
        )
        eps: Float(gt=0) = 1e-5  # type: ignore[valid-type]
        dim: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; the input channels (last dim), checked if given"
        )

    return PatchMergingSpec


@register
class PatchMergingOp(_Window):
    kind = "patch_merging"
    spec = LazySpec(_patch_merging_spec)
    inferred = ("dim",)
    torch_name = "PatchMerging"
    summary = "Swin's patch merging: 2x2 patches to 2C channels, NHWC, odd sizes padded"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        c = _channels_last(self.kind, x, attrs.get("dim"), "dim")
        out = (x[0], x[1].ceildiv(2), x[2].ceildiv(2), Dim.of(2 * c))
        return Inferred(dict(attrs, dim=c), out)

    def params(self, a: Mapping[str, Any]) -> int:
        c = a["dim"]
        return 8 * c * c + 2 * (4 * c if a["version"] == 1 else 2 * c)

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        return product(out[:3]) * (8 * a["dim"] * a["dim"])

    def scratch_numel(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        return product(out) * 5  # the padded input's 4C stack, and its norm (v1) or Linear (v2)

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return (("reduction", "nn.Linear"), ("norm", "nn.LayerNorm"))

    def read_module(self, module: Any) -> dict[str, Any] | None:
        """torchvision's PatchMerging(V2), for `archspec import`."""
        version = {"PatchMerging": 1, "PatchMergingV2": 2}.get(type(module).__name__)
        if version is None:
            return None
        return {"version": version, "eps": module.norm.eps, "dim": module.dim}

    def build(self, a: Mapping[str, Any]) -> Any:
        from . import window_modules as wm

        cls = wm.PatchMerging if a["version"] == 1 else wm.PatchMergingV2
        return cls(a["dim"], eps=a["eps"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        name = _versioned("PatchMerging", a["version"], lit)
        return emit_call(name, [a["dim"]], {"eps": (a["eps"], 1e-5)}, lit)
