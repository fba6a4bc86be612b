"""Which dim of a tensor a child block was given a dim of its output is, read off the
child's own forward; and a dim of an elementwise join of two tensors.

PVT-v2's stage flattens its map into tokens, walks its blocks over them and folds them back
with the sizes it read before (`B, H, W, C = x.shape`, ..., `x.reshape(B, H, W, -1)`); the
steps between are calls of the model's own classes, each a residual `x + attn(norm(x))`.
provenance.py follows a dim back through torch's own layers only, since a class of the
model's may reshape in its forward; but the importer traces that forward anyway, and its
graph says where each dim of what it returns comes from: the walk goes on inside it, from
its output back to one of its placeholders, and out again at the tensor the caller passed
there. A join `a + b` keeps a dim where a's and b's each lead back to the same dim of the
same tensor (broadcasting can then change neither).
"""

from __future__ import annotations

import operator
from typing import Any

from .calls import is_node

#: the joins of two tensors whose output has, at a dim both operands share, that size
_JOINS = frozenset({operator.add, operator.sub, operator.mul, operator.truediv})
#: how many steps a walk takes at most, and how deep it goes into children
_MAX_STEPS = 200
_MAX_DEPTH = 16


def child_source_dim(reader: Any, node: Any, child: Any, i: int) -> tuple[Any, int] | None:
    """(the tensor the caller gave, its dim) that dim `i` of `child`'s output is for every
    input, by the steps of `child`'s traced forward; None when unproven (no traced graph, a
    tuple returned, a walk that ends elsewhere than at a placeholder given a tensor)."""
    from .slices import _node_shapes
    from .trace import body_of

    depth = reader.__dict__.get("child_depth", 0)
    if depth >= _MAX_DEPTH or node.kwargs:
        return None
    if not _a_block(reader, child):  # a layer kind read off the module (timm's LayerNorm2d)
        given = _node_shapes(reader).get(node.args[0]) if len(node.args) == 1 else None
        j = kind_dim(child, i, given) if given is not None else None
        return (node.args[0], j) if j is not None else None
    body_of(child, reader.problems)  # traced once, as the importer does a block's anyway
    inner = reader.problems.readers.get(id(child))
    if inner is None or inner.graph is None or getattr(inner, "failed", False):
        return None
    inner.child_depth = depth + 1
    (output,) = [n for n in inner.graph.nodes if n.op == "output"]
    placeholders = [n for n in inner.graph.nodes if n.op == "placeholder"]
    found = walk_back(inner, output.args[0], i, lambda n: n.op == "placeholder")
    if found is None:
        return None
    at, dim = found
    k = placeholders.index(at)
    given = node.args[k] if k < len(node.args) else None
    if not is_node(given):
        return None
    theirs, ours = _node_shapes(reader).get(given), _node_shapes(inner).get(at)
    if theirs is None or ours is None or len(theirs) != len(ours):
        return None  # the child's run saw another rank (a child called on several inputs)
    return given, dim


#: torch.nn's modules whose output has their input's shape, whatever the input's sizes
_SAME_SHAPE_MODULES = frozenset(
    {
        *("Identity", "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "LayerNorm", "Softmax"),
        *("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "GroupNorm", "InstanceNorm1d"),
        *("InstanceNorm2d", "InstanceNorm3d", "GELU", "ReLU", "ReLU6", "SiLU", "Sigmoid"),
        *("Tanh", "Hardswish", "Hardsigmoid", "LeakyReLU", "Mish", "ELU"),
    }
)
_CONVS = frozenset({"Conv1d", "Conv2d", "Conv3d"})


def torch_module_dim(child: Any, i: int, rank: int | None) -> int | None:
    """The dim of its input that dim `i` of what torch's own layer `child` returns is, for
    every input: any dim of a layer that keeps its input's shape, every dim but the last of
    a `Linear`, the batch and each spatial dim a convolution keeps (stride 1 and padding
    `dilation * (kernel - 1) / 2` on each side, or `same`), and through a plain
    `nn.Sequential` of such layers; None otherwise. `rank`: the output's."""
    import torch.nn as nn

    if rank is None or not -rank <= i < rank:
        return None
    i %= rank
    kind = type(child).__name__
    if type(child) is nn.Sequential:
        for layer in reversed(list(child)):
            if not type(layer).__module__.startswith("torch.nn.modules"):
                return None  # a class of the model's own: no rule here
            found = torch_module_dim(layer, i, rank)
            if found is None:
                return None
            i = found
        return i
    if kind in _SAME_SHAPE_MODULES:
        return i
    if kind == "Linear":
        return i if i < rank - 1 else None
    if kind in _CONVS and rank == child.weight.dim():
        spatial = i - 2
        if i == 0:
            return 0
        if spatial < 0 or child.stride[spatial] != 1:
            return None
        if child.padding == "same":
            return i
        k, d = child.kernel_size[spatial], child.dilation[spatial]
        kept = isinstance(child.padding, tuple) and 2 * child.padding[spatial] == d * (k - 1)
        return i if kept else None
    return None


def kind_dim(child: Any, i: int, given: tuple[int, ...]) -> int | None:
    """Dim `i` of what `child` returns when the importer reads `child` as a layer kind of one
    input and it is dim `i` of that input for every size there: the kind's shape rule, run on
    the input the example gave (`given`) with dim `i` a symbol, returns that symbol there (a
    norm, an activation); None otherwise."""
    from ..dims import Dim
    from ..ops.base import REGISTRY
    from ..ops.shapectx import ShapeContext
    from .leaves import read_leaf

    leaf = read_leaf(child)
    op = REGISTRY.get(leaf.kind) if leaf is not None else None
    if op is None or op.arity != 1 or not 0 <= i < len(given):
        return None
    shape = tuple(Dim.of("_size") if k == i else Dim.of(n) for k, n in enumerate(given))
    try:
        out = op.infer(dict(leaf.full), [shape], ShapeContext()).shape
    except Exception:  # a size the kind needs known (channels), or a rule refusing it
        return None
    return i if len(out) == len(shape) and out[i] == shape[i] else None


def _a_block(reader: Any, child: Any) -> bool:
    """Whether the reader made `child` a block call (an item of the model's own class whose
    forward the importer traces), not a layer kind read off the module."""
    items = [*reader.items, *(seq for seq, _ in reader.module_lists.values())]  # lists.py
    while items:
        item = items.pop()
        if item.kind == "block" and item.module is child:
            return True
        items.extend(item.body or ())
    return False


def walk_back(reader: Any, node: Any, i: int, stop: Any) -> tuple[Any, int] | None:
    """Dim `i` of `node` followed back one proven step at a time (provenance._source_dim)
    to the first node `stop` takes; None when a step is unproven first."""
    from .provenance import _source_dim
    from .slices import _node_shapes

    shapes = _node_shapes(reader)
    for _ in range(_MAX_STEPS):
        if not is_node(node):
            return None
        if node in shapes and i < 0:
            i %= len(shapes[node])
        if stop(node):
            return node, i
        step = _source_dim(reader, node, i, shapes)
        if step is None:
            return None
        node, i = step
    return None


def joined_dim(reader: Any, node: Any, i: int, shapes: dict[Any, Any]) -> tuple[Any, int] | None:
    """(a, i) for dim `i` of `a + b` (`-`, `*`, `/`) of two tensors of one rank whose dims `i`
    both lead back to the same dim of one tensor; None otherwise."""
    if node.op != "call_function" or node.target not in _JOINS or node.kwargs:
        return None
    if len(node.args) != 2 or not all(is_node(a) and a in shapes for a in node.args):
        return None
    a, b = node.args
    if len(shapes[a]) != len(shapes[b]) or not 0 <= i < len(shapes[a]):
        return None
    origins = [_origin(reader, v, i) for v in (a, b)]
    return (a, i) if origins[0] is not None and origins[0] == origins[1] else None


def _origin(reader: Any, node: Any, i: int) -> tuple[Any, int] | None:
    """The earliest (node, dim) that dim `i` of `node` is proven to be; each worked out once
    per module read (a chain of residual joins `x = x + f(x)` asks for every earlier one's
    twice: without the memo, that is 2 ** joins walks)."""
    from .provenance import _source_dim
    from .slices import _node_shapes

    memo = reader.__dict__.setdefault("dim_origins", {})
    if (node, i) in memo:
        return memo[node, i]  # type: ignore[no-any-return]
    shapes, start = _node_shapes(reader), (node, i)
    found = None
    for _ in range(_MAX_STEPS):
        if node in shapes and i < 0:
            i %= len(shapes[node])
        step = _source_dim(reader, node, i, shapes)
        if step is None or not is_node(step[0]):
            found = node, i
            break
        node, i = step
    memo[start] = found
    return found
