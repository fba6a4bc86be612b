"""Parameters the model keeps from training (`requires_grad=False`: torchvision's detection
backbones below `trainable_layers`, a pretrained encoder frozen for fine-tuning), read as the
spec's `frozen:` paths: the fewest modules whose parameters are all frozen and cover every
frozen one. A module holding frozen and trainable tensors of its own has no such path (a
path freezes a whole module): E904 at its class."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import ImportFailure
from .where import describe, span_of_class

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn


def frozen_paths(model: nn.Module) -> list[str]:
    """The module paths whose parameters are all frozen, outermost first (none of them
    inside another); E904 for a module whose own parameters are partly frozen."""
    frozen: list[str] = []
    for path, module in model.named_modules():
        own = [p.requires_grad for p in module.parameters(recurse=False)]
        if any(own) and not all(own):
            raise ImportFailure(
                f"{describe(type(module))} at `{path or 'the root'}` holds frozen and trainable "
                "parameters of its own (requires_grad=False on some): a spec's `frozen:` "
                "freezes whole modules",
                span=span_of_class(type(module)),
                hint="freeze all of the module's parameters or none before importing, and set "
                "the others after compiling (`requires_grad_`)",
                code="E904",
            )
        if not path or any(path.startswith(f"{f}.") for f in frozen):
            continue
        tensors = list(module.parameters())
        if tensors and not any(p.requires_grad for p in tensors):
            frozen.append(path)
    return frozen
