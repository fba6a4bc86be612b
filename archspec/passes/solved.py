"""The domains solved before (`solved_domain`): the variants of a family mostly make the same
requirements (ResNet-18 to 152: those of the stem and of each stage's downsampling), and of
the 89 solves of a check of the 84 built-in specs, 61 were of requirements solved before.

A domain is kept by all that decides it: each requirement's (kind, lhs, rhs) and remembered
factors (`domain._factors_of`: they decide how a product is split), in order; the symbols;
those shown; the sizes preferred. It is given back only where solving again gives the same:
in a budget of its own (inside another, what is left of that one decides too), and when it
left no requirement unsolved (those are the caller's own constraints, named in messages).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..ops.base import Constraint
from .domain import Domain, _factors_of, solve_domain
from .work import left

_DOMAINS: dict[tuple[object, ...], Domain] = {}
#: kept at most (cleared past it, as the solver's cache of single requirements)
_DOMAINS_SIZE = 256


def solved_domain(
    constraints: Sequence[Constraint],
    symbols: Sequence[str],
    shown: Sequence[str] = (),
    prefer: Mapping[str, int] | None = None,
) -> Domain:
    """`domain.solve_domain`, or the domain it gave before for the same requirements."""
    if left() is not None:
        return solve_domain(constraints, symbols, shown, prefer)
    key = (
        tuple((c.kind, c.lhs, c.rhs, _factors_of(c.lhs), _factors_of(c.rhs)) for c in constraints),
        tuple(symbols),
        tuple(shown),
        tuple(prefer.items()) if prefer else (),
    )
    found = _DOMAINS.get(key)
    if found is None:
        found = solve_domain(constraints, symbols, shown, prefer)
        if not found.unsolved:
            if len(_DOMAINS) >= _DOMAINS_SIZE:
                _DOMAINS.clear()
            _DOMAINS[key] = found
    return found


__all__ = ["solved_domain"]
