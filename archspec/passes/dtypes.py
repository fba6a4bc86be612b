"""Where an int64 tensor flows: an `int64` buffer (an index, position ids) is state a spec
keeps for its state_dict, and only a few layers compute on it as torch does.

Every other kind computes in floating point with float weights (a conv, a linear, a matmul
with a float operand, softmax, a norm), and torch refuses an int64 input at run time
("expected m1 and m2 to have the same dtype"): `check` would say ok and every forward fail.
So a node that reads an int64 tensor is E401 here, unless it is one of the kinds below; and
a kind that looks values up by index (`embedding`) is E401 when it reads a float tensor, and
E409 when the indices it reads are known (a buffer's own values, moved or joined) and fall
outside it.
"""

from __future__ import annotations

import functools
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ..errors import Diagnostic
from ..ir import INPUT, Module, Node
from ..lazymethods import dataclass
from ..ops.outputs import BLOCK_OUTPUT

#: Kinds that move or combine values without arithmetic of their own: int64 in, int64 out.
_KEEP = frozenset(
    {"reshape", "permute", "flatten", "chunk", "split", "select", "expand", "slice", "slice_as"}
    | {"squeeze", "unsqueeze", "flip", "tile"}
)
#: Elementwise joins: int64 when every input is, else torch promotes to float.
_PROMOTE = frozenset({"add", "sub", "mul", "concat", "maximum", "minimum"})
#: Kinds whose values are their first input's, another input giving only a size.
_FIRST = frozenset({"expand", "slice_as"})
#: True division: always float.
_TO_FLOAT = frozenset({"div"})
#: Lookups by index: int64 in (torch refuses anything else), float out.
INDEXED = frozenset({"embedding"})
#: Picks at int64 positions (the second input) from a table of any dtype (the first).
PICKS = frozenset({"index"})
#: Max pools whose second output holds the int64 index of each maximum (ops/unpool.py).
WITH_INDICES = frozenset(f"maxpool{n}d_with_indices" for n in (1, 2, 3))
#: Selections whose second output holds int64 indices, the first the input's values (topk).
SELECTIONS = frozenset({"topk"})
#: Unpools: values (float) placed at int64 indices (the second input).
UNPOOLS = frozenset(f"maxunpool{n}d{a}" for n in (1, 2, 3) for a in ("", "_as"))
#: A value written where a mask (the second input) matches: a mask of any dtype, compared.
MASKS = frozenset({"masked_fill"})
#: A tensor of the input's shape and dtype, every element one value (`full_like`).
FILLED = frozenset({"full_like"})


#: Kinds whose output holds exactly the values of their input (the same set, moved or
#: repeated): an index range known before them is known after them.
_SAME_VALUES = frozenset(
    {"reshape", "permute", "flatten", "expand", "squeeze", "unsqueeze", "flip", "tile"}
)
#: Kinds that keep part of their input's values: which part, only the values listed say.
_PART = frozenset({"select", "chunk", "split", "slice", "slice_as"})
#: The most elements listed to follow values through `_PART` kinds and joins (a buffer of
#: position ids or a window's relative position index is far smaller).
MOST_LISTED = 1 << 16

#: What is known of an int64 tensor's values: their exact least and greatest, or None.
Range = tuple[int, int] | None
#: An int64 tensor's values: its shape and its elements in row-major order.
Listed = tuple[tuple[int, ...], list[int]]


def _unlisted() -> Listed | None:
    return None


@dataclass(frozen=True, slots=True)
class Ints:
    """An int64 tensor: its values' range (or None), and a way to list them, called only
    where a `_PART` kind needs them (listing a large arange for nothing would slow every
    check of a network with position ids)."""

    range: Range
    listed: Callable[[], Listed | None] = _unlisted


UNKNOWN = Ints(None)


def int64_readers(root: Module, int_input: bool | Sequence[bool] = False) -> list[Diagnostic]:
    """E401 for each node that reads an int64 tensor and computes in floating point, or looks
    indices up in a float tensor; E409 for a lookup whose indices are known to fall outside
    its table. `int_input`: the network's input is int64 (`input_dtype`), values unknown;
    for a network of several inputs, whether each is."""
    errors: list[Diagnostic] = []
    flags = [int_input] if isinstance(int_input, bool) else list(int_input)
    _walk(root, [UNKNOWN if flag else False for flag in flags], errors)
    return errors


def is_int_buffer(node: Node) -> bool:
    """An `int64` buffer: where every int64 tensor of a graph starts."""
    return node.kind == "buffer" and node.attrs.get("dtype") == "int64"


def buffer_range(node: Node) -> Range:
    """The least and greatest value an int64 buffer holds as it is built (a state_dict
    loaded later may hold others: only the spec's own values are checked)."""
    a = node.attrs
    if a.get("fill") == "constant":
        return int(a["value"]), int(a["value"])
    if any(not d.is_const for d in node.shape):
        return None
    numel = math.prod(d.value for d in node.shape)
    if a.get("fill") == "arange":
        return 0, numel - 1
    if a.get("fill") == "eye":  # zeros off the diagonal, unless every element is on it
        rows, cols = (d.value for d in node.shape[-2:])
        return (1 if rows == cols == 1 else 0), 1
    if a.get("fill") == "tril":  # zeros above the diagonal, unless there is none
        return (1 if node.shape[-1].value == 1 else 0), 1
    if a.get("fill") == "relative_position_index":  # the rows of a (2h - 1)(2w - 1) table
        window = a.get("window")
        if window is None:  # a square s x s window, shape [s * s, s * s]
            h = w = math.isqrt(math.isqrt(numel))
        else:
            h, w = list(window) if isinstance(window, (list, tuple)) else [window, window]
        return 0, (2 * h - 1) * (2 * w - 1) - 1
    if a.get("fill") == "distance_index":  # the columns of a (heads, h * w) table
        h, w = _map_size(a)
        return 0, h * w - 1
    return None


def _map_size(attrs: Mapping[str, Any]) -> tuple[int, int]:
    """The (h, w) of a distance_index's map (its `window`, which it requires)."""
    window = attrs["window"]
    h, w = list(window) if isinstance(window, (list, tuple)) else [window, window]
    return h, w


def buffer_listed(node: Node) -> Listed | None:
    """The values an int64 buffer holds as it is built, or None where its shape is not
    concrete or it is too large to list."""
    if any(not d.is_const for d in node.shape):
        return None
    shape = tuple(d.value for d in node.shape)
    numel = math.prod(shape)
    a = node.attrs
    if numel > MOST_LISTED:
        return None
    if a.get("fill") == "constant":
        return shape, [int(a["value"])] * numel
    if a.get("fill") == "arange":
        return shape, list(range(numel))
    if a.get("fill") == "eye" and len(shape) >= 2:
        rows, cols = shape[-2:]
        return shape, [int(k % (rows * cols) // cols == k % cols) for k in range(numel)]
    if a.get("fill") == "tril" and len(shape) >= 2:
        rows, cols = shape[-2:]
        return shape, [int(k % cols <= k % (rows * cols) // cols) for k in range(numel)]
    if a.get("fill") == "relative_position_index" and len(shape) == 2:
        window = a.get("window")
        if window is None:
            h = w = math.isqrt(shape[0])
        else:
            h, w = list(window) if isinstance(window, (list, tuple)) else [window, window]
        cells = [(i, j) for i in range(h) for j in range(w)]
        return shape, [
            (ip - iq + h - 1) * (2 * w - 1) + jp - jq + w - 1
            for ip, jp in cells
            for iq, jq in cells
        ]
    if a.get("fill") == "distance_index" and len(shape) == 2:
        h, w = _map_size(a)
        step = a.get("stride", 1)
        queries = [(i, j) for i in range(0, h, step) for j in range(0, w, step)]
        keys = [(i, j) for i in range(h) for j in range(w)]
        return shape, [abs(iq - ik) * w + abs(jq - jk) for iq, jq in queries for ik, jk in keys]
    return None


def _strided(shape: tuple[int, ...], strides: list[int], offset: int, flat: list[int]) -> list[int]:
    """The elements of a strided view of `flat`, in row-major order: the positions are
    worked out a dim at a time (each dim's steps added to every position of the dims before
    it), not as a sum per element (a 38,416-element broadcast of ConViT's position index,
    70 times, was two seconds of a check)."""
    at = [offset]
    for n, step in zip(shape, strides, strict=True):
        steps = [k * step for k in range(n)]
        at = [i + k for i in at for k in steps]
    return [flat[i] for i in at]


def _row_major(shape: tuple[int, ...]) -> list[int]:
    strides = [1] * len(shape)
    for k in range(len(shape) - 2, -1, -1):
        strides[k] = strides[k + 1] * shape[k + 1]
    return strides


def _listable(node: Node) -> tuple[int, ...] | None:
    """The node's shape, if it is concrete and small enough to list (a broadcast or an
    expand may make a large tensor of a small one)."""
    if any(not d.is_const for d in node.shape):
        return None
    out = tuple(d.value for d in node.shape)
    return out if math.prod(out) <= MOST_LISTED else None


def _broadcast(given: Listed, out: tuple[int, ...]) -> list[int]:
    """`given`'s values broadcast to `out`: a dim of 1 (or a new leading one) repeats."""
    shape, flat = given
    lead = len(out) - len(shape)
    step = [0] * lead + [
        0 if n == 1 and m != 1 else st
        for n, m, st in zip(shape, out[lead:], _row_major(shape), strict=True)
    ]
    return _strided(out, step, 0, flat)


#: The elementwise joins of int64 tensors, as torch computes them (left to right).
_JOINS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "maximum": max}
_JOINS["minimum"] = min


def joined(node: Node, given: Sequence[Listed]) -> Listed | None:
    """The values of a join of int64 tensors (concat, add, sub, mul, maximum, minimum) from
    its inputs'."""
    out = _listable(node)
    if out is None:
        return None
    if node.kind != "concat":
        views = [_broadcast(g, out) for g in given]
        join = _JOINS[node.kind]
        values = views[0]
        for view in views[1:]:  # left to right, as torch computes a + b + c
            values = list(map(join, values, view))
        return out, values
    dim = node.attrs["dim"] % len(out)
    inner, values = math.prod(out[dim + 1 :]), []
    for k in range(math.prod(out[:dim])):  # each input's block of rows, in turn
        for shape, flat in given:
            block = shape[dim] * inner
            values += flat[k * block : (k + 1) * block]
    return out, values


def moved(node: Node, given: Listed, siblings: Sequence[Node]) -> Listed | None:
    """The values of `node` (a `_SAME_VALUES` or `_PART` kind) from its first input's, as
    torch computes them; None where a size is not concrete or the result too large."""
    out = _listable(node)
    if out is None:
        return None
    shape, flat = given
    kind, a, strides = node.kind, node.attrs, _row_major(shape)
    if kind in ("reshape", "flatten", "squeeze", "unsqueeze"):  # the same order, regrouped
        return out, flat
    if kind == "permute":
        dims = [d % len(shape) for d in a["dims"]]
        return out, _strided(out, [strides[d] for d in dims], 0, flat)
    if kind == "expand":
        return out, _broadcast(given, out)
    if kind == "flip":  # each reversed dim read from its end, a step back at a time
        back = {d % len(shape) for d in a["dims"]}
        start = sum((shape[d] - 1) * strides[d] for d in back)
        steps = [-s if d in back else s for d, s in enumerate(strides)]
        return out, _strided(out, steps, start, flat)
    dim = a["dim"] % len(shape)
    if kind == "select":
        index = a["index"] % shape[dim]
        return out, _strided(out, strides[:dim] + strides[dim + 1 :], index * strides[dim], flat)
    if kind in ("slice", "slice_as"):  # `x[:, start:end:step]`, `x[:, : like.shape[1]]`
        start, step = (a["start"], a["step"]) if kind == "slice" else (0, 1)
        start = max(start + shape[dim], 0) if start < 0 else min(start, shape[dim])
        at = [s * step if d == dim else s for d, s in enumerate(strides)]
        return out, _strided(out, at, start * strides[dim], flat)
    names = list(a["names"])  # chunk, split: the pieces before this one set its start
    before = set(names[: names.index(node.name)])
    start = sum(n.shape[dim].value for n in siblings if n.name in before)
    return out, _strided(out, strides, start * strides[dim], flat)


def _walk(
    module: Module, inputs: list[Ints | bool] | Ints | bool, errors: list[Diagnostic]
) -> Ints | bool:
    """Mark the module's int64 tensors with what is known of their values (its inputs, in
    order, each False for a float tensor, or what is known of its int64 values); return the
    output's, the same way."""
    given = inputs if isinstance(inputs, list) else [inputs]
    ints: dict[str, Ints] = {
        n: _known(v) for n, v in zip((INPUT, *module.extra_inputs), given) if v is not False
    }
    several: dict[str, tuple[Ints | bool, ...]] = {}  # a block instance's outputs, each's
    for node in module.nodes:
        read = [i in ints for i in node.inputs]
        if node.child is not None:
            out = _walk(node.child, [ints.get(i, False) for i in node.inputs], errors)
            if isinstance(out, tuple):
                several[node.name] = out
            elif out is not False:
                ints[node.name] = _known(out)
            continue
        kind = node.kind
        if kind == BLOCK_OUTPUT:  # one of them: int64 where the block returned one
            value = several.get(node.inputs[0], ())[node.attrs["_index"] :][:1]
            if value and value[0] is not False:
                ints[node.name] = _known(value[0])
            continue
        if is_int_buffer(node):
            ints[node.name] = Ints(buffer_range(node), functools.partial(buffer_listed, node))
        elif kind in INDEXED:
            if not all(read):
                errors.append(_float_indices(node, None, _buffer_named(module, node, 0)))
            else:
                _check_indices(node, ints[node.inputs[0]].range, errors)
        elif kind in PICKS:
            if not read[1]:
                errors.append(_float_indices(node, node.inputs[1], _buffer_named(module, node)))
            else:
                rows = _size_along(module, node.inputs[0], node.attrs["dim"])
                _check_indices(node, ints[node.inputs[1]].range, errors, rows, node.inputs[1])
            if read[0]:
                ints[node.name] = UNKNOWN
        elif kind in WITH_INDICES and node.attrs["_index"] == 1 and not any(read):
            ints[node.name] = UNKNOWN  # where each maximum was: data, in no known range
        elif kind in SELECTIONS:  # int64 indices; values of the input's dtype, a part of it
            if node.attrs["_index"] == 1 or read[0]:
                ints[node.name] = UNKNOWN
        elif kind in UNPOOLS:  # float values at int64 indices: float out
            if read[0] or not read[1]:
                errors.append(_unpool_inputs(node, read[0]))
        elif kind in MASKS and not read[0]:
            continue  # a float tensor masked by one of any dtype: float out
        elif kind in FILLED:  # the input's dtype, every element one value
            if read[0]:
                value = node.attrs["value"]
                whole = type(value) in (int, float) and float(value).is_integer()
                ints[node.name] = Ints((int(value), int(value))) if whole else UNKNOWN
        elif not any(read) or kind in _TO_FLOAT or (kind in _FIRST and not read[0]):
            continue  # float out (an expand's values are its first input's)
        elif kind in _FIRST:  # its other input gives a size: int64 as its first is
            ints[node.name] = _follow(node, [ints[node.inputs[0]]], module.nodes)
        elif kind in _KEEP or (kind in _PROMOTE and all(read)):
            ints[node.name] = _follow(node, [ints[i] for i in node.inputs], module.nodes)
        elif kind not in _PROMOTE:
            source = next(i for i, r in zip(node.inputs, read, strict=True) if r)
            errors.append(
                Diagnostic(
                    "E401",
                    f"{node.name}: {kind} reads `{source}`, an int64 tensor, and "
                    "computes in floating point: torch refuses it at run time",
                    node.span,
                    "int64 tensors are indices (an `int64` buffer, or the network's input "
                    "with `input_dtype: int64`): look them up with `embedding` first; give a "
                    "buffer `dtype: float32` to compute with it, or reach it only through add, "
                    "sub, mul, div or concat with a float tensor",
                )
            )
    names = [o.name for o in module.outputs] or [n.name for n in module.nodes[-1:]] or [INPUT]
    if len(names) > 1:  # each output's, for a caller's `block_output` nodes
        return tuple(ints.get(n, False) for n in names)  # type: ignore[return-value]
    return ints.get(names[0], False)


def _follow(node: Node, sources: list[Ints], siblings: Sequence[Node]) -> Ints:
    """What is known of an int64 node's values from its inputs': the first one's range
    through a `_SAME_VALUES` kind (its values listed only when asked), the range of the
    values listed through a `_PART` kind or a join."""
    source = sources[0]
    if node.kind in _SAME_VALUES:

        def listed() -> Listed | None:
            given = source.listed()
            return None if given is None else moved(node, given, siblings)

        return Ints(source.range, listed)
    given = [s.listed() for s in sources if node.kind in _PROMOTE or s is source]
    if any(g is None for g in given):
        return UNKNOWN
    known = [g for g in given if g is not None]
    values = joined(node, known) if node.kind in _PROMOTE else moved(node, known[0], siblings)
    if values is None or not values[1]:
        return UNKNOWN
    return Ints((min(values[1]), max(values[1])), lambda: values)


def _known(ints: Ints | bool) -> Ints:
    """What `_walk` returned of an int64 tensor, as Ints."""
    return UNKNOWN if isinstance(ints, bool) else ints


def _size_along(module: Module, name: str, dim: int) -> int | None:
    """The size of dim `dim` of the node `name` of `module` (None: not a number)."""
    shape = next((n.shape for n in module.nodes if n.name == name), None)
    if shape is None or dim >= len(shape) or not shape[dim].is_const:
        return None
    return int(shape[dim].value)


def _check_indices(
    node: Node,
    known: Range,
    errors: list[Diagnostic],
    rows: int | None = None,
    source: str | None = None,
) -> None:
    """torch's lookup refuses an index below 0 or past the table's last row (`rows`, an
    embedding's `num_embeddings` by default): when the values are known (a buffer moved by
    reshapes, permutes, flattens, expands, selects, chunks, splits and slices, or joined by concat,
    add, sub and mul), so is that."""
    rows = node.attrs.get("num_embeddings") if rows is None else rows
    if known is None or not isinstance(rows, int):
        return
    lo, hi = known
    if lo >= 0 and hi < rows:
        return
    table = "rows" if source is None else f"entries along dim {node.attrs['dim']}"
    errors.append(
        Diagnostic(
            "E409",
            f"{node.name}: {node.kind} has {rows:,} {table} (0 to {rows - 1:,}), and "
            f"`{source or node.inputs[0]}` holds the index {lo if lo < 0 else hi:,}: torch "
            "refuses it at run time",
            node.span,
            "give the table a row for every index (num_embeddings past the largest), or look "
            "up fewer positions"
            if source is None
            else f"give the table an entry along dim {node.attrs['dim']} for every position "
            "(`fill: distance_index` of an h x w map picks from h * w), or pick fewer",
        )
    )


def _buffer_named(module: Module, node: Node, at: int = 1) -> bool:
    """Whether the indices `node` reads (its input `at`) are a buffer of `module`: a
    float one, since it is no int64 tensor."""
    if len(node.inputs) <= at:
        return False
    name = node.inputs[at]
    return any(n.name == name and n.kind == "buffer" for n in module.nodes)


def _float_indices(node: Node, source: str | None = None, buffer: bool = False) -> Diagnostic:
    source = source or (node.inputs[0] if node.inputs else INPUT)
    hint = (
        f"give the buffer `{source}` `dtype: int64`: a buffer is float32 unless it says so"
        if buffer
        else "a network whose input is token ids says `input_dtype: int64` (one of several "
        "`inputs:`, `label: {shape: [N], dtype: int64}`; an input is float otherwise); or "
        "read an int64 buffer (position ids: `type: buffer, fill: arange, dtype: int64`)"
    )
    return Diagnostic(
        "E401",
        f"{node.name}: {node.kind} looks up int64 indices, and `{source}` is a float tensor: "
        "torch refuses it at run time",
        node.span,
        hint,
    )


def _unpool_inputs(node: Node, int_values: bool) -> Diagnostic:
    """E401: an unpool places float values at int64 indices, its second input."""
    values, indices = node.inputs[:2]
    what = (
        f"`{values}`, its values, is an int64 tensor"
        if int_values
        else (f"`{indices}`, its indices, is a float tensor")
    )
    return Diagnostic(
        "E401",
        f"{node.name}: {node.kind} reads `from: [{', '.join(node.inputs)}]` and {what}: torch "
        "refuses it at run time",
        node.span,
        f"read `from: [values, indices]` in that order, the indices the second output of a "
        f"{node.kind.replace('unpool', 'pool').removesuffix('_as')}_with_indices (`names: "
        "[out, indices]`)",
    )
