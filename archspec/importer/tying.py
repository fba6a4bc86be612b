"""Tensors or modules held under two names (tied weights): a spec makes one tensor per
layer, so a tie cannot be stated and the import refuses it rather than untie it silently
(the twin would have the same keys and outputs but twice the parameters, trained apart).
One child called twice by its parent's forward is stated: the second call is a `reuse`."""

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


def shared_tensor_problems(model: nn.Module) -> list[Diagnostic]:
    """An E904 for every tensor reached under two names."""
    seen: dict[int, str] = {}
    diags: list[Diagnostic] = []
    named = [
        *model.named_parameters(remove_duplicate=False),
        *model.named_buffers(remove_duplicate=False),
    ]
    for name, tensor in named:
        if tensor is None:
            continue
        first = seen.setdefault(id(tensor), name)
        if first == name:
            continue
        owner = _owner(model, first, name)
        diags.append(
            diagnostic(
                "E904",
                f"`{first}` and `{name}` are one tensor (shared or tied weights, set up in "
                f"{describe(type(owner))})",
                span_of_class(type(owner)),
                "a spec makes one tensor per layer, so a tie cannot be stated; untie the "
                "weights to import (the twin then has its own copy), and tie them again "
                "after compiling",
            )
        )
    return diags


def reuse_item(items: list[Item], target: str, name: str, inputs: tuple[str, ...]) -> Item | None:
    """The second call of child `target` as a `reuse` of the item its first call made, when
    that item is in this list under the child's name or key (not spliced into another);
    else None."""
    from .trace import Item

    if not any(it.is_module and it.ref == target for it in items):
        return None
    fields = {"node": target}
    return Item(name, "reuse", fields, dict(fields), inputs, is_module=False)


def second_call(model: nn.Module, target: str) -> tuple[str, str]:
    """The message and hint of E904 for a child called again that no `reuse` can state."""
    return (
        f"{describe(type(model))}.forward calls `self.{target}` a second time",
        f"a `reuse` calls a module again when its first call is a node of the same layer list "
        f"under the child's name; here `{target}`'s first call is merged into another item: "
        "call it through a child of its own",
    )
