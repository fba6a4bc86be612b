"""Position ids in the symbolic walk: an int64 `arange` buffer cut to the input's length and
looked up in a table, as GPT-2 and nanoGPT look up `wpe(arange(0, t))`.

`passes/dtypes.py` checks a lookup's indices where they are numbers: a buffer's own values,
listed through the layers that move them. A cut to the input's length (`slice_as`) has no
number where the input's length is a symbol, so there it knew nothing, and the domain said
`T <= 16` (the buffer's length) for a table of 12 rows, whose lookup torch refuses for
T = 13 to 16. Here the walk follows what such a tensor is, exactly, whatever its length:
a *position view* `(dim, offset)`, whose value at every index is `offset` plus the index
along `dim`. So its largest value is `offset + size - 1`, `size` its (symbolic) extent along
`dim`, and a lookup of it in a table of `rows` rows requires `rows - offset - size + 1 >= 1`:
one more requirement on the input, which the domain solves with the rest (E409 where it
cannot hold). Only layers that keep the view exactly pass it on; any other ends it, and the
lookup then adds nothing (as before: never a requirement that is not exact).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..dims import Dim
from ..ir import Node

#: (dim, offset): the value at every index is `offset` plus the index along `dim`
View = tuple[int, int]

HINT = (
    "give the table a row for every position the input may have (num_embeddings at least "
    "the position buffer's length), or cut the positions to fewer"
)


def source(node: Node) -> View | None:
    """The view of an int64 buffer filled with `arange` of one dim: its index itself."""
    a = node.attrs
    if a.get("dtype") == "int64" and a.get("fill") == "arange" and len(node.shape) == 1:
        return (0, 0)
    return None


def moved(node: Node, view: View, ins: Sequence[Any], shape: Any) -> View | None:
    """The view of `node`'s output, whose first input has `view`; None where the layer
    does not keep one exactly."""
    kind, a = node.kind, node.attrs
    dim, offset = view
    rank = len(ins[0])
    if kind in ("slice_as", "contiguous"):  # a cut from position 0 keeps every value's index
        return view
    if kind == "slice":
        if a["dim"] % rank != dim:
            return view
        start = a["start"]
        return (dim, offset + start) if start >= 0 and a["step"] == 1 else None
    if kind == "unsqueeze":
        at = a["dim"] % (rank + 1)
        return (dim + 1 if at <= dim else dim, offset)
    if kind == "permute":
        dims = [d % rank for d in a["dims"]]
        return (dims.index(dim), offset)
    if kind == "expand" and len(shape) == rank and shape[dim] == ins[0][dim]:
        return view
    return None


def follow_positions(
    node: Node, views: dict[str, View] | None, ins: Sequence[Any], shape: Any
) -> dict[str, View] | None:
    """`views` (the walk's, by node name; None until one is found) with `node`'s output's
    view, if it has one."""
    if views is not None and node.inputs and node.inputs[0] in views:
        view = moved(node, views[node.inputs[0]], ins, shape)
    else:
        view = source(node) if node.kind == "buffer" else None
    if view is not None:
        views = {} if views is None else views
        views[node.name] = view
    return views


def index_room(node: Node, views: dict[str, View], ins: Sequence[Any]) -> tuple[Dim, str] | None:
    """For a lookup (`embedding`, `index`) of a tensor with a view: the rows its table has
    beyond the largest position it looks up, plus one (the requirement is that this is at
    least 1), and the message; None for any other node."""
    if node.kind == "embedding":
        at, rows = 0, node.attrs.get("num_embeddings")
        if not isinstance(rows, int):
            return None
        table: Any = rows
        what = f"has {rows:,} rows"
    elif node.kind == "index":
        at = 1
        if not 0 <= node.attrs["dim"] < len(ins[0]):
            return None  # the rule's own E401
        table = ins[0][node.attrs["dim"]]
        what = f"picks along dim {node.attrs['dim']}, of {table} entries"
    else:
        return None
    view = views.get(node.inputs[at])
    if view is None:
        return None
    dim, offset = view
    if dim >= len(ins[at]):
        return None
    size = ins[at][dim]
    last = Dim.of(size) + (offset - 1)
    message = (
        f"{node.kind} {what}, and `{node.inputs[at]}` holds the positions "
        f"{offset} to {last}: torch refuses a position past the table's last"
    )
    return Dim.of(table) - last, message.replace("{", "{{").replace("}", "}}")


__all__ = ["HINT", "View", "follow_positions", "index_room", "moved", "source"]
