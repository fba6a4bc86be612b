"""Position ids made in forward and looked up in a table: nanoGPT's `pos = torch.arange(0, t,
dtype=torch.long, device=idx.device)` of the tokens' length `t` (`_, t = idx.size()`), read
by `self.transformer.wpe(pos)`, an `nn.Embedding` of `block_size` rows.

A spec holds no size as a tensor, but such ids are the first `t` of the table's R positions:
a non-persistent int64 `buffer` of R positions (`fill: arange`, in no state_dict, as the
model has none) cut to the size (`slice_as`) is the same tensor for every `t` up to R, and
past R neither runs (the table has no row for the position), which `check`'s domain states
(`T <= R`). An arange read by anything else than tables, or of another start, step or
dtype, is left to the caller's refusal (E903).
"""

from __future__ import annotations

from typing import Any

from .calls import is_node


def _size(node: Any) -> Any:
    """The size an arange counts to from 0 (`torch.arange(t)`, `torch.arange(0, t)`), or
    None when it starts elsewhere or steps."""
    args = node.args
    if len(args) == 1:
        return args[0]
    if len(args) == 2 and type(args[0]) is int and args[0] == 0:
        return args[1]
    return None


def _unsqueezed(node: Any, user: Any) -> bool:
    """Whether `user` is `node.unsqueeze(0)` (minGPT's `torch.arange(0, t).unsqueeze(0)`):
    the same ids, a batch of one."""
    import torch

    method = user.op == "call_method" and user.target == "unsqueeze"
    if not (method or (user.op == "call_function" and user.target is torch.unsqueeze)):
        return False
    dim = user.args[1] if len(user.args) > 1 else user.kwargs.get("dim")
    return user.args[:1] == (node,) and type(dim) is int and dim == 0


def _rows(reader: Any, node: Any, depth: int = 0) -> int | None:
    """The fewest rows of the tables (`nn.Embedding` children) that read `node`, when every
    reader is one, given it as its input, or an `unsqueeze(0)` of it that only tables read;
    else None."""
    import torch.nn as nn

    rows: list[int] = []
    for user in node.users:
        if _unsqueezed(node, user) and depth < 4:
            found = _rows(reader, user, depth + 1)
            if found is None:
                return None
            rows.append(found)
            continue
        if user.op != "call_module" or user.args[:1] != (node,) or len(user.args) > 1:
            return None
        table = reader.module.get_submodule(str(user.target))
        if not isinstance(table, nn.Embedding) or user.kwargs:
            return None
        rows.append(table.num_embeddings)
    return min(rows) if rows else None


def read_positions(reader: Any, node: Any) -> bool:
    """`torch.arange` of a size read in forward, read by tables only, as a buffer of the
    tables' positions cut to that size; False (not read) otherwise. `reader` is
    trace._GraphReader."""
    import torch

    from .trace import Item

    size = _size(node)
    sym = reader.syms.get(size) if is_node(size) else None
    kwargs = dict(node.kwargs)
    kwargs.pop("device", None)  # `device=idx.device`: the spec's buffer moves with the model
    dtype = kwargs.pop("dtype", torch.long)
    if sym is None or sym.what != "dim" or not isinstance(sym.index, int) or kwargs:
        return False
    rows = _rows(reader, node)
    if dtype is not torch.long or rows is None or sym.src not in reader.names:
        return False
    like_dim = sym.index
    if like_dim < 0:  # `idx.shape[-1]`: counted from the front, as `slice_as` takes it
        from .slices import _node_shapes

        rank = len(_node_shapes(reader).get(sym.src, ()))
        if not -rank <= like_dim:
            return False
        like_dim += rank
    table = reader._fresh("positions")
    fields = {"shape": [rows], "fill": "arange", "dtype": "int64", "persistent": False}
    reader._add(node, Item(table, "buffer", dict(fields), dict(fields), is_module=False), table)
    cut = {"dim": 0, "like_dim": like_dim}
    name = reader._fresh(node.name)
    inputs = (table, reader.names[sym.src])
    reader._add(node, Item(name, "slice_as", dict(cut), dict(cut), inputs, is_module=False), name)
    return True
