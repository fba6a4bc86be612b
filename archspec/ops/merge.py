"""Merge ops that join several inputs: elementwise add (residuals), subtract (PoolFormer's
token mixer), multiply (gates, layer scale) and concatenation.

MACs: the joins count 0, as torchvision's published `_ops` figures count only the
multiply-accumulates of convolutions and linear layers; a `mul` gate is one multiply per
output element, which those figures leave out too, so totals stay comparable with them.
"""

import operator
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache, partial
from typing import Any, ClassVar, Literal, get_args

from ..dims import Dim, Floor, Shape, total
from ..lazymethods import dataclass
from .base import (
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
from .words import Word


class _FunctionOp(Op):
    """An op computed in forward: it makes no module, so nothing inside one to initialise."""

    style = "function"

    def init_tensors(self, a: Mapping[str, Any]) -> Mapping[str, int]:
        return {}

    def submodules(self, a: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
        return ()


@dataclass(frozen=True)
class _Join:
    """What an elementwise join's broadcasting errors say: its kind, sign and fix."""

    kind: str
    sign: str
    hint: str


_ADD = _Join(
    "add",
    "+",
    "add a projection shortcut (1x1 conv, and stride if the size differs) so both sides match",
)


_SUB = _Join(
    "sub",
    "-",
    "make both sides the same shape, or one of them 1 where it should broadcast",
)

_MUL = _Join(
    "mul",
    "*",
    "each dim of the two sides must be equal or 1 (a gate is (N, C, 1, 1) against "
    "(N, C, H, W)): check the gate's channel count and its pooling; in a block, "
    "`in_channels` is each layer's own input, so give the gate's last conv the block's "
    "width through a let (`let: {channels: in_channels}`)",
)


class _Elementwise(_FunctionOp):
    """A join of inputs broadcast against each other (`from: [a, b]`), computed in forward
    by one Python operator: its shape rule is `broadcast_all`, its code `a + b`."""

    arity = "many"
    category = "merge"
    join: ClassVar[_Join]
    #: the operator forward applies (operator.add, ...)
    apply: ClassVar[Callable[[Any, Any], Any]]

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        return Inferred(attrs, broadcast_all(self.join, inputs, ctx))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        return type(self).apply, {}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f" {self.join_sign} ".join(a["_inputs"])


def _add_spec() -> type[LayerSpec]:
    class AddSpec(LayerSpec):
        """add: elementwise sum of two or more inputs (`from: [a, b]`), with broadcasting."""

        type: Literal["add"]

    return AddSpec


@register
class Add(_Elementwise):
    kind = "add"
    spec = LazySpec(_add_spec)
    summary = "elementwise sum (residual join)"
    join_sign = "+"
    join = _ADD
    apply = operator.add

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        if len(inputs) < 2:
            raise ShapeFailure("E401", "add needs at least two inputs (`from: [a, b]`)", None)
        return super().infer(attrs, inputs, ctx)


def _mul_spec() -> type[LayerSpec]:
    class MulSpec(LayerSpec):
        """mul: elementwise product of two or more inputs (`from: [a, b]`), with broadcasting:
        a squeeze-excitation gate `x * scale` with scale (N, C, 1, 1), a layer scale."""

        type: Literal["mul"]

    return MulSpec


@register
class Mul(_Elementwise):
    kind = "mul"
    spec = LazySpec(_mul_spec)
    summary = "elementwise product with broadcasting (gate, layer scale)"
    join_sign = "*"
    join = _MUL
    apply = operator.mul


def _sub_spec() -> type[LayerSpec]:
    class SubSpec(LayerSpec):
        """sub: the elementwise difference of two inputs, `from: [a, b]` giving `a - b`, with
        broadcasting: PoolFormer's token mixer `pool(x) - x`."""

        type: Literal["sub"]

    return SubSpec


@register
class Sub(_Elementwise):
    kind = "sub"
    spec = LazySpec(_sub_spec)
    arity = 2
    summary = "elementwise difference `a - b` with broadcasting (PoolFormer's pool(x) - x)"
    join_sign = "-"
    join = _SUB
    apply = operator.sub


_DIV = _Join(
    "div",
    "/",
    "make both sides the same shape, or one of them 1 where it should broadcast (a norm "
    "with keepdim: true keeps its dims as 1)",
)


def _div_spec() -> type[LayerSpec]:
    class DivSpec(LayerSpec):
        """div: the elementwise quotient of two inputs, `from: [a, b]` giving `a / b`, with
        broadcasting: ConvNeXt V2's GRN divides each channel's norm by their mean."""

        type: Literal["div"]

    return DivSpec


@register
class Div(_Elementwise):
    kind = "div"
    spec = LazySpec(_div_spec)
    arity = 2
    summary = "elementwise quotient `a / b` with broadcasting (GRN's x_g / mean)"
    join_sign = "/"
    join = _DIV
    apply = operator.truediv


#: The fix when the last dim of (N, F) features or (N, L, D) tokens differs: a 1x1 conv
#: means nothing there, and the usual cause is `in_features` read deeper in a block.
_DIM1_HINT = (
    "dim 1 holds the channels of an (N, C, L) map or the tokens of an (N, L, D) sequence: make "
    "both sides the same size there, or 1 where one should broadcast (a position embedding "
    "has one row per token, a class token included)"
)
_FEATURES_HINT = (
    "make the last layer of one side give the other's width (`out_features`); in a block, "
    "`in_features` is each layer's own input (an MLP's second linear reads the hidden "
    "width), so bind the block's width once (`let: {dim: in_features}`) and read `dim`"
)


def broadcast_all(join: _Join, inputs: Sequence[Shape], ctx: ShapeContext) -> Shape:
    """The shape of an elementwise join of `inputs` under torch's broadcasting: aligned from
    the right, each pair of dims equal or one of them 1. Dims that are equal only for some
    input sizes become constraints of the context (so the derived domain stays exact)."""
    if len(inputs) < 2:
        raise ShapeFailure("E401", f"{join.kind} needs at least two inputs (`from: [a, b]`)", None)
    first = inputs[0]
    for other in inputs[1:]:
        if other != first:
            break
    else:  # inputs all alike (a residual's add, the common case): each pair of dims equal
        return tuple(first)
    out = list(first)
    for other in inputs[1:]:
        out = _broadcast(out, list(other), ctx, inputs, join)
    return tuple(out)


def _join_message(join: _Join, what: str, inputs: tuple[Shape, ...]) -> str:
    shapes = f" {join.sign} ".join(map(fmt, inputs))
    return f"{join.kind} joins inputs whose {what} differ: {{a}} vs {{b}} ({shapes})"


def _concat_message(i: int, inputs: tuple[Shape, ...]) -> str:
    # require_equal's `a` is the later input's size, `b` the first's: in the inputs' order
    return (
        f"concat joins inputs whose dim {i} differ: {{b}} vs {{a}} ({', '.join(map(fmt, inputs))})"
    )


def _concat_hint(i: int, d: int, rank: int) -> str:
    """What to check when dim `i` of a concat along `d` differs: the spatial sizes of maps
    joined on their channels, else each input's layout and sizes."""
    if rank >= 4 and i >= 2:
        return (
            "every branch must keep the same spatial size: check strides, padding and "
            "ceil_mode in each branch"
        )
    return (
        f"a concat along dim {d} needs its inputs equal in every other dim: check that each "
        "input has the same layout (a `permute` puts the dims in the same places) and the "
        "same sizes there"
    )


_AMBIGUOUS_HINT = (
    "declare a concrete size in the spec's `input:` (`--input` then checks other sizes; with a "
    "symbolic `input:` it does not lift this error), or make both sides the same size"
)
#: For a map's spatial dims (an upsampled map added to a lateral one: FPN, BiFPN, U-Net).
_RESIZE_HINT = (
    ": `interpolate_as` with `from: [x, like]` resizes a map to another's size for every input, "
    "where an `upsample` by a `scale_factor` matches it only at some sizes"
)
#: For the spatial dims of maps an `add` joins: sides that downsample differently (DLA's
#: tree adds a strided conv's output to a max-pooled shortcut: equal for even sizes only).
_ADD_SIZES_HINT = (
    "both sides must reach the same size: a side that skips the other's downsampling needs the "
    "same stride (a projection shortcut, or a pool); sides that both downsample must round an "
    "odd size alike (a stride-2 conv with padding rounds it up, a 2x2 pool down unless "
    "`ceil_mode: true`), or the network does not take this input size"
)


def _broadcast(
    a: list[Dim], b: list[Dim], ctx: ShapeContext, inputs: Sequence[Shape], join: _Join
) -> list[Dim]:
    n = max(len(a), len(b))
    a = [Dim.of(1)] * (n - len(a)) + a
    b = [Dim.of(1)] * (n - len(b)) + b
    out = []
    for i, (x, y) in enumerate(zip(a, b)):
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        else:
            # dim 1 is the channels of a map; of a rank-3 tensor it may be a sequence's tokens
            what = "channels" if i == 1 and n >= 4 else f"dim {i}"
            hint = (
                _FEATURES_HINT
                if n in (2, 3) and i == n - 1
                else (_DIM1_HINT if n == 3 and i == 1 else _join_hint(join, n, i))
            )
            ones = () if (x - y).is_const else tuple(d for d in (x, y) if _one_here(d, ctx))
            if len(ones) == 1:
                # torch broadcasts a 1 against anything: the sizes torch takes are "equal, or
                # this one 1", and the result is the other side's size either way
                (one,) = ones
                other = y if one == x else x
                ctx.require_equal_or_one(
                    one,
                    other,
                    "E402",
                    partial(_either_message, join, what, tuple(inputs)),
                    hint,
                )
                out.append(other)
                continue
            if ones:
                # both may be 1: the result's size then depends on which, which no shape of
                # the node's can state (a concrete input can)
                raise ShapeFailure(
                    "E402",
                    partial(_ambiguous_message, join, what, x, y, ones, tuple(inputs)),
                    _AMBIGUOUS_HINT + (_RESIZE_HINT if n >= 4 and i >= 2 else ""),
                )
            ctx.require_equal(
                x,
                y,
                "E402",
                partial(_join_message, join, what, tuple(inputs)),
                hint,
            )
            out.append(x)
    return out


def _either_message(join: _Join, what: str, inputs: tuple[Shape, ...]) -> str:
    shapes = f" {join.sign} ".join(map(fmt, inputs))
    return (
        f"{join.kind} joins inputs whose {what} differ: {{a}} vs {{b}}, and {{a}} is not 1 "
        f"to broadcast ({shapes})"
    )


def _join_hint(join: _Join, n: int, i: int) -> str:
    """The hint of a join whose dim `i` (of `n`) differs: for a spatial dim of maps an
    `add` joins, how two sides come to different sizes; else the join's own."""
    if join.kind == "add" and n >= 4 and i >= 2:
        return f"{_ADD_SIZES_HINT}; or resize one side{_RESIZE_HINT}"
    return join.hint


def _ambiguous_message(
    join: _Join, what: str, x: Dim, y: Dim, ones: tuple[Dim, ...], inputs: tuple[Shape, ...]
) -> str:
    """Why archspec cannot say which input sizes such a join takes: both sides may be 1, and
    the result's size depends on which is. (Where only one may be, the result is the other
    side's either way: `ShapeContext.require_equal_or_one`.)"""
    shapes = f" {join.sign} ".join(map(fmt, inputs))
    result = "sum" if join.kind == "add" else "result"
    return (
        f"{join.kind} joins inputs whose {what} are {x} and {y}: for input sizes where one of "
        f"them is 1 it broadcasts, so the {result}'s shape depends on the size ({shapes})"
    )


def _one_here(d: Dim, ctx: ShapeContext) -> bool:
    """Can `d` be 1 where this join runs? Not if an earlier requirement fixed it to another
    number (a linear's in-features), nor if no input size makes it 1."""
    pinned = ctx.pinned(d) if not d.is_const else None
    if pinned is not None:
        return pinned == 1
    least = None if d.is_const else least_value(d, lower_bounds(d.symbols, ctx))
    if least is not None and least > 1:
        return False  # a ViT's (H // 16) * (W // 16) + 1 tokens, once its patch conv fits
    return _may_be_one(d)


@lru_cache(maxsize=1024)
def _may_be_one(d: Dim) -> bool:
    """Can this dim be 1 for some input size? Exact for one symbol within a small budget
    (a few ms: a spec may hold thousands of such adds); otherwise assumed."""
    if d.is_const:
        return d.value == 1
    if len(d.symbols) != 1:
        return True
    from ..passes.domain import solve_one
    from ..passes.work import Unsolvable, budget

    try:
        with budget(_ONE_BUDGET):
            return not solve_one(d, 1, "eq").is_empty
    except (Unsolvable, ArithmeticError):
        return True


_ONE_BUDGET = 5_000


def lower_bounds(symbols: frozenset[str], ctx: ShapeContext) -> dict[str, int]:
    """The least value of each size the requirements so far allow (a patch conv of kernel 16
    needs H >= 16), read from the requirements on that size alone that grow with it; 1 for
    a size none bounds."""
    bounds = dict.fromkeys(symbols, 1)
    for c in ctx.in_force():
        if c.kind != "ge1" or len(c.lhs.symbols) != 1 or not c.lhs.symbols <= symbols:
            continue
        (s,) = c.lhs.symbols
        if least_value(c.lhs, {s: 1}) is None:
            continue  # not growing: its least size is not where it first holds
        low, high = 1, 1
        while c.lhs.evaluate({s: high}) < 1:
            if high > 2**40:
                break
            low, high = high + 1, high * 2
        else:
            while low < high:  # the least size where the requirement holds
                mid = (low + high) // 2
                low, high = (mid + 1, high) if c.lhs.evaluate({s: mid}) < 1 else (low, mid)
            bounds[s] = max(bounds[s], low)
    return bounds


def least_value(d: Dim, lows: Mapping[str, int]) -> int | None:
    """The least value of `d` over sizes at least `lows` when it grows with every size (its
    terms have no negative coefficient and every floor in them is of such a sum, at least 0
    at `lows`), so its value at `lows` is its least; None otherwise."""

    def grows(x: Dim) -> bool:
        for mono, coeff in x.terms:
            if coeff < 0:
                return False
            for atom in mono:
                if isinstance(atom, Floor) and not (
                    grows(atom.inner) and atom.inner.evaluate(lows) >= 0
                ):
                    return False
        return True

    return d.evaluate(lows) if grows(d) else None


def _concat_spec() -> type[LayerSpec]:
    class ConcatSpec(LayerSpec):
        """concat: joins inputs along `dim` (default 1, channels); `from: [a, b, ...]`."""

        type: Literal["concat"]
        dim: Int() = 1  # type: ignore[valid-type]

    return ConcatSpec


@register
class Concat(_FunctionOp):
    kind = "concat"
    spec = LazySpec(_concat_spec)
    style = "function"
    arity = "many"
    summary = "concatenation along a dim (Inception join)"
    category = "merge"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        if len(inputs) < 1:
            raise ShapeFailure("E401", "concat needs inputs", None)
        rank = len(inputs[0])
        dim = attrs["dim"]
        if not -rank <= dim < rank:
            raise ShapeFailure("E401", f"concat dim={dim} is out of range for rank {rank}", None)
        d = dim % rank
        first = inputs[0]
        for s in inputs:
            if len(s) != rank:
                raise ShapeFailure(
                    "E403",
                    f"concat joins inputs of different rank: {', '.join(fmt(x) for x in inputs)}",
                    None,
                )
            for i in range(rank):
                # The message names every input: only a pair that may differ gets one, and
                # it is built only if read, or a wide concat costs branches^2 shape texts.
                if i != d and s[i] != first[i]:
                    ctx.require_equal(
                        s[i],
                        first[i],
                        "E403",
                        partial(_concat_message, i, tuple(inputs)),
                        _concat_hint(i, d, rank),
                    )
        out = list(first)
        out[d] = total(s[d] for s in inputs)
        return Inferred(dict(attrs, dim=dim), tuple(out))

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import torch

        return torch.cat, {"dim": attrs["dim"]}

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"torch.cat([{', '.join(a['_inputs'])}], {lit(a['dim'])})"


#: The functions an `activation` layer (and a residual's `activation:`) may apply, each at
#: torch's defaults (leaky_relu's slope 0.01, elu's alpha 1, softplus's beta 1 and threshold
#: 20, hardtanh's [-1, 1]); prelu, which holds a weight, glu, which halves a dim, and
#: threshold, which has no defaults, are layer kinds only.
ActivationFn = Literal[
    "relu",
    "gelu",
    "silu",
    "tanh",
    "sigmoid",
    "relu6",
    "leaky_relu",
    "elu",
    "hardswish",
    "hardsigmoid",
    "mish",
    "softplus",
    "selu",
    "celu",
    "hardtanh",
    "logsigmoid",
    "softsign",
    "tanhshrink",
]
ACTIVATION_FNS: tuple[str, ...] = get_args(ActivationFn)

#: fn -> (module, name) of the torch function `compile` calls.
_ACTIVATIONS = {
    "relu": ("torch", "relu"),
    "gelu": ("torch.nn.functional", "gelu"),
    "silu": ("torch.nn.functional", "silu"),
    "tanh": ("torch", "tanh"),
    "sigmoid": ("torch", "sigmoid"),
    "relu6": ("torch.nn.functional", "relu6"),
    "leaky_relu": ("torch.nn.functional", "leaky_relu"),
    "elu": ("torch.nn.functional", "elu"),
    "hardswish": ("torch.nn.functional", "hardswish"),
    "hardsigmoid": ("torch.nn.functional", "hardsigmoid"),
    "mish": ("torch.nn.functional", "mish"),
    "softplus": ("torch.nn.functional", "softplus"),
    "selu": ("torch.nn.functional", "selu"),
    "celu": ("torch.nn.functional", "celu"),
    "hardtanh": ("torch.nn.functional", "hardtanh"),
    "logsigmoid": ("torch.nn.functional", "logsigmoid"),
    "softsign": ("torch.nn.functional", "softsign"),
    "tanhshrink": ("torch.nn.functional", "tanhshrink"),
}
#: fn -> the call emitted source writes.
_EMITTED_ACT = {
    "relu": "torch.relu",
    "gelu": "F.gelu",
    "silu": "F.silu",
    "tanh": "torch.tanh",
    "sigmoid": "torch.sigmoid",
    "relu6": "F.relu6",
    "leaky_relu": "F.leaky_relu",
    "elu": "F.elu",
    "hardswish": "F.hardswish",
    "hardsigmoid": "F.hardsigmoid",
    "mish": "F.mish",
    "softplus": "F.softplus",
    "selu": "F.selu",
    "celu": "F.celu",
    "hardtanh": "F.hardtanh",
    "logsigmoid": "F.logsigmoid",
    "softsign": "F.softsign",
    "tanhshrink": "F.tanhshrink",
}
#: fn -> the layer kind whose module, at its defaults, computes the same: emitted code
#: calls a block's `self.relu` for `relu` rather than mix it with `torch.relu`.
_MODULE_KINDS = {
    "relu": "relu",
    "gelu": "gelu",
    "silu": "silu",
    "tanh": "tanh",
    "sigmoid": "sigmoid",
    "relu6": "relu6",
    "leaky_relu": "leaky_relu",
    "elu": "elu",
    "hardswish": "hardswish",
    "hardsigmoid": "hardsigmoid",
    "mish": "mish",
    "softplus": "softplus",
    "selu": "selu",
    "celu": "celu",
    "hardtanh": "hardtanh",
    "logsigmoid": "logsigmoid",
    "softsign": "softsign",
    "tanhshrink": "tanhshrink",
}
if not set(ACTIVATION_FNS) == set(_ACTIVATIONS) == set(_EMITTED_ACT) == set(_MODULE_KINDS):
    raise TypeError("activation: every fn needs a torch function, an emitted call, a module kind")


def _activation_spec() -> type[LayerSpec]:
    class ActivationSpec(LayerSpec):
        """activation: a parameter-free function applied in forward (no submodule is created)."""

        type: Literal["activation"]
        fn: Word(ACTIVATION_FNS)  # type: ignore[valid-type]

    return ActivationSpec


@register
class Activation(_FunctionOp):
    kind = "activation"
    spec = LazySpec(_activation_spec)
    style = "function"
    summary = "activation function computed in forward (e.g. after a residual add)"
    category = "act"
    label_field = "fn"

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: ShapeContext) -> Inferred:
        return Inferred(attrs, inputs[0])

    def function(self, attrs: Mapping[str, Any]) -> tuple[Callable[..., Any], dict[str, Any]]:
        import importlib

        mod, name = _ACTIVATIONS[attrs["fn"]]
        return getattr(importlib.import_module(mod), name), {}

    def module_kind(self, attrs: Mapping[str, Any]) -> str | None:
        return _MODULE_KINDS[attrs["fn"]]

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"{_EMITTED_ACT[a['fn']]}({a['_inputs'][0]})"
