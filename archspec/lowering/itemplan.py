"""What the walk reads of an item's spec, read once per spec object.

Every copy of a repeat and every instance of a block lowers the same spec objects: their
kind, what lowers them, their `when` (its text, its expression and the names it reads),
their `from`, `train_only` and `key` are the same each time. The walker asks for them here
(one dict lookup per item) instead of reading and working them out again per instance.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..constructs import BLOCK_CALL, CONSTRUCTS
from ..expr import ExprError
from ..ops import REGISTRY
from ..ops.fromspec import is_computed
from ..ops.split import is_computed_names
from .context import piece_names, refs_of, when_text
from .values import parsed

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer

#: `ItemPlan.early` when a `when` is left to the dispatch (see refs.switched_off_early)
LATE = None


class ItemPlan:
    """An item spec's fixed facts, for the walk (see the module docstring)."""

    __slots__ = (
        "binding",
        "computed",
        "computed_names",
        "construct",
        "early",
        "from_",
        "key",
        "kind",
        "lower",
        "names_field",
        "op",
        "own_names",
        "pass_in_eval",
        "refs",
        "spec",
        "spec_name",
        "train_only",
        "when",
        "when_run",
        "when_text",
    )

    def __init__(self, spec: Any) -> None:
        self.spec = spec  # held: the plan is found by id(spec)
        self.kind: str = spec.type
        self.op = REGISTRY.get(self.kind)
        #: a registered construct (None for a layer kind and for a block call)
        self.construct = CONSTRUCTS.get(self.kind) if self.op is None else None
        #: what lowers a construct or a block call (None for a layer kind: layer.lower_op)
        self.lower = None if self.op is not None else (self.construct or BLOCK_CALL).lower
        self.from_ = getattr(spec, "from_", None)
        #: whether `from` has templates or computed entries (lowering/fromlist.py)
        self.computed = is_computed(self.from_)
        #: the names `from` reads as written (none without it)
        self.refs: tuple[str, ...] = tuple(refs_of(spec))
        self.train_only = bool(getattr(spec, "train_only", False))
        #: eval reads its first input in its place: only that one makes it training-only
        self.pass_in_eval = bool(getattr(spec, "pass_in_eval", False))
        self.key = getattr(spec, "key", None)
        self.spec_name: str | None = getattr(spec, "name", None)
        self.when = getattr(spec, "when", None)
        self.when_text = None if self.when is None else when_text(self.when)
        # a computed `from` is worked out only for a node that is there: its `when` is
        # decided first, as for a node without `from`
        self.early = _early(self.when, None if self.computed else self.from_)
        #: the closure of an early `when` written as an expression (refs.switched_off_early;
        #: Expr.runner)
        self.when_run = (
            parsed(self.when).runner()
            if self.early is not LATE and isinstance(self.when, str)
            else None
        )
        #: the names the spec gives its nodes besides its own name (a chunk's `names`)
        self.own_names = piece_names(spec)
        #: the field naming its pieces (a chunk's, a block call's outputs': `names`), and
        #: whether those names are computed where the node is (`{each: "sp{j}", ...}`)
        self.names_field: str | None = (
            self.op.names_field if self.op is not None else getattr(type(spec), "names_field", None)
        )
        self.computed_names = self.names_field is not None and is_computed_names(
            getattr(spec, self.names_field, None)
        )
        #: a layer's layer.Binding, in the block it was made for (layer.binding)
        self.binding: Any = None

    def declared_names(self, forced: str | None) -> list[str]:
        """Every name an item of this spec gives a node (`forced`: the item's forced name,
        a branch's or a repeat copy's): its own, the spec's or the forced one, and its
        pieces' (a chunk's `names`)."""
        own = self.spec_name or forced
        return [own, *self.own_names] if own else list(self.own_names)


def _early(when: Any, from_: Any) -> frozenset[str] | None:
    """The names a `when` reads when it can be decided before the item's site is made (no
    `from`, no input size read, an expression that parses; a literal reads none); LATE
    otherwise."""
    if when is None or from_ is not None:
        return LATE
    if not isinstance(when, str):
        return frozenset()
    try:
        names = parsed(when).names
    except ExprError:
        return LATE
    if "in_channels" in names or "in_features" in names:
        return LATE
    return frozenset(names)


def item_plan(lw: Lowerer, spec: Any) -> ItemPlan:
    """The spec's ItemPlan, made at its first item."""
    kept = lw.item_plans.get(id(spec))
    if kept is None or kept.spec is not spec:
        kept = lw.item_plans[id(spec)] = ItemPlan(spec)
    return kept
