"""`att.masked_fill(mask == 0, float("-inf"))`: minGPT's causal mask, a tensor compared with
a number and the comparison given to `masked_fill` as its mask, is one `masked_fill` node
(`equal_to` the number, `value` the fill: `-inf` / `inf` as words). A spec holds no
boolean tensor, so the comparison is read only where every reader of it is such a mask;
any other (a mask of another making, a comparison read elsewhere) is left to the caller's
refusal (E903).
"""

from __future__ import annotations

import math
import operator
from typing import Any

from .calls import is_node


def _is_masked_fill(node: Any) -> bool:
    """`x.masked_fill(mask, value)` or `torch.masked_fill(x, mask, value)` (not in place)."""
    import torch

    if node.op == "call_method":
        return node.target == "masked_fill"
    return node.op == "call_function" and node.target is torch.masked_fill


def _number(value: Any) -> bool:
    return type(value) in (int, float)


def _compared(node: Any) -> tuple[Any, Any] | None:
    """(tensor, number) of `tensor == number`, or None."""
    if getattr(node, "op", None) != "call_function" or node.target is not operator.eq:
        return None
    args = node.args
    if len(args) != 2 or node.kwargs or not is_node(args[0]) or not _number(args[1]):
        return None
    return args[0], args[1]


def _parts(node: Any) -> tuple[Any, Any, Any] | None:
    """(tensor, mask, value) of a masked_fill call, wherever its arguments are written."""
    names = ("input", "mask", "value")
    given = list(node.args) + [node.kwargs[n] for n in names[len(node.args) :] if n in node.kwargs]
    if len(given) != 3 or len(node.args) + len(node.kwargs) != 3:
        return None
    return given[0], given[1], given[2]


def _mask_only(node: Any) -> bool:
    """Whether every reader of `node` takes it as the mask of a masked_fill."""
    return bool(node.users) and all(
        _is_masked_fill(u) and (p := _parts(u)) is not None and p[1] is node and p[0] is not node
        for u in node.users
    )


def read_masked(reader: Any, node: Any) -> bool:
    """A comparison only masks read (left to them), or a masked_fill by one: True if the node
    is handled. `reader` is trace._GraphReader."""
    if _compared(node) is not None and _mask_only(node):
        return True  # read by the masked_fills it masks
    if not _is_masked_fill(node):
        return False
    parts = _parts(node)
    if parts is None:
        return False
    x, mask, value = parts
    compared = _compared(mask)
    if compared is None or not is_node(x) or not _number(value) or math.isnan(value):
        return False
    tensor, equal_to = compared
    shown = value if math.isfinite(value) else ("-inf" if value < 0 else "inf")
    return reader.emit(node, "masked_fill", {"value": shown, "equal_to": equal_to}, (x, tensor))
