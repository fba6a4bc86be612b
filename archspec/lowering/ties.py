"""`tied:`: tensors held under two names, as nanoGPT ties its token embedding to its
language-model head (`self.transformer.wte.weight = self.lm_head.weight`).

Each key and value is a tensor's state_dict key: a module's path and the tensor's attribute
(`lm_head.weight`), or the path of a learned tensor of a module (`parameter`, `cls_token`).
A name that is no tensor of the lowered network is E305 at it, with the nearest one; a tie
of a tensor to itself, one whose shapes differ, or a chain (a tied key that another entry
ties to) is E316. The shapes come from each layer kind's `tensor_shapes`, so `check` finds
all of it without building anything; the backends then set the key's attribute to the
value's tensor, and the counts take each tied tensor once, as torch's `parameters()` does.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ..ir import Module, Tie, iter_nodes
from ..ops import REGISTRY, node_style

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer

#: the kinds whose tensors a tie may name, for the hint of a tie naming another's
_KNOWN = (
    "linear, embedding, convolution, batch norm, group norm and layer norm layers, and "
    "`parameter` tensors"
)


#: a tensor archspec knows: its shape, the path of the node holding it, and where torch's
#: `named_parameters()` meets it (the owning module's place among `named_modules()`, then
#: the tensor's among the module's own)
Known = tuple[tuple[int, ...], str, tuple[int, int]]


def _tensors(root: Module) -> tuple[dict[str, Known], dict[str, str]]:
    """Every tensor whose shape archspec knows, by state_dict key; and the module paths
    whose tensors it does not know, with their kinds (a plugin's layer)."""
    known: dict[str, Known] = {}
    unknown: dict[str, str] = {}
    modules = {"": -1}  # a module's place in torch's named_modules(): the root first
    for path, node in iter_nodes(root):
        style = "module" if node.child is not None else node_style(node)
        if style == "module":
            modules[path] = len(modules)
        if node.child is not None or node.shape is None or style == "function":
            continue
        shapes = REGISTRY[node.kind].tensor_shapes(node.attrs)
        sized = shapes is not None and all(
            isinstance(d, int) and not isinstance(d, bool) for s in shapes.values() for d in s
        )
        if shapes is None or not sized:
            unknown[path] = node.kind
            continue
        owner = modules[path] if style == "module" else modules[path.rpartition(".")[0]]
        for name, shape in shapes.items():
            known[f"{path}.{name}" if name else path] = (tuple(shape), path, (owner, len(known)))
    return known, unknown


def _no_tensor(
    lw: Lowerer, text: str, known: dict[str, Known], unknown: dict[str, str]
) -> tuple[str, str]:
    """E305's message and hint for a `tied:` name that is no tensor archspec knows."""
    owner = text.rpartition(".")[0]
    if owner in unknown or text in unknown:
        kind = unknown.get(owner) or unknown[text]
        return (
            f"`tied:` names `{text}`, a tensor of a {kind} layer, whose tensors archspec does "
            "not know before building it",
            f"`tied:` ties tensors of {_KNOWN}",
        )
    close = lw.close_matches(text, list(known))
    hint = f"did you mean `{close[0]}`?" if close else "name a tensor as its state_dict key does"
    return (
        f"`tied:` names `{text}`, which is no tensor of this network",
        hint + " (a layer's path and the tensor's name: `lm_head.weight`)",
    )


def tied_tensors(lw: Lowerer, root: Module) -> tuple[Tie, ...]:
    """The spec's `tied:` entries, each checked (E305, E316 at the entry), in spec order."""
    given: dict[str, str] = lw.spec.tied
    if not given:
        return ()
    known, unknown = _tensors(root)
    ties: list[Tie] = []
    for target, source in given.items():
        bad = False
        for text, as_key in ((target, True), (source, False)):
            if text not in known:
                message, hint = _no_tensor(lw, text, known, unknown)
                lw.error("E305", message, ("tied", target), hint, key=as_key)
                bad = True
        if bad:
            continue
        if target == source:
            lw.error(
                "E316",
                f"`tied:` ties `{target}` to itself",
                ("tied", target),
                "name another tensor, the one this tensor is",
            )
            continue
        if source in given:
            lw.error(
                "E316",
                f"`tied:` ties `{target}` to `{source}`, which is tied to `{given[source]}` itself",
                ("tied", target),
                f"tie each of them to the tensor they all are: `{target}: {given[source]}`",
            )
            continue
        (shape, at, place), (other, other_at, other_place) = known[target], known[source]
        if shape != other:
            lw.error(
                "E316",
                f"`tied:` ties `{target}` of shape {_shape(shape)} to `{source}` of shape "
                f"{_shape(other)}: one tensor has one shape",
                ("tied", target),
                "tie tensors of the same shape (a head's weight (vocab, dim) to an "
                "embedding's (vocab, dim)), or change a layer so that they are",
            )
            continue
        later, first = (at, other_at) if place > other_place else (other_at, at)
        ties.append(Tie(target, source, math.prod(shape), later, first))
    return tuple(ties)


def _shape(shape: tuple[int, ...]) -> str:
    return "(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + ")"
