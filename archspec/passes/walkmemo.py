"""Child modules walked once per distinct input by the shape pass: the identical
Bottlenecks of a ResNet stage (copies of one lowering, lowering/memo.py) cost one walk of
their shape rules and a replay for each other copy, and so do the bodies that EfficientNet's
MBConv instances share although the instances differ (in their stochastic depth).

A child module's walk reads only the module itself (each node's name, kind, attributes,
inputs, training flag, span and child; the module's outputs), the input shape and whether
it runs only in training. So a walk is kept under (block, first node's attributes, input
shape, training flag) and replayed for a module of the same structure, checked node by
node: names, kinds, inputs, flags, spans (with their import chains) equal and the very same
attribute dicts, which the copies of one lowering share (an equal dict made apart is not
worth comparing); a memo copy of the module walked (`Module.copy_of`) is that structure
without a look. A replay adds the same rows and the same requirements in the same order,
re-rooted at the new path, as walking it would (less those made already: passes/shapes.py
records each once). A walk that failed, or that ran while a training-only failure was
recorded, is never kept, so every diagnostic comes from a real walk.

The variants of a family checked together keep their walks for each other (passes/family.py:
ResNet-101's Bottlenecks are copies of ResNet-50's). Another graph's walk made before it
differ: a walk kept there is replayed only if every requirement it found made already is
made in this walk too (`Kept.pre_seen`: those it would not make again, and a replay
does not add), and if no rule in it read the requirements in force (`forced`: a join asks
whether an earlier one pinned a size), which another walk holds otherwise.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..dims import Shape
from ..ir import Module, Node, replaced
from ..lazymethods import dataclass


@dataclass
class Kept:
    """One walked instance: its module, path and depth, and what walking it added."""

    module: Module
    path: str
    depth: int
    shape: Shape
    rows: tuple[Any, ...]  # NodeShape rows of its nodes, in walk order
    located: tuple[Any, ...]  # LocatedConstraint, in the order they were made
    #: the once-keys of the requirements its rules made again: recorded before it, or by
    #: a rule of its own before them
    again: tuple[tuple[Any, ...], ...]
    #: the walk (a shape table's) that kept it, and whether a rule in it read the
    #: requirements in force: it is then replayed in that walk only
    walk: object
    forced: bool
    #: the module's input shape (for a module of several inputs, the tuple of their shapes)
    in_shape: Shape | tuple[Shape, ...] = ()
    _pre_seen: frozenset[tuple[Any, ...]] | None = None

    def fits(self, ctx: Any) -> bool:
        """Whether a replay in the walk `ctx` adds what walking the module would."""
        return self.walk is ctx.walk or (not self.forced and self.pre_seen() <= ctx.seen)

    def pre_seen(self) -> frozenset[tuple[Any, ...]]:
        """The once-keys of the requirements its rules made that were recorded before it
        (worked out when another walk asks: a walk replays its own kept walks freely)."""
        if self._pre_seen is None:
            made = {
                (lc.constraint.kind, lc.constraint.lhs, lc.constraint.rhs, lc.train_only)
                for lc in self.located
            }
            self._pre_seen = frozenset(k for k in self.again if k not in made)
        return self._pre_seen


def walk_key(module: Module, train: bool, rows: bool = False) -> tuple[Any, ...] | None:
    """The key a child module's walk is kept under (None for an empty one): its block, its
    first node's attribute dict, which copies share (by identity: the kept module holds it
    alive), and whether the walk keeps rows. It only sorts the kept walks: the input
    shape (not hashed: its dims' hashes are Python calls) and `same_structure` decide."""
    if not module.nodes:
        return None
    return (module.block, id(module.nodes[0].attrs), train, rows)


class WalkMemo:
    """The kept walks of one shape-pass run, or of a family's (`family_memo`), by key."""

    def __init__(self, kept: dict[tuple[Any, ...], list[Kept]] | None = None) -> None:
        self.kept: dict[tuple[Any, ...], list[Kept]] = {} if kept is None else kept

    def find(
        self, key: tuple[Any, ...], module: Module, in_shape: Shape | tuple[Shape, ...], ctx: Any
    ) -> Kept | None:
        """A kept walk of a module with the same structure as `module`, at the same input,
        that fits the walk `ctx`, if any: one of what it copies, or of another copy of that
        (`Module.copy_of`), without a look."""
        kepts = [k for k in self.kept.get(key, ()) if k.in_shape == in_shape]
        origin = module.copy_of
        if origin is not None:
            for kept in kepts:
                if (kept.module is origin or kept.module.copy_of is origin) and kept.fits(ctx):
                    return kept
        for kept in kepts:
            if same_structure(kept.module, module) and kept.fits(ctx):
                return kept
        return None

    def keep(self, key: tuple[Any, ...], kept: Kept) -> None:
        self.kept.setdefault(key, []).append(kept)


def replay(
    kept: Kept, module: Module, path: str, depth: int, ctx: Any, rows: list[Any] | None
) -> None:
    """Add the rows (None: none are kept) and requirements of `kept` for `module` (same
    structure) at `path`."""
    old, cut, shift = kept.path, len(kept.path), depth - kept.depth
    if rows is not None:
        for row, node in zip(kept.rows, _walk_order(module), strict=True):
            rows.append(
                replaced(row, path=path + row.path[cut:], node=node, depth=row.depth + shift)
            )
    for located in kept.located:
        c = located.constraint
        key = (c.kind, c.lhs, c.rhs, located.train_only)
        if key in ctx.seen:  # made by the walk kept (or before it): each is recorded once
            ctx.rejected.append(key)
            continue
        ctx.seen.add(key)
        assert c.node.startswith(old)
        moved = replaced(c, node=path + c.node[cut:])
        ctx.constraints.append(moved)
        ctx.located.append(replaced(located, constraint=moved))
    ctx.rejected.extend(kept.again)
    ctx.forced = ctx.forced or kept.forced


def _walk_order(module: Module) -> Iterator[Node]:
    """The nodes under `module` in the order the shape walk adds their rows."""
    for node in module.nodes:
        yield node
        if node.child is not None:
            yield from _walk_order(node.child)


def same_structure(a: Module, b: Module) -> bool:
    """Whether the shape walk reads the same from `a` as from `b` (paths aside)."""
    if a is b:
        return True
    if a.outputs != b.outputs or len(a.nodes) != len(b.nodes):
        return False
    for x, y in zip(a.nodes, b.nodes):
        if x is y:
            continue
        if (
            x.name != y.name
            or x.kind != y.kind
            or x.inputs != y.inputs
            or x.train_only != y.train_only
            or x.attrs is not y.attrs
            or not _same_span(x.span, y.span)
            or (x.child is None) != (y.child is None)
        ):
            return False
        if x.child is not None and not same_structure(x.child, y.child):  # type: ignore[arg-type]
            return False
    return True


def _same_span(a: Any, b: Any) -> bool:
    """Equal spans with equal import chains (SourceSpan's `==` leaves `via` out)."""
    if a is b:
        return True
    if a is None or b is None or a != b:
        return False
    return list(a.import_sites()) == list(b.import_sites())


__all__ = ["Kept", "WalkMemo", "replay", "same_structure", "walk_key"]
