"""A U-Net's pad to its skip's size, as the `pad_as` kind.

milesial's U-Net (and many written after it) pads the upsampled map to the size of the map
it is concatenated with, each difference split with the odd pixel on the far side:

    diffY = x2.size()[2] - x1.size()[2]
    diffX = x2.size()[3] - x1.size()[3]
    x1 = F.pad(x1, [diffX // 2, diffX - diffX // 2, diffY // 2, diffY - diffY // 2])

That is `pad_as` of x1 to x2 for every input: each pair of pads (the last dim's first, as
F.pad takes them) is `d // 2` and `d - d // 2` of one difference `d`, that dim of one tensor
less that dim of the tensor padded (or of one the steps between prove has it), for every
spatial dim.

Swin (and DaViT, and most window attention after it) pads its map at the end of H and W to
a multiple of its window, `F.pad(x, (0, 0, 0, (ws - W % ws) % ws, 0, (ws - H % ws) % ws))`:
that is `pad_to_multiple` when every pad before a dim is 0 and every pad after it is 0 or
`(k - X % k) % k` (or `-X % k`) of that dim X of the tensor padded. Any other pad read off
sizes stays E903.
"""

from __future__ import annotations

import operator
from typing import Any

from .calls import is_node


def read_pad_as(reader: Any, node: Any) -> bool:
    """`F.pad(x, pads, mode="constant", value=v)` with pads of either form, as `pad_as` or
    `pad_to_multiple`."""
    import torch.nn.functional as F

    from .slices import _node_shapes

    if node.op != "call_function" or node.target is not F.pad or not node.args:
        return False
    names = ("input", "pad", "mode", "value")
    given = dict(zip(names, node.args, strict=False)) | dict(node.kwargs)
    x, pads = given.pop("input", None), given.pop("pad", None)
    value = given.pop("value", None)
    value = 0.0 if value is None else value
    if given.pop("mode", "constant") != "constant" or given or type(value) not in (int, float):
        return False
    shape = _node_shapes(reader).get(x) if is_node(x) else None
    if shape is None or not isinstance(pads, list | tuple) or len(pads) > 2 * len(shape):
        return False
    valued = {"value": float(value)} if value else {}
    ends = _multiples(reader, x, list(pads), len(shape))
    if ends:
        dims, multiple = list(ends), list(ends.values())
        fields = {"dims": dims, "multiple": multiple[0] if len(set(multiple)) == 1 else multiple}
        return reader.emit(node, "pad_to_multiple", fields | valued, (x,))
    if len(pads) != 2 * (len(shape) - 2):
        return False
    like = _padded_to(reader, x, list(pads), len(shape))
    if like is None:
        return False
    return reader.emit(node, "pad_as", valued, (x, like))


def _multiples(reader: Any, x: Any, pads: list[Any], rank: int) -> dict[int, int] | None:
    """dim -> multiple for pads that bring each dim they pad, at its end, to a multiple;
    None when a pad is of another form or none pads."""
    from .provenance import same_dim

    ends: dict[int, int] = {}
    for j in range(len(pads) // 2):
        dim, before, after = rank - 1 - j, pads[2 * j], pads[2 * j + 1]
        if type(before) is not int or before != 0:
            return None
        if type(after) is int and after == 0:
            continue
        found = _to_multiple(after)
        if found is None or not same_dim(reader, reader.syms.get(found[0]), x, dim):
            return None
        ends[dim] = found[1]
    return dict(sorted(ends.items())) or None


def _to_multiple(pad: Any) -> tuple[Any, int] | None:
    """(X, k) when `pad` is `(k - X % k) % k` or `-X % k`, the pad of X to a multiple of k."""
    if not _call(pad, operator.mod) or type(pad.args[1]) is not int or pad.args[1] < 1:
        return None
    inner, k = pad.args
    if _call(inner, operator.neg) and len(inner.args) == 1:
        return inner.args[0], k
    if not _call(inner, operator.sub) or type(inner.args[0]) is not int or inner.args[0] != k:
        return None
    rest = inner.args[1]
    if _call(rest, operator.mod) and type(rest.args[1]) is int and rest.args[1] == k:
        return rest.args[0], k
    return None


def _call(node: Any, target: Any) -> bool:
    return is_node(node) and node.op == "call_function" and node.target is target


def _padded_to(reader: Any, x: Any, pads: list[Any], rank: int) -> Any:
    """The tensor whose spatial size the pads bring `x` to, or None."""
    like = None
    for j in range(len(pads) // 2):
        dim = rank - 1 - j
        diff = _halves(pads[2 * j], pads[2 * j + 1])
        found = _difference(reader, diff, x, dim) if diff is not None else None
        if found is None or (like is not None and found is not like):
            return None
        like = found
    return like


def _halves(left: Any, right: Any) -> Any:
    """`d` when `left` is `d // 2` and `right` is `d - d // 2`, else None."""
    d = _half_of(left)
    if d is None or not is_node(right) or right.op != "call_function":
        return None
    if right.target is not operator.sub or len(right.args) != 2 or right.args[0] is not d:
        return None
    return d if _half_of(right.args[1]) is d else None


def _half_of(node: Any) -> Any:
    """`d` when `node` is `d // 2`."""
    if not is_node(node) or node.op != "call_function" or node.target is not operator.floordiv:
        return None
    d, two = node.args if len(node.args) == 2 else (None, None)
    return d if is_node(d) and type(two) is int and two == 2 else None


def _difference(reader: Any, d: Any, x: Any, dim: int) -> Any:
    """The tensor `like` when `d` is `like.size(dim) - t.size(dim)` with t's dim `x`'s."""
    from .provenance import same_dim
    from .slices import _node_shapes

    if d.op != "call_function" or d.target is not operator.sub or len(d.args) != 2:
        return None
    big, small = (reader.syms.get(a) if is_node(a) else None for a in d.args)
    if big is None or small is None or big.what != "dim" or type(big.index) is not int:
        return None
    if not same_dim(reader, small, x, dim):
        return None
    shapes = _node_shapes(reader)
    if big.src not in shapes or big.index % len(shapes[big.src]) != dim:
        return None
    return big.src if len(shapes[big.src]) == len(shapes[x]) else None
