"""A constant slice of one dim in a forward (`out[:, :self.oup]`, `x[:, c:]`,
`torch.narrow(x, 1, start, length)`) as a `split` item whose named piece is the slice.

A spec's `split` needs every piece's size, so the size of the sliced dim must be known:
it is read from the shapes the module's graph computes on the input its instance received
when the model ran once on the example input (recorded lazily, only when a forward slices).
The pieces before and after the slice are named too and read by nothing. Anything else (a
step, a tensor index, slices of two dims, a bound worked out from a size, the batch dim) is
refused at the statement (E903) with what to write instead.
"""

from __future__ import annotations

import operator
from typing import Any

_HINT = (
    "a spec's `split` states a slice of one dim with constant bounds and step 1 "
    "(`x[:, a:b]`, `torch.narrow(x, 1, a, n)`): write the slice that way, or as a module"
)


def _is_node(value: Any) -> bool:
    return hasattr(value, "op") and hasattr(value, "graph")


def input_shapes(model: Any, example_input: Any) -> dict[int, tuple[Any, ...]]:
    """id(module) -> (shape, dtype, device) of the first tensor each module received when `model`
    ran once on `example_input` in eval mode; {} when it does not run."""
    import torch

    from .modes import eval_forward

    seen: dict[int, tuple[Any, ...]] = {}

    def record(module: Any, args: tuple[Any, ...]) -> None:
        if args and isinstance(args[0], torch.Tensor) and id(module) not in seen:
            seen[id(module)] = (tuple(args[0].shape), args[0].dtype, args[0].device)

    hooks = [m.register_forward_pre_hook(record) for m in model.modules()]
    try:
        eval_forward(model, example_input)
    except Exception:  # the import reports a model that does not run on its own
        return {}
    finally:
        for hook in hooks:
            hook.remove()
    return seen


def _node_shapes(reader: Any) -> dict[Any, tuple[int, ...]]:
    """The shape of every tensor node of the reader's graph, run on its module's input."""
    import torch
    import torch.fx as fx

    cached = getattr(reader, "slice_shapes", None)
    if cached is not None:
        return cached
    shapes: dict[Any, tuple[int, ...]] = {}
    reader.slice_shapes = shapes
    problems = reader.problems
    if problems.input_shapes is None:
        model, example = problems.example or (None, None)
        problems.input_shapes = {} if model is None else input_shapes(model, example)
    given = problems.input_shapes.get(id(reader.module))
    if given is None:
        return shapes

    class Recorder(fx.Interpreter):
        def run_node(self, n: Any) -> Any:
            value = super().run_node(n)
            if isinstance(value, torch.Tensor):
                shapes[n] = tuple(value.shape)
            return value

    try:
        shape, dtype, device = given
        with torch.no_grad():
            Recorder(reader.module, graph=reader.graph).run(
                torch.zeros(shape, dtype=dtype, device=device)
            )
    except Exception:  # a graph that does not run as traced: its sizes stay unknown
        pass
    return shapes


def _bounds(node: Any) -> tuple[Any, Any, Any] | str:
    """(source, dim, slice) of a getitem or narrow node that slices, or why it is refused,
    or "" when the node is no slice of a tensor."""
    import torch

    args, kwargs = node.args, node.kwargs
    if node.target is torch.narrow or (node.op == "call_method" and node.target == "narrow"):
        names = ("input", "dim", "start", "length")
        given = dict(zip(names, args, strict=False)) | dict(kwargs)
        dim, start, length = given.get("dim"), given.get("start"), given.get("length")
        if not all(type(v) is int for v in (dim, start, length)):
            return "narrows by a bound that is not a constant (one worked out from a size?)"
        return given.get("input"), dim, ("narrow", start, length)
    if node.target is not operator.getitem or len(args) != 2 or not _is_node(args[0]):
        return ""
    index = args[1] if isinstance(args[1], tuple) else (args[1],)
    if not any(isinstance(i, slice) or _is_node(i) for i in index):
        return ""
    return args[0], None, index


def _slice_dim(index: tuple[Any, ...], rank: int) -> tuple[int, slice] | str | None:
    """The one dim a getitem index slices and its slice; None when it slices nothing; a
    reason when it is refused."""
    if any(_is_node(i) for i in index):
        return "indexes with a tensor or a size"
    if index.count(Ellipsis) == 1:
        at = index.index(Ellipsis)
        fill = (slice(None),) * (rank - len(index) + 1)
        index = index[:at] + fill + index[at + 1 :]
    if any(not isinstance(i, slice) for i in index):
        return "indexes with other than slices (an int, None or several `...`)"
    cut = [(d, s) for d, s in enumerate(index) if s != slice(None)]
    if any(_is_node(v) for _, s in cut for v in (s.start, s.stop, s.step)):
        return "slices with a bound worked out from a size of a tensor"
    if any(s.step not in (None, 1) for _, s in cut):
        return "slices with a step"
    if len(cut) > 1:
        return f"slices {len(cut)} dims at once ({', '.join(str(d) for d, _ in cut)})"
    return cut[0] if cut else None


def read_slice(reader: Any, node: Any) -> bool:
    """A constant slice of one dim as a `split` item; True if the node was handled (read,
    or refused at its statement). `reader` is trace._GraphReader."""
    from .trace import Item

    found = _bounds(node)
    if found == "" or (not isinstance(found, str) and found[0] not in reader.names):
        return False  # no slice, or of what is no tensor node read so far (refused before)
    what = "torch.narrow" if node.target != operator.getitem else "a tensor index `x[...]`"
    if isinstance(found, str):
        reader.fail("E903", f"{what} {found}", node, _HINT)
        return True
    src, dim, index = found
    shape = _node_shapes(reader).get(src)
    if shape is None:
        reader.fail("E903", f"{what}: the size of the tensor it slices is not known", node, _HINT)
        return True
    if dim is None:
        cut = _slice_dim(index, len(shape))
        if cut is None or isinstance(cut, str):
            if cut is None and src in reader.names:  # `x[:, :]`: x itself
                reader.names[node] = reader.names[src]
                return True
            reader.fail("E903", f"{what} {cut}", node, _HINT)
            return True
        dim, piece = cut
        start, stop, _ = piece.indices(shape[dim])
    else:
        dim = dim % len(shape)
        start = index[1] + shape[dim] if index[1] < 0 else index[1]
        stop = start + index[2]
    dim = dim % len(shape)
    if dim == 0 or stop <= start or stop > shape[dim] or start < 0:
        why = "slices the batch dim" if dim == 0 else f"slices nothing of dim {dim}"
        reader.fail("E903", f"{what} {why}", node, _HINT)
        return True
    inputs = reader._inputs((src,))
    if inputs is None:
        return True
    sizes = [s for s in (start, stop - start, shape[dim] - stop) if s]
    if len(sizes) == 1:  # the whole dim: the tensor itself
        reader.names[node] = inputs[0]
    else:
        names = [reader._fresh(f"{node.name}_{i}") for i in range(len(sizes))]
        reader.used.update(names)
        fields = {"dim": dim, "names": names, "split_size": sizes}
        item = Item(None, "split", dict(fields), dict(fields), inputs, is_module=False)
        item.train_only = node.name in reader.train_only
        reader.items.append(item)
        reader.names[node] = names[1 if start else 0]
    if any(u.op == "output" for u in node.users):
        name = reader._fresh(node.name)  # a block returns its last node, not a piece before
        out = Item(name, "identity", {}, {}, (reader.names[node],), is_module=False)
        reader._add(node, out, name)
    return True
