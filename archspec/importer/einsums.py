"""`torch.einsum` of two tensors that is a batched matrix product, as the `matmul` kind.

Attention written with einsum multiplies `q` by `k` transposed and the scores by `v`:
`torch.einsum("bhid,bhjd->bhij", q, k)` is `q @ k.transpose(-2, -1)` (`matmul` with
`transpose: true`) and `torch.einsum("bhij,bhjd->bhid", attn, v)` is `attn @ v`. An equation
is read so when both operands and the output have the same labels in front, in the same order
(the batch dims, each kept), and the last two of each are a matrix product's: a's rows i and
inner k, b's inner k and columns j (or j and k: b transposed), the output's i and j. Any other
equation (a sum over a batch label, a diagonal, an outer product, an ellipsis) stays E903.
"""

from __future__ import annotations

from typing import Any

from .calls import is_node


def einsum_product(node: Any) -> tuple[Any, Any, bool] | None:
    """(a, b, transpose) when `node` is an einsum computing `a @ b` (or `a @ b^T`)."""
    import torch

    if node.op != "call_function" or node.target is not torch.einsum or node.kwargs:
        return None
    args = node.args
    if len(args) == 2 and isinstance(args[1], list | tuple):
        args = (args[0], *args[1])
    if len(args) != 3 or not isinstance(args[0], str) or not all(map(is_node, args[1:])):
        return None
    transpose = _product_form(args[0].replace(" ", ""))
    return None if transpose is None else (args[1], args[2], transpose)


def _product_form(equation: str) -> bool | None:
    """Whether `a,b->out` is a batched product of b transposed (True) or not (False); None
    when it is no batched matrix product."""
    if equation.count("->") != 1 or "." in equation:
        return None
    inputs, out = equation.split("->")
    if inputs.count(",") != 1:
        return None
    a, b = inputs.split(",")
    if not (a.isalpha() and b.isalpha() and out.isalpha()):
        return None
    if len(a) < 2 or not len(a) == len(b) == len(out) or len(set(out)) != len(out):
        return None
    batch = a[:-2]
    if b[:-2] != batch or out[:-2] != batch:
        return None
    i, k = a[-2:]
    j = out[-1]
    if out[-2] != i or len({i, k, j} | set(batch)) != len(batch) + 3:
        return None
    if b[-2:] == k + j:
        return False
    if b[-2:] == j + k:
        return True
    return None


def read_einsum(reader: Any, node: Any) -> bool:
    """An einsum that is a batched product, as a `matmul` node; False for any other."""
    found = einsum_product(node)
    if found is None:
        return False
    a, b, transpose = found
    return reader.emit(node, "matmul", {"transpose": True} if transpose else {}, (a, b))
