"""Children called with several tensors (a U-Net's `self.up1(x, skip)`): blocks of several
inputs (`inputs: [x, skip]`, docs/spec-language.md).

A child called with tensors for arguments of its own forward, positionally or by keyword,
and holding layers of its own (no layer kind, no plain nn.Sequential, which take one
tensor), is a block call reading every tensor (`from: [a, b]`, in the order its forward
takes them). Inside, the first is `input` and each other one is read by its argument's name.
An argument with a default may take a tensor (DLA's `self.tree1(x, shortcut)`): the child
is then traced with it as an input (`Problems.passed`), and its instances called with other
tensors are other blocks (model.py). The network's own forward may take several too, given
one example each (`modes.SeveralInputs`): the spec's `inputs:`.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from ..ops.names import check_name
from .defaulted import defaulted, is_default, size_value
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
    """The network's traced body; E904 when its forward takes another number of tensors
    than the examples given (one tensor, or `SeveralInputs`: the spec's `inputs:`)."""
    from .modes import SeveralInputs

    root = bodies[id(model)]
    if not root.traced:  # reported: how many tensors it takes is unknown, not one
        return root
    example = problems.example[1] if problems.example is not None else None
    given = len(example) if isinstance(example, SeveralInputs) else 1
    taken = len(root.inputs) if root.inputs else 1
    if given != taken and (root.inputs or example is not None):
        names = f" ({', '.join(root.inputs)})" if root.inputs else ""
        problems.add(
            diagnostic(
                "E904",
                f"{describe(type(model))}.forward takes {taken} input"
                f"{'s' if taken > 1 else ''}{names}, and {given} example"
                f"{'s were' if given > 1 else ' was'} given",
                span_of_class(type(model)),
                "give one example tensor per input, in forward's order: "
                "`archspec.from_module(model, (x1, x2))`, or `--input` once per input",
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
    keyed = _key_names(reader)
    declared = [_legal(keyed.get(str(first.target), "")) or _legal(str(first.target)) or "x"]
    for node in others:
        name = _legal(keyed.get(str(node.target), "")) or _legal(str(node.target))
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


def _key_names(reader: Any) -> dict[str, str]:
    """The placeholders fx made for a dict a caller gives (`input_1`, `input_2` for forward's
    `input`), each by its key (`low`, `high`) where that names an input: not a child's."""
    found: dict[str, str] = {}
    for arg, keys in reader.problems.passed.get(id(reader.module), {}).items():
        if isinstance(keys, tuple):
            found |= {f"{arg}_{i}": k for i, k in enumerate(keys, 1) if k not in reader.taken}
    return found


def _legal(name: str) -> str | None:
    try:
        return check_name(name) if name != "input" and not name.startswith("*") else None
    except ValueError:
        return None


def tensors_call(
    child: nn.Module, args: list[Any], kwargs: dict[str, Any]
) -> list[tuple[str, Any]] | None:
    """The tensors a child is called with, as (its forward's argument, the traced value) in
    the order its forward takes them, when there are two or more and the child holds layers
    (a block, not a layer). Each argument is given positionally or by keyword; those without
    defaults each take a tensor, and one with a default takes a tensor (DLA's
    `self.tree1(x, shortcut)` for `shortcut=None`) or its own default. None: not such a call."""
    from .leaves import read_leaf
    from .trace import is_plain_sequential

    if read_leaf(child) is not None or is_plain_sequential(child):
        return None
    try:
        params = list(inspect.signature(child.forward).parameters.values())
    except (TypeError, ValueError):
        return None
    named = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if len(args) > len(named) or set(kwargs) & {p.name for p in named[: len(args)]}:
        return None
    given = {**{p.name: a for p, a in zip(named, args, strict=False)}, **kwargs}
    first = given.get(named[0].name) if named else None
    spread = _tensor_list(first) or _tensor_dict(first)  # `self.detect([p3, p4, p5])`
    if not hasattr(first, "op") and not spread:
        return None  # a tensor first, positionally or by keyword (`self.att(g=d, x=e)`)
    plain = defaulted(child)
    tensors = []
    for p in params:
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue  # nothing passed to it (else `given` keeps it, below)
        value = given.pop(p.name, p.default)
        if size_value(value):  # sizes read in forward (PVT-v2's `blk(x, (H, W))`): no input
            return None
        if hasattr(value, "op"):
            tensors.append((p.name, value))
        elif _tensor_list(value):  # VoVNet's `self.conv_mid(x, [x])`: an input per item
            tensors.extend((f"{p.name}[{k}]", v) for k, v in enumerate(value))
        elif _tensor_dict(value):  # LRASPP's head given the backbone's {"low":, "high":}
            tensors.extend((f"{p.name}[{k!r}]", v) for k, v in value.items())
        elif not is_default(value, p.name, plain):
            return None  # no default, or a value of its own: a call a spec cannot state
    return tensors if (len(tensors) >= 2 or spread) and not given else None


def positional_calls(module: nn.Module, graph: Any) -> None:
    """Give each call of a child that names all its arguments the tensors it names for its
    forward's leading parameters positionally (`self.block(x=x)` as `self.block(x)`;
    `self.att(g=d, x=e)` as `self.att(d, e)`), the same call, so that what reads calls by
    position reads it; the values after them (`mask=None`) stay named, as they are said."""
    for node in graph.nodes:
        if node.op != "call_module" or node.args or not node.kwargs:
            continue
        try:
            child = module.get_submodule(str(node.target))
            params = list(inspect.signature(child.forward).parameters.values())
        except (AttributeError, TypeError, ValueError):
            continue
        args, kwargs = list(node.args), dict(node.kwargs)
        for p in params[len(args) :]:
            plain = p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
            if not plain or not hasattr(kwargs.get(p.name), "op"):
                break
            args.append(kwargs.pop(p.name))
        node.args, node.kwargs = tuple(args), kwargs


def layer_tensors_call(child: nn.Module, args: list[Any], kwargs: dict[str, Any]) -> bool:
    """Whether a layer whose kind takes n inputs (nn.MaxUnpool2d's values and indices) is
    called with n tensors, positionally and nothing else: its item reads them in order."""
    from ..ops import REGISTRY
    from .leaves import read_leaf

    if len(args) < 2 or kwargs or not all(hasattr(a, "op") for a in args):
        return False
    leaf = read_leaf(child)
    return leaf is not None and REGISTRY[leaf.kind].arity == len(args)


def _tensor_list(value: Any) -> bool:
    """A list or tuple of traced tensors, one at least."""
    return isinstance(value, list | tuple) and bool(value) and all(hasattr(v, "op") for v in value)


def _tensor_dict(value: Any) -> bool:
    """A dict of traced tensors by text keys, one at least (FeaturePyramidNetwork's input)."""
    return (
        isinstance(value, dict)
        and bool(value)
        and all(isinstance(k, str) and hasattr(v, "op") for k, v in value.items())
    )


#: how a call gives an argument of a child's forward (Problems.passed): None a tensor for
#: one with a default, a number a list of that many tensors, a tuple of keys a dict of them
Given = int | tuple[str, ...] | None


def given_args(child: nn.Module, tensors: list[tuple[str, Any]]) -> dict[str, Given]:
    """The arguments of the child's forward its trace takes as a call gives them (Problems.
    passed): one with a default given a tensor (None: an input, not its default), one
    given a list of tensors (its length: that many inputs, `children[0]`, ...) and one
    given a dict of tensors (its keys, in order: `input['low']`, ...)."""
    import ast

    plain = defaulted(child)
    given: dict[str, Given] = {}
    for name, _ in tensors:
        arg, _, item = name.partition("[")
        if item[:1] in ("'", '"'):  # a dict's key, as repr wrote it
            keys = given.get(arg)
            given[arg] = (*(keys if isinstance(keys, tuple) else ()), ast.literal_eval(item[:-1]))
        elif item:
            count = given.get(arg)
            given[arg] = (count if isinstance(count, int) else 0) + 1
        elif arg in plain:
            given[arg] = None
    return given


def traced_args(module: nn.Module, problems: Any) -> dict[str, Any]:
    """fx's `concrete_args` for a module's forward: each defaulted argument its caller gives
    nothing takes its default (defaulted.py), and an argument given a list of n tensors is a
    list of n placeholders, so that the forward walks a Python list (`concat_list.append(
    module(x))`, `torch.cat(concat_list, 1)`: each item an input of the block), and one
    given a dict a dict of placeholders by its keys (LRASPP's head reads `input["low"]`)."""
    from torch.fx._symbolic_trace import PH

    passed = problems.passed.get(id(module), {})
    concrete: dict[str, Any] = {k: v for k, v in defaulted(module).items() if k not in passed}
    lists = {k: [PH] * n for k, n in passed.items() if isinstance(n, int)}
    dicts = {k: dict.fromkeys(n, PH) for k, n in passed.items() if isinstance(n, tuple)}
    return concrete | lists | dicts
