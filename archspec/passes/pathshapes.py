"""Each node's shape by its dotted path, as `check` of the declared input returns it
(`CheckResult.shapes`), written out only when someone reads it.

A check of the 84 built-in specs has some 30,000 such paths, and its text output reads none
(only `--json` does): writing every path into a dict was a tenth of the passes' cost. So the
result holds each module's node names, shapes and children (`shape_tree`), a few tuples per
module and none per copy of a block instance (`Module.copy_of`: the same names and shapes,
so the tree of what it copies), and the dict is made from them the first time it is read,
in the order the IR's walk gives, which is the order it always had.

The tree holds no IR object (no Module, no Node): a result kept does not keep its graph
alive, which would cost memory and the collector's time (the CLI keeps the result of
every spec it checks).
"""

from __future__ import annotations

from collections.abc import ItemsView, Iterator, KeysView, Mapping, ValuesView
from typing import Any, Union

from ..dims import Shape
from ..ir import Module
from .family import family_memo

#: one module's node names, their shapes, and each node's child's tree (None: a layer)
Tree = tuple[tuple[str, ...], tuple[Shape, ...], tuple[Union["Tree", None], ...]]


def shape_tree(module: Module, memo: dict[int, tuple[Module, Tree]] | None = None) -> Tree:
    """The names and shapes under `module` (lowered: every node has its shape). A copy of a
    module seen before (`Module.copy_of`) is given that module's tree; `memo` holds them by
    the id of the module copied (kept alive beside its tree)."""
    if memo is None:
        memo = {}
    origin = module.copy_of or module
    found = memo.get(id(origin))
    if found is not None and found[0] is origin:
        return found[1]
    names, shapes, kids = [], [], []
    for n in module.nodes:  # one pass over the nodes, each read once
        names.append(n.name)
        shapes.append(n.shape)
        kids.append(None if n.child is None else shape_tree(n.child, memo))
    tree = (tuple(names), tuple(shapes), tuple(kids))  # type: ignore[misc]
    memo[id(origin)] = (origin, tree)  # type: ignore[assignment]
    return tree  # type: ignore[return-value]


def declared_path_shapes(root: Module) -> PathShapes:
    """The shapes the IR under `root` holds, by path; the trees of the copies a family's
    variants share are made once for all of them (passes/family.py)."""
    return PathShapes(shape_tree(root, tree_memo()))


def tree_memo() -> dict[int, tuple[Module, Tree]] | None:
    """The trees made for the whole family checked together (None: for one graph)."""
    return family_memo("path_shapes")


class PathShapes(Mapping[str, Shape]):
    """A read-only mapping of path to shape (a dict's equal), made from a `shape_tree` when
    first read."""

    __slots__ = ("_dict", "_tree")
    __hash__ = None  # type: ignore[assignment]

    def __init__(self, tree: Tree) -> None:
        self._tree: Tree | None = tree
        self._dict: dict[str, Shape] | None = None

    def _all(self) -> dict[str, Shape]:
        if self._dict is None:
            out: dict[str, Shape] = {}
            assert self._tree is not None
            _write(self._tree, "", out)
            self._dict, self._tree = out, None
        return self._dict

    def __getitem__(self, path: str) -> Shape:
        return self._all()[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._all())

    def __len__(self) -> int:
        return len(self._all())

    def __contains__(self, path: object) -> bool:
        return path in self._all()

    def get(self, path: str, default: Any = None) -> Any:
        return self._all().get(path, default)

    def keys(self) -> KeysView[str]:
        return self._all().keys()

    def items(self) -> ItemsView[str, Shape]:
        return self._all().items()

    def values(self) -> ValuesView[Shape]:
        return self._all().values()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, PathShapes):
            other = other._all()
        return self._all() == other if isinstance(other, Mapping) else NotImplemented

    def __repr__(self) -> str:
        return repr(self._all())


def _write(tree: Tree, prefix: str, out: dict[str, Shape]) -> None:
    """Each path under `tree` and its shape into `out`, a node before its child's nodes (a
    module function, not a closure: a recursive closure is a reference cycle)."""
    dot = prefix + "." if prefix else ""
    names, shapes, kids = tree
    for name, shape, kid in zip(names, shapes, kids):
        path = dot + name
        out[path] = shape
        if kid is not None:
            _write(kid, path, out)


__all__ = ["PathShapes", "Tree", "declared_path_shapes", "shape_tree", "tree_memo"]
