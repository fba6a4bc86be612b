"""A reshape whose sizes are products and quotients of its input's dims, as a chain of
`flatten` and `unflatten` steps that compute it for every input.

TResNet's space-to-depth writes `x.view(N, C, H // 4, 4, W // 4, 4)`, BoTNet's attention
`q.reshape(B * heads, dim_head, -1)`: sizes read off shapes and computed with, which a
spec's `reshape` cannot write (its sizes are numbers, a 0 keeping a dim or one -1). Any
reshape is a regrouping of its input's dims: runs of input dims joined, then cut into the
output's sizes. The example run gives the finest such grouping (the runs whose sizes
multiply to the same number); each group is then proven for every input from what its
sizes are made of:

- a dim of the input, followed back through the steps before (provenance.py), ends at a
  size a reshape wrote (its form below), at the batch (dim 0), at a size no input changes
  (a number: a torch Linear's out_features, a convolution's channels, a torch.split
  piece's, or a size the same on the example input, on one of doubled H and W and on one
  of doubled batch too, as channels are), or at a size of its own (a symbol);
- a size the reshape writes is a number, a size read off a shape (followed back alike),
  a product of sizes, or a size read off a shape divided (`//`) by a number.

A group holds when its output sizes multiply to its input dims for every input: the same
symbols on both sides and the same number. A group is a `flatten` of its input dims (when
more than one) then an `unflatten` into its sizes (when more than one), which states each
size as a number but at most one (-1): so at most one size of a group is other than a
number, and a quotient (`H // 4`) must be that size alone, where the `unflatten`'s -1
requires what torch's view requires, that 4 divides H. One exception: a dim N cut into a
-1 and `N // k` (Hiera's windows) is `(k, -1)`, which the unflatten states where k divides
N; torch's view also takes some N that k does not divide (65 // 64 = 1: (65, 1)), which the
spec refuses at `check`, never computing otherwise. Anything else is None (E903, as before).
"""

from __future__ import annotations

import math
import operator
from collections import Counter
from typing import Any

from .calls import is_node

#: a size's form: the symbols it multiplies (with repeats) and the number it multiplies
#: them by. A symbol is "batch", ("dim", node, i) or ("quot", symbol, k): symbol // k.
Form = tuple[Counter, int]
#: a step of the chain: its kind, its fields and its inputs after the tensor it reshapes
Step = tuple[str, dict[str, Any], tuple[Any, ...]]
_MAX_STEPS = 200
#: how many sizes deep a form is followed (a size read off a reshape of sizes read off ...)
_MAX_DEPTH = 40


def regroup_steps(reader: Any, node: Any, values: list[Any], src: Any) -> list[Step] | None:
    """The steps (kind, fields, inputs after the tensor), in order, that compute the reshape
    `node` of `src` to `values` for every input; None when its runs are not proven. Sizes
    written as 1 that no run takes are `unsqueeze`s after the others (LambdaNet's
    `v.reshape(B, 1, H, W, dim_v)`)."""
    from .slices import _node_shapes

    shapes = _node_shapes(reader)
    here, out = shapes.get(src), shapes.get(node)
    if here is None or out is None or len(out) != len(values) or 0 in here or 0 in out:
        return None
    steps = _steps(reader, list(here), list(out), values, src)
    ones = [k for k, v in enumerate(values) if type(v) is int and v == 1]
    if steps is not None or not ones or len(ones) == len(values):
        return steps or None
    kept = [k for k in range(len(values)) if k not in ones]
    steps = _steps(reader, list(here), [out[k] for k in kept], [values[k] for k in kept], src)
    if steps is None:
        return None
    return steps + [("unsqueeze", {"dim": k}, ()) for k in ones]


def _steps(
    reader: Any, here: list[int], out: list[int], values: list[Any], src: Any
) -> list[Step] | None:
    """regroup_steps for the sizes `values` (`out` on the example input); [] when the
    reshape keeps every dim. A size of 1 pairs with the run before it or after it (a batch
    of 1 in `out.view(t, b, -1)` of a (t * b, C) tensor joins `t`, not `C`): each pairing
    is tried until one is proven."""
    dims = [_dim_form(reader, src, i) for i in range(len(here))]
    forms = [None if v == -1 else _size_form(reader, v) for v in values]
    if any(f is None and v != -1 for f, v in zip(forms, values)):
        return None
    for groups in _pairings(here, out):
        steps = _group_steps(reader, groups, dims, forms, values, len(out))
        if steps is not None:
            return steps
    return None


def _group_steps(
    reader: Any,
    groups: list[tuple[tuple[int, int], ...]],
    dims: list[Form],
    forms: list[Form | None],
    values: list[Any],
    rank: int,
) -> list[Step] | None:
    """The steps of one pairing of dims and sizes into runs, or None where a run is not
    proven."""
    steps: list[Step] = []
    fold: tuple[int, Any] | None = None  # (its place, the map) of tokens folded into a map
    for (a, b), (c, d) in groups:
        at = c - (fold is not None)  # the fold, done last, is one dim until then
        sizes = _group_sizes(dims[a:b], forms[c:d], -1 in values)
        folded = _folded_map(reader, values[c:d]) if sizes is None and fold is None else None
        like = _sizes_of(reader, dims[a:b], forms[c:d], values[c:d]) if sizes is None else None
        if sizes is None and folded is None and like is None:
            return None
        if b - a > 1:
            steps.append(("flatten", {"start_dim": at, "end_dim": at + b - a - 1}, ()))
        if folded is not None:
            fold = at, folded
        elif like is not None:
            steps.append(("unflatten_as", {"dim": at, "dims": like[1]}, (like[0],)))
        elif d - c > 1:
            steps.append(("unflatten", {"dim": at, "unflattened_size": sizes}, ()))
    if fold is not None:
        last = _fold(reader, fold, rank, forms[0])
        if last is None:
            return None
        steps += last
    return steps


def _folded_map(reader: Any, values: list[Any]) -> Any:
    """The map (N, C, H, W) whose H and W `values` read, in order, as tokens folded back
    into it are sized (`x.transpose(1, 2).reshape(B, C, H, W)`); None otherwise."""
    from .slices import _node_shapes

    syms = [reader.syms.get(v) if is_node(v) else None for v in values]
    if len(syms) != 2 or any(s is None or s.what != "dim" for s in syms):
        return None
    (h, w), shapes = syms, _node_shapes(reader)
    like = shapes.get(h.src)
    if h.src is not w.src or like is None or len(like) != 4 or h.src not in reader.names:
        return None
    if type(h.index) is not int or type(w.index) is not int:
        return None
    if (h.index % 4, w.index % 4) != (2, 3):
        return None
    return h.src if batch_at_front(reader, h.src) else None


def _sizes_of(
    reader: Any, dims: list[Form], forms: list[Form | None], values: list[Any]
) -> tuple[Any, list[int]] | None:
    """(the tensor, its dims) when a group's sizes, two or more, are each a size read off
    one tensor the spec holds (`v.reshape(B, W, H, -1)` after `B, H, W, C = x.shape`: B and
    W of x) and multiply to the group's dims for every input: an `unflatten_as` of those
    dims of that tensor states it for every input (timm's Sequencer folds the batch of
    columns its LSTM ran on back so); None otherwise."""
    from .slices import _node_shapes

    syms = [reader.syms.get(v) if is_node(v) else None for v in values]
    if len(syms) < 2 or any(s is None or s.what != "dim" or type(s.index) is not int for s in syms):
        return None
    like = syms[0].src
    rank = len(_node_shapes(reader).get(like, ()))
    if not rank or any(s.src is not like for s in syms) or like not in reader.names:
        return None
    want, got = (Counter(), 1), (Counter(), 1)
    for symbols, n in dims:
        want = want[0] + symbols, want[1] * n
    for form in forms:
        if form is None:
            return None
        got = got[0] + form[0], got[1] * form[1]
    return (like, [s.index % rank for s in syms]) if got == want else None


def _fold(reader: Any, fold: tuple[int, Any], rank: int, front: Form | None) -> list[Step] | None:
    """The steps that fold tokens at dim 1 or 2 of an (N, L, C) or (N, C, L) tensor into
    the map's H and W, as a spec writes it: a `departition` of one-token groups (its shape
    rule requires that L be H * W of the map, as the reshape does)."""
    at, like = fold
    if rank != 4 or front != (Counter(["batch"]), 1) or at not in (1, 2):
        return None
    departition: Step = ("departition", {"size": 1}, (like,))
    unsqueeze: Step = ("unsqueeze", {"dim": 2}, ())
    if at == 2:  # (N, C, L) into (N, C, H, W)
        return [("permute", {"dims": [0, 2, 1]}, ()), unsqueeze, departition]
    return [unsqueeze, departition, ("permute", {"dims": [0, 2, 3, 1]}, ())]


def batch_at_front(reader: Any, src: Any) -> bool:
    """Whether dim 0 of `src` is the batch alone as far as its steps tell: not a dim a
    reshape wrote as a product with it (`q.reshape(B * heads, ...)`, BoTNet's heads)."""
    return _dim_form(reader, src, 0) == (Counter(["batch"]), 1)


def _pairings(here: list[int], out: list[int]) -> list[list[tuple[tuple[int, int], ...]]]:
    """The runs of `_groups`, with sizes of 1 starting a run (the finest) and, where that
    differs, ending the run before."""
    found = [g for g in (_groups(here, out), _groups(here, out, True)) if g is not None]
    return found[:1] if len(found) == 2 and found[0] == found[1] else found


def _groups(
    here: list[int], out: list[int], ones_before: bool = False
) -> list[tuple[tuple[int, int], ...]] | None:
    """The finest runs of `here`'s dims and `out`'s sizes that multiply to the same number,
    as ((a, b), (c, d)) ranges; None when the sizes do not pair off so. `ones_before`: a
    dim or size of 1 after a run closes it rather than opening the next."""
    groups = []
    i = j = 0
    while i < len(here) and j < len(out):
        a, c = i, j
        ps, po = here[i], out[j]
        i, j = i + 1, j + 1
        while ps != po:
            if ps < po and i < len(here):
                ps, i = ps * here[i], i + 1
            elif po < ps and j < len(out):
                po, j = po * out[j], j + 1
            else:
                return None
        while ones_before and i < len(here) and here[i] == 1 and i + 1 < len(here):
            i += 1
        while ones_before and j < len(out) and out[j] == 1 and j + 1 < len(out):
            j += 1
        groups.append(((a, i), (c, j)))
    return groups if i == len(here) and j == len(out) else None


def _group_sizes(dims: list[Form], sizes: list[Form | None], any_rest: bool) -> list[int] | None:
    """The `unflatten` sizes of one group (numbers, one -1) when its sizes multiply to its
    dims for every input; None when they are not proven to."""
    symbolic = [k for k, f in enumerate(sizes) if f is None or f[0]]
    if len(sizes) == 2 and None in sizes and len(dims) == 1:  # Hiera's `(-1, N // 64)` of N:
        # (64, N // 64) where 64 divides N, which the unflatten then requires (torch's view
        # takes some other N too, N = 65 as (65, 1): the spec refuses those at check)
        quotient = sizes[1 - sizes.index(None)]
        (symbol, n) = dims[0]
        if quotient and quotient[1] == 1 and n == 1 and sum(quotient[0].values()) == 1:
            (q,) = quotient[0]
            if isinstance(q, tuple) and q[0] == "quot" and Counter([q[1]]) == symbol:
                return [q[2], -1] if sizes[0] is None else [-1, q[2]]  # k divides N
    if len(symbolic) > 1:
        return None
    written = [-1 if k in symbolic else f[1] for k, f in enumerate(sizes)]  # type: ignore[index]
    if symbolic and sizes[symbolic[0]] is None:  # the model's -1 takes what the others leave
        return written
    want, number = Counter(), 1
    for symbols, n in dims:
        want.update(symbols)
        number *= n
    got, given = Counter(), 1
    for symbols, n in sizes:  # type: ignore[misc]
        got.update(symbols)
        given *= n
    if got == want and given == number:
        return written
    quotients = [s for s in got if isinstance(s, tuple) and s[0] == "quot"]
    if len(quotients) != 1 or len(sizes) < 2 or any_rest:
        return None
    (symbol, k), alone = quotients[0][1:], sizes[symbolic[0]] == (Counter(quotients), 1)
    got = got - Counter(quotients) + Counter([symbol])
    # `H // 4` a size of its own, the -1 of the unflatten, which requires 4 to divide H
    return written if alone and got == want and given == number * k else None


def _dim_form(reader: Any, node: Any, i: int, depth: int = 0) -> Form:
    """What dim `i` of `node` is for every input (see the module docstring); each worked
    out once per module read (a dim reached by many reshapes' runs is followed back once)."""
    memo = reader.__dict__.setdefault("dim_forms", {})
    if (node, i) not in memo:
        memo[node, i] = _followed(reader, node, i, depth)
    return memo[node, i]  # type: ignore[no-any-return]


def _followed(reader: Any, node: Any, i: int, depth: int) -> Form:
    from .provenance import _source_dim
    from .slices import _node_shapes

    shapes = _node_shapes(reader)
    if i < 0 and node in shapes:
        i %= len(shapes[node])
    for _ in range(_MAX_STEPS):
        written = _written_size(reader, node, i, depth + 1) if depth < _MAX_DEPTH else None
        if written is not None:
            return written
        step = _flattened(node, i, shapes) or _source_dim(reader, node, i, shapes)
        if step is not None and isinstance(step[1], range):  # the dims a flatten joined
            form: Form = Counter(), 1
            for j in step[1]:
                symbols, n = _dim_form(reader, step[0], j, depth + 1)
                form = form[0] + symbols, form[1] * n
            return form
        if step is None:
            break
        node, i = step
        if node in shapes and i < 0:
            i %= len(shapes[node])
    if i == 0:
        return Counter(["batch"]), 1
    cut = _split_size(node, i)
    if cut is None:
        cut = _module_size(reader, node, i, len(shapes.get(node, ())))
    if cut is not None:
        return Counter(), cut
    runs = [shapes.get(node)] + [_node_shapes(reader, other=o).get(node) for o in (True, "batch")]
    sizes = {r[i] if r is not None and len(r) == len(runs[0] or ()) > i else None for r in runs}
    if len(sizes) == 1 and None not in sizes:  # the same with H, W and then N doubled
        return Counter(), sizes.pop()
    return Counter([("dim", node, i)]), 1


def _flattened(node: Any, i: int, shapes: dict[Any, Any]) -> tuple[Any, Any] | None:
    """For dim `i` of `x.flatten(start, end)` (`torch.flatten`): (x, the dim of x it is), or
    (x, range of the dims it joins) at `start`; None for any other node."""
    import torch

    method = node.op == "call_method" and node.target == "flatten"
    if not (method or node.target is torch.flatten) or not node.args:
        return None
    src, rest = node.args[0], list(node.args[1:3])
    start = node.kwargs.get("start_dim", rest[0] if rest else 0)
    end = node.kwargs.get("end_dim", rest[1] if len(rest) > 1 else -1)
    rank = len(shapes.get(src, ()))
    if not is_node(src) or type(start) is not int or type(end) is not int or not rank:
        return None
    start, end = start % rank, end % rank
    if i == start:
        return src, range(start, end + 1)
    return src, i if i < start else i + end - start


def _split_size(node: Any, i: int) -> int | None:
    """The size of dim `i` of a piece of `torch.split(x, [a, b, c], dim=i)` (or
    `x.split(...)`), which the sizes given fix for every input; None for anything else."""
    import torch

    if node.target is not operator.getitem or type(node.args[1]) is not int:
        return None
    cut = node.args[0]
    if not is_node(cut) or len(cut.args) < 2 or not is_node(cut.args[0]):
        return None
    if not (cut.target is torch.split or (cut.op == "call_method" and cut.target == "split")):
        return None
    sizes, dim = cut.args[1], cut.kwargs.get("dim", cut.args[2] if len(cut.args) > 2 else 0)
    if not isinstance(sizes, list | tuple) or not all(type(n) is int for n in sizes):
        return None
    return sizes[node.args[1]] if dim == i and -len(sizes) <= node.args[1] < len(sizes) else None


def _module_size(reader: Any, node: Any, i: int, rank: int) -> int | None:
    """The size of dim `i` of a call of torch's own Linear (the last: `out_features`) or
    convolution (dim 1: `out_channels`), which no input changes; None for anything else."""
    import torch.nn as nn

    if node.op != "call_module":
        return None
    child = reader.module.get_submodule(str(node.target))
    if type(child) is nn.Linear and rank >= 2 and i == rank - 1:
        return int(child.out_features)
    convs = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
    if type(child) in convs and rank == child.weight.dim() and i == 1:
        return int(child.out_channels)
    return None


def _written_size(reader: Any, node: Any, i: int, depth: int) -> Form | None:
    """The form of size `i` a reshape or view `node` wrote, when it wrote one this module
    follows (a number, a size computed from shapes, or a -1 that took dims whose form is
    known); None otherwise."""
    import torch

    from .calls import listed
    from .slices import _node_shapes

    method = node.op == "call_method" and node.target in ("reshape", "view")
    if not (method or node.target is torch.reshape) or node.kwargs or not node.args:
        return None
    sizes = listed(node.args)
    if not 0 <= i < len(sizes):
        return None
    if sizes[i] != -1:
        return _size_form(reader, sizes[i], depth)
    shapes = _node_shapes(reader)
    here, out = shapes.get(node.args[0]), shapes.get(node)
    groups = _groups(list(here), list(out)) if here and out and 0 not in here else None
    for (a, b), (c, d) in groups or ():
        if c <= i < d:  # the -1 takes its group's dims but for the group's other sizes
            others = [_size_form(reader, v, depth) for v in sizes[c:i] + sizes[i + 1 : d]]
            if any(f is None or f[0] for f in others):
                return None
            form = Counter(), 1
            for k in range(a, b):
                symbols, n = _dim_form(reader, node.args[0], k, depth)
                form = form[0] + symbols, form[1] * n
            given = math.prod(f[1] for f in others)  # type: ignore[index]
            return (form[0], form[1] // given) if form[1] % given == 0 else None
    return None


def _size_form(reader: Any, value: Any, depth: int = 0) -> Form | None:
    """The form of a reshape's size: a number, a size read off a shape, a product of
    sizes, a size over a number (`//`); None for anything else."""
    if type(value) is int:
        return (Counter(), value) if value >= 1 else None
    if not is_node(value) or depth > _MAX_DEPTH:
        return None
    sym = reader.syms.get(value)
    if sym is None:
        return None
    if sym.what == "dim" and type(sym.index) is int:
        return _dim_form(reader, sym.src, sym.index, depth + 1)
    if value.op != "call_function" or value.kwargs or len(value.args) != 2:
        return None
    a, b = (_size_form(reader, v, depth + 1) for v in value.args)
    if a is None or b is None:
        return None
    if value.target is operator.mul:
        return a[0] + b[0], a[1] * b[1]
    if value.target is operator.floordiv and not b[0] and b[1] >= 1:
        if not a[0]:
            return (Counter(), a[1] // b[1]) if a[1] // b[1] >= 1 else None
        if a[1] == 1 and sum(a[0].values()) == 1 and b[1] > 1:
            (symbol,) = a[0]
            return Counter([("quot", symbol, b[1])]), 1
    return None


_FOLDED = {
    operator.add: operator.add,
    operator.sub: operator.sub,
    operator.mul: operator.mul,
    operator.truediv: operator.truediv,
    operator.floordiv: operator.floordiv,
    operator.mod: operator.mod,
    operator.pow: operator.pow,
}


def fixed_value(reader: Any, value: Any, depth: int = 0) -> Any:
    """The number a size computed in forward is for every input, where every size it reads
    is one no input changes (a head's width: `q.size(-1) ** -0.5`, as the forward computes
    it); None when it follows the input or is no size arithmetic."""
    if type(value) in (int, float):
        return value
    if not is_node(value) or depth > _MAX_DEPTH or value not in reader.syms:
        return None
    sym = reader.syms[value]
    if sym.what == "dim" and type(sym.index) is int:
        symbols, n = _dim_form(reader, sym.src, sym.index)
        return None if symbols else n
    if value.op == "call_function" and value.target is math.sqrt and len(value.args) == 1:
        root = fixed_value(reader, value.args[0], depth + 1)  # `math.sqrt(k.size(-1))`
        return math.sqrt(root) if root is not None and root >= 0 and not value.kwargs else None
    fold = _FOLDED.get(value.target) if value.op == "call_function" else None
    if fold is None or value.kwargs or len(value.args) != 2:
        return None
    a, b = (fixed_value(reader, v, depth + 1) for v in value.args)
    if a is None or b is None or (fold is operator.pow and not (abs(b) <= 4 and abs(a) < 2**20)):
        return None
    try:
        out = fold(a, b)
    except (ArithmeticError, ValueError):
        return None
    return out if type(out) in (int, float) and math.isfinite(out) and abs(out) <= 10**15 else None


__all__ = ["batch_at_front", "fixed_value", "regroup_steps"]
