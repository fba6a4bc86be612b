"""Sizes read in a forward (`n, c, h, w = x.shape`), as far as a spec can state them.

ViT's forward reads its input's shape to assert the image size (`torch._assert(h == 224)`),
to reshape its patches (`x.reshape(n, hidden_dim, n_h * n_w)`) and to expand its class token
over the batch (`class_token.expand(n, -1, -1)`). Those uses have kinds: `check_size`,
`reshape` (0 keeps the batch dim, one -1 takes what is left), `expand`; DeepLabV3's ASPP
pooling resizes to its input's spatial size (`F.interpolate(x, size=y.shape[-2:])`), which is
`interpolate_as`. Sizes are tracked as symbols here; any other use of one stays unreadable
(E903 at the statement).
"""

from __future__ import annotations

import math
import operator
from typing import Any

from ..lazymethods import dataclass
from .calls import after_refused, attribute_read, listed


@dataclass(frozen=True)
class Sym:
    """A size read from a traced tensor: `what` is shape, dim, spatial or sizes (a slice of a
    shape from dim `index` on), rank, eq, derived, cond (another comparison of sizes), or
    joined (a shape plus a tuple of sizes: shapesums.py)."""

    what: str
    src: Any = None  # the fx node whose size it is
    index: int | None = None
    value: Any = None  # eq: (Sym, constant)


_ARITH = {
    operator.floordiv,
    operator.mul,
    operator.add,
    operator.sub,
    operator.truediv,
    operator.mod,
    operator.pow,  # `q.size(-1) ** -0.5`: a number where the size is one (regroup.fixed_value)
    operator.neg,  # `-W % 2`: the pad of W to a multiple of 2 (padas.py)
    math.sqrt,  # `1.0 / math.sqrt(k.size(-1))`, as minGPT scales its scores
}
#: comparisons, by the operator a forward writes (an assertion's condition on sizes)
COMPARE = {
    operator.eq: "==",
    operator.ne: "!=",
    operator.lt: "<",
    operator.le: "<=",
    operator.gt: ">",
    operator.ge: ">=",
}
_WRITTEN = {
    operator.floordiv: "//",
    operator.mul: "*",
    operator.add: "+",
    operator.sub: "-",
    operator.truediv: "/",
    operator.mod: "%",
    operator.pow: "**",
    operator.neg: "-",
    **COMPARE,
}


def size_of(node: Any, syms: dict[Any, Sym]) -> Sym | None:
    """The symbol a size-reading node makes, or None when it reads no size."""
    args = node.args
    read = attribute_read(node.target, args) if node.op == "call_function" else None
    if read == "shape":
        return Sym("shape", args[0])
    if node.op == "call_method" and node.target == "size":
        if len(args) == 1:
            return Sym("shape", args[0])
        if len(args) == 2 and isinstance(args[1], int):
            return Sym("dim", args[0], args[1])
    if node.op == "call_method" and node.target == "dim" and len(args) == 1:
        return Sym("rank", args[0])
    if read == "ndim":
        return Sym("rank", args[0])  # `x.ndim`, as timm's norm layers assert it
    if node.op != "call_function":
        return None
    first = syms.get(args[0]) if args else None
    if node.target is operator.getitem and first is not None and first.what == "shape":
        if _spatial_slice(args[1]):  # `x.shape[2:]`, `x.shape[-2:]`: its spatial size
            return Sym("spatial", first.src, args[1].start)
        if _tail_slice(args[1]):  # `x.size()[1:]`, `*x.shape[:2]`: sizes read one by one below
            return Sym("sizes", first.src, args[1].start or 0)
        return Sym("dim", first.src, args[1]) if isinstance(args[1], int) else None
    if node.target is operator.getitem and first is not None and first.what in SLICED:
        start, i = first.index, args[1]  # `h, w = x.shape[2:]`: dims 2 and 3
        if isinstance(start, int) and type(i) is int and i >= 0 and (start >= 0 or start + i < 0):
            return Sym("dim", first.src, start + i)
        return None
    by_one = len(args) == 2 and type(args[1]) is int and args[1] == 1 and first is not None
    if by_one and node.target in (operator.floordiv, operator.mul) and first.what == "dim":
        return first  # `H // 1`, `W * 1` (a stride of 1, MobileNet-v4's query_strides): H
    if node.target is operator.eq and first is not None and isinstance(args[1], int):
        return Sym("eq", value=(first, args[1]))
    if node.target in _BOUNDS and len(args) == 2:  # `t <= self.block_size`, `16 >= t`
        bound = _bound(node.target, args, syms)
        if bound is not None:
            return bound
    if node.target not in _ARITH and node.target not in COMPARE:
        return None
    from .shapesums import joins_shapes

    if joins_shapes(node, syms):  # `x.size()[:-1] + (heads, head_size)`: shapesums.py
        return Sym("joined")
    # arithmetic of sizes and numbers only: `y * h` of a tensor `y` is a tensor
    nodes = node.all_input_nodes
    if not nodes or not all(a in syms for a in nodes):
        return None
    return Sym("derived") if node.target in _ARITH else Sym("cond")
    return None


#: the comparisons a bound on one size makes, and each read the other way round (`16 >= t`)
_BOUNDS = {operator.lt: operator.gt, operator.le: operator.ge}
_BOUNDS.update({v: k for k, v in _BOUNDS.items()})


def _bound(op: Any, args: Any, syms: dict[Any, Sym]) -> Sym | None:
    """`Sym("bound", value=(dim, op, k))` for a dim of a tensor compared with an int (either
    side first), else None."""
    left, right = syms.get(args[0]), syms.get(args[1])
    if left is not None and left.what == "dim" and type(args[1]) is int:
        return Sym("bound", value=(left, op, args[1]))
    if right is not None and right.what == "dim" and type(args[0]) is int:
        return Sym("bound", value=(right, _BOUNDS[op], args[0]))
    return None


#: a shape's trailing sizes: `x.shape[2:]` (spatial, also a size F.interpolate takes) or
#: another slice from a dim on (`x.size()[1:]`, iterated by the tutorial's `num_flat_features`)
SLICED = ("spatial", "sizes")


def _tail_slice(index: Any) -> bool:
    """`[k:]`, `[:k]` or `[j:k]` with int bounds (the sizes are read one by one)."""
    if not isinstance(index, slice) or index.step is not None:
        return False
    return all(b is None or type(b) is int for b in (index.start, index.stop))


def _spatial_slice(index: Any) -> bool:
    """`[2:]`, or `[-k:]` (which F.interpolate's check holds to the input's spatial dims)."""
    if not isinstance(index, slice) or index.stop is not None or index.step is not None:
        return False
    return index.start == 2 or (type(index.start) is int and index.start < 0)


def _spatial_size(reader: Any, size: Any) -> Sym | None:
    """The spatial size of a tensor that `size` gives: `y.shape[-2:]`, or the same sizes read
    one by one, in order, up to the last (GhostNetV2's `(out.shape[-2], out.shape[-1])`;
    HRNet's `x0_h, x0_w = x[0].size(2), x[0].size(3)` of a map of rank 4, its rank read on
    the example input)."""
    syms = reader.syms
    if not isinstance(size, tuple | list):
        sym = syms.get(size) if size is not None else None
        if sym is None or sym.what != "dim":
            return sym if sym is not None and sym.what == "spatial" else None
        size = [size]  # `size=skip.shape[-1]` of (N, C, L) maps: a length, F.interpolate's own
    dims = [syms.get(s) if hasattr(s, "op") else None for s in size]
    found = [d for d in dims if d is not None and d.what == "dim"]
    if not found or len(found) != len(size):
        return None
    src = found[0].src
    if any(d.src is not src or type(d.index) is not int for d in found):
        return None
    indices = [d.index for d in found]
    if indices != list(range(-len(found), 0)):
        from .slices import _node_shapes

        rank = len(_node_shapes(reader).get(src, ()))
        if indices != list(range(2, rank)):
            return None
    return Sym("spatial", src)


def _interpolate_as(reader: Any, node: Any) -> bool:
    """`F.interpolate(x, size=y.shape[-2:], ...)`, DeepLabV3's ASPP pooling brought back to
    its input's size (or `size=(y.shape[-2], y.shape[-1])`, GhostNetV2's DFC attention): the
    kind `interpolate_as` reading x and y."""
    from .functions import _MODES

    names = ("size", "scale_factor", "mode", "align_corners", "recompute_scale_factor")
    given = dict(zip(names, node.args[1:], strict=False)) | dict(node.kwargs)
    written = given.pop("size", None)
    size = _spatial_size(reader, written)
    if size is None or not node.args:
        return False
    from .slices import _node_shapes

    shapes = _node_shapes(reader)
    rank = len(shapes.get(node.args[0], ()))
    if rank != len(shapes.get(size.src, ())):  # interpolate_as reads maps of one rank
        return False
    if not isinstance(written, tuple | list) and reader.syms[written].what == "dim" and rank != 3:
        return False  # one int is every spatial size: one dim's alone only of (N, C, L) maps
    if given.pop("scale_factor", None) is not None or given.pop("recompute_scale_factor", None):
        return False
    if given.pop("antialias", False) or set(given) - {"mode", "align_corners"}:
        return False
    fields: dict[str, Any] = {"mode": given.get("mode", "nearest")}
    if fields["mode"] not in _MODES:
        return False
    if given.get("align_corners") is not None:
        fields["align_corners"] = bool(given["align_corners"])
    return reader.emit(node, "interpolate_as", fields, (node.args[0], size.src))


def is_batch(sym: Any) -> bool:
    return isinstance(sym, Sym) and sym.what == "dim" and sym.index == 0


_UNSTATED_RESHAPE = (
    "{} takes sizes read from tensor shapes that no spec step states for every input"
)
_UNSTATED_HINT = (
    "a `reshape` keeps the batch, a dim in its place (0) or one -1, every other size a "
    "number; `flatten` and `unflatten` regroup dims whose sizes are products of the input's "
    "dims and numbers (or one dim `//` a number, an unflatten's -1), and tokens fold back "
    "into the map whose H and W they read, in that order (a `departition` of one-token "
    "groups: docs/spec-language.md, Tokens back into a map) or a dim is split into sizes "
    "read off one tensor (an `unflatten_as`); else write the sizes as numbers, which fits "
    "one input size"
)


def reshape_sizes(
    values: list[Any], syms: dict[Any, Sym], src: Any, reader: Any
) -> list[int] | None:
    """A reshape's sizes as `reshape` writes them: numbers, 0 for a size that is the same
    dim of `src` (the tensor reshaped) for every input (the batch in front, `c` in
    `x.view(b, c, h * w)`, N of `B, N, C = x.shape` in `(attn @ v).transpose(1, 2).reshape(B,
    N, C)`: provenance.kept_at), one -1 for a size computed from the input's; None when they
    say more than that. `reader` is trace._GraphReader."""
    from .provenance import kept_at

    out: list[int] = []
    for i, v in enumerate(values):
        if isinstance(v, int) and not isinstance(v, bool):
            out.append(v)
        elif kept_at(reader, syms, v, src, i):
            out.append(0)
        elif v in syms and syms[v].what in ("dim", "derived"):
            out.append(-1)
        else:
            return None
    return out if out.count(-1) <= 1 else None


def size_asserts(graph: Any, syms: dict[Any, Sym], src: Any) -> dict[Any, tuple[int, int]]:
    """The `torch._assert(x.shape[d] == k)` nodes on `src`: node -> (dim, size)."""
    import torch

    found = {}
    for node in graph.nodes:
        if node.op == "call_function" and node.target is torch._assert and node.args:
            cond = syms.get(node.args[0])
            if cond is not None and cond.what == "eq":
                dim, size = cond.value
                if dim.what == "dim" and dim.src is src and isinstance(dim.index, int):
                    found[node] = (dim.index, size)
    return found


def read_size_node(reader: Any, node: Any) -> bool:
    """Handle a node that reads or uses sizes (see the module docstring); True if handled.
    `reader` is trace._GraphReader: its names, items and helpers are used."""
    import torch

    syms: dict[Any, Sym] = reader.syms
    if node in syms:
        return True
    args = node.args
    if node.op == "call_function" and node.target is torch._assert:
        return _assertion(reader, node)
    if node.target in ("reshape", "view") or node.target is torch.reshape:
        return _read_reshape(reader, node, syms)
    if node.op == "call_function" and node.target is torch.nn.functional.interpolate:
        return _interpolate_as(reader, node)
    if node.op == "call_function" and getattr(node.target, "__name__", "").startswith("max_unp"):
        from .unpools import read_unpool_as

        return read_unpool_as(reader, node)
    if node.op == "call_function" and node.target is torch.nn.functional.affine_grid:
        from .sampling import read_affine_grid

        return read_affine_grid(reader, node)
    if node.op == "call_function" and node.target is torch.nn.functional.pad:
        from .padas import read_pad_as

        return read_pad_as(reader, node)
    if node.op == "call_function" and node.target is torch.arange:
        from .positions import read_positions

        return read_positions(reader, node)
    if node.target == "expand_as" and _broadcast_anyway(node):
        if args[0] in reader.names:  # ECA's `x * y.expand_as(x)` is `x * y`
            reader.names[node] = reader.names[args[0]]
        return True
    if node.target == "expand" and len(args) >= 2:  # over the batch, or dim 1 (seq first)
        at = [i for i, a in enumerate(args[1:]) if a != -1]
        sym = syms.get(args[1 + at[0]]) if len(at) == 1 and at[0] < 2 else None
        if isinstance(sym, Sym) and sym.what == "dim" and sym.index == at[0] and not node.kwargs:
            return reader.emit(node, "expand", {"dim": at[0]} if at[0] else {}, (args[0], sym.src))
        if is_batch(syms.get(args[1])):
            return False
    if node.target == "repeat" and len(args) >= 2 and is_batch(syms.get(args[1])):
        return _repeat_over_batch(reader, node)
    if node.target == "repeat" and len(args) >= 2 and (at := _repeated_unsqueeze(reader, node)):
        return reader.emit(node, "expand", {"dim": at[0]} if at[0] else {}, (args[0], at[1]))
    if (
        node.op == "call_function"
        and node.target is operator.getitem
        and hasattr(args[0], "op")
        and args[0] not in reader.names
        and after_refused(reader.refused, reader.names, (args[0],))
    ):
        return True  # `torch.max(x, 2)[0]` of a max left out after a step refused before it
    if node.target is operator.getitem and getattr(args[0], "op", None) == "call_module":
        from .several import uncounted

        if uncounted(reader, node, args[0]):
            return True
    if node.op == "call_function" and node.target is operator.getitem and args[0] in reader.tuples:
        if args[1] == 0:
            reader.names[node] = reader.tuples[args[0]]
            return True
        return not node.users  # `x, _ = attention(...)`: the unused weights
    if node.op == "call_function" and node.target is operator.getitem:
        index = args[1] if isinstance(args[1], tuple) else (args[1],)
        lead = [i for i in index[:-1] if i == slice(None)]
        last = index[-1]
        if len(lead) == len(index) - 1 >= 1 and isinstance(last, int) and hasattr(args[0], "op"):
            return reader.emit(node, "select", {"dim": len(lead), "index": last}, (args[0],))
        if len(index) == 1 and type(last) is int and _a_tensor(reader, args[0]):
            # `out[-1]`, dim 0: a sequence-first RNN's last step (not a tuple's item)
            return reader.emit(node, "select", {"dim": 0, "index": last}, (args[0],))
    return False


def _a_tensor(reader: Any, node: Any) -> bool:
    """Whether the fx `node` is a tensor the example input makes (not a tuple a call
    returns, whose items a getitem takes)."""
    from .slices import _node_shapes

    return hasattr(node, "op") and node in reader.names and node in _node_shapes(reader)


def size_as_tensor(reader: Any, node: Any, call: Any) -> bool:
    """One E903 at a tensor step that reads a size as an operand (`y * h`, `y + (h > 2)`):
    no node of a spec holds a size. True if so."""
    from .functions import UNKNOWN_CALL_HINT, describe_target
    from .slices import doubled_note

    size = next((n for n in call.inputs if n in reader.syms), None)
    if size is None:
        return False
    what = describe_target(node.op, node.target, node.args)
    message = f"{what} reads `{size.name}`, computed from sizes read in forward, as a tensor"
    note, hint = doubled_note(reader.problems)  # why it is not known to be one number
    reader.fail(
        "E903", f"{message}{note}: no node of a spec holds it", node, hint + UNKNOWN_CALL_HINT
    )
    return True


def with_fixed_sizes(reader: Any, args: tuple[Any, ...]) -> tuple[Any, ...]:
    """A tensor step's arguments with each size computed in forward that is a number for
    every input (regroup.fixed_value) written as that number, as torch computes it."""
    from .calls import is_node
    from .regroup import fixed_value

    def fixed(v: Any) -> Any:
        if isinstance(v, list | tuple):
            return type(v)(fixed(x) for x in v)
        if is_node(v) and v in reader.syms:
            n = fixed_value(reader, v)
            return v if n is None else n
        return v

    return tuple(fixed(a) for a in args)


def _repeated_unsqueeze(reader: Any, node: Any) -> tuple[int, Any] | None:
    """(dim, tensor) when `node` repeats, once at one dim below 2 and never elsewhere, a dim
    of size 1 an unsqueeze made by the size of another tensor's same dim: bentrevett's
    `hidden.unsqueeze(1).repeat(1, src_len, 1)` with `src_len = encoder_outputs.shape[1]`,
    the values `expand` views (repeat copies them)."""
    t, counts = node.args[0], node.args[1:]
    if len(counts) == 1 and isinstance(counts[0], list | tuple):  # `x.repeat((1, n, 1))`
        counts = tuple(counts[0])
    at = [i for i, c in enumerate(counts) if c != 1]
    if node.kwargs or len(at) != 1 or at[0] >= 2 or getattr(t, "target", None) != "unsqueeze":
        return None
    from .slices import _node_shapes

    shape = _node_shapes(reader).get(t)  # as many counts as dims: no dim added in front
    made = t.args[1] if len(t.args) > 1 else t.kwargs.get("dim")
    sym = reader.syms.get(counts[at[0]])
    if shape is None or len(shape) != len(counts):
        return None
    if made != at[0] or not isinstance(sym, Sym) or sym.what != "dim" or sym.index != at[0]:
        return None
    return at[0], sym.src


def _repeat_over_batch(reader: Any, node: Any) -> bool:
    """`t.repeat(x.size(0), 1)` of a `t` the input does not reach, with one row (or of one
    dim, which the repeat makes a row): each sample gets the same rows, what `expand` gives
    (PointNet's identity added to its T-Net's output)."""
    from .slices import _node_shapes

    t, repeats = node.args[0], node.args[2:]
    shape = _node_shapes(reader).get(t)
    if node.kwargs or shape is None or any(r != 1 for r in repeats) or not _input_free(t):
        return False
    batch = reader.syms[node.args[1]].src
    if len(repeats) == len(shape):  # `torch.eye(3).flatten().repeat(n, 1)`: a row each
        return reader.emit(node, "unsqueeze", {"dim": 0}, (t,)) and reader.emit(
            node, "expand", {}, (node, batch)
        )
    if len(repeats) != len(shape) - 1 or shape[0] != 1:
        return False
    return reader.emit(node, "expand", {}, (t, batch))


def _input_free(node: Any) -> bool:
    """Whether no input of the forward reaches `node` (its shape is then every run's), but
    for where and in what it is made (`device=x.device`, `dtype=x.dtype`)."""
    from .casts import META

    seen, todo = set(), [node]
    while todo:
        n = todo.pop()
        if n.op == "placeholder":
            return False
        if n.op == "call_function" and attribute_read(n.target, n.args) in META:
            continue
        for m in n.all_input_nodes:
            if m not in seen:
                seen.add(m)
                todo.append(m)
    return True


def _broadcast_anyway(node: Any) -> bool:
    """`a.expand_as(b)` read only by elementwise joins of it and `b` itself: broadcasting
    gives `a` the shape of `b` there as it is, so the node is `a`."""
    import torch

    joins = {operator.add, operator.mul, operator.sub, torch.add, torch.mul, torch.sub}
    if len(node.args) != 2 or node.kwargs or not node.users:
        return False
    return all(
        ((u.op == "call_function" and u.target in joins) or u.target in ("add", "mul", "sub"))
        and len(u.args) == 2
        and not u.kwargs
        and set(u.args) == {node, node.args[1]}
        for u in node.users
    )


def _fixed_size(reader: Any, dim: Sym, size: Any) -> bool:
    """Whether `torch._assert(x.shape[d] == size)` holds for every input a spec takes: `d`
    is no batch dim, and `x` has that size there both on the example input and on one of
    doubled sizes (timm's SelectiveKernel asserts its paths, `x.shape[1] == self.num_paths`;
    a spec's channels do not follow the input), so the assertion is no step of the spec.
    A size that follows the input is `check_size`'s to state, or refused."""
    from .slices import _node_shapes

    if dim.what != "dim" or not isinstance(dim.index, int) or type(size) is not int:
        return False
    here = _node_shapes(reader).get(dim.src)
    there = _node_shapes(reader, other=True).get(dim.src)
    if here is None or there is None or len(here) != len(there):
        return False
    at = dim.index + len(here) if dim.index < 0 else dim.index
    return 1 <= at < len(here) and here[at] == there[at] == size


_UNSTATED_ASSERT = (
    "`torch._assert` of a condition on sizes read in forward ({}) that no kind states: a spec"
    " asserts only its input's spatial size, as `check_size`"
)
_UNSTATED_ASSERT_HINT = (
    "a spec's shape rules already refuse, at `archspec check`, every input size its layers"
    " cannot take: remove the assertion from forward (or make it in a module that wraps the"
    " imported one), or assert one size of the input (`torch._assert(h == 224)`, a"
    " `check_size`)"
)


def _written(node: Any, syms: dict[Any, Sym]) -> list[str]:
    """The operators, as written, of the size arithmetic that computes `node` (`%`, `==`)."""
    seen, todo, found = set(), [node], []
    while todo:
        n = todo.pop()
        if n in seen or n not in syms:
            continue
        seen.add(n)
        op = _WRITTEN.get(getattr(n, "target", None))
        if op is not None and op not in found:
            found.append(op)
        todo.extend(n.all_input_nodes)
    return found


def _unstated_assertion(reader: Any, node: Any) -> bool:
    """One E903 at an assertion on sizes that no kind states (timm's HaloAttn asserts
    `H % self.block_size == 0`), naming what it computes, instead of one per operator."""
    ops = ", ".join(f"`{op}`" for op in reversed(_written(node.args[0], reader.syms)))
    reader.fail("E903", _UNSTATED_ASSERT.format(ops), node, _UNSTATED_ASSERT_HINT)
    return True


def _assertion(reader: Any, node: Any) -> bool:
    from .asserts import partial_assertion
    from .bounds import bounds_input
    from .slices import _node_shapes

    cond = reader.syms.get(node.args[0]) if node.args else None
    if cond is None:
        return False
    if cond.what == "bound" and bounds_input(reader, node, cond):
        return True  # the spec's domain must imply it: checked once the spec is made
    if cond.what != "eq":
        return _unstated_assertion(reader, node)
    dim, size = cond.value
    if dim.what == "rank":
        return True  # the rank is the layers' shape rules' to check
    if node in reader.asserted or _fixed_size(reader, dim, size):
        return True
    if dim.what != "dim" or not isinstance(dim.index, int) or dim.index < 2:
        return _unstated_assertion(reader, node)
    found = size_asserts(reader.graph, reader.syms, dim.src)
    by_dim = {d: k for d, k in found.values()}
    dims = sorted(by_dim)
    if dims != list(range(2, 2 + len(dims))):
        return _unstated_assertion(reader, node)
    src = dim.src
    rank = len(_node_shapes(reader).get(src, ()))
    if rank > 2 + len(dims):  # `assert h == 1` of an (N, C, H, W) map: asserts.py
        return partial_assertion(reader, node, found, src, rank)
    reader.asserted.update(found)
    ok = reader.emit(node, "check_size", {"size": [by_dim[d] for d in dims]}, (src,))
    if ok:
        reader.names[src] = reader.names[node]  # later reads of the input read the check
    return ok


def _read_reshape(reader: Any, node: Any, syms: dict[Any, Sym]) -> bool:
    """A `reshape`/`view` (method or torch.reshape): its sizes literal, read off the input
    (`reshape_sizes`), regrouped dims, or a located refusal."""
    from .functions import describe_target
    from .provenance import regrouped
    from .regroup import regroup_steps
    from .shapesums import sizes_written_out

    args = node.args
    sizes = listed(args)
    sizes = sizes_written_out(reader, node, sizes) or sizes  # `x.size()[:-1] + (4, 8)`
    if not any(s in syms for s in sizes):
        # literal sizes (LeNet's `x.view(-1, 16 * 4 * 4)`): torch's meaning is the kind's
        # but for 0, which the kind reads as "keep this dim"
        literal = all(type(s) is int and (s > 0 or s == -1) for s in sizes)
        if not sizes or not literal or list(sizes).count(-1) > 1 or node.kwargs:
            return False
        return reader.emit(node, "reshape", {"shape": list(sizes)}, (args[0],))
    shape = reshape_sizes(list(sizes), syms, args[0], reader)
    if shape is None and (found := regrouped(reader, list(sizes), syms, args[0])):
        return reader.emit(node, found[0], found[1], (args[0],))  # provenance.py
    if shape is None and (steps := regroup_steps(reader, node, list(sizes), args[0])):
        return all(
            reader.emit(node, k, f, (args[0] if n == 0 else node, *more))
            for n, (k, f, more) in enumerate(steps)
        )
    if shape is None and after_refused(reader.refused, reader.names, (args[0],)):
        reader.refused.add(node)  # its tensor's provenance broke where that was reported
        return True
    if shape is None:
        from .slices import run_failed

        what = describe_target(node.op, node.target, node.args)
        words, hint = run_failed(reader, args[0]) or ("", _UNSTATED_HINT)
        reader.fail("E903", _UNSTATED_RESHAPE.format(what) + words, node, hint)
        return True
    return reader.emit(node, "reshape", {"shape": shape}, (args[0],))
