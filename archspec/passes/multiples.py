"""Dims and requirements read on the accepted inputs: where the input domain says
`H % 16 == 0`, a U-Net's `16*(H//16)` is `H`; a requirement true on every accepted input
(group_norm's `16*N*(H//4)*(W//4) - 1 >= 1`) is not worth a word of the domain."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import gcd
from typing import Any

from ..dims import Dim, Floor
from ..ops.base import Constraint
from .intset import IntSet
from .work import OutOfWork, spend


def on_multiples(d: Dim, s: str, period: int) -> Dim:
    """`d` where `s` is known to be a multiple of `period`: written with X = period * t, it
    is affine in t (a * t + rest) with `a` dividing or divided by the period, else unchanged."""
    t = "\x00t"  # no spec's symbol: a name only this function makes
    e = d.subs({s: Dim.of(t) * period})
    rest = e.subs({t: 0})
    slope = e - rest
    if t in rest.symbols or slope.subs({t: 1}) * Dim.of(t) != slope:
        return d  # not affine in t
    a = slope.subs({t: 1})
    if not a.is_const or a.value <= 0:
        return d
    x, k = Dim.of(s), a.value
    if k % period == 0:
        return x * (k // period) + rest
    if period % k == 0:
        return x.floordiv(period // k) + rest
    return d


#: Sizes a requirement is tried at, at most, to show it true on small boxes.
_MOST_POINTS = 256


def holds_everywhere(c: Constraint, boxes: Sequence[Mapping[str, IntSet]]) -> bool:
    """A requirement true on every accepted input, so not worth a word of the domain:
    `e >= 1` with `e` never decreasing in any symbol, true at each box's smallest input
    (group_norm's `16*N*(H//4)*(W//4) - 1 >= 1`); or, tried after that cheaper test, one
    true at each size of boxes that bound its sizes to a few values, whatever the others
    (MobileViT's patches: `65536*((64*N*((H + 7)//8)**2)//65536) == ...` holds for every N
    once 249 <= H <= 256)."""
    if _grows_from_true(c, boxes):
        return True
    try:
        return bool(boxes) and all(_holds_at_each_point(c, box) for box in boxes)
    except OutOfWork:  # stated, then: the words name it instead
        return False


def _grows_from_true(c: Constraint, boxes: Sequence[Mapping[str, IntSet]]) -> bool:
    """`e >= 1`, `e` non-decreasing in every symbol, and true at each box's least input."""
    if c.kind != "ge1":
        return False
    syntactic = c.lhs.is_monotone()
    for box in boxes:
        least = {s: next(iter(box[s].members(1)), 1) if s in box else 1 for s in c.lhs.symbols}
        if c.lhs.evaluate(least) < 1:
            return False
        # products grow with their factors only while no factor is negative: every floor
        # (each non-decreasing) must be >= 0 at the least input, so at every larger one
        if syntactic and _floors_non_negative(c.lhs, least):
            continue
        # a product expanded has negative terms once a factor is `h - 1` (group_norm after
        # an unpadded conv: `2*N*(h - 1)*(w - 1) - 1`); it still grows from `least`
        try:
            if not _grows_from(c.lhs, least, {}):
                return False
        except OutOfWork:
            return False
    return True


def _grows_from(e: Dim, least: Mapping[str, int], seen: dict[Dim, bool]) -> bool:
    """Whether `e` never decreases as any symbol grows from `least` (a sufficient test).

    Read as a polynomial in its atoms, each of which never decreases (a floor's inner is
    tested the same way), `e = a*Q + R` with `a` of degree one: raising `a` by d adds d*Q,
    so `e` grows with `a` where Q >= 0, which holds from `least` on when Q is >= 0 there and
    itself grows (tested the same way, on a polynomial of one atom fewer per term).
    """
    if e in seen:
        return seen[e]
    spend(e.size)
    atoms = {atom for mono, _ in e.terms for atom in mono}
    ok = True
    for a in sorted(atoms, key=lambda atom: atom.key()):
        if isinstance(a, Floor) and not _grows_from(a.inner, least, seen):
            ok = False
            break
        coeff_terms: dict[tuple[Any, ...], int] = {}
        for mono, k in e.terms:
            n = mono.count(a)
            if n > 1:  # a square: its steps grow with it, beyond this test
                ok = False
                break
            if n == 1:
                rest = tuple(x for x in mono if x != a)
                coeff_terms[rest] = coeff_terms.get(rest, 0) + k
        if not ok:
            break
        const = coeff_terms.pop((), 0)
        q = Dim(coeff_terms, const)
        if q.evaluate(least) < 0 or (not q.is_const and not _grows_from(q, least, seen)):
            ok = False
            break
    seen[e] = ok
    return ok


def _floors_non_negative(e: Dim, env: Mapping[str, int]) -> bool:
    for mono, _ in e.terms:
        for atom in mono:
            if isinstance(atom, Floor) and (
                atom.inner.floordiv(atom.divisor).evaluate(env) < 0
                or not _floors_non_negative(atom.inner, env)
            ):
                return False
    return True


def _holds_at_each_point(c: Constraint, box: Mapping[str, IntSet]) -> bool:
    """Whether `c` is an identity at each combination of the values the box leaves its
    bounded symbols (the others, such as the batch N, stay symbols): False when there are
    none, or too many to try."""
    symbols = c.lhs.symbols | (c.rhs.symbols if c.rhs is not None else frozenset())
    finite = sorted(s for s in symbols if s in box and box[s].is_finite)
    if not finite:
        return False
    points: list[dict[str, int | Dim]] = [{}]
    for s in finite:
        values = list(box[s].members(_MOST_POINTS + 1))
        if not values or len(points) * len(values) > _MOST_POINTS:
            return False
        points = [{**p, s: v} for p in points for v in values]
    spend(len(points) * (c.lhs.size + (c.rhs.size if c.rhs is not None else 0)))
    for env in points:
        lhs = c.lhs.subs(env)
        if c.kind == "ge1":
            if not (lhs.is_const and lhs.value >= 1):
                return False
        elif c.rhs is None or (lhs != c.rhs.subs(env) and not (c.kind == "eq_or1" and lhs == 1)):
            return False
    return True


def never_holds(c: Constraint, boxes: Sequence[Mapping[str, IntSet]]) -> bool:
    """A requirement the solver keeps as stated that no input of the boxes meets: `e1 == e2`
    with one side above the other from each box's least input on (an `add` of a flattened
    map's L and L // 4: `(H*W + 2*H)//4 + W + H + 6 == (H + 4)*(W + 6)`), or `e >= 1` with
    `e` at most 0 there. Then no input works, which check reports (E410) instead of stating
    an equation nothing solves."""
    if not boxes or c.kind == "eq_or1":  # either case may hold: kept as stated
        return False
    if c.kind == "ge1":
        sides = [1 - c.lhs]
    else:
        assert c.rhs is not None
        sides = [c.lhs - c.rhs, c.rhs - c.lhs]
    try:
        return any(all(_positive_from(d, box) for box in boxes) for d in sides)
    except OutOfWork:
        return False


def _positive_from(e: Dim, box: Mapping[str, IntSet]) -> bool:
    """`e >= 1` at every input of the box: a floor that counts negatively taken at its
    largest, inner / q, gives r <= M*e (M the common multiple of those divisors); r >= 1 at
    the box's least input and growing from there makes the integer e positive everywhere."""
    least = {s: next(iter(box[s].members(1)), 1) if s in box else 1 for s in e.symbols}
    _, relaxed = _relax_negative_floors(e)
    if relaxed is None:
        return False
    return relaxed.evaluate(least) >= 1 and _grows_from(relaxed, least, {})


def _relax_negative_floors(e: Dim) -> tuple[int, Dim | None]:
    """(M, r) with M * e >= r for every input: each term `k * (x // q)` with k < 0 is replaced
    by `k * M / q * x` (x // q <= x / q); None when a negative floor multiplies other atoms."""
    divisors = []
    for mono, k in e.terms:
        if k < 0 and any(isinstance(a, Floor) for a in mono):
            if len(mono) != 1:
                return 1, None
            divisors.append(mono[0].divisor)  # type: ignore[union-attr]
    if not divisors:
        return 1, e
    scale = 1
    for q in divisors:
        scale = scale * q // gcd(scale, q)
    out = Dim.of(e.const * scale)
    for mono, k in e.terms:
        if k < 0 and isinstance(mono[0], Floor):
            atom = mono[0]
            out = out + atom.inner * (k * (scale // atom.divisor))
        else:
            out = out + Dim({mono: k * scale})
    return scale, out
