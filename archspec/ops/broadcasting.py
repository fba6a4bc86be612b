"""Broadcasting of elementwise joins (add, sub, mul, div, the products): torch aligns the
inputs' shapes from the right, and each pair of dims must be equal or one of them 1. A pair
equal only for some input sizes is a requirement of the input domain; a side that is 1 for
some sizes only is an either-or the domain states as its two cases (`eq_or1`); where both
sides may be 1 the result's size depends on which, which no shape of the node can state.
"""

from collections.abc import Mapping, Sequence
from functools import lru_cache, partial

from ..dims import Dim, Floor, Shape
from ..lazymethods import dataclass
from .base import ShapeContext, ShapeFailure, fmt


@dataclass(frozen=True)
class _Join:
    """What an elementwise join's broadcasting errors say: its kind, sign and fix."""

    kind: str
    sign: str
    hint: str
    #: the dims joined are a product's batch dims, not a map's: no channels, its own hint
    batch: bool = False


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


def _joined(join: _Join, inputs: Sequence[Shape]) -> str:
    """The inputs' shapes joined by the join's sign (`a + b`), or listed (`a, b`: matmul's)."""
    return (", " if join.sign == "," else f" {join.sign} ").join(map(fmt, inputs))


def _join_message(join: _Join, what: str, inputs: tuple[Shape, ...]) -> str:
    shapes = _joined(join, inputs)
    return f"{join.kind} joins inputs whose {what} differ: {{a}} vs {{b}} ({shapes})"


_AMBIGUOUS_HINT = (
    "declare a concrete size in the spec's `input:` (`--input` then checks other sizes; with a "
    "symbolic `input:` it does not lift this error), or make both sides the same size (inputs "
    "of several, `inputs:`, of one size give it one symbol: `N` in each)"
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
            what = "channels" if i == 1 and n >= 4 and not join.batch else f"dim {i}"
            hint = (
                join.hint
                if join.batch
                else _FEATURES_HINT
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
    shapes = _joined(join, inputs)
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
    shapes = _joined(join, inputs)
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
