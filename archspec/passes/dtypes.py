"""Where an int64 tensor flows: an `int64` buffer (an index, position ids) is state a spec
keeps for its state_dict, and only a few layers compute on it as torch does.

Every other kind computes in floating point with float weights (a conv, a linear, a matmul
with a float operand, softmax, a norm), and torch refuses an int64 input at run time
("expected m1 and m2 to have the same dtype"): `check` would say ok and every forward fail.
So a node that reads an int64 tensor is E401 here, unless it is one of the kinds below; and
a kind that looks values up by index (`embedding`) is E401 when it reads a float tensor.
"""

from __future__ import annotations

from ..errors import Diagnostic
from ..ir import INPUT, Module, Node

#: Kinds that move or combine values without arithmetic of their own: int64 in, int64 out.
_KEEP = frozenset({"reshape", "permute", "flatten", "chunk", "split", "select", "expand"})
#: Elementwise joins: int64 when every input is, else torch promotes to float.
_PROMOTE = frozenset({"add", "sub", "mul", "concat"})
#: True division: always float.
_TO_FLOAT = frozenset({"div"})
#: Lookups by index: int64 in (torch refuses anything else), float out.
INDEXED = frozenset({"embedding"})


def int64_readers(root: Module) -> list[Diagnostic]:
    """E401 for each node that reads an int64 tensor and computes in floating point."""
    errors: list[Diagnostic] = []
    _walk(root, False, errors)
    return errors


def is_int_buffer(node: Node) -> bool:
    """An `int64` buffer: where every int64 tensor of a graph starts."""
    return node.kind == "buffer" and node.attrs.get("dtype") == "int64"


def _walk(module: Module, input_is_int: list[bool] | bool, errors: list[Diagnostic]) -> bool:
    """Mark the module's int64 tensors (its inputs, in order, where `input_is_int` says);
    return whether its output is one."""
    flags = input_is_int if isinstance(input_is_int, list) else [input_is_int]
    ints = {n for n, f in zip((INPUT, *module.extra_inputs), flags) if f}
    for node in module.nodes:
        read = [i in ints for i in node.inputs]
        if node.child is not None:
            if _walk(node.child, read, errors):
                ints.add(node.name)
            continue
        if is_int_buffer(node):
            ints.add(node.name)
        elif node.kind in INDEXED:
            if not all(read):
                errors.append(_float_indices(node))
        elif not any(read) or node.kind in _TO_FLOAT:
            continue
        elif node.kind in _KEEP or (node.kind in _PROMOTE and all(read)):
            ints.add(node.name)
        elif node.kind not in _PROMOTE:
            source = next(i for i, r in zip(node.inputs, read, strict=True) if r)
            errors.append(
                Diagnostic(
                    "E401",
                    f"{node.name}: {node.kind} reads `{source}`, an int64 tensor, and "
                    "computes in floating point: torch refuses it at run time",
                    node.span,
                    "an int64 buffer is state for the state_dict (an index); give the buffer "
                    "`dtype: float32` to compute with it, or reach it only through add, sub, "
                    "mul, div or concat with a float tensor",
                )
            )
    names = [o.name for o in module.outputs] or [n.name for n in module.nodes[-1:]] or [INPUT]
    return all(n in ints for n in names)


def _float_indices(node: Node) -> Diagnostic:
    source = node.inputs[0] if node.inputs else INPUT
    return Diagnostic(
        "E401",
        f"{node.name}: {node.kind} looks up int64 indices, and `{source}` is a float tensor: "
        "torch refuses it at run time",
        node.span,
        "a spec's input is float: read an int64 buffer (position ids: `type: buffer, "
        "fill: arange, dtype: int64`)",
    )
