"""Token ops of vision transformers: multi-head self-attention, a learned token broadcast to
the batch (`expand`), one token taken out (`select`), and the image-size check (`check_size`).

A token tensor is (N, L, D): L tokens of D features, the features last, as `linear` and
`layer_norm` read them. torchvision's ViT makes one from an image with a strided conv, a
flatten and a permute, puts a learned class token in front (`class_token.expand(n, -1, -1)`,
`torch.cat(..., dim=1)`), adds a learned position embedding (a `parameter` of shape
(1, L, D)), runs its encoder blocks and classifies `x[:, 0]`. Its `_process_input` asserts
the image size it was built for; `check_size` states that assertion, so the derived domain is
exactly that size and any other is refused, at that node, before a tensor exists.

MACs of `multihead_attention` per sample: the input projection (L * D * 3D), the two matmuls
of attention (scores Q K^T and their weighted sum of V: L * L * D each) and the output
projection (L * D * D), as torchvision's `_ops` counts them; the softmax is not counted.
"""

from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Literal

from pydantic import Field

from ..dims import Dim, Shape
from .base import (
    Bool,
    Float,
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
from .emitting import emit_call
from .flip import distinct_dims
from .shapectx import check_declared, unknown_features
from .support import definitions
from .tensor import DimList, IntList, StatelessOp


def _tokens(x: Shape, kind: str) -> None:
    if len(x) != 3:
        raise ShapeFailure(
            "E401",
            f"{kind} needs tokens (N, L, D), got rank {len(x)} {fmt(x)}",
            "make tokens of an image with a conv, a flatten(2) and a permute [0, 2, 1]",
        )


def _cross(inputs: Sequence[Shape], batch_first: bool, ctx: ShapeContext) -> None:
    """Query, key and value of one batch and one D, key and value of one length (torch's
    kdim and vdim, projections of other widths, are not stated)."""
    q, k = inputs[0], inputs[1]
    v = inputs[2] if len(inputs) > 2 else k
    shapes = tuple(tuple(t) for t in inputs)
    b, seq = (0, 1) if batch_first else (1, 0)
    hint = "attention reads query, key and value of one batch and one feature width D"
    for other in (k, v):
        ctx.require_equal(q[b], other[b], "E404", partial(_pair_message, "batches", shapes), hint)
        ctx.require_equal(q[2], other[2], "E404", partial(_pair_message, "features", shapes), hint)
    ctx.require_equal(
        k[seq],
        v[seq],
        "E404",
        partial(_pair_message, "key and value lengths", shapes),
        "the value holds one token per key",
    )


def _multihead_attention_spec() -> type[LayerSpec]:
    class MultiheadAttentionSpec(LayerSpec):
        """multihead_attention: self-attention of `num_heads` heads over (N, L, D) tokens, with
        nn.MultiheadAttention's state_dict (`in_proj_weight`, `in_proj_bias`, `out_proj`);
        `embed_dim` is inferred from D."""

        type: Literal["multihead_attention"]
        num_heads: Int(ge=1)  # type: ignore[valid-type]
        dropout: Float(ge=0, le=1) = Field(0.0, description="dropout on the attention weights")  # type: ignore[valid-type]
        bias: Bool = True
        embed_dim: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; checked against the input's D if given"
        )
        batch_first: Bool = Field(
            True, description="false: tokens come sequence first, (L, N, D), torch's default"
        )
        is_causal: Bool = Field(
            False,
            description="mask each query from the keys after it: `attn_mask` -inf above the "
            "diagonal (CLIP's text transformer, generate_square_subsequent_mask)",
        )
        need_weights: Bool = Field(
            False,
            description="true: torch's default call, `attn(q, k, v)[0]` (DETR), which also "
            "averages the weights and rounds otherwise than need_weights=False",
        )

    return MultiheadAttentionSpec


def _pair_message(what: str, shapes: tuple[Shape, ...]) -> str:
    return f"multihead_attention {what} differ: {{a}} vs {{b}} ({', '.join(map(fmt, shapes))})"


@register
class MultiheadAttention(Op):
    kind = "multihead_attention"
    spec = LazySpec(_multihead_attention_spec)
    #: `from: [q, kv]` or `[q, k, v]`: cross-attention (a learned query pooling a sequence)
    optional_inputs = 2
    inferred = ("embed_dim",)
    torch_name = "MultiheadAttention"
    category = "linear"
    summary = (
        "multi-head attention over tokens: self, or `from: [q, kv]` (nn.MultiheadAttention's keys)"
    )

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        x = inputs[0]
        for t in inputs:
            _tokens(t, self.kind)
        if len(inputs) > 1:
            _cross(inputs, attrs["batch_first"], ctx)
        d = x[2]
        given = attrs.get("embed_dim")
        if not d.is_const:
            raise unknown_features(self.kind, x, "a known D", None)
        check_declared(self.kind, "embed_dim", given, d.value, "features")
        heads = attrs["num_heads"]
        if d.value % heads:
            raise ShapeFailure(
                "E409",
                f"multihead_attention num_heads={heads} does not divide embed_dim {d.value}",
                "use a head count that divides the token features",
                "num_heads",
            )
        return Inferred(dict(attrs, embed_dim=d.value), x)

    def params(self, a: Mapping[str, Any]) -> int:
        d = a["embed_dim"]
        return 4 * d * d + (4 * d if a["bias"] else 0)

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        """The projections of q (and the output) over Lq tokens, of k and v over Lk, and the
        two matmuls, Lq Lk D each: L D (4 D + 2 L) for self-attention."""
        at = (0, 1) if a["batch_first"] else (1, 0)
        n, lq, d = out[at[0]], out[at[1]], out[2]
        lk = inputs[-1][at[1]]
        return n * d * (lq * 2 * d.value + lk * 2 * d.value + lq * lk * 2)

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}  # in_proj_weight/in_proj_bias: nn.MultiheadAttention initialises them

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return (("out_proj", "nn.Linear"),)  # NonDynamicallyQuantizableLinear, a Linear

    def build(self, a: Mapping[str, Any]) -> Any:
        from . import attention_modules

        return attention_modules.MultiheadSelfAttention(
            a["embed_dim"],
            a["num_heads"],
            dropout=a["dropout"],
            bias=a["bias"],
            batch_first=a["batch_first"],
            is_causal=a["is_causal"],
            need_weights=a["need_weights"],
        )

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        kw = {"dropout": (a["dropout"], 0.0), "bias": (a["bias"], True)}
        kw["batch_first"] = (a["batch_first"], True)
        kw["is_causal"] = (a["is_causal"], False)
        kw["need_weights"] = (a["need_weights"], False)
        return emit_call("MultiheadSelfAttention", [a["embed_dim"], a["num_heads"]], kw, lit)

    def emit_support(self) -> str:
        return definitions("attention_modules.py")


class _Functional(StatelessOp):
    """A token op computed in forward: no tensors, no module."""

    style = "function"


def _select_spec() -> type[LayerSpec]:
    class SelectSpec(LayerSpec):
        """select: one token (`x[:, 0]`, ViT's class token): `index` along `dim`, which goes
        (`dim: 0` of a sequence-first RNN's output, `out[-1]`: its last step)."""

        type: Literal["select"]
        dim: Int() = Field(1, description="the dim to index; negative counts from the end")  # type: ignore[valid-type]
        index: Int() = Field(0, description="the position taken; negative counts from the end")  # type: ignore[valid-type]

    return SelectSpec


@register
class Select(_Functional):
    kind = "select"
    spec = LazySpec(_select_spec)
    summary = "one position of a dim, which goes (`x[:, 0]`: ViT's class token)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        dim, index = attrs["dim"], attrs["index"]
        if not -len(x) <= dim < len(x):
            raise ShapeFailure(
                "E401",
                f"select dim {dim} is out of range for {fmt(x)}",
                f"take a dim from {-len(x)} to {len(x) - 1}",
                "dim",
            )
        dim %= len(x)
        size = x[dim]
        need = size - index if index >= 0 else size + index + 1
        ctx.require_positive(
            need,
            "E405",
            f"select index {index} is outside dim {dim} of {fmt(x)} (room {{d}})",
            "take an index the dim has",
        )
        return Inferred(attrs, (*x[:dim], *x[dim + 1 :]))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.select, {"dim": attrs["dim"], "index": attrs["index"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        (x,) = a["_inputs"]
        dim = a["dim"]
        if isinstance(dim, int) and not isinstance(dim, bool) and dim >= 0:
            return f"{x}[{', '.join([':'] * dim + [lit(a['index'])])}]"  # `out[-1]`, `x[:, 0]`
        return f"{x}.select({lit(dim)}, {lit(a['index'])})"


def _expand_spec() -> type[LayerSpec]:
    class ExpandSpec(LayerSpec):
        """expand: the first input (a learned token, (1, ...)) repeated over the batch of the
        second, as ViT's `class_token.expand(n, -1, -1)`; `from: [token, x]`. `dim: 1`
        repeats over the second's dim 1 instead, the batch of tokens sequence first
        (`query.expand(-1, x.shape[1], -1)`)."""

        type: Literal["expand"]
        ndim: Int(ge=1) | None = Field(  # type: ignore[valid-type]
            None, description="optional; the first input's rank, checked if given"
        )
        dim: Int(ge=0) = Field(  # type: ignore[valid-type]
            0, description="the dim of size 1 viewed over the second input's size of it"
        )

    return ExpandSpec


@register
class Expand(_Functional):
    kind = "expand"
    spec = LazySpec(_expand_spec)
    arity = 2
    inferred = ("ndim",)
    summary = "a (1, ...) tensor viewed over the batch of another (`t.expand(n, -1, -1)`)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        t, x = inputs
        dim = attrs["dim"]
        if dim >= min(len(t), len(x)):
            raise ShapeFailure(
                "E401",
                f"expand dim {dim} is out of range for {fmt(t)} and {fmt(x)}",
                "expand a dim both inputs have: 0, the batch, or 1 for tokens sequence first",
                "dim",
            )
        ctx.require_equal(
            t[dim],
            1,
            "E409",
            f"expand repeats a tensor of size 1 at dim {dim} over the batch, got {fmt(t)} "
            "(size {a})",
            "expand a parameter of shape [1, ...] (for dim 1, [L, 1, ...])",
        )
        if attrs.get("ndim") not in (None, len(t)):
            raise ShapeFailure(
                "E401", f"expand states ndim {attrs['ndim']}, the input is {fmt(t)}", None, "ndim"
            )
        return Inferred(dict(attrs, ndim=len(t)), (*t[:dim], x[dim], *t[dim + 1 :]))

    def channel_axis(
        self, attrs: Mapping[str, Any], axis: int | None, inputs: Sequence[Shape], out: Shape
    ) -> int | None:
        """A token's features are its last dim."""
        return len(out) - 1 if len(out) == 3 else axis

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return expand_batch, {"ndim": attrs["ndim"], "dim": attrs["dim"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        t, x = a["_inputs"]
        sizes = ["-1"] * a["ndim"]
        sizes[a["dim"]] = f"{x}.shape[{lit(a['dim'])}]"
        return f"{t}.expand({', '.join(sizes)})"


def expand_batch(t: Any, x: Any, ndim: int, dim: int = 0) -> Any:
    """`t.expand(n, -1, ...)` for x's batch n (`ndim`: t's rank, known when the spec is
    lowered, so torch.fx traces the call as emitted code writes it); `dim` 1:
    `t.expand(-1, n, -1)`, n x's size of dim 1."""
    sizes = [-1] * ndim
    sizes[dim] = x.shape[dim]
    return t.expand(*sizes)


def _check_size_spec() -> type[LayerSpec]:
    class CheckSizeSpec(LayerSpec):
        """check_size: asserts the input's spatial size (dims 2, 3, ...) is `size` and passes the
        input on, as torchvision's ViT asserts its image size before its patch embedding;
        `dims` names the dims checked instead (`[1]`: a token tensor's length)."""

        type: Literal["check_size"]
        size: IntList = Field(
            description="the one size each checked dim must have, e.g. [224, 224]"
        )
        dims: DimList | None = Field(
            None,
            description="the dims `size` states, in its order, e.g. [1] for the tokens of "
            "(N, T, C); negative counts from the end; default every dim after the first two",
        )

    return CheckSizeSpec


def checked_dims(attrs: Mapping[str, Any], x: Shape) -> list[int]:
    """The dims of `x` a check_size states, counted from 0, one per entry of `size`; E401 or
    E409 where they do not fit `x` (out of range, repeated, not one per size)."""
    size, dims = attrs["size"], attrs.get("dims")
    if dims is None:
        if len(x) != len(size) + 2:
            raise ShapeFailure(
                "E401",
                f"check_size states {len(size)} sizes, the input {fmt(x)} has "
                f"{max(len(x) - 2, 0)} spatial dims",
                "give one size per spatial dim, or name the dims checked (`dims: [1]`)",
                "size",
            )
        return list(range(2, len(x)))
    norm = distinct_dims("check_size", dims, x, "checked")
    if len(size) != len(dims):
        raise ShapeFailure(
            "E401",
            f"check_size states {len(size)} sizes for {len(dims)} dims {list(dims)}",
            "give one size per dim in `dims`",
            "size",
        )
    return norm


@register
class CheckSize(_Functional):
    kind = "check_size"
    spec = LazySpec(_check_size_spec)
    summary = "asserts the size of some dims of its input (ViT's image-size check)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        size = attrs["size"]
        dims = checked_dims(attrs, x)
        stated = "spatial size" if attrs.get("dims") is None else f"size at dims {list(dims)}"
        for d, want in zip(dims, size, strict=True):
            ctx.require_equal(
                x[d],
                want,
                "E413",
                f"the model takes an input of {stated} {tuple(size)} only, got {fmt(x)} "
                f"({{a}} where it needs {{b}})",
                "give the input the size stated here (`--input`), or build the model for "
                "the input's size (the param that sets `size`); a spec's `input` that states "
                "numbers is checked at them: write symbols (`[N, 3, H, W]`) to follow the param",
                "size",
            )
        # past the check the sizes are known: what follows is checked at them
        out = list(x)
        for d, want in zip(dims, size, strict=True):
            out[d] = Dim.of(want)
        return Inferred(attrs, tuple(out))

    def activation_numel(self, out: Shape) -> Dim:
        return Dim.of(0)  # its output is its input

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        if attrs.get("dims") is None:
            return check_size, {"size": list(attrs["size"])}
        return check_size_at, {"dims": list(attrs["dims"]), "size": list(attrs["size"])}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        if a.get("dims") is None:
            return f"check_size({a['_inputs'][0]}, {lit(list(a['size']))})"
        return f"check_size_at({a['_inputs'][0]}, {lit(list(a['dims']))}, {lit(list(a['size']))})"

    def emit_support(self) -> str:
        return CHECK_SIZE_SOURCE

    def emit_support_for(self, attrs: Mapping[str, Any]) -> str | tuple[str, ...]:
        return CHECK_SIZE_SOURCE if attrs.get("dims") is None else CHECK_SIZE_AT_SOURCE


CHECK_SIZE_SOURCE = """\
def check_size(x: torch.Tensor, size: list[int]) -> torch.Tensor:
    torch._assert(x.shape[2:] == torch.Size(size), f"expected an input of spatial size {size}")
    return x
"""

CHECK_SIZE_AT_SOURCE = """\
def check_size_at(x: torch.Tensor, dims: list[int], size: list[int]) -> torch.Tensor:
    for d, s in zip(dims, size):
        torch._assert(x.shape[d] == s, f"expected an input of size {size} at dims {dims}")
    return x
"""


def check_size_at(x: Any, dims: list[int], size: list[int]) -> Any:
    """x, once its size at each of `dims` is `size`'s (the same code as emitted files'
    `check_size_at`): one assertion per dim, which torch.fx traces as it does one."""
    import torch

    for d, s in zip(dims, size, strict=True):
        torch._assert(x.shape[d] == s, f"expected an input of size {size} at dims {dims}")
    return x


def check_size(x: Any, size: list[int]) -> Any:
    """x, once torchvision's `torch._assert(h == self.image_size, ...)` holds for every
    spatial dim (the same code as emitted files' `check_size`)."""
    import torch

    # sizes compared as one torch.Size: torch.fx traces it (a list of x.shape's items iterates)
    torch._assert(x.shape[2:] == torch.Size(size), f"expected an input of spatial size {size}")
    return x
