"""`x.chunk(2, dim=1)` and `torch.split(x, 4, 1)` in a forward: one `chunk` or `split` item
whose named pieces the graph reader gives to the `getitem`s that unpack them."""

from __future__ import annotations

import operator
from typing import Any

from .functions import Call, describe_target
from .trace import Item


def piece_count(node: Any, fields: dict[str, Any]) -> int | None:
    """How many pieces a chunk or split makes: its count or list of sizes, else (one size)
    one past the last index read (`a, b, c = x.split(4)` reads 0, 1, 2); None when a piece
    is read other than by a constant index."""
    if "chunks" in fields:
        return int(fields["chunks"])
    if isinstance(fields["split_size"], list):
        return len(fields["split_size"])
    indices = [u.args[1] if u.target is operator.getitem else None for u in node.users]
    if not indices or not all(type(i) is int and i >= 0 for i in indices):
        return None
    return max(indices) + 1


def read_pieces(reader: Any, node: Any, call: Call, inputs: tuple[str, ...]) -> None:
    """The item of a chunk or split node, its pieces named for the reader's `getitem`s."""
    count = piece_count(node, call.fields)
    if count is None:
        what = describe_target(node.op, node.target)
        reader.fail(
            "E903",
            f"{what} is read other than by unpacking or indexing its pieces",
            node,
            "a spec's chunk and split name each piece: unpack them (`a, b = x.split(4, 1)`)",
        )
        return
    names = [reader._fresh(f"{node.name}_{i}") for i in range(count)]
    reader.used.update(names)
    fields = {"dim": call.fields["dim"], "names": names}
    if call.kind == "split":
        fields["split_size"] = call.fields["split_size"]
    item = Item(None, call.kind, dict(fields), dict(fields), inputs, is_module=False)
    item.train_only = node.name in reader.train_only
    reader.items.append(item)
    reader.pieces[node] = names
