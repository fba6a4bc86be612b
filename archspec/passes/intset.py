"""Exact sets of positive integers, closed under intersection and union.

The domain solver (`passes/domain.py`) answers with one `IntSet` per input symbol: finite
intervals below some start, then a periodic rule (`x % period in residues`), which is what the
floors of a conv net's shape arithmetic produce. Every loop here whose length depends on the
values (periods, listed pieces) spends from the solver's work budget (`passes/work.py`) and is
capped, so a set too irregular to list is `Unsolvable` instead of enumerated.

>>> (IntSet.at_least(5) & IntSet.from_classes(2, {1: 1}, [])).describe("H")
'odd H >= 5'
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from math import lcm

from ..lazymethods import dataclass
from .primes import factorise
from .work import Unsolvable, spend

#: Residue analysis refuses periods beyond this (a network with a total stride this large).
MAX_PERIOD = 1 << 16
#: A set listed as more intervals than this is out of reach (kept as stated instead).
MAX_PIECES = 1 << 16
SEARCH_CAP = 1 << 62
#: Intervals (and residues) a set's words list one by one; the rest are counted.
SHOWN = 12

Interval = tuple[int, int]


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
            listed = sum((start - x0 + period - 1) // period for x0 in tails.values())
            if listed > MAX_PIECES:
                raise Unsolvable("the set has too many points to list")
            spend(listed // 4 + 1)
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
        i = bisect.bisect_right(self.below, (x, SEARCH_CAP)) - 1
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

        Unsolvable when the periodic tail would give more than MAX_PIECES of them: sizes
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
            count = (hi // self.period - block + 1) * len(runs)
            if count > MAX_PIECES:
                raise Unsolvable("the set has too many pieces to list")
            spend(count // 2 + 1)
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
        """One phrase per interval or tail, to be joined by "or"; past SHOWN intervals or
        residues the rest is counted, not listed (a set may hold 65,536 of them)."""
        shown = self.below[:SHOWN]
        out = [f"{name} = {lo}" if lo == hi else f"{lo} <= {name} <= {hi}" for lo, hi in shown]
        if len(self.below) > len(shown):
            more = len(self.below) - len(shown)
            out.append(f"{more:,} more ranges of {name} up to {self.below[-1][1]}")
        if self.residues:
            tail = f"{name} >= {self.start}"
            if len(self.residues) < self.period:
                rs = sorted(self.residues)
                listed = ", ".join(map(str, rs[:SHOWN]))
                if len(rs) > SHOWN:
                    listed += f", ... ({len(rs):,} residues)"
                cond = (
                    f"{name} % {self.period} == {rs[0]}"
                    if len(rs) == 1
                    else f"{name} % {self.period} in {{{listed}}}"
                )
                # the bound says nothing when no member of these classes lies below it
                bounded = any((r or self.period) < self.start for r in rs)
                first = next(x for x in range(self.start, SEARCH_CAP) if x % self.period in rs)
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
        raise Unsolvable("the period of the combined sets is too large")
    spend(period // 4 + 1)
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
    residues, period = _smallest_period(residues, period)
    intervals = list(below)
    while start > 1:
        spend(1)
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


def _smallest_period(residues: frozenset[int], period: int) -> tuple[frozenset[int], int]:
    """Divide the period by its primes while the rule stays the same.

    The periods of a set are closed under gcd, so dividing by one prime at a time reaches
    the smallest; `residues` keeps period q = period / p exactly when it holds p residues
    for each residue mod q. Costs O(len(residues)) per prime factor of the period.
    """
    changed = True
    while changed and period > 1:
        changed = False
        for p in factorise(period):
            q = period // p
            reduced = frozenset(r % q for r in residues)
            spend(len(residues) // 4 + 1)
            if len(reduced) * p == len(residues):
                residues, period, changed = reduced, q, True
                break
    return residues, period


EMPTY = IntSet((), 1, 1, frozenset())
EVERYTHING = IntSet((), 1, 1, frozenset({0}))
