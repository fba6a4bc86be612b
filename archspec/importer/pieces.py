"""`x.chunk(2, dim=1)` and `torch.split(x, 4, 1)` in a forward: one `chunk` or `split` item
whose named pieces the graph reader gives to the `getitem`s that unpack them."""

from __future__ import annotations

import operator
from typing import Any

from .functions import Call, describe_target
from .trace import Item


def piece_count(node: Any, fields: dict[str, Any], size: int | None = None) -> int | None:
    """How many pieces a chunk or split makes: its count or list of sizes, else (one size)
    as many as torch cuts the dim's `size` into when it is known (Res2Net's `spx =
    torch.split(x, self.width, 1)`, read as `spx[i]` and `spx[-1]`), else one past the last
    index read (`a, b, c = x.split(4)` reads 0, 1, 2); None when a piece is read other than
    by a constant index."""
    if "chunks" in fields:
        return int(fields["chunks"])
    if isinstance(fields["split_size"], list):
        return len(fields["split_size"])
    indices = [u.args[1] if u.target is operator.getitem else None for u in node.users]
    if not indices or not all(type(i) is int for i in indices):
        return None
    step = fields["split_size"]
    if size is not None and type(step) is int and step > 0:
        count = -(-size // step)
        return count if all(-count <= i < count for i in indices) else None
    return max(indices) + 1 if all(i >= 0 for i in indices) else None


def _dim_size(reader: Any, node: Any, dim: Any) -> int | None:
    """The size of dim `dim` of the tensor a split cuts, as the module's graph computes it
    on the input its instance received from the example input; None when unknown."""
    from .slices import _node_shapes

    shape = _node_shapes(reader).get(node.args[0]) if node.args else None
    if shape is None or type(dim) is not int or not -len(shape) <= dim < len(shape):
        return None
    return shape[dim]


def read_pieces(reader: Any, node: Any, call: Call, inputs: tuple[str, ...]) -> None:
    """The item of a chunk or split node, its pieces named for the reader's `getitem`s (or
    of a max pool's values and indices, `y, idx = F.max_pool2d(x, 2, return_indices=True)`)."""
    if call.kind.endswith("_with_indices"):
        from .unpools import add_indices_pool

        add_indices_pool(reader, node, call.kind, call.fields)
        return
    needs_size = call.kind == "split" and not isinstance(call.fields["split_size"], list)
    size = _dim_size(reader, node, call.fields["dim"]) if needs_size else None
    count = piece_count(node, call.fields, size)
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
    reader.modes.mark(item, node)
    reader.items.append(item)
    reader.pieces[node] = names
