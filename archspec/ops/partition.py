"""MaxViT's kinds: `partition` and `departition` (a feature map cut into groups of tokens and
put back) and `relative_attention` (self-attention within each group, with a learned bias per
relative offset), as torchvision.models.maxvit computes them.

A partition turns an (N, C, H, W) map into (N, G, size * size, C): `window` groups size x size
neighbours (G = (H / size) * (W / size) windows), `grid` groups size x size pixels spread over
the whole map (torchvision's WindowPartition at H // size, then SwapAxes). Both need size to
divide H and W; torchvision's grid splits *both* sides by H // size and its attention then
needs size * size tokens per group, so a grid partition also needs a square map (W = H).
`departition` reads the tokens and the map they came from (for H and W) and restores the map.

`relative_attention` is torchvision's RelativePositionalMultiHeadAttention with its state_dict
keys (`to_qkv`, `merge`, `relative_position_bias_table` and the persistent buffer
`relative_position_index`). Its MACs: the two linear layers (4 D^2 per token) plus the two
attention matmuls (q k^T and the weights times v: 2 P D per token, P tokens per group).
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import Field

from ..dims import Dim, Shape, product
from .base import (
    Bool,
    Inferred,
    Int,
    LayerSpec,
    LazySpec,
    Op,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)
from .shapectx import check_declared
from .support import definitions
from .tensor import StatelessOp

_DIVIDE_HINT = (
    "give the network an input whose size, after the layers before this one, the partition "
    "size divides (archspec check prints the sizes it accepts)"
)


def _runtime(name: str) -> Any:
    from . import partition_modules

    return getattr(partition_modules, name)


def _rank4(x: Shape, kind: str, what: str) -> None:
    if len(x) != 4:
        raise ShapeFailure("E401", f"{kind} needs {what}, got {fmt(x)}", None)


def _divides(ctx: ShapeContext, side: Dim, size: int, which: str, kind: str) -> None:
    ctx.require_equal(
        side.floordiv(size) * size,
        side,
        "E412",
        f"{kind} size {size} does not divide the map's {which} ({{b}})",
        _DIVIDE_HINT,
        "size",
    )


def _square(ctx: ShapeContext, x: Shape, kind: str) -> None:
    ctx.require_equal(
        x[3],
        x[2],
        "E412",
        f"a grid {kind} splits both sides by H // size, as torchvision's does, so the map "
        "must be square: W = {a}, H = {b}",
        "use a square input (MaxViT's grid attention needs as many groups per row as per column)",
    )


def _partition_spec() -> type[LayerSpec]:
    class PartitionSpec(LayerSpec):
        """partition: an (N, C, H, W) map cut into (N, G, size * size, C) groups of tokens: windows
        of neighbours, or (`grid: true`) pixels spread H // size apart over the map."""

        type: Literal["partition"]
        size: Int(ge=1) = Field(description="the side of a group: size x size tokens")  # type: ignore[valid-type]
        grid: Bool = Field(False, description="grid partition (MaxViT's grid attention)")

    return PartitionSpec


def _grid_arg(a: Mapping[str, Any], lit: Callable[[Any], str]) -> str:
    return "" if a["grid"] is False else f", grid={lit(a['grid'])}"


@register
class Partition(StatelessOp):
    kind = "partition"
    spec = LazySpec(_partition_spec)
    torch_name = "MaxVitPartition"
    summary = "a map cut into windows or grids of tokens (MaxViT)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        _rank4(x, self.kind, "an (N, C, H, W) map")
        size = attrs["size"]
        _divides(ctx, x[2], size, "height", self.kind)
        _divides(ctx, x[3], size, "width", self.kind)
        if attrs["grid"]:
            _square(ctx, x, self.kind)
        groups = x[2].floordiv(size) * x[3].floordiv(size)
        return Inferred(attrs, (x[0], groups, Dim.of(size * size), x[1]))

    def channel_axis(
        self, attrs: Mapping[str, Any], axis: int | None, inputs: Sequence[Shape], out: Shape
    ) -> int | None:
        return 3 if axis == 1 else None

    def build(self, a: Mapping[str, Any]) -> Any:
        return _runtime("MaxVitPartition")(a["size"], a["grid"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"MaxVitPartition({lit(a['size'])}{_grid_arg(a, lit)})"

    def emit_support(self) -> str:
        return definitions("partition_modules.py", "maxvit_partition", "MaxVitPartition")


def _departition_spec() -> type[LayerSpec]:
    class DepartitionSpec(LayerSpec):
        """departition: groups of tokens (N, G, size * size, C) back into the (N, C, H, W) map of
        the second input (`from: [tokens, map]`), undoing a partition of the same size and kind."""

        type: Literal["departition"]
        size: Int(ge=1) = Field(description="the side of a group, as the partition's")  # type: ignore[valid-type]
        grid: Bool = Field(False, description="undo a grid partition")

    return DepartitionSpec


@register
class Departition(StatelessOp):
    kind = "departition"
    spec = LazySpec(_departition_spec)
    torch_name = "MaxVitDepartition"
    arity = 2
    summary = "groups of tokens back into the map they were cut from (MaxViT)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        tokens, like = inputs
        if len(tokens) == 3 and attrs["size"] == 1:  # (N, L, C) tokens, a group each
            raise ShapeFailure(
                "E401",
                f"{self.kind} needs tokens (N, G, size * size, C) as its first input, got "
                f"{fmt(tokens)}",
                "these are (N, L, C) tokens: make each a group of one first, an `unsqueeze` "
                "with `dim: 2` giving (N, L, 1, C), then departition them with `size: 1`",
            )
        _rank4(tokens, self.kind, "tokens (N, G, size * size, C) as its first input")
        _rank4(like, self.kind, "the (N, C, H, W) map they came from as its second input")
        size = attrs["size"]
        _divides(ctx, like[2], size, "height", self.kind)
        _divides(ctx, like[3], size, "width", self.kind)
        if attrs["grid"]:
            _square(ctx, like, self.kind)
        ctx.require_equal(
            tokens[2],
            size * size,
            "E412",
            f"departition of size {size} needs {size * size} tokens per group, the tokens "
            f"{fmt(tokens)} have {{a}}",
            "departition with the size of the partition it undoes",
            "size",
        )
        ctx.require_equal(
            tokens[1],
            like[2].floordiv(size) * like[3].floordiv(size),
            "E412",
            f"the tokens {fmt(tokens)} hold {{a}} groups, the map {fmt(like)} makes {{b}}",
            "departition into the map the tokens were cut from (`from: [tokens, map]`)",
        )
        return Inferred(attrs, (like[0], tokens[3], like[2], like[3]))

    def channel_axis(
        self, attrs: Mapping[str, Any], axis: int | None, inputs: Sequence[Shape], out: Shape
    ) -> int | None:
        return 1 if axis == 3 else None

    def build(self, a: Mapping[str, Any]) -> Any:
        return _runtime("MaxVitDepartition")(a["size"], a["grid"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"MaxVitDepartition({lit(a['size'])}{_grid_arg(a, lit)})"

    def emit_support(self) -> str:
        return definitions("partition_modules.py", "maxvit_departition", "MaxVitDepartition")


def _relative_attention_spec() -> type[LayerSpec]:
    class RelativeAttentionSpec(LayerSpec):
        """relative_attention: multi-head self-attention within each group of (N, G, P, D) tokens
        (P = size * size), plus a learned bias per head and relative offset in the size x size
        window, as torchvision's MaxViT RelativePositionalMultiHeadAttention (same keys)."""

        type: Literal["relative_attention"]
        head_dim: Int(ge=1) = Field(description="features per head; heads = D / head_dim")  # type: ignore[valid-type]
        size: Int(ge=1) = Field(description="the side of a group's window: size * size tokens")  # type: ignore[valid-type]
        feat_dim: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; the token features D, checked if given"
        )

    return RelativeAttentionSpec


def _heads(a: Mapping[str, Any]) -> int:
    return a["feat_dim"] // a["head_dim"]


@register
class RelativeAttention(Op):
    kind = "relative_attention"
    spec = LazySpec(_relative_attention_spec)
    inferred = ("feat_dim",)
    torch_name = "RelativePositionalMultiHeadAttention"
    category = "linear"
    summary = "self-attention within groups, relative position bias (MaxViT)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        _rank4(x, self.kind, "tokens (N, G, P, D)")
        d = x[3]
        if not d.is_const:
            raise ShapeFailure(
                "E406", f"relative_attention needs known features, the input is {fmt(x)}", None
            )
        check_declared(self.kind, "feat_dim", attrs.get("feat_dim"), d.value, "features")
        head_dim, size = attrs["head_dim"], attrs["size"]
        if d.value % head_dim:
            raise ShapeFailure(
                "E409",
                f"head_dim {head_dim} does not divide the {d.value} features",
                "use a head_dim that divides the features",
                "head_dim",
            )
        ctx.require_equal(
            x[2],
            size * size,
            "E412",
            f"relative_attention of size {size} needs {size * size} tokens per group, the "
            f"input {fmt(x)} has {{a}}",
            "attend over the groups of a partition of the same size",
            "size",
        )
        return Inferred(dict(attrs, feat_dim=d.value), x)

    def params(self, a: Mapping[str, Any]) -> int:
        d, s = a["feat_dim"], a["size"]
        return 4 * d * d + 4 * d + (2 * s - 1) ** 2 * _heads(a)

    def buffers(self, a: Mapping[str, Any]) -> int:
        return a["size"] ** 4

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        tokens = product(out)  # N * G * P * D
        return tokens * (4 * a["feat_dim"]) + tokens * out[2] * 2

    def scratch_numel(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        tokens = product(out)
        return tokens * 8 + product(out[:3]) * out[2] * (2 * _heads(a))

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return (("to_qkv", "nn.Linear"), ("merge", "nn.Linear"))

    def read_module(self, module: Any) -> dict[str, Any] | None:
        """torchvision's module keeps no `feat_dim`: its `merge` projection's width is it."""
        fields = super().read_module(module)
        merge = getattr(module, "merge", None)
        if fields is None or not isinstance(getattr(merge, "out_features", None), int):
            return None
        return {**fields, "feat_dim": merge.out_features}

    def build(self, a: Mapping[str, Any]) -> Any:
        cls = _runtime("RelativePositionalMultiHeadAttention")
        return cls(a["feat_dim"], a["head_dim"], a["size"] ** 2)

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        size = a["size"]
        if isinstance(size, int):
            seq = lit(size * size)
        else:
            text = lit(size)
            seq = f"{text}**2" if text.isidentifier() else f"({text}) ** 2"
        args = f"{lit(a['feat_dim'])}, {lit(a['head_dim'])}, {seq}"
        return f"RelativePositionalMultiHeadAttention({args})"

    def emit_support(self) -> str:
        return definitions(
            "partition_modules.py",
            "maxvit_relative_position_index",
            "RelativePositionalMultiHeadAttention",
        )
