"""W402, the window lint: a conv or pool whose window is larger than its input.

For the declared input it walks the IR itself (which holds every shape already) and writes
a layer's path only for a warning: a check of 84 specs visits some 15,000 windowed layers
and warns of a handful, so a row per layer, or a path per layer, is most of the lint's cost.
The same walk makes the tree of names and shapes that the result of `check` is read from
(passes/pathshapes.py), which a walk of its own made before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..dims import Shape, const_values
from ..errors import Diagnostic, Severity
from ..ir import Module, Node
from ..ops import REGISTRY, registry_cached
from .family import family_memo
from .pathshapes import Tree


@registry_cached
def windowed_kinds() -> Mapping[str, int]:
    """Each layer kind with a window, and how many dims it spans (`Op.window_dims`)."""
    return {kind: op.window_dims for kind, op in REGISTRY.items() if op.window_dims}


def window_warning(
    path: str, node: Node, in_shapes: tuple[Shape, ...], shape: Shape, nd: int
) -> Diagnostic | None:
    """W402 for one layer with an `nd`-dim window at these shapes, if it reduces a dim to 1
    with a window larger than its input.

    Such a layer still produces an output only thanks to padding or ceil_mode, which is
    almost never what the author meant: the window mostly covers padding.
    """
    found = _too_large(node, in_shapes, shape, nd)
    return None if found is None else _warning(path, node, *found)


def _too_large(
    node: Node, in_shapes: tuple[Shape, ...], shape: Shape, nd: int
) -> tuple[list[int], list[int], list[int]] | None:
    """The layer's window, input sizes and output sizes when its window is too large."""
    if not in_shapes:
        return None
    last = shape[-nd:]
    known = const_values(last)  # ints compared in C, not a Dim.__eq__ call per dim
    if 1 not in (last if known is None else known):  # only a window leaving an extent of 1
        return None
    extents = in_shapes[0][-nd:]
    if not all(e.is_const for e in extents):
        return None
    attrs = node.attrs
    k = _expand(attrs["kernel_size"], nd)
    d = _expand(attrs.get("dilation", 1), nd)
    window = [di * (ki - 1) + 1 for ki, di in zip(k, d)]
    sizes = [e.value for e in extents]
    outs = [e.value if e.is_const else 0 for e in shape[-nd:]]
    if not any(w > s and o == 1 < s for w, s, o in zip(window, sizes, outs)):
        return None
    return window, sizes, outs


def _warning(
    path: str, node: Node, window: list[int], sizes: list[int], outs: list[int]
) -> Diagnostic:
    attrs = node.attrs
    why = "ceil_mode" if attrs.get("ceil_mode") and not _any(attrs["padding"]) else "padding"
    return Diagnostic(
        "W402",
        f"{path}: its {'x'.join(map(str, window))} window is larger than its "
        f"{'x'.join(map(str, sizes))} input; it reduces it to "
        f"{'x'.join(map(str, outs))} only thanks to {why}",
        node.span,
        "the window mostly covers padding: use a larger input, downsample less "
        "before it, or remove the layer",
        Severity.WARNING,
    )


def declared_warnings_and_tree(
    module: Module,
    prefix: str,
    windows: Mapping[str, int],
    out: list[Diagnostic],
    clean: dict[int, Module],
    trees: dict[int, tuple[Module, Tree]],
) -> Tree:
    """Append W402 of the layers under `module` at the shapes the IR holds, in table order,
    and give its `pathshapes.shape_tree`: `check` of the declared input asks for both (its
    window lint, then its result's shapes), which one walk of the IR gives. A path is
    written only for a module or a warning (a module function, not a closure: a recursive
    closure is a reference cycle). A copy of a subtree walked before (`Module.copy_of`: the
    same layers at the same shapes) is given its tree (`trees`, by the id of the module
    copied, as `shape_tree` keeps them), and walked again only if that subtree had warnings
    (`clean` holds those that had none), which the copy has at its own path."""
    origin = module.copy_of or module
    found = trees.get(id(origin))
    if found is not None and found[0] is origin:
        if clean.get(id(origin)) is not origin:  # its warnings, at this path
            declared_warnings_and_tree(module, prefix, windows, out, clean, {})
        return found[1]
    made = len(out)
    names, shapes, kids = [], [], []
    for node in module.nodes:  # one pass over the nodes, as shape_tree's and the lint's
        names.append(node.name)
        shapes.append(node.shape)
        child = node.child
        if child is not None:
            path = f"{prefix}.{node.name}" if prefix else node.name
            kids.append(declared_warnings_and_tree(child, path, windows, out, clean, trees))
            continue
        kids.append(None)
        nd = windows.get(node.kind)
        if nd is None:
            continue
        assert node.shape is not None  # a lowered graph has every shape
        too_large = _too_large(node, node.in_shapes, node.shape, nd)
        if too_large is not None:
            path = f"{prefix}.{node.name}" if prefix else node.name
            out.append(_warning(path, node, *too_large))
    tree: Tree = (tuple(names), tuple(shapes), tuple(kids))
    trees[id(origin)] = (origin, tree)
    if len(out) == made:
        clean[id(origin)] = origin
    return tree


def clean_subtrees(windows: Mapping[str, int]) -> dict[int, Module] | None:
    """The subtrees found without W402 for the whole family checked together (None: for
    one graph; passes/family.py): a copy one variant made of another's block instance is
    not looked at again. Kept for one set of windowed kinds (`windowed_kinds`)."""
    store = family_memo("windows")
    if store is None:
        return None
    if store.get("kinds") is not windows:
        store.clear()
        store["kinds"] = windows
        store["clean"] = {}
    return store["clean"]  # type: ignore[no-any-return]


def _expand(value: Any, nd: int) -> list[int]:
    return list(value) if isinstance(value, (list, tuple)) else [value] * nd


def _any(padding: Any) -> bool:
    if isinstance(padding, str):
        return padding == "same"
    return any(_expand(padding, 1))
