"""Arguments of `forward` after the input that have defaults (`def forward(self, x,
mask=None)`): the model is imported as called with its input alone, so each takes its
default, and the graph is the one that default gives (`if mask is not None:` is not taken).

torch.fx traces such a forward with `concrete_args` and keeps a placeholder for each,
checked by an assertion that the value is the default; both are dropped here, leaving the
graph of one input. An argument whose default is not a plain value stays a second input,
which the importer refuses (E904).
"""

from __future__ import annotations

import inspect
import operator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

_PLAIN = (type(None), bool, int, float, str)


def defaulted(module: nn.Module) -> dict[str, Any]:
    """forward's arguments after the first whose defaults are plain values."""
    try:
        params = list(inspect.signature(module.forward).parameters.values())[1:]
    except (TypeError, ValueError):
        return {}
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {
        p.name: p.default
        for p in params
        if p.kind in kinds
        and p.default is not inspect.Parameter.empty
        and type(p.default) in _PLAIN
    }


def _is_check(node: Any) -> bool:
    import torch
    from torch.fx import _symbolic_trace

    checks = (operator.eq, torch._assert, getattr(_symbolic_trace, "_assert_is_none", None))
    return node.op == "call_function" and node.target in checks


def drop_defaulted(graph: Any, module: nn.Module, concrete: dict[str, Any]) -> None:
    """Remove the placeholders fx kept for forward's defaulted arguments (`concrete`, the
    values they were traced with) with the assertions that read them; a placeholder read by
    anything else stays, and so do those of an argument given a list (one per item)."""
    plain_output(graph)
    params = list(inspect.signature(module.forward).parameters)[1:] if concrete else []
    widths = [len(v) if isinstance(v := concrete.get(p), list) else 1 for p in params]
    placeholders = [n for n in graph.nodes if n.op == "placeholder"][1:]
    if sum(widths) != len(placeholders):  # *args or **kwargs: left as they are
        return
    order = {n: i for i, n in enumerate(graph.nodes)}
    starts = [sum(widths[:i]) for i in range(len(params))]
    for param, start in zip(params, starts, strict=True):
        if param not in concrete or isinstance(concrete[param], list):
            continue
        node = placeholders[start]
        users, todo = [], list(node.users)
        while todo:
            user = todo.pop()
            if user not in users:
                users.append(user)
                todo.extend(user.users)
        if not all(_is_check(u) for u in users):
            continue
        for user in sorted(users, key=lambda u: -order[u]):
            graph.erase_node(user)
        graph.erase_node(node)


def plain_output(graph: Any) -> None:
    """A graph traced with a list of placeholders (inputs.traced_args) returns its outputs
    flattened (`[cat]`): they are put back as forward returns them, and the graph's code
    takes its placeholders one by one."""
    import torch.utils._pytree as pytree
    from torch.fx.graph import CodeGen, _PyTreeCodeGen

    codegen = graph._codegen
    if not isinstance(codegen, _PyTreeCodeGen):
        return
    out = next(n for n in reversed(graph.nodes) if n.op == "output")
    spec = codegen.pytree_info.out_spec
    if spec is not None:
        out.args = (pytree.tree_unflatten(list(out.args[0]), spec),)
    graph._codegen = CodeGen()


def one_tensor_call(child: nn.Module, args: list[Any], kwargs: dict[str, Any]) -> bool:
    """Whether a child is called with one tensor and, besides it, only the values its own
    defaulted arguments take (timm's `self.patch_embed(x, mask=None)`): the child's body is
    traced with those (above), so the call is the one-tensor call a spec makes."""
    if not args or not hasattr(args[0], "op"):
        return False
    given = defaulted(child)
    try:
        names = list(inspect.signature(child.forward).parameters)[1:]
    except (TypeError, ValueError):
        return False
    if len(args) - 1 > len(names) or set(names[: len(args) - 1]) & set(kwargs):
        return False
    extra = {**dict(zip(names, args[1:], strict=False)), **kwargs}
    return all(is_default(v, k, given) for k, v in extra.items())


def is_default(value: Any, name: str, plain: dict[str, Any]) -> bool:
    """Whether `value`, given for the argument `name`, is its default in `plain` (defaulted):
    the same type and value, so `1` never passes for `True`."""
    return name in plain and type(value) is type(plain[name]) and value == plain[name]
