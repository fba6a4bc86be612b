"""Reductions written another way than a kind states them.

- `torch.max(x, 2)[0]` and `x.min(dim=1).values` (PointNet's global feature): torch returns
  the values and their indices; when nothing reads the indices, the values are the `amax` or
  `amin` kind over that one dim.
- `F.avg_pool2d(x, x.size()[2:])` or `F.max_pool2d(x, kernel_size=(x.size(2), x.size(3)))`
  (code written before adaptive pools): a window read off the pooled tensor's own spatial
  size covers it whole for every input, so it is `global_avgpool2d` (torch's window kernel,
  which adds in another order than an adaptive pool: the same call, to the last bit) or
  `adaptive_maxpool2d` to 1 (a maximum has no order to differ by). A window of one size for
  every spatial dim (`x.size(3)`) covers a square input only, which no kind states: that
  stays E903.
"""

from __future__ import annotations

import functools
import operator
from typing import Any

from .calls import Call, Ref, attribute_read, is_node

_INDICES_HINT = (
    "a spec computes the values over a dim (`amax`, `amin`: the result's `[0]` or `.values`), "
    "never where they are; compute the indices outside the imported module"
)
_PART_WINDOW = (
    "{} takes a window read off a tensor's size that is not, for every input, the whole "
    "spatial size of the tensor it pools (`x.size(3)` covers a square input only)"
)
_OTHER_WINDOW = (
    "{} takes a window read off the size of {}, not of `{}`, the tensor it pools, and the "
    "steps between do not prove them the same for every input"
)
_PART_WINDOW_HINT = (
    "a pool over the whole input is `F.adaptive_avg_pool2d(x, 1)` (or a window read off the "
    "pooled tensor itself, `x.shape[2:]`, `F.max_pool1d(h, h.size(2))`); any other window is "
    "a number"
)
#: the tensor methods of the values over a dim, and the kinds of those values
_EXTREMA = {"max": "amax", "min": "amin"}
#: what each of the two parts of torch.max's and torch.min's result is called
_PARTS = {0: "values", 1: "indices"}


def read_reduction(reader: Any, node: Any) -> bool:
    """Handle `node` when it is one of the forms above (or a read of such a result's
    values); True if handled (an item made, or the node absorbed)."""
    if node.op != "call_function" and node.op != "call_method":
        return False
    read = attribute_read(node.target, node.args) if node.op == "call_function" else None
    if read is not None:
        return _part_read(reader, node, read)
    kind = _extremum_kind(node)
    if kind is not None:
        return _extremum(reader, node, kind)
    pool = _pool_kind(node)
    return pool is not None and _global_pool(reader, node, *pool)


def _part_read(reader: Any, node: Any, read: str) -> bool:
    """`result.values` of a max or min read here (its name), `result.indices` unread."""
    source = node.args[0]
    if source not in reader.tuples or read not in _PARTS.values():
        return False
    if read == "values":
        reader.names[node] = reader.tuples[source]
        return True
    return not node.users


def _extremum_kind(node: Any) -> str | None:
    import torch

    if node.op == "call_function":
        return "amax" if node.target is torch.max else "amin" if node.target is torch.min else None
    return _EXTREMA.get(node.target)


def _extremum(reader: Any, node: Any, kind: str) -> bool:
    """`torch.max(x, dim, keepdim)`: the values over one dim when only they are read."""
    args, kwargs = node.args, dict(node.kwargs)
    names = ("input", "dim", "keepdim")
    given = dict(zip(names, args, strict=False)) | kwargs
    x, dim, keepdim = given.get("input"), given.get("dim"), given.get("keepdim", False)
    if len(args) > 3 or set(given) - set(names) or not is_node(x):
        return False
    if type(dim) is not int or type(keepdim) is not bool:
        return False  # torch.max(x) (one value) or torch.max(a, b) (elementwise): not this
    if not all(_reads_part(u) is not None for u in node.users):
        return False
    if any(_reads_part(u) == 1 and u.users for u in node.users):
        what = f"torch.{node.target.__name__}" if node.op == "call_function" else f"x.{node.target}"
        reader.fail(
            "E903",
            f"{what}(x, dim) is read for its indices, which no kind computes",
            node,
            _INDICES_HINT,
        )
        return True
    if not reader.emit(node, kind, {"dim": [dim], "keepdim": keepdim}, (x,)):
        return False
    if node in reader.names:  # else left out, after a step refused before it
        reader.tuples[node] = reader.names[node]
    return True


def _reads_part(user: Any) -> int | None:
    """Which part of a (values, indices) result `user` reads, or None for another use."""
    if user.op != "call_function" or user.kwargs:
        return None
    if user.target is operator.getitem and len(user.args) == 2 and user.args[1] in _PARTS:
        return int(user.args[1])
    read = attribute_read(user.target, user.args)
    return next((i for i, name in _PARTS.items() if name == read), None)


def _pool_kind(node: Any) -> tuple[str, int, tuple[str, ...]] | None:
    """The kind of a pool's whole-map window, its number of spatial dims and the names of
    its arguments."""
    return _pools().get(node.target) if node.op == "call_function" else None


@functools.cache
def _pools() -> dict[Any, tuple[str, int, tuple[str, ...]]]:
    """F's pools by function: the kind of a whole-map window, and the names functions.py
    reads their arguments by, with the ones it sets apart (`divisor_override`,
    `return_indices`)."""
    import torch.nn.functional as F

    from .functions import _AVG, _MAX

    avg2 = (*_AVG, "divisor_override")  # not avg_pool1d's: it has no divisor
    most = (*_MAX, "return_indices")
    return {
        F.avg_pool1d: ("global_avgpool1d", 1, _AVG),
        F.avg_pool2d: ("global_avgpool2d", 2, avg2),
        F.avg_pool3d: ("global_avgpool3d", 3, avg2),
        F.max_pool1d: ("adaptive_maxpool1d", 1, most),
        F.max_pool2d: ("adaptive_maxpool2d", 2, most),
        F.max_pool3d: ("adaptive_maxpool3d", 3, most),
    }


def _global_pool(reader: Any, node: Any, kind: str, n: int, names: tuple[str, ...]) -> bool:
    """A pool whose window (and stride, when given) is the pooled tensor's whole spatial
    size, with no padding, dilation or indices: one value per channel for every input."""
    from .slices import _node_shapes

    if not node.args:
        return False
    x = node.args[0]
    given = dict(zip(names, node.args[1:], strict=False)) | dict(node.kwargs)
    kernel = given.pop("kernel_size", None)
    shapes = _node_shapes(reader)
    if is_node(x) and x not in shapes and reader.problems.run_error is not None:
        return _run_failed(reader, node, kernel)
    if not is_node(x) or x not in shapes or len(shapes[x]) != n + 2:
        return False
    if not _whole(reader, kernel, x, n):
        if _reads_sizes(reader, kernel):  # `x.size(3)`: a window of one size, or another's
            what = f"F.{node.target.__name__}"
            others = _read_off(reader, kernel) - {x}
            if others:  # `F.max_pool1d(F.relu(c(e)), c(e).shape[2])`: c(e) is another node
                names = ", ".join(sorted(f"`{o.name}`" for o in others))
                why = _OTHER_WINDOW.format(what, names, x.name)
            else:
                why = _PART_WINDOW.format(what)
            reader.fail("E903", why, node, _PART_WINDOW_HINT)
            return True
        return False
    stride = given.pop("stride", None)
    if stride not in (None, []) and stride is not kernel and not _whole(reader, stride, x, n):
        return False
    allowed = {"padding": 0, "dilation": 1, "return_indices": False, "divisor_override": None}
    for key, value in given.items():
        if key in ("ceil_mode", "count_include_pad"):  # no padding: neither changes a thing
            if type(value) is not bool:
                return False
            continue
        values = list(value) if isinstance(value, list | tuple) else [value]
        if key not in allowed or any(v != allowed[key] for v in values):
            return False
    fields = {} if kind.startswith("global_") else {"output_size": 1}
    return reader.emit(node, kind, fields, (x,))


def _run_failed(reader: Any, node: Any, kernel: Any) -> bool:
    """E903 for a pool whose window is read off a size, where the model's run on the example
    input that tells the pooled tensor's size failed (Kim's text CNN given float ids, or ids
    fewer than its widest window, `F.max_pool1d(c, c.size(2))`): torch's words, and what to
    give. False for a window of numbers, which needs no run."""
    if not _reads_sizes(reader, kernel):
        return False
    size, why = reader.problems.run_error
    lookups = [
        m for m in reader.module.modules() if type(m).__name__ in ("Embedding", "EmbeddingBag")
    ]
    ids = (
        " (a model that looks token ids up takes them as int64: `--input-dtype int64`)"
        if lookups and "float" in why.lower()
        else ""
    )
    reader.fail(
        "E903",
        f"F.{node.target.__name__} takes a window read off a tensor's size, which the model's "
        f"run on the example input tells, and the model does not run on ({size}): {why}",
        node,
        f"give an example input the model takes (`--input`){ids}",
    )
    return True


def _whole(reader: Any, sizes: Any, x: Any, n: int) -> bool:
    """Whether `sizes` are, for every input, the last `n` dims of `x` in order: a slice of a
    shape (`y.shape[2:]`, `y.shape[-2:]`) or the dims one by one, of `x` or of a tensor the
    steps between prove has them (provenance.py)."""
    from .provenance import same_dim
    from .shapes import Sym
    from .slices import _node_shapes

    shapes = _node_shapes(reader)
    syms = reader.syms
    if is_node(sizes) and sizes in syms and syms[sizes].what == "spatial":
        sym = syms[sizes]
        if sym.src not in shapes or type(sym.index) is not int:
            return False
        rank = len(shapes[sym.src])
        dims = [Sym("dim", sym.src, j) for j in range(sym.index % rank, rank)]
    elif isinstance(sizes, list | tuple) and all(is_node(s) and s in syms for s in sizes):
        dims = [syms[s] for s in sizes]
    elif n == 1 and is_node(sizes) and sizes in syms:  # `F.avg_pool1d(y, y.size(2))`
        dims = [syms[sizes]]
    else:
        return False
    rank = len(shapes[x])
    if len(dims) != n:
        return False
    return all(same_dim(reader, d, x, rank - n + i) for i, d in enumerate(dims))


def _read_off(reader: Any, sizes: Any) -> set[Any]:
    """The tensors a pool's window reads sizes off."""
    found = sizes if isinstance(sizes, list | tuple) else [sizes]
    syms = reader.syms
    return {syms[s].src for s in found if is_node(s) and s in syms and syms[s].src is not None}


def _reads_sizes(reader: Any, sizes: Any) -> bool:
    """Whether a pool's window holds a size read off a tensor."""
    found = sizes if isinstance(sizes, list | tuple) else [sizes]
    return any(is_node(s) and s in reader.syms for s in found)


def spread(kind: str) -> Any:
    """`x.std(-1, keepdim=True)`, `torch.var(x, (2, 3), unbiased=False, keepdim=True)`,
    `x.std(dim=1, correction=0)`: a `std` or `var` over given dims, its correction read from
    `unbiased` (1 or 0) or given; over every dim (no `dim`), or both words given, it is left
    to the refusal."""

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        if len(args) > 4 or set(kwargs) - {"input", "dim", "unbiased", "correction", "keepdim"}:
            return None
        x = args[0] if args else kwargs.get("input")
        named = ("dim", "unbiased", "keepdim")
        given = {**dict(zip(named, args[1:], strict=False)), **kwargs}
        dim, keepdim = given.get("dim"), given.get("keepdim", False)
        unbiased, correction = given.get("unbiased"), given.get("correction")
        if not isinstance(x, Ref) or dim is None or not isinstance(keepdim, bool):
            return None
        if unbiased is not None and correction is not None:
            return None
        if unbiased is not None:
            if not isinstance(unbiased, bool):
                return None
            correction = int(unbiased)
        correction = 1 if correction is None else correction
        if isinstance(correction, bool) or not isinstance(correction, int | float):
            return None
        dims = list(dim) if isinstance(dim, list | tuple) else [dim]
        if correction < 0 or not all(isinstance(d, int) and not isinstance(d, bool) for d in dims):
            return None
        attrs = {"dim": dims, "keepdim": keepdim, "correction": correction}
        return Call(kind, attrs, (x.node,))

    return read
