"""A child module whose forward returns several tensors, unpacked by its caller (HRNet's
`hi, lo = self.stage1(x, y)`, PiT's `x, cls_tokens = self.transformers(...)`): the call is
a block call with `names:`, one name per tensor, which the caller's `getitem`s read, and the
child's block lists its `outputs:`."""

from __future__ import annotations

import operator
from typing import Any


def output_names(reader: Any, node: Any) -> list[str] | None:
    """The names of the tensors a child's call returns, for a call whose result is only
    unpacked or indexed by constant positions, or returned whole (YOLO's `return
    self.detect(p3, p4)`), and is a tuple of tensors on the example input (its length, run
    there); None for a call read whole (one tensor)."""
    users = list(node.users)
    returned = [u for u in users if u.op == "output" and u.args[0] is node]
    read = [u for u in users if u not in returned]
    if not users or not all(
        u.op == "call_function" and u.target is operator.getitem and type(u.args[1]) is int
        for u in read
    ):
        return None
    from .slices import _node_shapes

    _node_shapes(reader)  # runs the module's graph on its input, counting returned tuples
    count = reader.__dict__.get("tuple_lengths", {}).get(node)
    if count is None or count < 2 or not all(-count <= u.args[1] < count for u in read):
        return None
    names = [reader._fresh(f"{node.name}_{i}") for i in range(count)]
    reader.used.update(names)
    reader.pieces[node] = names
    for output in returned:  # its tensors, each read where the forward returns them
        cursor, items = node, []
        for i in range(count):
            with node.graph.inserting_after(cursor):
                cursor = node.graph.call_function(operator.getitem, (node, i))
            items.append(cursor)
        output.args = (tuple(items),)
    return names


def added_call(reader: Any, node: Any, item: Any, target: str) -> None:
    """A child's call added to the reader's items, a block call returning several tensors
    with names for them (`output_names`)."""
    if item.kind == "block":
        item.outputs = output_names(reader, node)
    reader._add(node, item, target)
