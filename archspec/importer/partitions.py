"""MaxViT's partition modules read as the `partition` and `departition` kinds.

torchvision's `PartitionAttentionLayer.forward` runs `partition_op(x, p)` (WindowPartition,
which takes the partition count as an argument) and `partition_swap` (SwapAxes(-2, -3) for
a grid, nn.Identity for windows), then undoes both with `departition_swap` and
`departition_op(x, p, gh, gw)`. None holds a tensor. The pair reads as one `partition` (fields
patched once the departition shows the size) and one `departition` reading the tokens and the
map they came from: a window's side is `p`, a grid's is `gh` (its `p` counts the groups).
These functions work on a trace._GraphReader (`reader`).
"""

from __future__ import annotations

from typing import Any

from .trace import Item

_SWAPS = ((-2, -3), (-3, -2))


def _kind(module: Any) -> str:
    name = type(module).__name__
    if name == "SwapAxes" and (getattr(module, "a", None), getattr(module, "b", None)) in _SWAPS:
        return "swap"
    return {"WindowPartition": "partition", "WindowDepartition": "departition"}.get(
        name, "identity" if name == "Identity" else ""
    )


def _ints(values: Any) -> bool:
    return all(isinstance(v, int) and not isinstance(v, bool) for v in values)


def partition_call(reader: Any, node: Any, target: str) -> bool:
    """A call of a partition module, its swap or its departition, read; False: not one."""
    if "." in target or node.kwargs or not node.args or not hasattr(node.args[0], "op"):
        return False
    child = getattr(reader.module, target, None)
    kind = _kind(child)
    state = reader.partitions
    pending = state.setdefault("open", {})  # partition node -> [item, map name, p]
    swapped = state.setdefault("swapped", {})  # ... with `grid` once its swap is read
    unswapped = state.setdefault("unswapped", {})  # a departition's swap -> (tokens, grid)
    x, rest = node.args[0], node.args[1:]
    if kind == "partition" and len(rest) == 1 and _ints(rest) and len(node.users) == 1:
        inputs = reader._inputs((x,))
        if inputs is None:
            return True
        item = Item(target, "partition", {"size": rest[0], "grid": False}, is_module=True)
        item.inputs = inputs
        item.full = item.fields
        reader.called.append(target)
        reader._add(node, item, target)
        pending[node] = [item, inputs[0], rest[0]]
        return True
    if kind in ("swap", "identity") and not rest and x in pending:
        entry = pending.pop(x)  # the swap right after a partition: grid (or windows)
        entry[0].fields["grid"] = kind == "swap"
        entry.append(kind == "swap")
        reader.called.append(target)
        reader.names[node] = reader.names[x]
        swapped[node] = entry
        return True
    users = list(node.users)
    before = reader.names.get(x)
    if kind in ("swap", "identity") and not rest and len(users) == 1 and before is not None:
        follower = getattr(reader.module, str(users[0].target), None)
        if users[0].op == "call_module" and _kind(follower) == "departition":
            reader.called.append(target)  # undone by the departition that follows
            reader.names[node] = before
            unswapped[node] = (x, kind == "swap")
            return True
    if kind == "departition" and len(rest) == 3 and _ints(rest) and x in unswapped:
        tokens, grid = unswapped.pop(x)
        p, gh, gw = rest
        match = [e for e in swapped.values() if e[2] == p and e[3] == grid]
        if len(match) != 1 or (grid and gh != gw):
            return False
        item, source, _, _ = match[0]
        size = gh if grid else p
        item.fields["size"] = size
        inputs = reader._inputs((tokens,))
        if inputs is None:
            return True
        fields = {"size": size, "grid": grid}
        out = Item(target, "departition", fields, dict(fields), (inputs[0], source))
        reader.called.append(target)
        reader._add(node, out, target)
        return True
    return False
