"""In-place steps on a tensor that forward reads again afterwards (`identity = y; y += x;
return y + identity`): torch.fx records no aliasing, so the traced graph reads the value
from before the change while the model reads the one after. A spec's joins and functions
compute out of place, so such a step is refused at its statement (E904) rather than
imported as a different computation. An in-place step whose input nothing reads later
(`out += identity` on a fresh output, `F.relu(x, inplace=True)` in a chain) is exact."""

from __future__ import annotations

import ast
import inspect
import linecache
import operator
from typing import Any

from ..errors import Diagnostic
from .state import changed_in_place
from .where import describe, diagnostic, span_from_stack, span_of_class

_IN_PLACE_OPERATORS = frozenset(
    {
        operator.iadd,
        operator.isub,
        operator.imul,
        operator.itruediv,
        operator.ifloordiv,
        operator.imod,
        operator.ipow,
        operator.iand,
        operator.ior,
        operator.ixor,
        operator.ilshift,
        operator.irshift,
        operator.imatmul,
    }
)


_BINARY = frozenset(
    {operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv, operator.pow}
)


def _augmented(node: Any) -> bool:
    """`y += x` on a tensor: torch.fx's proxies have no `__iadd__`, so Python falls back to
    `y = y + x` and the graph shows an `add`; the statement itself says it is in place."""
    span = span_from_stack(node.stack_trace)
    if span is None:
        return False
    text = linecache.getline(span.file, span.line).strip()
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    return len(tree.body) == 1 and isinstance(tree.body[0], ast.AugAssign)


def _inplace_argument(node: Any) -> bool:
    """`inplace=True`, by keyword or by position (`F.relu(x, True)`)."""
    if node.kwargs.get("inplace") is True:
        return True
    try:
        bound = inspect.signature(node.target).bind_partial(*node.args, **node.kwargs)
    except (TypeError, ValueError):
        return False
    return bound.arguments.get("inplace") is True


def _in_place(module: Any, node: Any, problems: Any) -> bool:
    if node.op == "call_method":
        name = str(node.target)
        return name.endswith("_") and not name.startswith("_")
    if node.op == "call_function":
        if node.target in _BINARY:
            return _augmented(node)
        return node.target in _IN_PLACE_OPERATORS or _inplace_argument(node)
    if node.op == "call_module":
        child = module.get_submodule(str(node.target)) if node.target else None
        return getattr(child, "inplace", False) is True or _changes_input(child, problems)
    return False


def _copies(node: Any) -> list[Any]:
    """The `x.clone()`s of a node: the import reads each as the node itself (a spec makes no
    copies), so a reader of the copy reads the node."""
    return [
        u
        for u in node.users
        if (u.op == "call_method" and u.target == "clone")
        or (u.op == "call_function" and getattr(u.target, "__name__", "") == "clone")
    ]


def _block(child: Any) -> bool:
    """A child whose in-place step is inside its forward, not its `inplace=True`."""
    return child is not None and getattr(child, "inplace", False) is not True


def _changes_input(child: Any, problems: Any) -> bool:
    """Whether the child changed the tensor it received in place when the model ran on the
    example input: a block whose forward starts `x = F.relu(x, inplace=True)`, a Sequential
    that starts with `nn.ReLU(inplace=True)`. torch.fx's graph of the caller does not show
    it, and the spec's child computes out of place."""
    from .slices import given_input

    if problems is None or problems.example is None:
        return False
    given_input(problems, child)  # the model runs once, when first asked
    return id(child) in problems.changes_input


def in_place_aliases(module: Any, graph: Any, problems: Any = None) -> list[Diagnostic]:
    """One located E904 per in-place step whose input is read again after it, or is a
    tensor of the model (state.py)."""
    order = {n: i for i, n in enumerate(graph.nodes)}
    out = []
    for node in graph.nodes:
        first = node.args[0] if node.args else None
        if not hasattr(first, "users"):
            continue
        readers = [*first.users, *(u for c in _copies(first) for u in c.users)]
        later = [u for u in readers if u is not node and order[u] > order[node]]
        own = changed_in_place(module, node)  # a tensor of the model: its state
        if (own is None and not later) or not _in_place(module, node, problems):
            continue
        if own is not None:
            out.append(own)
            continue
        span = span_from_stack(node.stack_trace) or span_of_class(type(module))
        child = module.get_submodule(str(node.target)) if node.op == "call_module" else None
        how = ", whose forward changes what it is given" if _block(child) else ""
        copy = next((c for c in _copies(first) if later[0] in c.users), None)
        if copy is None:
            why = "so the later read would see the value from before the change"
        else:  # the spec reads the copy as `first`, and its step would change both
            why = f"and makes no copies: a `clone()` of it (`{copy.name}`) is `{first.name}` there"
        out.append(
            diagnostic(
                "E904",
                f"{describe(type(module))}.forward changes `{first.name}` in place "
                f"(`{node.name}`{how}) and reads it again afterwards (`{later[0].name}`)",
                span,
                f"a spec computes out of place {why}; write the step out of place "
                "(`y = y + x`, `inplace=False`)",
            )
        )
    return out
