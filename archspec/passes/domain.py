"""The exact set of input sizes a network accepts, solved from its shape constraints.

Shape checking (passes/shapes.py) leaves requirements on the input symbols: `e(H) >= 1` for
every conv/pool extent, `e(H) == v` where a linear layer fixes its features, `e1(H) == e2(H)`
where a residual adds or a concat joins, `C * h(H) * w(W) == F` after a flatten. Each is
solved exactly, never by sampling:

* a monotone one-symbol expression is solved by binary search on `Dim.evaluate` (a threshold
  `H >= 32` or an interval `32 <= H <= 35`);
* any other one-symbol expression is quasi-affine: with P the lcm of its (nested) divisors,
  `e(r + P*t) = e(r) + s*t` for every residue r, so each residue class is solved in closed form;
* a product `f1(H) * f2(W) * c == F` is split over every ordered factorisation of F / c.

The answer is a union of boxes (one `IntSet` per symbol) in words, e.g. "H, W >= 32". A rare
constraint outside these shapes (two symbols joined by something other than a product) is kept
as stated: membership stays exact, only the words name it instead of solving it.

>>> from archspec.dims import Dim
>>> H = Dim.of("H")
>>> solve_one(((H - 12).floordiv(4)), 5, "eq").describe("H")
'32 <= H <= 35'
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from math import gcd, lcm
from typing import Literal

from ..dims import Dim, Floor, Sym
from ..ops.base import Constraint

#: Residue analysis refuses periods beyond this (a network with a total stride this large).
MAX_PERIOD = 1 << 16
#: A product constraint with more factorisations than this is kept unsolved.
MAX_FACTORISATIONS = 4096
#: A union with more boxes than this is kept as unsolved constraints instead.
MAX_BOXES = 512
#: A set listed as more intervals than this is out of reach (kept as stated instead).
MAX_PIECES = 1 << 16
_SEARCH_CAP = 1 << 62

Interval = tuple[int, int]


# --------------------------------------------------------------------------------------
# Exact sets of positive integers.


@dataclass(frozen=True)
class IntSet:
    """Positive integers: finite intervals below `start`, then `x % period in residues`.

    Always kept canonical (smallest period, then smallest start), so two equal sets compare
    equal and print the same way.
    """

    below: tuple[Interval, ...]
    start: int
    period: int
    residues: frozenset[int]

    # construction -----------------------------------------------------------------
    @staticmethod
    def at_least(lo: int) -> IntSet:
        return _canon((), max(lo, 1), 1, frozenset({0}))

    @staticmethod
    def interval(lo: int, hi: int) -> IntSet:
        lo = max(lo, 1)
        if hi < lo:
            return EMPTY
        return _canon(((lo, hi),), hi + 1, 1, frozenset())

    @staticmethod
    def from_classes(period: int, tails: Mapping[int, int], points: Iterable[int]) -> IntSet:
        """`tails` maps a residue to the first member of its unbounded class; plus points."""
        pts = {p for p in points if p >= 1}
        if tails:
            start = max(tails.values())
            residues = frozenset(x0 % period for x0 in tails.values())
            for x0 in tails.values():
                pts.update(range(x0, start, period))
        else:
            start = max(pts, default=0) + 1
            residues = frozenset()
        return _canon(_intervals(sorted(p for p in pts if p < start)), start, period, residues)

    # queries -----------------------------------------------------------------------
    def __contains__(self, x: object) -> bool:
        if not isinstance(x, int) or x < 1:
            return False
        if x >= self.start:
            return x % self.period in self.residues
        i = bisect.bisect_right(self.below, (x, _SEARCH_CAP)) - 1
        return i >= 0 and self.below[i][0] <= x <= self.below[i][1]

    @property
    def is_empty(self) -> bool:
        return not self.below and not self.residues

    @property
    def is_everything(self) -> bool:
        return self.start == 1 and len(self.residues) == self.period

    @property
    def is_threshold(self) -> bool:
        """`X >= start` and nothing else."""
        return not self.below and self.period == 1 and bool(self.residues)

    @property
    def is_finite(self) -> bool:
        return not self.residues

    def members(self, limit: int) -> Iterator[int]:
        """The smallest members, at most `limit` of them."""
        n = 0
        for lo, hi in self.below:
            for x in range(lo, hi + 1):
                if n == limit:
                    return
                yield x
                n += 1
        if not self.residues:
            return
        x = self.start
        while n < limit:
            if x % self.period in self.residues:
                yield x
                n += 1
            x += 1

    def min(self) -> int | None:
        return next(self.members(1), None)

    def max(self) -> int | None:
        """The largest member, or None if empty or unbounded."""
        if self.residues:
            return None
        return self.below[-1][1] if self.below else None

    def pieces(self, hi: int, lo: int = 1) -> list[Interval]:
        """The members from `lo` to `hi` as sorted disjoint intervals.

        _Unsolvable when the periodic tail would give more than MAX_PIECES of them: sizes
        can be astronomically large (a spec may allow H up to 10^10), and an enumeration
        must not stand in for the exact answer there.
        """
        out = [(max(a, lo), min(b, hi)) for a, b in self.below if a <= hi and b >= lo]
        first = max(self.start, lo)
        if len(self.residues) == self.period and hi >= first:
            out.append((first, hi))  # a full tail (`X >= k`) is one interval
        elif self.residues and hi >= first:
            runs = _runs(self.residues, self.period)
            block = first // self.period
            if (hi // self.period - block + 1) * len(runs) > MAX_PIECES:
                raise _Unsolvable("the set has too many pieces to list")
            while block * self.period <= hi:
                base = block * self.period
                for r_lo, r_hi in runs:
                    a, h = max(base + r_lo, first), min(base + r_hi, hi)
                    if a <= h:
                        out.append((a, h))
                block += 1
        return _merge(out)

    # algebra -----------------------------------------------------------------------
    def __and__(self, other: IntSet) -> IntSet:
        return _combine(self, other, both=True)

    def __or__(self, other: IntSet) -> IntSet:
        return _combine(self, other, both=False)

    # words ---------------------------------------------------------------------------
    def clauses(self, name: str) -> list[str]:
        """One phrase per interval or tail, to be joined by "or"."""
        out = [f"{name} = {lo}" if lo == hi else f"{lo} <= {name} <= {hi}" for lo, hi in self.below]
        if self.residues:
            tail = f"{name} >= {self.start}"
            if len(self.residues) < self.period:
                rs = sorted(self.residues)
                cond = (
                    f"{name} % {self.period} == {rs[0]}"
                    if len(rs) == 1
                    else f"{name} % {self.period} in {{{', '.join(map(str, rs))}}}"
                )
                # the bound says nothing when no member of these classes lies below it
                bounded = any((r or self.period) < self.start for r in rs)
                first = next(x for x in range(self.start, _SEARCH_CAP) if x % self.period in rs)
                if self.period == 2:  # one class of two: say it in words
                    word = "odd" if rs == [1] else "even"
                    tail = f"{word} {name} >= {first}" if bounded else f"{word} {name}"
                else:
                    tail = f"{name} >= {first} with {cond}" if bounded else cond
            out.append(tail)
        return out

    def describe(self, name: str) -> str:
        return " or ".join(self.clauses(name)) or f"no value of {name}"


def _intervals(sorted_points: Sequence[int]) -> tuple[Interval, ...]:
    out: list[Interval] = []
    for p in sorted_points:
        if out and p <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], p))
        else:
            out.append((p, p))
    return tuple(out)


def _merge(intervals: Iterable[Interval]) -> list[Interval]:
    out: list[Interval] = []
    for lo, hi in sorted(intervals):
        if out and lo <= out[-1][1] + 1:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


def _runs(residues: frozenset[int], period: int) -> list[Interval]:
    return _merge((r, r) for r in residues if 0 <= r < period)


def _intersect(a: Sequence[Interval], b: Sequence[Interval]) -> list[Interval]:
    out: list[Interval] = []
    i = j = 0
    while i < len(a) and j < len(b):
        lo, hi = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if lo <= hi:
            out.append((lo, hi))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def _combine(a: IntSet, b: IntSet, both: bool) -> IntSet:
    if a.is_threshold and b.is_threshold:  # the common case: two `X >= k`
        return IntSet.at_least(max(a.start, b.start) if both else min(a.start, b.start))
    period = lcm(a.period, b.period)
    if period > MAX_PERIOD:
        raise _Unsolvable("the period of the combined sets is too large")
    start = max(a.start, b.start)
    residues = frozenset(
        r
        for r in range(period)
        if (
            ((r % a.period) in a.residues and (r % b.period) in b.residues)
            if both
            else ((r % a.period) in a.residues or (r % b.period) in b.residues)
        )
    )
    if both:
        # The set that starts later has few members below `start` (its `below` only, or
        # none): list those first, then the other set's only within their span.
        late, early = (a, b) if a.start >= b.start else (b, a)
        pl = late.pieces(start - 1)
        pe = early.pieces(pl[-1][1], pl[0][0]) if pl else []
        below = _intersect(pl, pe)
    else:
        below = _merge([*a.pieces(start - 1), *b.pieces(start - 1)])
    return _canon(tuple(below), start, period, residues)


def _canon(
    below: tuple[Interval, ...], start: int, period: int, residues: frozenset[int]
) -> IntSet:
    """Smallest period, then pull `start` down while the periodic rule already holds."""
    if not residues:
        below = tuple(below)
        return IntSet(below, (below[-1][1] + 1) if below else 1, 1, frozenset())
    for p in _divisors(period):
        reduced = frozenset(r % p for r in residues)
        if p < period and all(((r % p) in reduced) == (r in residues) for r in range(period)):
            residues, period = reduced, p
            break
    intervals = list(below)
    while start > 1:
        x = start - 1
        in_below = bool(intervals) and intervals[-1][0] <= x <= intervals[-1][1]
        if in_below != ((x % period) in residues):
            break
        if in_below and len(residues) == period:
            start = intervals.pop()[0]  # a whole interval joins a full tail at once
            continue
        if in_below:
            lo, _ = intervals[-1]
            if lo == x:
                intervals.pop()
            else:
                intervals[-1] = (lo, x - 1)
        start = x
    return IntSet(tuple(intervals), start, period, frozenset(residues))


@lru_cache(maxsize=256)
def _divisors(n: int) -> tuple[int, ...]:
    small = [d for d in range(1, int(n**0.5) + 1) if n % d == 0]
    return tuple(sorted({*small, *(n // d for d in small)}))


EMPTY = IntSet((), 1, 1, frozenset())
EVERYTHING = IntSet((), 1, 1, frozenset({0}))


class _Unsolvable(Exception):
    """A constraint outside what the solver handles exactly; it is kept as stated."""


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

    def first(target: int) -> int | None:
        if e.evaluate({name: 1}) >= target:
            return 1
        lo, hi = 1, 2
        while e.evaluate({name: hi}) < target:
            lo, hi = hi, hi * 2
            if hi > _SEARCH_CAP:
                return None
        while hi - lo > 1:  # e(lo) < target <= e(hi)
            mid = (lo + hi) // 2
            if e.evaluate({name: mid}) >= target:
                hi = mid
            else:
                lo = mid
        return hi

    lo = first(v)
    if lo is None:
        return EMPTY
    if op == "ge":
        return IntSet.at_least(lo)
    if e.evaluate({name: lo}) != v:
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
    tails: dict[int, int] = {}
    points: list[int] = []
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
        else:
            t1 = base // (-step)  # largest t with base + s*t >= 0
            points.extend(r + period * t for t in range(t1 + 1))
    return IntSet.from_classes(period, tails, points)


def _ceil_div(a: int, b: int) -> int:
    return -((-a) // b)


# --------------------------------------------------------------------------------------
# Boxes and the domain.

Box = dict[str, IntSet]


def _intersect_box(a: Mapping[str, IntSet], b: Mapping[str, IntSet]) -> Box | None:
    out = dict(a)
    for name, s in b.items():
        out[name] = out[name] & s if name in out else s
        if out[name].is_empty:
            return None
    return out


def _factor_list(d: Dim) -> list[Dim] | None:
    """The factors of a product: remembered by dims.product, or the atoms of one monomial."""
    factors = d.__dict__.get("factors")
    if factors:
        return list(factors)
    if d.terms_count == 1 and d.const == 0:
        ((mono, coeff),) = d.terms
        return [Dim.of(coeff), *(Dim({(a,): 1}) for a in mono)]
    return None


def _ordered_factorisations(n: int, k: int) -> Iterator[tuple[int, ...]]:
    if k == 1:
        yield (n,)
        return
    for d in _divisors(n):
        for rest in _ordered_factorisations(n // d, k - 1):
            yield (d, *rest)


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
        return c.lhs.evaluate(env) == c.rhs.evaluate(env)

    def text(self) -> str:
        c = self.constraint
        return f"{c.lhs} >= 1" if c.kind == "ge1" else f"{c.lhs} == {c.rhs}"


def alternatives(c: Constraint) -> list[Box]:
    """The constraint as a union of boxes over its symbols; _Unsolvable if out of reach."""
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
        factors = _factor_list(e)
        if factors is not None:
            return _solve_product(factors, v)
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
    for n, split in enumerate(_ordered_factorisations(target, len(moving))):
        if n >= MAX_FACTORISATIONS:
            raise _Unsolvable("too many factorisations")
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
            text += ", where also " + " and ".join(r.text() for r in self.unsolved)
        return text

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
    """Join boxes that differ in one symbol only, until none do; then sort them."""
    changed = True
    while changed:
        changed = False
        for i in range(len(boxes)):
            for j in range(i + 1, len(boxes)):
                diff = [s for s in symbols if boxes[i][s] != boxes[j][s]]
                if len(diff) <= 1:
                    merged = dict(boxes[i])
                    if diff:
                        try:
                            merged[diff[0]] = boxes[i][diff[0]] | boxes[j][diff[0]]
                        except _Unsolvable:  # a union too irregular to print as one set
                            continue
                    boxes[i] = merged
                    del boxes[j]
                    changed = True
                    break
            if changed:
                break
    return sorted(boxes, key=lambda b: tuple(b[s].min() or 0 for s in symbols))


def solve_domain(
    constraints: Sequence[Constraint],
    symbols: Sequence[str],
    shown: Sequence[str] = (),
    prefer: Mapping[str, int] | None = None,
) -> Domain:
    """Solve every constraint over positive `symbols`; boxes holding `prefer` come first."""
    base: Box = {s: EVERYTHING for s in symbols}
    unions: list[tuple[Constraint, list[Box]]] = []
    unsolved: list[Requirement] = []
    seen: set[tuple[object, ...]] = set()
    for c in constraints:
        key = (c.kind, c.lhs, c.rhs)
        if key in seen:  # a stage's extent is required positive by every layer reading it
            continue
        seen.add(key)
        try:
            alts = alternatives(c)
            if len(alts) == 1:
                merged = _intersect_box(base, alts[0])
                if merged is None:
                    return Domain(tuple(symbols), (), tuple(unsolved), tuple(shown))
                base = merged
            else:
                unions.append((c, alts))
        except _Unsolvable:  # out of the solver's reach: kept as stated, still exact to test
            unsolved.append(Requirement(c))
    boxes: list[Box] = [base]
    for c, alts in unions:
        try:
            nxt = [m for b in boxes for a in alts if (m := _intersect_box(b, a)) is not None]
            if len(nxt) > MAX_BOXES:
                raise _Unsolvable("too many cases to list")
        except _Unsolvable:
            unsolved.append(Requirement(c))
            continue
        boxes = _merge_boxes(nxt, symbols)
    if prefer:
        boxes.sort(key=lambda b: not all(v in b[s] for s, v in prefer.items() if s in b))
    return Domain(tuple(symbols), tuple(boxes), tuple(unsolved), tuple(shown))
