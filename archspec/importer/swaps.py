"""`x.transpose(a, b)` of a tensor whose rank no step before states (ResMLP's
`self.norm1(x).transpose(1, 2)`, gMLP's `v.transpose(-1, -2)`), and a matrix's `x.t()` (a
linear layer written from scratch, `x @ self.weight.t()`), as a `permute`.

functions.py reads a transpose whose input's rank the step that made it states (`x.flatten(2)`
has rank 3). Otherwise the rank is the one the tensor has when the module's graph runs on
the input its instance received from the example input (slices.py records it). A spec's
input has one rank, and so has every node after it, so the permute is exact for every
input the spec accepts: the example input decides nothing the spec does not fix already.
"""

from __future__ import annotations

from typing import Any

from .calls import after_refused
from .functions import Ref, read_call


def _dims(node: Any) -> tuple[Any, Any, Any] | None:
    """(tensor, dim0, dim1) of a `transpose` node given two ints, or of `x.t()` (dims 0 and
    1: a matrix transposed, `x @ self.weight.t()`); None for any other node."""
    import torch

    t = (node.op == "call_method" and node.target == "t") or (
        node.op == "call_function" and node.target is torch.t
    )
    if t and len(node.args) == 1 and not node.kwargs and hasattr(node.args[0], "op"):
        return node.args[0], 0, 1
    method = node.op == "call_method" and node.target == "transpose"
    if not (method or (node.op == "call_function" and node.target is torch.transpose)):
        return None
    given = dict(zip(("input", "dim0", "dim1"), node.args, strict=False)) | dict(node.kwargs)
    if len(node.args) + len(node.kwargs) != 3 or set(given) != {"input", "dim0", "dim1"}:
        return None
    x, a, b = given["input"], given["dim0"], given["dim1"]
    if not hasattr(x, "op") or type(a) is not int or type(b) is not int:
        return None
    return x, a, b


def _written(node: Any, a: int, b: int) -> str:
    """The transpose as the forward wrote it (`.t()`, `.transpose(1, 2)`)."""
    import torch

    return ".t()" if node.target == "t" or node.target is torch.t else f".transpose({a}, {b})"


def read_transpose(reader: Any, node: Any) -> bool:
    """A transpose whose rank the example input's run tells, as a `permute` item; False
    for any other node (and for a transpose functions.py reads, or whose rank is unknown:
    the reader refuses it as any call no kind computes). `reader` is trace._GraphReader."""
    from .slices import _node_shapes

    found = _dims(node)
    if found is None:
        return False
    if found[0] not in reader.names:  # after a refused step (reported there): gone with it
        return after_refused(reader.refused, reader.names, (found[0],))
    x, a, b = found
    if read_call(node.op, node.target, (Ref(x), a, b), {}) is not None:
        return False  # the step before states the rank
    shape = _node_shapes(reader).get(x)
    if shape is None and reader.problems.run_error is not None:
        size, why = reader.problems.run_error
        reader.fail(
            "E903",
            f"`{_written(node, a, b)}` of a tensor whose rank no step before it states: the "
            f"model's run on the example input tells it, and the model does not run on "
            f"({size}): {why}",
            node,
            "give an example input of a size the model takes (`--input`; timm's models state "
            "theirs in `model.pretrained_cfg['input_size']`)",
        )
        return True
    if shape is None:
        return False
    rank = len(shape)
    if not (-rank <= a < rank and -rank <= b < rank):
        return False
    dims = list(range(rank))
    dims[a % rank], dims[b % rank] = dims[b % rank], dims[a % rank]
    return reader.emit(node, "permute", {"dims": dims}, (x,))
