"""A positional table cut to the length of the tokens it is added to, where that length is
worked out from sizes rather than read off those tokens: lucidrains' ViT writes `b, n, _ =
x.shape`, then `x = torch.cat((cls_tokens, x), dim=1)` and `x += self.pos_embedding[:,
:(n + 1)]`. The bound `n + 1` is the size of dim 1 of the concatenation for every input: a
concatenation's size is the sum of its items' (the class token's 1, which no input changes,
and x's n). So the cut is the `slice_as` of the table to the tensor it is added to, which
takes every length the table holds, as the model does.

A size is followed as a form: the sizes that follow the input it adds up (a symbol each, the
tensor and dim it was read off) and a number. A tensor's dim is a number when it is the same
on the example input and on one of doubled sizes (the run slices.py makes, here with the
sizes it reaches before the model fails, as ViT's table does past its length), the sum of
its items' when the tensor is a torch.cat along it, else a symbol of its own. The bound is
the tensor's length when the two forms are equal.
"""

from __future__ import annotations

import operator
from collections import Counter
from typing import Any

import torch

from .calls import is_node

#: a size as (symbols it adds, each a (node, dim) read off a tensor; a number it adds)
Form = tuple[Counter, int]
_JOINS = {operator.add, operator.sub, operator.mul, torch.add, torch.sub, torch.mul}
_CATS = {torch.cat, torch.concat}
#: how deep a size is followed through sums and concatenations
_DEPTH = 16


def joined_length(reader: Any, node: Any, stop: Any, dim: int) -> Any:
    """The fx node of a tensor read so far that an elementwise join reads beside `node`
    (the cut `table[:, :stop]`) and whose size at `dim` is `stop` for every input; None when
    there is none, or it is not proven."""
    want = _bound_form(reader, stop, _DEPTH)
    if want is None or not want[0]:
        return None
    for user in node.users:
        join = user.target in _JOINS or user.target in ("add", "sub", "mul")
        if not join or len(user.all_input_nodes) != 2 or user.kwargs:
            continue
        for other in user.all_input_nodes:
            known = other is not node and other in reader.names
            if known and _size_form(reader, other, dim, _DEPTH) == want:
                return other
    return None


def _bound_form(reader: Any, value: Any, depth: int) -> Form | None:
    """The form of a bound: a number, a size read off a tensor (`x.shape[1]`, n of `b, n, _
    = x.shape`), or sums and differences of them."""
    if type(value) is int:
        return Counter(), value
    if not is_node(value) or depth <= 0:
        return None
    sym = reader.syms.get(value)
    if sym is not None and sym.what == "dim" and type(sym.index) is int:
        from .slices import _node_shapes

        rank = len(_node_shapes(reader).get(sym.src, ()))
        return _size_form(reader, sym.src, sym.index % rank, depth - 1) if rank else None
    if value.target not in (operator.add, operator.sub) or len(value.args) != 2 or value.kwargs:
        return None
    a, b = (_bound_form(reader, v, depth - 1) for v in value.args)
    if a is None or b is None:
        return None
    if value.target is operator.sub:
        return _combined(a, b, -1)
    return _combined(a, b, 1)


def _size_form(reader: Any, tensor: Any, dim: int, depth: int) -> Form | None:
    """The form of `tensor`'s size at `dim` (see the module's docstring)."""
    from .slices import _node_shapes

    here = _node_shapes(reader).get(tensor)
    if here is None or not 0 <= dim < len(here) or depth <= 0:
        return None
    items = _cat_items(tensor, len(here), dim)
    if items is not None:
        total: Form | None = (Counter(), 0)
        for item in items:
            form = _size_form(reader, item, dim, depth - 1)
            total = None if form is None or total is None else _combined(total, form, 1)
        return total
    there = _node_shapes(reader, other="reached").get(tensor)
    if there is not None and len(there) == len(here) and there[dim] == here[dim]:
        return Counter(), here[dim]
    return Counter({(tensor, dim): 1}), 0


def _cat_items(tensor: Any, rank: int, dim: int) -> list[Any] | None:
    """The tensors `tensor` concatenates along `dim`, when it is such a torch.cat."""
    if tensor.op != "call_function" or tensor.target not in _CATS:
        return None
    args = list(tensor.args) + [tensor.kwargs.get("dim", 0)] * (len(tensor.args) < 2)
    items, at = args[0], args[1]
    if not isinstance(items, list | tuple) or type(at) is not int or at % rank != dim:
        return None
    return list(items) if all(is_node(i) for i in items) else None


def _combined(a: Form, b: Form, sign: int) -> Form:
    symbols = Counter(a[0])
    for key, count in b[0].items():
        symbols[key] += sign * count
    return Counter({k: v for k, v in symbols.items() if v}), a[1] + sign * b[1]
