"""In-place steps on a tensor that forward reads again afterwards (`identity = y; y += x;
return y + identity`, or through a view taken before, `z = y.view(n, -1); y += 1; fc(z)`):
torch.fx records no aliasing, so the traced graph reads the value from before the change
while the model reads the one after. Where nothing else shares the tensor's storage (no
view, no copy, no tensor of the model) and the step returns the tensor it changed, the later
reads are made to read the step's result, which is what the model reads. Otherwise a spec's
joins and functions, which compute out of place, cannot state it: the step is refused at its
statement (E904) rather than imported as a different computation. An in-place step whose
input nothing reads later (`out += identity` on a fresh output, `F.relu(x, inplace=True)` in
a chain) is exact."""

from __future__ import annotations

import ast
import inspect
import linecache
import operator
from typing import Any

from ..errors import Diagnostic
from .state import changed_in_place, data_of
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
_SIZE_MATH = _BINARY | {operator.mod, operator.neg}


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
    if len(tree.body) != 1 or not isinstance(tree.body[0], ast.AugAssign):
        return False
    # the statement's last step is the one in place: in `y += a * 2`, `a * 2` is not
    same = [span_from_stack(u.stack_trace) for u in node.users if u.op != "output"]
    return not any(u is not None and (u.file, u.line) == (span.file, span.line) for u in same)


def _inplace_argument(node: Any) -> bool:
    """`inplace=True`, by keyword or by position (`F.relu(x, True)`)."""
    if node.kwargs.get("inplace") is True:
        return True
    try:
        bound = inspect.signature(node.target).bind_partial(*node.args, **node.kwargs)
    except (TypeError, ValueError):
        return False
    return bound.arguments.get("inplace") is True


def in_place_name(op: str, target: Any) -> tuple[Any, str] | None:
    """(where, name) of the out-of-place twin of an in-place call: `x.relu_()` (None,
    "relu"), `torch.relu_` (torch, "relu"), `F.leaky_relu_` (F, "leaky_relu"); else None."""
    import torch
    import torch.nn.functional as F

    name = target if op == "call_method" else getattr(target, "__name__", None)
    if not isinstance(name, str) or not name.endswith("_") or name.startswith("_"):
        return None
    if op == "call_method":
        return None, name[:-1]
    for home in (F, torch):
        if getattr(home, name, None) is target and callable(getattr(home, name[:-1], None)):
            return home, name[:-1]
    return None


#: Where `_is_size` notes its answer in a node's `meta`, so that each node is worked out once.
_SIZE_MEMO = "archspec_is_size"


def _is_size(node: Any) -> bool:
    """A number read off a tensor's shape (`B` of `B, C = x.shape`, `B * 4`), no tensor:
    `B *= 4` rebinds a name, and `x.shape[0]` shares no storage with `x`. Worked out without
    recursion and once per node: a forward of 1,000 `x = x + 1` recursed past Python's limit
    (and 200,000 asked each node about all the nodes before it)."""
    if not hasattr(node, "op"):
        return False
    stack = [node]
    while stack:
        top = stack[-1]
        if _SIZE_MEMO in top.meta:
            stack.pop()
            continue
        step = _size_step(top)
        if isinstance(step, bool):
            top.meta[_SIZE_MEMO] = step
            stack.pop()
            continue
        pending = [a for a in step if hasattr(a, "op") and _SIZE_MEMO not in a.meta]
        if pending:
            stack.extend(pending)
            continue
        top.meta[_SIZE_MEMO] = all(hasattr(a, "op") and a.meta[_SIZE_MEMO] for a in step)
        stack.pop()
    return bool(node.meta[_SIZE_MEMO])


def _size_step(node: Any) -> bool | list[Any]:
    """Whether `node` is a size on its own, or the inputs that must all be sizes for it to be."""
    if node.op == "call_method":
        return node.target in ("size", "dim", "numel")
    if node.op != "call_function":
        return False
    if node.target is getattr:
        return node.args[1:] in (("shape",), ("ndim",))
    if node.target is operator.getitem:
        return [node.args[0]]
    ins = node.all_input_nodes
    return list(ins) if node.target in _SIZE_MATH and ins else False


def _in_place(module: Any, node: Any, problems: Any) -> bool:
    if node.op == "call_method":
        name = str(node.target)
        return name.endswith("_") and not name.startswith("_")
    if node.op == "call_function":
        if node.target in _BINARY:
            return _augmented(node) and not _is_size(node)
        if in_place_name(node.op, node.target) is not None:  # `torch.relu_(y)`
            return True
        return node.target in _IN_PLACE_OPERATORS or _inplace_argument(node)
    if node.op == "call_module":
        child = module.get_submodule(str(node.target)) if node.target else None
        return getattr(child, "inplace", False) is True or _changes_input(child, problems)
    return False


def _returns_its_input(module: Any, node: Any) -> bool:
    """Whether an in-place step returns the tensor it changed (`y.mul_(g)`, `y += x`,
    `F.relu(y, inplace=True)`, `nn.ReLU(inplace=True)`), so that where nothing else shares
    that storage, a later read of `y` reads the step's result: timm's NFNet block
    `out.mul_(self.skipinit_gain); out = out * self.alpha + shortcut`. A child whose forward
    changes what it is given returns another tensor."""
    if node.op == "call_module":
        child = module.get_submodule(str(node.target)) if node.target else None
        torch_own = type(child).__module__.startswith("torch.nn")
        return torch_own and getattr(child, "inplace", False) is True
    return node.op in ("call_method", "call_function")


def _reads_first_only(later: list[Any], first: Any, shared: set[Any]) -> bool:
    """Whether every later reader reads the changed tensor `first` itself: none reads
    another tensor sharing its storage (a view, or what it is a view of) or a copy of it
    (which the import reads as `first`, holding the value from before the change)."""
    copied = {u for c in _copies(first) for u in c.users}
    return all(
        u not in copied and {a for a in u.all_input_nodes if a in shared} == {first} for u in later
    )


def _copies(node: Any) -> list[Any]:
    """The `x.clone()`s of a node: the import reads each as the node itself (a spec makes no
    copies), so a reader of the copy reads the node."""
    return [
        u
        for u in node.users
        if (u.op == "call_method" and u.target == "clone")
        or (u.op == "call_function" and getattr(u.target, "__name__", "") == "clone")
    ]


#: tensor methods and functions (by name) whose output may share its input's storage
_VIEWS = frozenset(
    {
        *("view", "view_as", "reshape", "flatten", "unflatten", "transpose", "permute", "t"),
        *("squeeze", "unsqueeze", "expand", "expand_as", "narrow", "select", "chunk", "split"),
        *("unbind", "contiguous", "detach", "movedim", "swapaxes", "diagonal", "unfold"),
        *("getitem", "dropout"),
    }
)
#: torch.nn modules whose output may be their input or a view of it
_VIEW_MODULES = frozenset({"Identity", "Flatten", "Unflatten", "Dropout"})


def _is_view(module: Any, node: Any, memo: dict[int, bool]) -> bool:
    """Whether `node` may return its first argument's storage (`y.view(n, -1)`, `y[:, :2]`,
    `nn.Identity()(y)`, a child that returns what it is given): an in-place step on either
    changes both."""
    if not node.args or not hasattr(node.args[0], "users") or _is_size(node.args[0]):
        return False
    if node.op == "call_module":
        child = module.get_submodule(str(node.target)) if node.target else None
        cls = type(child)
        if cls.__module__.startswith("torch.nn"):
            return cls.__name__ in _VIEW_MODULES
        return _returns_input(child, memo)
    if node.op == "call_function" and node.target is getattr:
        return node.args[1:] in (("T",), ("mT",))
    name = node.target if node.op == "call_method" else getattr(node.target, "__name__", "")
    return node.op in ("call_method", "call_function") and name in _VIEWS


def _returns_input(child: Any, memo: dict[int, bool]) -> bool:
    """A parameter-free child of a class of its own whose forward returns the tensor it is
    given (timm's `DropPath(0.0)`, a pass-through), as torch.fx traces it: its output is its
    input's storage. Traced once per child (`memo`); one that fx cannot trace is not."""
    import torch.fx as fx

    if id(child) not in memo:
        memo[id(child)] = False
        if child is not None and next(iter(child.state_dict()), None) is None:
            try:
                graph = fx.Tracer().trace(child)
            except Exception:  # not shown to return its input
                return False
            out = next(n for n in graph.nodes if n.op == "output").args[0]
            memo[id(child)] = isinstance(out, fx.Node) and out.op == "placeholder"
    return memo[id(child)]


def _aliases(module: Any, first: Any, step: Any, memo: dict[int, bool]) -> set[Any]:
    """The nodes whose tensors share `first`'s storage: the tensor it is a view of, and
    every view of those (chunk's and split's pieces through their getitems). The in-place
    `step` itself is none: what reads its result (`nn.Dropout(inplace=True)`, which may
    return its input) reads the changed tensor in the graph as in the model."""
    found, todo = {first, step}, [first]
    while todo:
        node = todo.pop()
        near = [node.args[0]] if _is_view(module, node, memo) else []
        near += [u for u in node.users if _is_view(module, u, memo)]
        for other in near:
            if other not in found:
                found.add(other)
                todo.append(other)
    return found - {step}


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
    memo: dict[int, bool] = {}  # children that return their input (`_returns_input`)
    for node in graph.nodes:
        first = node.args[0] if node.args else None
        if not hasattr(first, "users"):
            continue
        shared = _aliases(module, first, node, memo)  # a view read later sees the change too
        readers = {u for a in shared for u in a.users}
        readers |= {u for c in _copies(first) for u in c.users}
        later = sorted(
            (u for u in readers if u is not node and order[u] > order[node]), key=order.get
        )
        own = changed_in_place(module, node)  # a tensor of the model: its state
        # last: whether a child changes its input is known from a run of the model
        if (own is None and not later) or not _in_place(module, node, problems):
            continue
        if own is not None:
            out.append(own)
            continue
        if _reads_first_only(later, first, shared) and _returns_its_input(module, node):
            for reader in later:  # they read what the step left in `first`'s storage
                reader.replace_input_with(first, node)
            continue
        span = span_from_stack(node.stack_trace) or span_of_class(type(module))
        child = module.get_submodule(str(node.target)) if node.op == "call_module" else None
        how = ", whose forward changes what it is given" if _block(child) else ""
        copy = next((c for c in _copies(first) if later[0] in c.users), None)
        view = next((a for a in shared - {first} if later[0] in a.users), None)
        if copy is None and view is not None:  # `z = y.view(n, -1)` before `y += 1`
            why = (
                f"so the later read of `{view.name}`, which shares the storage of "
                f"`{first.name}`, would see the value from before the change"
            )
        elif copy is None:
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


def changed_through_data(module: Any, graph: Any, problems: Any) -> set[Any]:
    """The reads of a model tensor's `.data` (`self.weight.data`) that only in-place steps
    take, whose change in_place_aliases reports (state.py): no step of their own to refuse."""
    return {
        node
        for node in graph.nodes
        if getattr(data_of(node), "op", None) == "get_attr"
        and node.users
        and all(u.args and u.args[0] is node and _in_place(module, u, problems) for u in node.users)
    }
