"""Tensors or modules held under two names (tied weights): a spec makes one tensor per
layer, so a tie cannot be stated and the import refuses it rather than untie it silently
(the twin would have the same keys and outputs but twice the parameters, trained apart)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import Diagnostic
from .where import describe, diagnostic, span_of_class

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn


def _owner(model: nn.Module, first: str, second: str) -> nn.Module:
    """The innermost module holding both names: where the tie is usually written."""
    a, b = first.split(".")[:-1], second.split(".")[:-1]
    common: list[str] = []
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        common.append(x)
    return model.get_submodule(".".join(common)) if common else model


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
