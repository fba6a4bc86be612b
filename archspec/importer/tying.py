"""Tensors or modules held under two names (tied weights). A parameter held by two layers
(nanoGPT's `self.transformer.wte.weight = self.lm_head.weight`) is the spec's `tied:`, each
later name tied to the first, when the spec can name both (its layer kinds declare their
tensors); any other, and a module held under two names, is refused rather than untied
silently (the twin would have the same keys and outputs but twice the parameters, trained
apart). One child called twice by its parent's forward is stated: the second call is a
`reuse`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import Diagnostic
from .where import describe, diagnostic, span_of_class

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from .trace import Item


def _owner(model: nn.Module, first: str, second: str) -> nn.Module:
    """The innermost module holding both names whose class is not torch's own: where the tie
    is usually written (one layer put twice in an `nn.Sequential`, `nn.ModuleList([block] *
    3)`, is the doing of the class that built the container, not of torch's container)."""
    a, b = first.split(".")[:-1], second.split(".")[:-1]
    common: list[str] = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common.append(x)
    while common:
        owner = model.get_submodule(".".join(common))
        if not type(owner).__module__.startswith("torch."):
            return owner
        common.pop()
    return model


def _holds_tensors(module: nn.Module) -> bool:
    """Whether `module` or a module inside it holds a parameter or a buffer."""
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


def _shared_modules(model: nn.Module) -> list[tuple[str, str]]:
    """(first name, other name) of each module holding tensors that the model holds under
    two names, outermost only: TCN's `self.conv1` kept beside `self.net =
    nn.Sequential(self.conv1, ...)`, a list built as `[block] * 2`."""
    seen: dict[int, str] = {}
    pairs: list[tuple[str, str]] = []
    for name, module in model.named_modules(remove_duplicate=False):
        first = seen.setdefault(id(module), name)
        inside = any(name.startswith(other + ".") for _, other in pairs)
        if first != name and not inside and name and _holds_tensors(module):
            pairs.append((first, name))
    return pairs


def _module_problem(model: nn.Module, first: str, second: str) -> Diagnostic:
    """E904 for one module held under two names, where its state_dict keys are written."""
    owner = _owner(model, first + ".x", second + ".x")
    kind = type(model.get_submodule(first)).__name__
    return diagnostic(
        "E904",
        f"`{first}` and `{second}` are one module (a {kind}) held under two names, set up in "
        f"{describe(type(owner))}: the state_dict holds its tensors under both",
        span_of_class(type(owner)),
        "a spec registers each module under one name: hold it under one (drop the other "
        "attribute or list entry; a module the forward runs twice is one child called twice, "
        "which a spec states as a `reuse`), import that model, and load the checkpoint's "
        "tensors by the keys it keeps",
    )


def _shared_tensors(model: nn.Module) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(later name, first name) of each parameter the model holds under two names outside
    a module held under two, and of each such buffer (a tie `tied:` does not state)."""
    inside = tuple(second + "." for _, second in _shared_modules(model))
    params: list[tuple[str, str]] = []
    buffers: list[tuple[str, str]] = []
    seen: dict[int, str] = {}
    named = [
        *((n, t, params) for n, t in model.named_parameters(remove_duplicate=False)),
        *((n, t, buffers) for n, t in model.named_buffers(remove_duplicate=False)),
    ]
    for name, tensor, found in named:
        if tensor is None:
            continue
        first = seen.setdefault(id(tensor), name)
        if first != name and not name.startswith(inside):
            found.append((name, first))
    return params, buffers


def tied_parameters(model: nn.Module) -> dict[str, str]:
    """The spec's `tied:` of the model: each parameter's later name to its first."""
    return dict(_shared_tensors(model)[0])


def _tensor_problem(model: nn.Module, first: str, name: str, why: str) -> Diagnostic:
    """E904 for one tensor held under two names that no `tied:` states."""
    owner = _owner(model, first, name)
    return diagnostic(
        "E904",
        f"`{first}` and `{name}` are one tensor (shared or tied weights, set up in "
        f"{describe(type(owner))}){why}",
        span_of_class(type(owner)),
        "a spec's `tied:` names the weights and biases of linear, embedding, convolution "
        "and norm layers and `parameter` tensors; untie the weights to import (the twin then "
        "has its own copy), and tie them again after compiling",
    )


def shared_tensor_problems(model: nn.Module) -> list[Diagnostic]:
    """An E904 for every module held under two names, and for every buffer reached under
    two names (a parameter so reached is a `tie`: `tied_parameters`)."""
    diags = [_module_problem(model, first, second) for first, second in _shared_modules(model)]
    why = ": a buffer, which `tied:` does not tie"
    return diags + [_tensor_problem(model, f, n, why) for n, f in _shared_tensors(model)[1]]


def untied_problems(model: nn.Module, message: str) -> list[Diagnostic]:
    """E904 for each tie of the model, when the imported spec's `tied:` does not compile
    (`message`: why, as compile says it; a tensor of a layer whose tensors archspec does not
    know before building it)."""
    why = f": the spec cannot state it ({message[:200]})"
    return [_tensor_problem(model, f, n, why) for n, f in _shared_tensors(model)[0]]


def reuse_item(items: list[Item], target: str, name: str, inputs: tuple[str, ...]) -> Item | None:
    """The second call of child `target` as a `reuse` of the item its first call made, when
    that item is in this list under the child's name or key (not spliced into another) and
    the call gives it one tensor (a `reuse` takes one input); else None."""
    from .trace import Item

    if len(inputs) > 1 or not any(it.is_module and it.ref == target for it in items):
        return None
    fields = {"node": target}
    return Item(name, "reuse", fields, dict(fields), inputs, is_module=False)


def second_call(model: nn.Module, target: str) -> tuple[str, str]:
    """The message and hint of E904 for a child called again that no `reuse` can state."""
    return (
        f"{describe(type(model))}.forward calls `self.{target}` a second time",
        f"a `reuse` calls a module again on one tensor when its first call is a node of the "
        f"same layer list under the child's name; here `{target}` is given several tensors or "
        "its first call is merged into another item: call it through a child of its own",
    )
