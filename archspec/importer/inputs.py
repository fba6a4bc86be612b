"""Children called with several tensors (a U-Net's `self.up1(x, skip)`): blocks of several
inputs (`inputs: [x, skip]`, docs/spec-language.md).

A child whose own forward takes those tensors as its positional arguments, and holds layers
of its own (no layer kind, no plain nn.Sequential, which take one tensor), is a block call
reading every tensor (`from: [a, b]`, in order). Inside, the first is `input` and each other
one is read by its argument's name. The network's own forward still takes one tensor.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ..ops.names import check_name
from .where import describe, diagnostic, span_of_class

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn


def read_inputs(reader: Any, placeholders: list[Any]) -> list[str] | None:
    """What a traced forward's tensors are (`input_names`), or None with an E904 for `*xs`:
    a number of inputs no call states."""
    starred = [n for n in placeholders if str(n.target).startswith("*")]
    for n in starred:
        reader.fail(
            "E904",
            f"{describe(type(reader.module))}.forward takes several inputs ({n.target!r})",
            n,
            "a spec's blocks read the tensors they name (`inputs: [x, skip]`); pass the "
            "others through a parent module's forward",
        )
    return input_names(reader, placeholders) if placeholders and not starred else None


def network_body(bodies: dict[int, Any], model: nn.Module, problems: Any) -> Any:
    """The network's traced body; E904 when its forward takes several tensors (only a
    block has `inputs:`)."""
    root = bodies[id(model)]
    if root.inputs:
        problems.add(
            diagnostic(
                "E904",
                f"{describe(type(model))}.forward takes several inputs ({', '.join(root.inputs)})",
                span_of_class(type(model)),
                "a spec's network reads one tensor; pass the others through a parent "
                "module's forward",
            )
        )
    return root


def input_names(reader: Any, placeholders: list[Any]) -> list[str] | None:
    """The names a traced forward's tensors are read by (the first `input`, each other its
    argument's name), put in `reader.names`; their `inputs:` (the first under its own name,
    or `x`). None, with an E904 reported, where an argument's name cannot name a node:
    `*xs`, no legal name, or the name of a child module of the block."""
    first, *others = placeholders
    reader.names[first] = "input"
    if not others:
        return None
    declared = [_legal(str(first.target)) or "x"]
    for node in others:
        name = _legal(str(node.target))
        if name is None or name in reader.taken or name in declared:
            reader.fail(
                "E904",
                f"{describe(type(reader.module))}.forward takes a tensor {node.target!r}, "
                "which cannot name an input of a block",
                node,
                "a block's inputs are read by their names: an identifier that is no child "
                "module's name",
            )
            return None
        reader.names[node] = name
        declared.append(name)
    if declared[0] in declared[1:] or declared[0] in reader.taken:
        declared[0] = next(f"x{k}" for k in range(len(declared) + 1) if f"x{k}" not in declared)
    return declared


def _legal(name: str) -> str | None:
    try:
        return check_name(name) if name != "input" and not name.startswith("*") else None
    except ValueError:
        return None


def tensors_call(child: nn.Module, args: list[Any], kwargs: dict[str, Any]) -> bool:
    """Whether a child is called with two or more traced tensors, positionally, by a
    forward of its own that takes them (and layers it holds: a block, not a layer)."""
    from .leaves import read_leaf
    from .trace import is_plain_sequential

    if len(args) < 2 or kwargs or not all(hasattr(a, "op") for a in args):
        return False
    if read_leaf(child) is not None or is_plain_sequential(child):
        return False
    try:
        params = list(inspect.signature(child.forward).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [
        p
        for p in params
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(positional) == len(args)
