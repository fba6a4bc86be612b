"""What the passes found in a subtree, kept for the other variants of one family checked
together (`catalog.family_budget`): the variants share block instances (lowering/memo.py:
ResNet-101 takes ResNet-50's Bottlenecks as copies), so the walk of a copy one variant made
is replayed in the next (passes/walkmemo.py) and its counts added (passes/costs.py).

Stdlib only: the scope is entered before anything is lowered. Outside it each pass keeps
its findings for one graph, as before; inside, for as long as the family is checked, and
nothing kept reaches another family or another call.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any

_STORE: ContextVar[dict[str, Any] | None] = ContextVar("archspec_pass_family", default=None)


@contextlib.contextmanager
def shared_findings(kept: list[Any] | None = None) -> Iterator[None]:
    """Keep what the passes find for every graph checked inside (one family's variants).
    `kept`: where the findings go at the end rather than being freed there (the command
    line's list of what the process's end drops: freeing a family's kept walks and counts
    was ~13 ms of `archspec check specs/*.yaml`)."""
    store: dict[str, Any] = {}
    token = _STORE.set(store)
    try:
        yield
    finally:
        _STORE.reset(token)
        if kept is not None:
            kept.append(store)


def family_memo(name: str) -> dict[Any, Any] | None:
    """The store a pass keeps its findings in for the whole family (by `name`: one per
    pass), or None outside `shared_findings`: the pass keeps them for one graph."""
    store = _STORE.get()
    if store is None:
        return None
    found = store.get(name)
    if found is None:
        found = store[name] = {}
    return found  # type: ignore[no-any-return]


__all__ = ["family_memo", "shared_findings"]
