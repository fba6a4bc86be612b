"""A reshape to sizes written as a shape plus numbers, as HuggingFace's attention writes its
heads: `new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)`,
then `x.view(new_x_shape)`, and back, `ctx.view(ctx.size()[:-2] + (self.all_head_size,))`.

torch.fx traces the sum of a `torch.Size` and a tuple as one `add`, which shapes.py took for
arithmetic on a number (a size), so the reshape read as one size: `reshape [-1]`, a spec
that refused its own example input. The sum is a list of sizes: the dims the slice of the
shape takes, one by one (`x.size(0)`, `x.size(1)`, a node each, as if written out), then the
numbers. The reshape then reads as any reshape to sizes written out does (shapes.py).
"""

from __future__ import annotations

import operator
from typing import Any

from .calls import is_node

#: what a size read off a tensor's shape may be besides a number (shapes.Sym.what)
_WHOLE = ("shape", "sizes", "spatial")


def joins_shapes(node: Any, syms: dict[Any, Any]) -> bool:
    """Whether `node` is a sum of a shape (or a slice of one) and a tuple of sizes, which
    is a longer shape, not a number."""
    if node.op != "call_function" or node.target is not operator.add or len(node.args) != 2:
        return False
    whole = [a for a in node.args if is_node(a) and getattr(syms.get(a), "what", None) in _WHOLE]
    listed = [a for a in node.args if isinstance(a, tuple | list)]
    return bool(whole or listed) and len(whole) + len(listed) + _joined(node.args, syms) == 2


def _joined(args: tuple[Any, ...], syms: dict[Any, Any]) -> int:
    """How many of `args` are themselves sums of shapes (`a.size()[:1] + (2,) + (4,)`)."""
    return sum(1 for a in args if is_node(a) and getattr(syms.get(a), "what", None) == "joined")


def sizes_written_out(reader: Any, node: Any, sizes: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """The sizes of the reshape `node` one by one when it is given one shape sum
    (`x.view(x.size()[:-1] + (4, 8))`): a size node per dim of the shape (added to the
    graph before `node`, each a `dim` symbol) and the numbers; None otherwise."""
    if len(sizes) != 1 or not is_node(sizes[0]):
        return None
    return _parts(reader, node, sizes[0], 0)


def _parts(reader: Any, node: Any, value: Any, depth: int) -> tuple[Any, ...] | None:
    from .shapes import Sym
    from .slices import _node_shapes

    if isinstance(value, tuple | list):
        return tuple(value)
    sym = reader.syms.get(value) if is_node(value) and depth < 16 else None
    if sym is None:
        return None
    if sym.what == "joined":
        a, b = (_parts(reader, node, v, depth + 1) for v in value.args)
        return None if a is None or b is None else a + b
    if sym.what not in _WHOLE:
        return None
    rank = len(_node_shapes(reader).get(sym.src, ()))
    index = value.args[1] if value.target is operator.getitem else slice(None)
    if not rank or not isinstance(index, slice):
        return None
    out = []
    for i in range(rank)[index]:
        with reader.graph.inserting_before(node):
            size = reader.graph.call_method("size", (sym.src, i))
        reader.syms[size] = Sym("dim", sym.src, i)
        out.append(size)
    return tuple(out)
