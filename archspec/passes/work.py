"""A work budget for the domain solver: every loop whose length depends on a spec's values
spends from it, so no spec can keep `archspec check` busy for long.

A constraint whose solving runs out of budget is not guessed at: the solver keeps it as
stated (membership stays exact, only the words name it instead of solving it). The budget
counts units of work, not seconds, so the same spec always gives the same answer.

>>> with budget(10):
...     spend(4)
...     spend(7)
Traceback (most recent call last):
...
archspec.passes.work.OutOfWork: the solver's work budget is spent
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

#: Units of work one solve may spend. A unit is about 0.25 us of CPU (one atom of a dim
#: expression evaluated, one Pollard rho step), so a whole solve stays near 0.25 s at most.
WORK = 1_000_000


class Unsolvable(Exception):
    """A constraint outside what the solver handles exactly; it is kept as stated."""


class OutOfWork(Unsolvable):
    """The solve's budget is spent: this constraint, and any after it, are kept as stated."""

    def __init__(self) -> None:
        super().__init__("the solver's work budget is spent")


class _Budget:
    __slots__ = ("left",)

    def __init__(self, units: int) -> None:
        self.left = units


_current: ContextVar[_Budget | None] = ContextVar("archspec_solver_budget", default=None)


@contextmanager
def budget(units: int = WORK) -> Iterator[None]:
    """Bound the work done inside the block (nested blocks share the outer budget)."""
    if _current.get() is not None:
        yield
        return
    token = _current.set(_Budget(units))
    try:
        yield
    finally:
        _current.reset(token)


def spend(units: int) -> None:
    """Take `units` from the active budget; OutOfWork once it is spent. Free outside one."""
    b = _current.get()
    if b is None:
        return
    b.left -= units
    if b.left < 0:
        b.left = 0
        raise OutOfWork


def left() -> int | None:
    """Units left in the active budget (None: no budget is active)."""
    b = _current.get()
    return None if b is None else b.left
