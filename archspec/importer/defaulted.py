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


def _shown(value: Any) -> str:
    """A call's argument as a message writes it: a traced value by its node's name."""
    if hasattr(value, "op"):
        return value.name
    if isinstance(value, list | tuple):
        inner = ", ".join(_shown(v) for v in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner}{',' * (len(value) == 1)})"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _size_read(value: Any) -> bool:
    """Whether a traced value is a tensor's sizes (`x.size()`, `x.shape`, `x.shape[2:]`),
    not a tensor: a call given it is given no tensor there."""
    import operator

    if not hasattr(value, "op"):
        return False
    if value.op == "call_method" and value.target == "size":
        return True
    if value.op != "call_function" or not value.args:
        return False
    if value.target is getattr:
        return value.args[1:] == ("shape",)
    return value.target is operator.getitem and _size_read(value.args[0])


#: arithmetic a forward does on sizes (`H * W`, `C // heads`), whose result is a size too
_SIZE_ARITHMETIC = ("add", "sub", "mul", "floordiv", "truediv", "mod", "neg")


def size_value(value: Any) -> bool:
    """Whether a traced value is sizes read in forward, not a tensor: a size read
    (_size_read), arithmetic of sizes and numbers (`H * W`), or a tuple or list of such
    (PVT-v2's `feat_size = (H, W)` given to its blocks)."""
    import operator

    if isinstance(value, list | tuple):
        return (
            bool(value)
            and all(size_value(v) or type(v) is int for v in value)
            and any(hasattr(v, "op") for v in value)
        )
    if _size_read(value):
        return True
    if not hasattr(value, "op") or value.op != "call_function":
        return False
    arithmetic = value.target in tuple(getattr(operator, n) for n in _SIZE_ARITHMETIC)
    nodes = value.all_input_nodes
    return arithmetic and bool(nodes) and all(size_value(n) for n in nodes)


def other_than_one_tensor(child: Any, args: Any, kwargs: dict[str, Any]) -> str:
    """How a call gives a child other than tensors and its own defaults, for the refusal to
    say: `with scale=2.0 (its default: 1.0)`, `with *xs=(x,)`, `with c=[x, y]`."""
    if not args or not hasattr(args[0], "op") or size_value(args[0]):
        given = ", ".join([*map(_shown, args), *(f"{k}={_shown(v)}" for k, v in kwargs.items())])
        sizes = " (sizes read in forward)" if args and size_value(args[0]) else ""
        return f"with ({given}){sizes}, not a tensor first"
    try:
        params = list(inspect.signature(child.forward).parameters.values())
    except (TypeError, ValueError):
        params = []
    if params and params[0].kind is not inspect.Parameter.VAR_POSITIONAL:
        params = params[1:]  # the tensor's own; `*xs` takes the others too
    extra: list[tuple[str, Any]] = []
    rest = list(args[1:])
    for p in params:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            extra += [(f"*{p.name}", tuple(rest))] if rest else []
            rest = []
        elif rest and p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD:
            extra.append((p.name, rest.pop(0)))
    extra += [(f"argument {i}", v) for i, v in enumerate(rest, len(args) - len(rest) + 1)]
    extra += list(kwargs.items())
    plain = defaulted(child)
    parts: list[str] = []
    for name, value in extra:
        if size_value(value):  # ENet's `self.tconv(x, output_size=input_size)`
            parts.append(f"{name}={_shown(value)}, sizes read in forward")
            continue
        if (hasattr(value, "op") and not name.startswith("*")) or is_default(value, name, plain):
            continue  # a tensor for an argument of its own, or its default: no problem
        default = f" (its default: {_shown(plain[name])})" if name in plain else ""
        parts.append(f"{name}={_shown(value)}{default}")
    return f"with {', '.join(parts)} besides its tensor" if parts else "with other than one tensor"
