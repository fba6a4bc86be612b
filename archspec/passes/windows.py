"""W402, the window lint: a conv or pool whose window is larger than its input.

For the declared input it walks the IR itself (which holds every shape already) and writes
a layer's path only for a warning: a check of 84 specs visits some 15,000 windowed layers
and warns of a handful, so a row per layer, or a path per layer, is most of the lint's cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..dims import Shape, const_values
from ..errors import Diagnostic, Severity
from ..ir import Module, Node
from ..ops import REGISTRY
from ..ops.base import on_register
from .family import family_memo

#: kind -> window dims of each registered op that has a window (None: not made yet, or the
#: registry changed since)
_windows: dict[str, int] | None = None


def _forget() -> None:
    global _windows
    _windows = None


on_register(_forget)


def windowed_kinds() -> Mapping[str, int]:
    """Each layer kind with a window, and how many dims it spans (`Op.window_dims`)."""
    global _windows
    if _windows is None:
        _windows = {kind: op.window_dims for kind, op in REGISTRY.items() if op.window_dims}
    return _windows


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


def declared_window_warnings(
    module: Module,
    prefix: str,
    windows: Mapping[str, int],
    out: list[Diagnostic],
    clean: dict[int, Module] | None = None,
) -> None:
    """Append W402 of the layers under `module` at the shapes the IR holds, in table order;
    a path is written only for a module or a warning (a module function, not a closure: a
    recursive closure is a reference cycle). A copy of a subtree that had none
    (`Module.copy_of`: the same layers at the same shapes) has none: `clean` holds those
    subtrees by id."""
    clean = {} if clean is None else clean
    origin = module.copy_of or module
    if clean.get(id(origin)) is origin:
        return
    made = len(out)
    for node in module.nodes:
        child = node.child
        if child is not None:
            path = f"{prefix}.{node.name}" if prefix else node.name
            declared_window_warnings(child, path, windows, out, clean)
            continue
        nd = windows.get(node.kind)
        if nd is None:
            continue
        assert node.shape is not None  # a lowered graph has every shape
        found = _too_large(node, node.in_shapes, node.shape, nd)
        if found is not None:
            path = f"{prefix}.{node.name}" if prefix else node.name
            out.append(_warning(path, node, *found))
    if len(out) == made:
        clean[id(origin)] = origin


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
