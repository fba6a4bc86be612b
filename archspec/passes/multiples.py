"""Dims rewritten where a symbol is known to be a multiple of a period (the input domain
says `H % 16 == 0`): a U-Net's `16*(H//16)` is then `H`, what a reader expects to see."""

from __future__ import annotations

from ..dims import Dim


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
