"""What a traced forward returns, as the spec states it: one node (a block's or the
network's output), a tuple of nodes (a block of several outputs, the network's `outputs:`
list), or, for the network alone, a dict of nodes by text keys (its `outputs:` mapping, which
makes the spec's forward return an OrderedDict of the same keys, as torchvision's segmentation
models return `out` and `aux`). Anything else (None, a number, a block's dict, the network's
list or tuple of one tensor) is E904."""

from __future__ import annotations

from typing import Any

from .where import describe

#: what a traced forward's returned value becomes in the spec: a name, a list, a mapping
Returned = str | list[str] | dict[str, str] | None


def returned(reader: Any, output: Any, graph: Any) -> Returned:
    """The node names `output` (the fx output node's value) stands for; E904 (None) when it
    is no tensor, tuple or, for the network, dict of the reader's nodes."""
    names = reader.names
    if output is not None and output in names:
        return names[output]
    if isinstance(output, tuple | list) and output and all(o in names for o in output):
        if len(output) == 1 and reader.module is reader.problems.network:
            return _one_held(reader, output, graph)
        return [names[o] for o in output]
    if _named_dict(output, names):
        if reader.module is reader.problems.network:
            return {k: names[v] for k, v in output.items()}
        values = [names[v] for v in output.values()]  # a block's, which its caller reads
        return values if len(values) > 1 else values[0]  # by key (importer/several.py)
    held = _nested(output, names)
    kind = type(output).__name__.removeprefix("immutable_")
    what = f"a {kind} holding {held}, not tensors alone" if held else None
    reader.fail(
        "E904",
        f"{describe(type(reader.module))}.forward returns "
        f"{what or ('None' if output is None else 'a ' + kind)}"
        f"{'' if what else ', not one tensor'}",
        next(iter(n for n in graph.nodes if n.op == "output")),
        "a spec's blocks return one tensor, its network one, a tuple or a dict of tensors by "
        "text keys (`outputs:`)"
        + (
            ": return one flat tuple (`return (*logits, *boxes)`), or import a wrapper whose "
            "forward does"
            if held
            else ""
        ),
    )
    return None


def _nested(output: Any, names: dict[Any, str]) -> str | None:
    """What a returned tuple or list holds besides tensors, when it holds containers
    (a detection head's `return logits, boxes`, two lists of maps): `a list`, `2 lists`."""
    if not isinstance(output, tuple | list | dict):
        return None
    items = list(output.values()) if isinstance(output, dict) else list(output)
    held = [o for o in items if isinstance(o, tuple | list | dict)]
    if not held or any(o not in names for o in items if not isinstance(o, tuple | list | dict)):
        return None
    inner = [type(o).__name__.removeprefix("immutable_") for o in held]
    kinds = sorted(set(inner))
    if len(kinds) == 1:
        return f"a {kinds[0]}" if len(inner) == 1 else f"{len(inner)} {kinds[0]}s"
    return " and ".join(f"a {k}" for k in kinds)


def _named_dict(output: Any, names: dict[Any, str]) -> bool:
    """Whether `output` is a dict of the reader's nodes by text keys."""
    return (
        isinstance(output, dict)
        and bool(output)
        and all(isinstance(k, str) and v in names for k, v in output.items())
    )


def _one_held(reader: Any, output: Any, graph: Any) -> None:
    """E904 for a network returning one tensor in a list or tuple (`return [self.head(x)]`): a
    spec's network of one output returns the tensor itself, where a caller's `out[0]` would
    silently read its first row instead of the tensor."""
    kind = "list" if isinstance(output, list) else "tuple"
    reader.fail(
        "E904",
        f"{describe(type(reader.module))}.forward returns a {kind} of one tensor, and a spec's "
        f"network of one output returns the tensor itself (a caller's `out[0]` would read its "
        f"first row)",
        next(iter(n for n in graph.nodes if n.op == "output")),
        "return the tensor itself, or import a wrapper whose forward does (`return "
        "model(x)[0]`) and hold the one-item container in your own code",
    )
