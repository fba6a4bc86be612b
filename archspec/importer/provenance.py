"""Which dim of an earlier tensor a dim of a traced tensor is, for every input.

A reshape reads sizes off a tensor's shape (`B, N, C = x.shape`) and may use them on
another tensor: timm's older attention writes `(attn @ v).transpose(1, 2).reshape(B, N, C)`,
where N, read off the block's input, is dim 1 of the tensor reshaped too. A spec's
`reshape` keeps such a dim with a 0, but only when it is the same size for every input,
not just the example's. `same_dim` proves that from the steps in between, each of which
says where each of its output dims comes from:

- layers that keep their input's shape (torch.nn's activations, dropouts, norms,
  identity and softmax; contiguous, a tensor times or plus a number, one computed from
  sizes too: `att * (1.0 / math.sqrt(k.size(-1)))`), torch.nn's `Linear` for every dim
  but the last, a convolution for the batch and each spatial dim its stride of 1 and its
  padding keep, and a plain `nn.Sequential` of such layers (childdims.py);
- `permute` and `transpose`, which move dims;
- `x[:, ..., i]` (a select: the dims after it one lower), `a @ b` (the last dim b's, the one
  before a's, the leading ones a's when a has the product's rank) and
  `F.scaled_dot_product_attention(q, k, v)` (q's but the last, which is v's);
- a reshape that wrote a size read off a shape: that size's dim;
- the output sequence of torch's batch-first `nn.LSTM`, `nn.GRU` or `nn.RNN`
  (`out, _ = self.lstm(x)`): x's dims but the last;
- a call of a block of the model's own, by the steps of its traced forward, and a join
  `a + b` whose operands' dims lead back to the same dim (childdims.py).

Anything else ends the walk unproven. Ranks come from the example input's run (a tensor's
rank is the same for every input a spec accepts).
"""

from __future__ import annotations

import operator
from typing import Any

from .calls import is_node, listed

#: tensor methods and functions (by name) whose output has their first input's shape
_SAME_SHAPE_CALLS = frozenset(
    {
        *("contiguous", "clone", "float", "softmax", "log_softmax", "sigmoid", "relu"),
        *("gelu", "silu", "tanh", "dropout", "layer_norm"),
    }
)
_SCALAR_OPS = frozenset({operator.mul, operator.truediv, operator.add, operator.sub})
#: how many steps a walk takes at most (a forward's chain between a read and its use)
_MAX_STEPS = 200


def _source_dim(reader: Any, node: Any, i: int, shapes: dict[Any, Any]) -> tuple[Any, int] | None:
    """(node', i') where dim i of `node` is dim i' of node', one step back; None if unknown."""
    import torch.nn.functional as F

    from .childdims import child_source_dim, joined_dim, kind_dim, torch_module_dim
    from .einsums import einsum_product
    from .shapes import Sym
    from .unbinds import _is_matmul, _permuted

    args = node.args
    first = args[0] if args and is_node(args[0]) else None
    rank = len(shapes[node]) if node in shapes else None
    if node.op == "call_module":
        child = reader.module.get_submodule(node.target)
        cls = type(child)
        if first is not None and not cls.__module__.startswith("torch."):
            return child_source_dim(reader, node, child, i)  # its forward's steps, or its kind's
        if first is None or len(args) != 1 or not cls.__module__.startswith("torch.nn.modules"):
            return None  # torch's own classes only: a subclass may reshape in its forward
        j = torch_module_dim(child, i, rank)  # its layers' rules (childdims.py)
        if j is None and first in shapes:  # or the shape rule of the kind it is read as
            j = kind_dim(child, i, shapes[first])
        return (first, j) if j is not None else None
    name = node.target if node.op == "call_method" else getattr(node.target, "__name__", None)
    if name in _SAME_SHAPE_CALLS and first is not None:
        return first, i
    # a number, or one computed from sizes (`att * (1.0 / math.sqrt(k.size(-1)))`)
    scalar = len(args) == 2 and (not is_node(args[1]) or args[1] in reader.syms)
    if node.target in _SCALAR_OPS and first is not None and scalar:
        return first, i
    found = _permuted(node)
    if found is not None:
        return (found[0], found[1][i]) if 0 <= i < len(found[1]) else None
    if name == "transpose" and first is not None and rank is not None and len(args) == 3:
        a, b = (d % rank if type(d) is int else None for d in args[1:])
        return (first, b if i == a else a if i == b else i) if None not in (a, b) else None
    sequence = _sequence_of(reader, first, args[1]) if node.target is operator.getitem else None
    if sequence is not None and rank is not None:  # `out, _ = self.lstm(x)`, batch first
        return (sequence, i) if i < rank - 1 else None
    piece = _piece_of(first, args[1]) if node.target is operator.getitem and first else None
    if piece is not None and rank is not None:  # a chunk's piece: every dim but the cut one
        return (piece[0], i) if i % rank != piece[1] % rank else None
    if name == "masked_fill" and first is not None and shapes.get(first) == shapes.get(node):
        return first, i  # a tensor the mask did not broadcast: its dims, values written
    if node.target is operator.getitem and first is not None and isinstance(args[1], tuple):
        index = args[1]
        if all(s == slice(None) for s in index[:-1]) and type(index[-1]) is int:
            return first, i if i < len(index) - 1 else i + 1
        return None
    if rank is None:
        return None
    joined = joined_dim(reader, node, i, shapes)  # `x + attn(x)`: childdims.py
    if joined is not None:
        return joined
    if _is_matmul(node) and len(args) == 2 and all(a in shapes for a in args):
        a, b = args
        if i == rank - 1:
            return b, len(shapes[b]) - 1
        if i == rank - 2 or len(shapes[a]) == rank:
            return a, i - rank + len(shapes[a])
        return None
    product = einsum_product(node)
    if product is not None:  # an einsum that is `a @ b` (or `a @ b^T`): as matmul's
        a, b, transpose = product
        if i == rank - 1:
            return b, rank - 2 if transpose else rank - 1
        return a, i
    if node.target is F.scaled_dot_product_attention and len(args) >= 3:
        q, v = args[0], args[2]
        return (v, i) if i == rank - 1 else (q, i)
    if node.target in ("reshape", "view") and len(args) >= 2 and not node.kwargs:
        sizes = listed(args)
        size = sizes[i] if i < len(sizes) else None
        sym = reader.syms.get(size) if is_node(size) else None
        if isinstance(sym, Sym) and sym.what == "dim" and type(sym.index) is int:
            return sym.src, sym.index
    return None


def _sequence_of(reader: Any, call: Any, index: Any) -> Any:
    """The input of torch's own `nn.LSTM`, `nn.GRU` or `nn.RNN` whose output sequence
    `call[index]` is (`out, _ = self.lstm(x)`): (N, L, D) in, (N, L, H) out ((L, N, ...)
    sequence first), so every dim but the last is the input's; None for anything else."""
    import torch.nn as nn

    if index != 0 or not is_node(call) or call.op != "call_module" or len(call.args) != 1:
        return None
    rnn = reader.module.get_submodule(str(call.target))
    if type(rnn) not in (nn.LSTM, nn.GRU, nn.RNN) or call.kwargs:
        return None
    return call.args[0] if is_node(call.args[0]) else None


def _piece_of(cut: Any, index: Any) -> tuple[Any, int] | None:
    """(tensor, dim) when `cut` chunks or splits a tensor along dim and `index` picks one
    of its pieces (`q, k, v = x.chunk(3, dim=-1)`): the piece has every other dim of it."""
    import torch

    if type(index) is not int or not is_node(cut) or not cut.args or not is_node(cut.args[0]):
        return None
    method = cut.op == "call_method" and cut.target in ("chunk", "split")
    function = cut.op == "call_function" and cut.target in (torch.chunk, torch.split)
    if not (method or function):
        return None
    dim = cut.kwargs.get("dim", cut.args[2] if len(cut.args) > 2 else 0)
    return (cut.args[0], dim) if type(dim) is int else None


def same_dim(reader: Any, sym: Any, src: Any, i: int) -> bool:
    """Whether dim `i` of `src` is, for every input, the dim `sym` reads (`sym.src`'s dim
    `sym.index`), by the steps between them (see the module docstring)."""
    from .slices import _node_shapes

    if sym is None or sym.what != "dim" or type(sym.index) is not int:
        return False
    if sym.src is src and sym.index == i:  # the dim itself (`c` in `x.view(b, c, h * w)`)
        return True
    shapes = _node_shapes(reader)
    if src in shapes and not -len(shapes[src]) <= i < len(shapes[src]):
        return False  # `src` has no dim i (a reshape to more dims than it has)
    target = sym.src
    want = sym.index % len(shapes[target]) if target in shapes else sym.index
    node, dim = src, i
    for _ in range(_MAX_STEPS):
        if node is target:
            return dim == want
        step = _source_dim(reader, node, dim, shapes)
        if step is None:
            return False
        node, dim = step
        if node in shapes and dim < 0:
            dim %= len(shapes[node])
    return False


def kept_at(reader: Any, syms: dict[Any, Any], value: Any, src: Any, i: int) -> bool:
    """Whether the reshape size `value` is dim `i` of `src` for every input, which a 0 at
    position `i` keeps: the batch in front (unless a reshape before moved more into it,
    `q.reshape(B * heads, ...)`: regroup.batch_at_front), or a size read off a shape that is
    that dim of `src` itself or that the steps between prove to be it."""
    from .regroup import batch_at_front
    from .shapes import is_batch

    sym = syms.get(value) if is_node(value) else None
    if i == 0 and is_batch(sym) and batch_at_front(reader, src):
        return True
    return same_dim(reader, sym, src, i)


def regrouped(
    reader: Any, values: list[Any], syms: dict[Any, Any], src: Any
) -> tuple[str, dict[str, Any]] | None:
    """A reshape that keeps `src`'s leading and trailing dims (each proven, as `same_dim`
    proves) and cuts the one dim between into sizes, or joins the dims between into one, as
    the kind and fields that state it for every input: ShuffleNet's channel shuffle written
    out, `x.view(b, g, c // g, h, w)` (an `unflatten` of dim 1 into `(g, -1)`), and
    `x.view(b, -1, h, w)` after its transpose (a `flatten` of dims 1 and 2); ResNeSt's
    `x.reshape(B, radix, RC // radix, H, W)`. None for any other reshape."""
    from .slices import _node_shapes

    shapes = _node_shapes(reader)
    if src not in shapes:
        return None
    rank, n = len(shapes[src]), len(values)
    lead = 0
    while lead < min(n, rank) and kept_at(reader, syms, values[lead], src, lead):
        lead += 1
    tail = 0
    while tail < min(n, rank) - lead and kept_at(
        reader, syms, values[n - 1 - tail], src, rank - 1 - tail
    ):
        tail += 1
    middle = values[lead : n - tail]
    if rank - lead - tail == 1 and len(middle) >= 2:  # one dim cut into sizes
        sizes = [v if type(v) is int else -1 for v in middle]
        if any(type(v) is int and v < 1 and v != -1 for v in middle) or sizes.count(-1) > 1:
            return None
        if not all(type(v) is int or v in syms for v in middle):
            return None
        return "unflatten", {"dim": lead, "unflattened_size": sizes}
    if len(middle) == 1 and rank - lead - tail >= 2:  # dims joined: whatever the size says,
        # torch accepts it only as their product, the rest being kept
        if not (middle[0] == -1 or middle[0] in syms):
            return None
        return "flatten", {"start_dim": lead, "end_dim": rank - tail - 1}
    return _products(reader, values, syms, src, rank)


def _covers(reader: Any, syms: dict[Any, Any], value: Any, src: Any, start: int) -> int | None:
    """The end (exclusive) of the dims of `src` from `start` on whose product the size
    `value` is for every input: a kept dim (as `kept_at` proves it), or a product of such
    sizes in order (`x.size(1) * x.size(2)`, `1 * s` as a loop multiplying sizes starts)."""
    if not is_node(value):
        return None
    if kept_at(reader, syms, value, src, start):
        return start + 1
    if value.op != "call_function" or value.target is not operator.mul or value.kwargs:
        return None
    for a, b in (value.args, value.args[::-1]):
        if type(a) is int and a == 1:
            return _covers(reader, syms, b, src, start)
        middle = _covers(reader, syms, a, src, start)
        end = _covers(reader, syms, b, src, middle) if middle is not None else None
        if end is not None:
            return end
    return None


def _products(
    reader: Any, values: list[Any], syms: dict[Any, Any], src: Any, rank: int
) -> tuple[str, dict[str, Any]] | None:
    """A reshape whose sizes are each the product of some of `src`'s dims, in order, but at
    most one (-1, or a size read off shapes otherwise) that takes the dims left, as one
    `flatten` of the dims one size joins: the tutorial's `x.view(-1, x.size(1) * x.size(2) *
    x.size(3))`. None when no size joins dims, or several do."""
    groups: list[tuple[int, int]] = []
    at, i = 0, 0
    while i < len(values) and (end := _covers(reader, syms, values[i], src, at)) is not None:
        groups.append((at, end))
        at, i = end, i + 1
    tail: list[tuple[int, int]] = []
    stop, j = rank, len(values)
    while j > i:
        found = [
            s
            for s in range(stop - 1, at - 1, -1)
            if _covers(reader, syms, values[j - 1], src, s) == stop
        ]
        if not found:
            break
        tail.insert(0, (found[0], stop))
        stop, j = found[0], j - 1
    if j - i == 1 and stop > at and (values[i] == -1 or (is_node(values[i]) and values[i] in syms)):
        groups.append((at, stop))
    elif j != i or stop != at:
        return None
    wide = [(a, b) for a, b in groups + tail if b - a > 1]
    if len(wide) != 1:
        return None
    return "flatten", {"start_dim": wide[0][0], "end_dim": wide[0][1] - 1}


__all__ = ["kept_at", "regrouped", "same_dim"]
