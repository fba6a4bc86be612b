"""The spec's `tied:` in both backends: the built module's tensors tied (`tie_tensors`) and
the emitted `__init__`'s expression of a tensor by its state_dict key (`attribute`)."""

from __future__ import annotations

import keyword
from typing import TYPE_CHECKING

from ..ir import Graph
from .pycode import lit

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn


def tie_tensors(model: nn.Module, graph: Graph) -> None:
    """The spec's `tied:` (lowering checked it): each key's tensor set to its value's,
    before the init rules run, as nanoGPT ties before its `apply(_init_weights)`."""
    for tie in graph.tied:
        owner, _, name = tie.target.rpartition(".")
        holder, _, attr = tie.source.rpartition(".")
        setattr(model.get_submodule(owner), name, getattr(model.get_submodule(holder), attr))


def attribute(path: str) -> str:
    """The emitted expression of a tensor at state_dict key `path` in the network's
    `__init__`: `self.lm_head.weight`, or through `get_submodule` where a module's key is
    no identifier (`self.get_submodule("block1-0").weight`)."""
    module, name = module_of(path)
    return f"{module}.{name}" if identifier(name) else f"getattr({module}, {lit(name)})"


def module_of(path: str) -> tuple[str, str]:
    """The emitted expression of the module holding the tensor at `path`, and its name."""
    owner, _, name = path.rpartition(".")
    parts = owner.split(".") if owner else []
    if all(identifier(p) for p in parts):
        return "".join(["self", *(f".{p}" for p in parts)]), name
    return f"self.get_submodule({lit(owner)})", name


def identifier(text: str) -> bool:
    """Whether `text` can follow a dot in emitted code."""
    return text.isidentifier() and not keyword.iskeyword(text)
