"""A forward that changes the model's own tensors: a counter `self.count += 1`, a running
average `self.avg.mul_(0.9).add_(...)`.

A spec's forward keeps no state: its nodes compute out of place and its layers' own
tensors change only as torch's layers change them. So a forward that assigns or changes
a tensor of the model is refused (E904) at its statement, never imported as a graph
that computes the new value and drops it. The trace itself must not change the model
either: torch.fx records the step, it does not run it, and an assignment it makes
(`self.count = <traced value>`, `self.last = x`) is undone, as are the attributes torch.fx
adds itself to hold a tensor made in forward (`torch.tensor([1.0, 2.0])`:
`self._tensor_constant0`), whose values are kept for tensors.py.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from .where import describe, diagnostic, span_from_stack, span_of_class

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from ..errors import Diagnostic
    from .trace import Problems

_HINT = (
    "a spec's forward keeps no state of its own: compute the value out of place and "
    "return it, or keep the state outside the model"
)


@contextlib.contextmanager
def kept_tensors(module: nn.Module, problems: Problems) -> Iterator[None]:
    """Trace `module` under this: each parameter or buffer of it (or of its children) that
    its forward assigns is put back, and is an E904 in `problems` at the statement."""
    held = [
        (owner, prefix, store, dict(store))
        for prefix, owner in module.named_modules()
        for store in (owner._parameters, owner._buffers)
    ]
    attributes = dict(vars(module))  # `self.last = x` too is a traced value afterwards
    try:
        yield
    finally:
        made = problems.__dict__.setdefault("made", {}).setdefault(id(module), {})
        made.update((k, v) for k, v in vars(module).items() if _made_in_forward(k, v, attributes))
        vars(module).clear()
        vars(module).update(attributes)
        for owner, prefix, store, before in held:
            for key, value in list(store.items()):
                if key in before and before[key] is value:
                    continue
                store.clear()
                store.update(before)
                node = getattr(value, "node", None)
                span = span_from_stack(getattr(node, "stack_trace", None))
                name = f"{prefix}.{key}" if prefix else key
                problems.add(
                    diagnostic(
                        "E904",
                        f"{describe(type(module))}.forward assigns the tensor `self.{name}`",
                        span or span_of_class(type(owner)),
                        _HINT,
                    )
                )
                break


def _made_in_forward(key: str, value: Any, attributes: dict[str, Any]) -> bool:
    """Whether the module's attribute `key` is a tensor torch.fx stowed away while tracing:
    one the forward made of no input (`torch.eye(3)`), which tensors.py may read."""
    import torch

    return key not in attributes and isinstance(value, torch.Tensor) and key.startswith("_")


def changed_in_place(module: nn.Module, node: Any) -> Diagnostic | None:
    """An E904 when the in-place step `node` changes a tensor of the model (its input is a
    `get_attr`), whatever reads it afterwards."""
    first = node.args[0] if node.args else None
    through = data_of(first)  # `self.weight.data *= self.mask`: PixelCNN's masked conv
    first = through if through is not None else first
    if getattr(first, "op", None) != "get_attr":
        return None
    span = span_from_stack(node.stack_trace) or span_of_class(type(module))
    how = "through `.data`, " if through is not None else ""
    return diagnostic(
        "E904",
        f"{describe(type(module))}.forward changes the tensor `self.{first.target}` in place "
        f"({how}`{node.name}`)",
        span,
        _DATA_HINT if through is not None else _HINT,
    )


_DATA_HINT = (
    "a spec's forward keeps no state of its own, and its layers compute with their weights "
    "as they are: change the weight outside forward (PixelCNN's mask applied once after "
    "building and after each optimiser step) and import the model without the step"
)


def data_of(node: Any) -> Any:
    """The node whose `.data` `node` reads (`self.weight.data`), else None."""
    if getattr(node, "op", None) != "call_function" or node.target is not getattr:
        return None
    return node.args[0] if node.args[1:] == ("data",) else None


#: the arithmetic a number stands in for a 0-d tensor in (functions.py's joins)
_ARITHMETIC = ("add", "mul", "sub", "truediv", "div")


def scalar_constants(module: Any, graph: Any) -> dict[Any, float]:
    """The get_attr nodes of the 0-d float32 tensors a forward makes (NeRF's frequencies,
    `x * freq` with `freq` an item of `2.0 ** torch.linspace(...)`), which torch.fx holds
    on the module as `_tensor_constant0`, ... until the trace ends: each as its number,
    where only a sum, product, difference or quotient with another tensor reads it, which
    torch computes with the number as with the tensor (`x * 2.0` is `x * tensor(2.0)`)."""
    import operator

    import torch

    ops = {getattr(operator, n, None) for n in _ARITHMETIC} | {
        getattr(torch, n, None) for n in _ARITHMETIC
    }
    out: dict[Any, float] = {}
    for node in graph.nodes:
        target = str(node.target)
        if node.op != "get_attr" or not target.startswith("_tensor_constant"):
            continue
        value = vars(module).get(target)
        if not isinstance(value, torch.Tensor) or value.dim() != 0 or value.dtype != torch.float32:
            continue
        number = float(value)
        if not math.isfinite(number):
            continue
        if node.users and all(
            len(u.args) == 2
            and not u.kwargs
            and (u.target in ops if u.op == "call_function" else u.target in _ARITHMETIC)
            and sum(a is node for a in u.args) == 1
            and all(hasattr(a, "op") for a in u.args)
            for u in node.users
        ):
            out[node] = number
    return out
