"""Products of tensors computed in forward: `matmul`, `scaled_dot_product_attention`,
`scale` (a constant factor and offset) and `vector_norm`. No parameters, no module.

They let a spec write attention the way timm and most papers' code do, out of its own
`linear` layers: `qkv = self.qkv(x)`, a reshape into heads, then
`F.scaled_dot_product_attention(q, k, v)` (timm's fused path) or `q * scale`,
`q @ k.transpose(-2, -1)`, a softmax and `attn @ v` (its explicit path, which talking-heads
attention needs to reach the scores), and `proj`. The keys are then the spec's own names
(`attn.qkv.weight`, `attn.proj.weight`), where `multihead_attention` has
nn.MultiheadAttention's (`in_proj_weight`, `out_proj`).

MACs, as torch's FlopCounterMode counts the matrix products (bmm): `matmul` of (..., M, K)
and (..., K, N) is `batch * M * K * N`; attention is its two products,
`batch * Lq * Lk * (E + Ev)`; the softmax and the scaling count 0, as in
`multihead_attention`.
"""

import operator
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, Literal

from pydantic import Field

from ..dims import Dim, Shape, product
from .base import (
    Bool,
    Float,
    Inferred,
    Int,
    LayerSpec,
    LazySpec,
    ShapeContext,
    ShapeFailure,
    fmt,
    register,
)
from .broadcasting import _Join, broadcast_all
from .merge import _FunctionOp
from .tensor import DimList, Mean
from .words import Word


def _matrices(kind: str, shapes: Sequence[Shape], names: str) -> None:
    for name, x in zip(names.split(), shapes):
        if len(x) < 2:
            raise ShapeFailure(
                "E401",
                f"{kind} needs {name} of rank 2 or more (..., rows, columns), got {fmt(x)}",
                "reshape the tokens into heads first, (N, heads, L, head_dim)",
            )


def _batch(
    kind: str,
    shapes: Sequence[Shape],
    ctx: ShapeContext,
    hint: str = "give both operands the same batch dims (N, heads)",
) -> Shape:
    """The leading (batch) dims of the operands, broadcast as torch.matmul does (and
    F.scaled_dot_product_attention: one key and value head for all of q's heads)."""
    join = _Join(kind, ",", hint, batch=True)
    return broadcast_all(join, [x[:-2] or (Dim.of(1),) for x in shapes], ctx)[
        : max(len(x) for x in shapes) - 2
    ]


def _inner_message(kind: str, what: str, shapes: tuple[Shape, ...]) -> str:
    return f"{kind} {what} differ: {{a}} vs {{b}} ({', '.join(map(fmt, shapes))})"


def _matmul_spec() -> type[LayerSpec]:
    class MatmulSpec(LayerSpec):
        """matmul: the matrix product of two inputs, `from: [a, b]` giving `a @ b` over their
        last two dims (the dims before them broadcast); `transpose: true` gives
        `a @ b.transpose(-2, -1)`, attention's scores `q @ k.transpose(-2, -1)`."""

        type: Literal["matmul"]
        transpose: Bool = Field(False, description="transpose the last two dims of b first")

    return MatmulSpec


@register
class Matmul(_FunctionOp):
    kind = "matmul"
    spec = LazySpec(_matmul_spec)
    arity = 2
    category = "linear"
    summary = "matrix product `a @ b` of two inputs (attention's scores and weighted sum)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        a, b = inputs
        _matrices(self.kind, inputs, "a b")
        if attrs["transpose"]:
            b = (*b[:-2], b[-1], b[-2])
        shapes = (tuple(a), tuple(b))
        ctx.require_equal(
            a[-1],
            b[-2],
            "E404",
            partial(_inner_message, self.kind, "a's columns and b's rows", shapes),
            "a @ b needs a's last dim equal to b's second last (transpose: true for q k^T)",
        )
        return Inferred(attrs, (*_batch(self.kind, shapes, ctx), a[-2], b[-1]))

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        return product(out) * inputs[0][-1]

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return (matmul_transposed if attrs["transpose"] else operator.matmul), {}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        x, y = a["_inputs"]
        return f"{x} @ {y}.transpose(-2, -1)" if a["transpose"] else f"{x} @ {y}"


def matmul_transposed(a: Any, b: Any) -> Any:
    """`a @ b.transpose(-2, -1)` (the same code as emitted files write)."""
    return a @ b.transpose(-2, -1)


def _scaled_dot_product_attention_spec() -> type[LayerSpec]:
    class ScaledDotProductAttentionSpec(LayerSpec):
        """scaled_dot_product_attention: `F.scaled_dot_product_attention(q, k, v)` of three
        inputs, `from: [q, k, v]`, each (..., L, E): softmax(q k^T * scale) v, as timm's
        Attention computes it; a fourth, `from: [q, k, v, bias]`, is torch's `attn_mask`,
        added to the scores (a relative position bias, timm's fused path)."""

        type: Literal["scaled_dot_product_attention"]
        scale: Float(gt=0) | None = Field(  # type: ignore[valid-type]
            None, description="the factor of the scores; default 1 / sqrt(E), torch's"
        )
        is_causal: Bool = Field(False, description="mask each query from the keys after it")
        enable_gqa: Bool = Field(
            False,
            description="grouped-query attention: k and v hold fewer heads (dim -3), each "
            "shared by as many of q's in turn (torch's `enable_gqa`, LLaMA's repeat_kv)",
        )

    return ScaledDotProductAttentionSpec


@register
class ScaledDotProductAttention(_FunctionOp):
    kind = "scaled_dot_product_attention"
    spec = LazySpec(_scaled_dot_product_attention_spec)
    arity = 3
    optional_inputs = 1
    category = "linear"
    summary = "softmax(q k^T * scale + bias) v (F.scaled_dot_product_attention)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        q, k, v = inputs[:3]
        _matrices(self.kind, inputs, "q k v bias")
        shapes = (tuple(q), tuple(k), tuple(v))
        ctx.require_equal(
            q[-1],
            k[-1],
            "E404",
            partial(_inner_message, self.kind, "q's and k's features", shapes),
            "q and k need the same head_dim",
        )
        ctx.require_equal(
            k[-2],
            v[-2],
            "E404",
            partial(_inner_message, self.kind, "k's and v's lengths", shapes),
            "k and v need one token per key",
        )
        if attrs["enable_gqa"] is True:
            shapes = _grouped_heads(self.kind, shapes)
        hint = "give q, k and v the same batch dims (N, heads), or 1 where one is shared"
        batch = _batch(self.kind, shapes, ctx, hint)  # broadcast, as torch's
        if len(inputs) == 4:
            _attention_bias(self.kind, attrs, (*batch, q[-2], k[-2]), inputs[3], ctx)
        return Inferred(attrs, (*batch, q[-2], v[-1]))

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        q, k = inputs[:2]
        return product(out[:-1]) * k[-2] * (q[-1] + out[-1])

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch.nn.functional as F

        kwargs: dict[str, Any] = {}
        if attrs["scale"] is not None:
            kwargs["scale"] = attrs["scale"]
        if attrs["is_causal"]:
            kwargs["is_causal"] = True
        if attrs["enable_gqa"]:
            kwargs["enable_gqa"] = True
        return F.scaled_dot_product_attention, kwargs

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        args = list(a["_inputs"])
        if a["scale"] is not None:
            args.append(f"scale={lit(a['scale'])}")
        if a["is_causal"] is not False:
            args.append(f"is_causal={lit(a['is_causal'])}")
        if a["enable_gqa"] is not False:
            args.append(f"enable_gqa={lit(a['enable_gqa'])}")
        return f"F.scaled_dot_product_attention({', '.join(args)})"


def _grouped_heads(kind: str, shapes: tuple[Shape, ...]) -> tuple[Shape, ...]:
    """q, k and v with k's and v's heads (dim -3) counted as q's, as torch's `enable_gqa`
    repeats each of them for its group of query heads: the heads must be numbers, k's and
    v's the same, and a divisor of q's."""
    if any(len(x) < 3 for x in shapes):
        raise ShapeFailure(
            "E401",
            f"{kind} with enable_gqa needs q, k and v of (..., heads, L, E), got "
            f"{', '.join(map(fmt, shapes))}",
            "reshape the tokens into heads first, (N, heads, L, head_dim)",
        )
    q, k, v = (x[-3] for x in shapes)
    if not (q.is_const and k.is_const and v.is_const):
        raise ShapeFailure(
            "E406",
            f"{kind} with enable_gqa needs numbers of heads, got {q}, {k} and {v}",
            "reshape into a number of heads (`shape: [0, 0, n_kv_heads, -1]`)",
            "enable_gqa",
        )
    if k.value != v.value or q.value % k.value:
        raise ShapeFailure(
            "E409",
            f"{kind} with enable_gqa needs k and v of one number of heads that divides q's: "
            f"q has {q.value}, k {k.value}, v {v.value}",
            "give k and v n_kv_heads heads, a divisor of q's n_heads",
            "enable_gqa",
        )
    return tuple((*x[:-3], shapes[0][-3], *x[-2:]) for x in shapes)


def _attention_bias(
    kind: str, attrs: Mapping[str, Any], scores: Shape, bias: Shape, ctx: ShapeContext
) -> None:
    """torch's `attn_mask`: a bias of the scores (..., Lq, Lk) or of a shape that broadcasts
    to them (a (heads, Lq, Lk) relative position bias); `is_causal` beside it torch refuses."""
    if attrs["is_causal"] is True:
        raise ShapeFailure(
            "E409",
            f"{kind} takes a bias or `is_causal`, not both (torch refuses the two together)",
            "add the causal mask to the bias, or drop the bias",
        )
    if len(bias) > len(scores):
        raise ShapeFailure(
            "E401",
            f"{kind}'s bias {fmt(bias)} has more dims than the scores {fmt(scores)}",
            "give the bias the scores' shape (..., Lq, Lk), or fewer leading dims",
        )
    shapes = (tuple(scores), tuple(bias))
    for i in range(1, len(bias) + 1):  # aligned from the right; a 1 broadcasts
        if bias[-i] != Dim.of(1):
            ctx.require_equal(
                bias[-i],
                scores[-i],
                "E404",
                partial(_inner_message, kind, f"bias and scores at dim -{i}", shapes),
                "the bias broadcasts to the scores (..., Lq, Lk): each of its dims equal or 1",
            )


def _scale_spec() -> type[LayerSpec]:
    class ScaleSpec(LayerSpec):
        """scale: the input times a constant `factor`, divided by a constant `divisor`, plus a
        constant `offset` (`q * self.scale`; DeiT's average of its two heads, `(x + x_dist) /
        2`, as `factor: 0.5`; attention's `scores / math.sqrt(d)` as `divisor`; GRN's
        `mean + eps` as `offset: 1.0e-6`)."""

        type: Literal["scale"]
        factor: Float() = Field(1.0, description="the constant the input is multiplied by")  # type: ignore[valid-type]
        divisor: Float(gt=0) = Field(  # type: ignore[valid-type]
            1.0, description="the constant the product is divided by (torch's `x / d`)"
        )
        offset: Float() = Field(0.0, description="the constant added after")  # type: ignore[valid-type]

    return ScaleSpec


@register
class Scale(_FunctionOp):
    kind = "scale"
    spec = LazySpec(_scale_spec)
    category = "merge"
    summary = "the input times a constant, plus a constant (`x * factor / divisor + offset`)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        return Inferred(attrs, tuple(x))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return scale_by, {
            "factor": attrs["factor"],
            "offset": attrs["offset"],
            "divisor": attrs["divisor"],
        }

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        text = a["_inputs"][0]
        if a["factor"] != 1:
            text = f"{text} * {lit(a['factor'])}"
        if a["divisor"] != 1:
            text = f"{text} / {lit(a['divisor'])}"
        return f"{text} + {lit(a['offset'])}" if a["offset"] != 0 else text


def scale_by(x: Any, factor: float, offset: float, divisor: float = 1.0) -> Any:
    """`x * factor / divisor + offset`, each part only where it changes x (as emitted files
    write it): a quotient is torch's own, which multiplying by `1 / divisor` is not to the
    last bit."""
    if factor != 1:
        x = x * factor
    if divisor != 1:
        x = x / divisor
    return x + offset if offset != 0 else x


def _vector_norm_spec() -> type[LayerSpec]:
    class VectorNormSpec(LayerSpec):
        """vector_norm: the `ord`-norm over `dim` (`x.norm(p=2, dim=(2, 3), keepdim=True)`:
        ConvNeXt V2's GRN), as `mean` averages."""

        type: Literal["vector_norm"]
        dim: DimList = Field(description="the dims the norm runs over, e.g. [2, 3] for H and W")
        keepdim: Bool = False
        ord: Float(gt=0) = Field(2.0, description="the norm's p: 2 is Euclidean")  # type: ignore[valid-type]

    return VectorNormSpec


@register
class VectorNorm(Mean):
    kind = "vector_norm"
    spec = LazySpec(_vector_norm_spec)
    category = "pool"
    summary = "p-norm over dims (`x.norm(p=2, dim=[2, 3], keepdim=True)`: GRN)"

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.Tensor.norm, {
            "p": attrs["ord"],
            "dim": list(attrs["dim"]),
            "keepdim": attrs["keepdim"],
        }

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        keep = ", keepdim=True" if a["keepdim"] is True else ""
        return f"{a['_inputs'][0]}.norm(p={lit(a['ord'])}, dim={lit(a['dim'])}{keep})"


def _normalize_spec() -> type[LayerSpec]:
    class NormalizeSpec(LayerSpec):
        """normalize: the input divided by its `p`-norm over `dim`, at least `eps`
        (`F.normalize(x, dim=1)`: an embedding put on the unit sphere)."""

        type: Literal["normalize"]
        p: Float(gt=0) = Field(2.0, description="the norm's p: 2 is Euclidean")  # type: ignore[valid-type]
        dim: Int() = Field(1, description="the dim the norm runs over")  # type: ignore[valid-type]
        eps: Float(gt=0) = Field(1e-12, description="the smallest norm divided by")  # type: ignore[valid-type]

    return NormalizeSpec


@register
class Normalize(_FunctionOp):
    kind = "normalize"
    spec = LazySpec(_normalize_spec)
    category = "merge"
    summary = "the input over its p-norm along a dim (`F.normalize(x, dim=1)`: unit embeddings)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        r, dim = len(x), attrs["dim"]
        if not -r <= dim < r:
            raise ShapeFailure(
                "E401",
                f"normalize dim={dim} is out of range for {fmt(x)}",
                f"name a dim from 0 to {r - 1} (or -{r} to -1)",
                "dim",
            )
        return Inferred(attrs, tuple(x))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch.nn.functional as F

        return F.normalize, {"p": attrs["p"], "dim": attrs["dim"], "eps": attrs["eps"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        args = [a["_inputs"][0]]
        if a["p"] != 2:
            args.append(f"p={lit(a['p'])}")
        args.append(f"dim={lit(a['dim'])}")
        if a["eps"] != 1e-12:
            args.append(f"eps={lit(a['eps'])}")
        return f"F.normalize({', '.join(args)})"


#: The functions `elementwise` computes, each torch's function of that name.
ELEMENTWISE_FNS = ("exp", "log", "sqrt", "rsqrt", "abs", "reciprocal", "sin", "cos")


def _elementwise_spec() -> type[LayerSpec]:
    class ElementwiseSpec(LayerSpec):
        """elementwise: a math function of each value, computed in forward (`torch.exp(x)`,
        `x.sqrt()`): no module, the input's shape."""

        type: Literal["elementwise"]
        fn: Word(ELEMENTWISE_FNS) = Field(  # type: ignore[valid-type]
            description="the torch function applied to each value"
        )

    return ElementwiseSpec


@register
class Elementwise(_FunctionOp):
    kind = "elementwise"
    spec = LazySpec(_elementwise_spec)
    category = "merge"
    label_field = "fn"
    summary = "a math function of each value (`torch.exp(x)`, `x.sqrt()`, `x.abs()`)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        return Inferred(attrs, tuple(x))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return getattr(torch, attrs["fn"]), {}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        if a["fn"] not in ELEMENTWISE_FNS:  # validated already: only a known name is written
            raise ValueError(f"elementwise fn {a['fn']!r}")
        return f"torch.{a['fn']}({a['_inputs'][0]})"


def _pow_spec() -> type[LayerSpec]:
    class PowSpec(LayerSpec):
        """pow: each value raised to a constant `exponent` (`x.pow(2)`: RMSNorm's mean
        square), or a constant `base` raised to each value (`theta ** t`: the frequencies of
        rotary position embeddings), computed in forward: no module, the input's shape."""

        type: Literal["pow"]
        exponent: Float() | None = Field(  # type: ignore[valid-type]
            None, description="the constant power of each value: `x.pow(exponent)`"
        )
        base: Float(gt=0) | None = Field(  # type: ignore[valid-type]
            None, description="the constant raised to each value: `torch.pow(base, x)`"
        )

    return PowSpec


@register
class Pow(_FunctionOp):
    kind = "pow"
    spec = LazySpec(_pow_spec)
    category = "merge"
    summary = "a power: `x.pow(exponent)`, or a constant to each value, `torch.pow(base, x)`"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        (x,) = inputs
        if (attrs["base"] is None) == (attrs["exponent"] is None):
            raise ShapeFailure(
                "E409",
                "pow takes one of base and exponent: `exponent` raises each value to it "
                "(`x.pow(2)`), `base` raises it to each value (`theta ** t`)",
                None,
                "base" if attrs["base"] is not None else None,
            )
        return Inferred(attrs, tuple(x))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        if attrs["base"] is not None:
            return power_of, {"base": attrs["base"]}
        return torch.pow, {"exponent": attrs["exponent"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        if a["base"] is not None:
            return f"torch.pow({lit(a['base'])}, {a['_inputs'][0]})"
        return f"{a['_inputs'][0]}.pow({lit(a['exponent'])})"


def power_of(x: Any, base: float) -> Any:
    """`torch.pow(base, x)`: the constant `base` raised to each value of x (`theta ** t`)."""
    import torch

    return torch.pow(base, x)


def _addcmul_spec() -> type[LayerSpec]:
    class AddcmulSpec(LayerSpec):
        """addcmul: `torch.addcmul(a, b, c, value=value)`, a + value * b * c in one fused step,
        of three inputs `from: [a, b, c]` with broadcasting (GRN's bias + weight * x): bit for
        bit what torch computes, where an add after a mul may round differently."""

        type: Literal["addcmul"]
        value: Float() = Field(1.0, description="the factor of the product")  # type: ignore[valid-type]

    return AddcmulSpec


@register
class Addcmul(_FunctionOp):
    kind = "addcmul"
    spec = LazySpec(_addcmul_spec)
    arity = 3
    category = "merge"
    summary = "a + value * b * c in one step (`torch.addcmul`: GRN's bias + weight * x)"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        join = _Join(self.kind, ",", "each dim of the three inputs must be equal or 1")
        return Inferred(attrs, broadcast_all(join, inputs, ctx))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.addcmul, {"value": attrs["value"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        value = f", value={lit(a['value'])}" if a["value"] != 1 else ""
        return f"torch.addcmul({', '.join(a['_inputs'])}{value})"
