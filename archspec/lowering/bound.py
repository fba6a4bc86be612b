"""The least number of layer items a block expands to, known before it is expanded.

The expansion limit (E310) counts items as lowering makes them. A few lines of YAML can
still ask for 2**30 of them (a block calling two blocks that each call two more, thirty
levels down; imports make such diamonds cheap to write), and counting them one by one up
to the limit costs time for nothing. Each block's lower bound is worked out once from its
written items (a switched item, an expression count or an unknown construct counts as the
item alone), so a block call whose bound does not fit is refused before anything is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..constructs import CONSTRUCTS
from ..ops import REGISTRY
from .context import MAX_NESTING


class LeastItems:
    """Lower bounds of the items each block of `blocks` expands to, memoised per block."""

    def __init__(self, blocks: Mapping[str, Any], cap: int) -> None:
        self.blocks = blocks
        #: bounds are clipped here (past the limit, the exact figure no longer matters)
        self.cap = cap
        self.known: dict[str, int] = {}
        self.open: set[str] = set()
        self.depth = 0

    def block(self, name: str) -> int:
        """The items one instance of block `name` makes inside it (0 for an unknown or a
        recursive block: lowering reports those)."""
        if name in self.known:
            return self.known[name]
        bdef = self.blocks.get(name)
        if bdef is None or name in self.open:
            return 0
        self.open.add(name)
        try:
            least = self.items(bdef.layers)
        finally:
            self.open.discard(name)
        self.known[name] = least
        return least

    def items(self, items: Any) -> int:
        """What one item, or a list of them, makes at the least, each item counted too."""
        if isinstance(items, list):
            return min(self.cap, sum(self.items(it) for it in items))
        return min(self.cap, 1 + self._inside(items))

    def _inside(self, spec: Any) -> int:
        # past the nesting lowering allows, counting nothing keeps the bound a lower bound
        # (and the recursion short); lowering reports the nesting itself
        if getattr(spec, "when", None) is not None or self.depth >= MAX_NESTING:
            return 0
        kind = getattr(spec, "type", None)
        if not isinstance(kind, str) or kind in REGISTRY:
            return 0
        self.depth += 1
        try:
            construct = CONSTRUCTS.get(kind)
            if construct is None:
                return self.block(kind)
            return construct.least(spec, self.items) if construct.least is not None else 0
        finally:
            self.depth -= 1
