"""The exact set of input sizes a network accepts, solved from its shape constraints.

Shape checking (passes/shapes.py) leaves requirements on the input symbols: `e(H) >= 1` for
every conv/pool extent, `e(H) == v` where a linear layer fixes its features, `e1(H) == e2(H)`
where a residual adds or a concat joins, `C * h(H) * w(W) == F` after a flatten. Each is
solved exactly, never by sampling:

* a monotone one-symbol expression is solved by binary search on `Dim.evaluate` (a threshold
  `H >= 32` or an interval `32 <= H <= 35`);
* any other one-symbol expression is quasi-affine: with P the lcm of its (nested) divisors,
  `e(r + P*t) = e(r) + s*t` for every residue r, so each residue class is solved in closed form;
* a product `f1(H) * f2(W) * c == F` is split over every ordered factorisation of F / c
  (F factorised by `passes/primes.py`, not by trial division).

The answer is a union of boxes (one `IntSet` per symbol) in words, e.g. "H, W >= 32". A rare
constraint outside these shapes (two symbols joined by something other than a product), or
one the solve has no budget left for (`passes/work.py`: a spec's values can make any of these
steps long), is kept as stated: membership stays exact, only the words name it instead of
solving it.

>>> from archspec.dims import Dim
>>> H = Dim.of("H")
>>> solve_one(((H - 12).floordiv(4)), 5, "eq").describe("H")
'32 <= H <= 35'
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from math import gcd, lcm
from typing import Literal

from ..dims import Dim, Floor, Sym
from ..lazymethods import dataclass
from ..ops.base import Constraint
from .intset import EMPTY, EVERYTHING, MAX_PERIOD, MAX_PIECES, SEARCH_CAP, IntSet
from .multiples import holds_everywhere, never_holds, on_multiples
from .primes import ordered_factorisations
from .work import WORK, OutOfWork, Unsolvable, budget, left, spend

__all__ = [
    "EMPTY",
    "EVERYTHING",
    "MAX_PERIOD",
    "MAX_PIECES",
    "Domain",
    "IntSet",
    "Requirement",
    "alternatives",
    "first_emptying",
    "period_and_step",
    "solve_domain",
    "solve_one",
]

#: A product constraint with more factorisations than this is kept unsolved.
MAX_FACTORISATIONS = 4096
#: A union with more boxes than this is kept as unsolved constraints instead.
MAX_BOXES = 512
#: Requirements kept as stated that the words name one by one; the rest are counted.
_SHOWN_UNSOLVED = 5

_Unsolvable = Unsolvable


# --------------------------------------------------------------------------------------
# One-symbol constraints.


def _degree_one(e: Dim) -> bool:
    return all(len(mono) == 1 for mono, _ in e.terms)


def solve_one(e: Dim, v: int, op: Literal["ge", "eq"]) -> IntSet:
    """{X >= 1 : e(X) >= v} or {X >= 1 : e(X) == v} for a one-symbol expression e, exactly."""
    (name,) = e.symbols
    if _degree_one(e) and e.is_monotone():
        return _solve_monotone(e, name, v, op)
    return _solve_residues(e, name, v, op)


def _solve_monotone(e: Dim, name: str, v: int, op: str) -> IntSet:
    """Binary search: e never decreases as X grows, so the answer is a threshold or interval."""
    cost = e.size

    def at(x: int) -> int:
        spend(cost)
        return e.evaluate({name: x})

    try:  # e(1 + P*t) == e(1) + s*t: brackets the answer within one period
        period, step = period_and_step(e, name)
    except Unsolvable:
        period, step = 0, 0

    def first(target: int) -> int | None:
        e1 = at(1)
        if e1 >= target:
            return 1
        if step > 0:
            t = -((e1 - target) // step)  # the smallest t >= 1 with e(1 + P*t) >= target
            lo, hi = 1 + period * (t - 1), 1 + period * t
            if hi > SEARCH_CAP:
                return None
        else:
            lo, hi = 1, 2
            while at(hi) < target:
                lo, hi = hi, hi * 2
                if hi > SEARCH_CAP:
                    return None
        while hi - lo > 1:  # e(lo) < target <= e(hi)
            mid = (lo + hi) // 2
            if at(mid) >= target:
                hi = mid
            else:
                lo = mid
        return hi

    lo = first(v)
    if lo is None:
        return EMPTY
    if op == "ge":
        return IntSet.at_least(lo)
    if at(lo) != v:
        return EMPTY
    past = first(v + 1)
    return IntSet.at_least(lo) if past is None else IntSet.interval(lo, past - 1)


def period_and_step(e: Dim, name: str) -> tuple[int, int]:
    """(P, s) with e(X + P) == e(X) + s for every integer X; _Unsolvable if there is none."""
    period, step = 1, 0
    parts: list[tuple[int, int, int]] = []  # (coefficient, atom period, atom step)
    for mono, coeff in e.terms:
        moving = [a for a in mono if name in _atom_symbols(a)]
        if len(moving) != 1 or len(mono) != 1:
            raise _Unsolvable(f"{e} is not quasi-affine in {name}")
        p, s = _atom_period(mono[0], name)
        parts.append((coeff, p, s))
        period = lcm(period, p)
        if period > MAX_PERIOD:
            raise _Unsolvable(f"the period of {e} is too large")
    for coeff, p, s in parts:
        step += coeff * s * (period // p)
    return period, step


def _atom_symbols(atom: Sym | Floor) -> frozenset[str]:
    return frozenset({atom.name}) if isinstance(atom, Sym) else atom.inner.symbols


def _atom_period(atom: Sym | Floor, name: str) -> tuple[int, int]:
    if isinstance(atom, Sym):
        return 1, 1
    p, s = period_and_step(atom.inner, name)
    k = atom.divisor // gcd(s, atom.divisor) if s else 1
    return p * k, (s * k) // atom.divisor


def _solve_residues(e: Dim, name: str, v: int, op: str) -> IntSet:
    """Per residue class X = r + P*t (t >= 0), e is affine in t: solve each in closed form."""
    period, step = period_and_step(e, name)
    spend(period * e.size)
    tails: dict[int, int] = {}
    points: list[int] = []
    capped: list[tuple[int, int]] = []
    for r in range(1, period + 1):
        base = e.evaluate({name: r}) - v
        if op == "eq":
            if step == 0:
                if base == 0:
                    tails[r % period] = r
            elif (-base) % step == 0 and -base // step >= 0:
                points.append(r + period * (-base // step))
        elif step > 0:
            t0 = max(0, _ceil_div(-base, step))  # smallest t with base + s*t >= 0
            tails[r % period] = r + period * t0
        elif step == 0:
            if base >= 0:
                tails[r % period] = r
        elif period == 1:  # affine and decreasing: one interval, however long
            t1 = base // (-step)
            if t1 >= 0:
                capped.append((r, r + t1))
        else:
            t1 = base // (-step)  # largest t with base + s*t >= 0
            if len(points) + t1 + 1 > MAX_PIECES:
                raise _Unsolvable(f"{e} >= {v} holds at too many points to list")
            spend(t1 // 4 + 1)
            points.extend(r + period * t for t in range(t1 + 1))
    out = IntSet.from_classes(period, tails, points)
    for lo, hi in capped:
        out = out | IntSet.interval(lo, hi)
    return out


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


# --------------------------------------------------------------------------------------
# Boxes and the domain.

Box = dict[str, IntSet]


def _intersect_box(a: Mapping[str, IntSet], b: Mapping[str, IntSet]) -> Box | None:
    spend(len(a) + len(b))
    out = dict(a)
    for name, s in b.items():
        out[name] = out[name] & s if name in out else s
        if out[name].is_empty:
            return None
    return out


def _factor_list(d: Dim) -> list[Dim] | None:
    """The factors of a product: remembered by dims.product, or the atoms of one monomial.

    A factor over several symbols is split the same way where it is itself a product (a
    flatten of (N, C, H*W) after a flatten of the map: `16*(H*W)`), so that each factor
    the solver splits the target over has one symbol.
    """
    factors = d.__dict__.get("factors")
    if factors:
        out: list[Dim] = []
        for f in factors:
            inner = _factor_list(f) if len(f.symbols) > 1 else None
            out.extend(inner if inner is not None else [f])
        return out
    if d.terms_count == 1 and d.const == 0:
        ((mono, coeff),) = d.terms
        return [Dim.of(coeff), *(Dim({(a,): 1}) for a in mono)]
    return None


@dataclass(frozen=True)
class Requirement:
    """A constraint to solve, in the normal form `lhs == rhs` or `lhs >= 1`."""

    constraint: Constraint

    @property
    def symbols(self) -> frozenset[str]:
        c = self.constraint
        return c.lhs.symbols | (c.rhs.symbols if c.rhs is not None else frozenset())

    def holds(self, env: Mapping[str, int]) -> bool:
        c = self.constraint
        if c.kind == "ge1":
            return c.lhs.evaluate(env) >= 1
        assert c.rhs is not None
        lhs = c.lhs.evaluate(env)
        return lhs == c.rhs.evaluate(env) or (c.kind == "eq_or1" and lhs == 1)

    def text(self) -> str:
        c = self.constraint
        if c.kind == "ge1":  # `H*N*W - 1 >= 1` (group_norm) reads `H*N*W >= 2`
            k = c.lhs.const if not c.lhs.is_const and not _factors_of(c.lhs) else 0
            return f"{c.lhs - k} >= {1 - k}"
        assert c.rhs is not None
        lhs, rhs = c.lhs, c.rhs
        # a number on both sides says nothing: `W + 6 == H + 6` (a grid partition of a
        # padded map) reads `W == H`, and `W + 2 == H - 2` reads `W == H - 4`; a remembered
        # product keeps its factored words instead
        if c.kind == "eq_or1":
            return f"{lhs} == {rhs} or {lhs} == 1"
        if lhs.const and not rhs.is_const and not (_factors_of(lhs) or _factors_of(rhs)):
            lhs, rhs = lhs - lhs.const, rhs - lhs.const
        return f"{lhs} == {rhs}"


def alternatives(c: Constraint) -> list[Box]:
    """The constraint as a union of boxes over its symbols; _Unsolvable if out of reach."""
    if c.kind == "eq_or1":  # either case: the union of the inputs each takes
        assert c.rhs is not None
        equal = Constraint("eq", c.lhs, c.rhs, c.code, c.message, c.hint, c.node)
        one = Constraint("eq", c.lhs, Dim.of(1), c.code, c.message, c.hint, c.node)
        return alternatives(equal) + alternatives(one)
    if c.kind == "ge1":
        e, v, op = c.lhs, 1, "ge"
    else:
        assert c.rhs is not None
        lhs, rhs = c.lhs, c.rhs
        if lhs.is_const:
            lhs, rhs = rhs, lhs
        if rhs.is_const:
            e, v, op = lhs, rhs.value, "eq"
        else:
            e, v, op = lhs - rhs, 0, "eq"
    syms = e.symbols
    if not syms:
        ok = e.value >= v if op == "ge" else e.value == v
        return [{}] if ok else []
    if len(syms) == 1:
        (name,) = syms
        return [{name: solve_one(e, v, op)}]  # type: ignore[arg-type]
    if op == "eq":
        # a product plus a number (a ViT's patches and its class token, `(H//16)*(W//16) + 1
        # == 197`) is the product equal to what is left
        factors = _factor_list(e)
        if factors is not None:
            return _solve_product(factors, v)
        shift = e.const
        factors = _factor_list(e - shift) if shift else None
        if factors is not None:
            return _solve_product(factors, v - shift)
    raise _Unsolvable(f"{e} mixes symbols")


def _solve_product(factors: Sequence[Dim], v: int) -> list[Box]:
    """prod(factors) == v with every factor a positive tensor extent: split v over them."""
    const = 1
    moving: list[Dim] = []
    for f in factors:
        if f.is_const:
            const *= f.value
        elif len(f.symbols) == 1:
            moving.append(f)
        else:
            raise _Unsolvable("a factor mixes symbols")
    if const <= 0 or v <= 0 or v % const:
        return []
    target = v // const
    cache: dict[tuple[int, int], IntSet] = {}
    out: list[Box] = []
    for split in ordered_factorisations(target, len(moving), MAX_FACTORISATIONS):
        box: Box | None = {}
        for i, (f, d) in enumerate(zip(moving, split)):
            if (i, d) not in cache:
                cache[(i, d)] = solve_one(f, d, "eq")
            (name,) = f.symbols
            box = _intersect_box(box, {name: cache[(i, d)]}) if box is not None else None
        if box is not None:
            out.append(box)
    return out


@dataclass(frozen=True)
class Domain:
    """The inputs a network accepts: a union of boxes over `symbols`, and any unsolved rest."""

    symbols: tuple[str, ...]
    boxes: tuple[Mapping[str, IntSet], ...]
    unsolved: tuple[Requirement, ...] = ()
    #: symbols always named in words (spatial dims); the others only when constrained
    shown: tuple[str, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not self.boxes

    @property
    def exact(self) -> bool:
        """True when the words are a closed form (membership is exact either way)."""
        return not self.unsolved

    def contains(self, env: Mapping[str, int]) -> bool:
        """Is this input accepted? Symbols left out of `env` may take any accepted value."""
        in_box = any(all(env[s] in box[s] for s in self.symbols if s in env) for box in self.boxes)
        bound = [r for r in self.unsolved if r.symbols <= env.keys()]
        return in_box and all(r.holds(env) for r in bound)

    def examples(self, per_box: int = 2) -> list[dict[str, int]]:
        """A few members of each box (smallest first), for tests and messages."""
        out: list[dict[str, int]] = []
        for box in self.boxes:
            picks = {s: list(box[s].members(per_box)) for s in self.symbols}
            for i in range(per_box):
                env = {s: vals[min(i, len(vals) - 1)] for s, vals in picks.items()}
                if env not in out and self.contains(env):
                    out.append(env)
        return out

    def box_texts(self) -> list[str]:
        """One phrase per box, e.g. `32 <= H <= 35 and 32 <= W <= 35`."""
        return [self._describe_box(box) for box in self.boxes]

    def describe(self, limit: int | None = None) -> str:
        """The domain in words: `H, W >= 32`, or boxes joined by "or" (the first `limit`)."""
        if not self.boxes:
            return "no input size"
        texts = self.box_texts()
        more = len(texts) - limit if limit is not None and len(texts) > limit else 0
        if more:
            texts = texts[:limit]
        text = "; or ".join(texts) if any(" or " in t for t in texts) else ", or ".join(texts)
        if more:
            text += f" (or {more} more size range{'s' if more > 1 else ''}: see `archspec check`)"
        if self.unsolved:
            text += ", where also " + self.also_text(_SHOWN_UNSOLVED)
        return text

    def also_text(self, limit: int | None = None) -> str:
        """The unsolved requirements joined by "and", one with an "or" in brackets, so the
        words read as torch's condition (`(H4 == 2*H5 or H4 == 1) and ...`)."""
        shown = [r.text() for r in self.unsolved[:limit]]
        if len(shown) > 1:
            shown = [f"({t})" if " or " in t else t for t in shown]
        rest = len(self.unsolved) - len(shown)
        if rest:  # every one would be pages of text when the budget ran out early
            shown.append(f"{rest:,} more requirement{'s' if rest > 1 else ''}")
        return " and ".join(shown)

    def simplify(self, d: Dim) -> Dim:
        """`d` as it reads on the inputs accepted: where every accepted X is a multiple of P
        (a U-Net's `H % 16 == 0`), `16*(H//16)` is `H` and `2*(H//16)` is `H//8`. A dim that
        does not become simpler that way is returned as it is."""
        if len(self.boxes) != 1 or self.unsolved or d.is_const:
            return d
        box = self.boxes[0]
        out = d
        for s in sorted(d.symbols):
            iset = box.get(s)
            if iset is None or iset.below or iset.residues != frozenset({0}) or iset.period < 2:
                continue
            out = on_multiples(out, s, iset.period)
        return out if out.size <= d.size else d

    def _describe_box(self, box: Mapping[str, IntSet]) -> str:
        groups: list[tuple[list[str], IntSet]] = []
        for s in self.symbols:
            if box[s].is_everything and s not in self.shown:
                continue
            for names, iset in groups:
                if iset == box[s] and not iset.below and len(iset.residues) == iset.period:
                    names.append(s)
                    break
            else:
                groups.append(([s], box[s]))
        if not groups:
            return "any size"
        parts = []
        for names, iset in groups:
            clauses = iset.clauses(", ".join(names))
            text = " or ".join(clauses) or f"no value of {', '.join(names)}"
            parts.append(f"({text})" if len(clauses) > 1 and len(groups) > 1 else text)
        return " and ".join(parts)


def _merge_boxes(boxes: list[Box], symbols: Sequence[str]) -> list[Box]:
    """Join boxes that differ in one symbol only, until none do; then sort them.

    Boxes equal outside symbol s are grouped by those other sets (a dict, not a pairwise
    scan), so a pass costs O(boxes * symbols); a union too irregular to list stays split.
    """
    changed = True
    while changed and len(boxes) > 1:
        changed = False
        for s in symbols:
            groups: dict[tuple[IntSet, ...], list[Box]] = {}
            for b in boxes:
                groups.setdefault(tuple(b[t] for t in symbols if t != s), []).append(b)
            spend(len(boxes) * len(symbols))
            if len(groups) == len(boxes):
                continue
            out: list[Box] = []
            for group in groups.values():
                merged = dict(group[0])
                for other in group[1:]:
                    try:
                        merged[s] = merged[s] | other[s]
                    except Unsolvable:  # too irregular to print as one set: keep both
                        out.append(other)
                    else:
                        changed = True
                out.append(merged)
            boxes = out
    return sorted(boxes, key=lambda b: tuple(b[s].min() or 0 for s in symbols))


#: Solved constraints, keyed by (kind, lhs, rhs): the solution (None when out of reach) and
#: the work it cost, charged again on every use so that a solve gives the same answer
#: whether or not the cache holds its constraints (compile and the error hint solve twice).
_SOLVED: dict[tuple[object, ...], tuple[tuple[Box, ...] | None, int]] = {}
_SOLVED_SIZE = 1024
#: Solutions listing more intervals than this are not kept (the cache stays small).
_SOLVED_PIECES = 4096


def _solved(c: Constraint) -> tuple[Box, ...]:
    """alternatives(c) within the active budget, remembered across solves."""
    # a product's remembered factors decide how it is split, and equal Dims may differ there
    key = (c.kind, c.lhs, c.rhs, _factors_of(c.lhs), _factors_of(c.rhs))
    hit = _SOLVED.get(key)
    if hit is not None:
        alts, cost = hit
        spend(cost)
        if alts is None:
            raise Unsolvable("out of reach (remembered)")
        return alts
    before = left() or 0
    try:
        solved: tuple[Box, ...] | None = tuple(alternatives(c))
    except OutOfWork:
        raise
    except Unsolvable:
        solved = None
    cost = before - (left() or 0)
    pieces = sum(len(s.below) for b in solved or () for s in b.values())
    if pieces <= _SOLVED_PIECES:
        if len(_SOLVED) >= _SOLVED_SIZE:
            _SOLVED.clear()
        _SOLVED[key] = (solved, cost)
    if solved is None:
        raise Unsolvable("out of reach")
    return solved


def _factors_of(d: Dim | None) -> object:
    return None if d is None else d.__dict__.get("factors")


class _Solve:
    """The running intersection of constraints: one base box, then unions of boxes."""

    def __init__(self, symbols: Sequence[str]) -> None:
        self.symbols = tuple(symbols)
        self.boxes: list[Box] = [{s: EVERYTHING for s in symbols}]
        self.unsolved: list[Requirement] = []
        self.seen: set[tuple[object, ...]] = set()

    def add(self, c: Constraint, unions: list[tuple[Constraint, tuple[Box, ...]]] | None) -> None:
        """Intersect with c now, or (given `unions`) keep c there if it has several cases."""
        key = (c.kind, c.lhs, c.rhs)
        if key in self.seen:  # a stage's extent is required positive by every layer reading it
            return
        self.seen.add(key)
        try:
            alts = _solved(c)
        except Unsolvable:  # out of the solver's reach: kept as stated, still exact to test
            if never_holds(c, self.boxes):  # unless no input meets it: then none is left
                self.boxes = []
                return
            self.unsolved.append(Requirement(c))
            return
        if len(alts) == 1 or unions is None:
            self.intersect(c, alts)
        else:
            unions.append((c, alts))

    def intersect(self, c: Constraint, alts: Sequence[Box]) -> None:
        if not self.boxes:
            return
        try:
            spend(len(self.boxes) * len(alts))
            nxt = [m for b in self.boxes for a in alts if (m := _intersect_box(b, a)) is not None]
            if len(nxt) > MAX_BOXES:
                raise Unsolvable("too many cases to list")
            self.boxes = _merge_boxes(nxt, self.symbols) if len(alts) > 1 else nxt
        except Unsolvable:
            self.unsolved.append(Requirement(c))


def solve_domain(
    constraints: Sequence[Constraint],
    symbols: Sequence[str],
    shown: Sequence[str] = (),
    prefer: Mapping[str, int] | None = None,
) -> Domain:
    """Solve every constraint over positive `symbols`; boxes holding `prefer` come first.

    Constraints with one case narrow a single box first, then those with several cases
    split it; the work is bounded by `passes/work.py`'s budget, past which the remaining
    constraints are kept as stated.
    """
    solve = _Solve(symbols)
    unions: list[tuple[Constraint, tuple[Box, ...]]] = []
    with budget():
        for c in constraints:
            solve.add(c, unions)
            if not solve.boxes:
                break
        for c, alts in unions:
            solve.intersect(c, alts)
    boxes = solve.boxes
    if prefer:
        boxes.sort(key=lambda b: not all(v in b[s] for s, v in prefer.items() if s in b))
    with budget(WORK // 4):  # trying requirements at the sizes of small boxes is bounded
        unsolved = [r for r in solve.unsolved if not holds_everywhere(r.constraint, boxes)]
    return Domain(tuple(symbols), tuple(boxes), tuple(unsolved), tuple(shown))


def first_emptying(constraints: Sequence[Constraint], symbols: Sequence[str]) -> int | None:
    """The index of the constraint after which no input is left, in one pass in order.

    None when the constraints, taken in order, leave some input (or the budget ran out
    before the last one did not).
    """
    solve = _Solve(symbols)
    with budget():
        for i, c in enumerate(constraints):
            solve.add(c, None)
            if not solve.boxes:
                return i
    return None
