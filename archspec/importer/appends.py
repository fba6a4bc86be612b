"""Lists (and dicts) a forward gives a child that the child changes (timm's VoVNet: `output =
[x]` then `self.conv_mid(x, output)` appends each conv's output to `output` and concatenates
it; a head writing `feats["p6"] = ...` into the dict it is given).

torch.fx keeps a child as one call and does not run it, so the caller's list after the call
is, in the trace, the list as it was: `output[-1]` would read `x` where the model reads the
last conv's output. The model's run on the example input (slices.input_shapes) records what
each child did to the lists it was given; the caller's trace then holds, in place of what
the child appended (or of every item, when it did anything else), a marker node after the
call. A marker nothing reads is left out; one read (`output[-1]`, `torch.cat(output)`) is
refused at the statement (E904): a spec's block returns one tensor, and what it adds to a
list is no output of it. Items the child left alone (`output[0]`) are read as they are.
"""

from __future__ import annotations

from typing import Any

_HINT = (
    "a spec's block returns one tensor and changes nothing its caller holds: read what the "
    "child computes from its return value (return the list's concatenation, or the tensor)"
)


def appended(out: Any, target: str, kind: str = "list") -> Any:
    """What the child `target` put in a list its caller holds (the marker's function; its
    value is the call's output, so a run of the graph for sizes goes through it)."""
    return out


def watch_lists(args: tuple[Any, ...], kwargs: dict[str, Any]) -> list[tuple[Any, Any]]:
    """The lists and dicts among a call's arguments, each with a copy of its items (slices.py's
    run of the model takes them before a module's call)."""
    values = [v for v in (*args, *kwargs.values()) if isinstance(v, list | dict)]
    return [(v, list(v) if isinstance(v, list) else dict(v)) for v in values]


def list_changes(watched: list[tuple[Any, Any]]) -> list[Any]:
    """What a call did to each watched list: (length before, length after, whether the
    items it held are still there, first and in order: a change by appending only); to
    each dict: the keys whose value it replaced or added (`feats["p6"] = ...`)."""
    found: list[Any] = []
    for now, was in watched:
        if isinstance(was, dict):
            found.append([k for k, v in now.items() if k not in was or was[k] is not v])
            continue
        kept = len(now) >= len(was) and all(a is b for a, b in zip(now, was, strict=False))
        found.append((len(was), len(now), kept))
    return found


def mark_changed_lists(
    tracer: Any, module: Any, args: Any, kwargs: Any, out: Any, problems: Any
) -> None:
    """After the trace's call of a child given lists (or dicts): in each one the child
    changed, a marker for each item (or key) the caller would now read another value from
    (none for one the child left as it was)."""
    lists = [v for v in (*args, *kwargs.values()) if isinstance(v, list | dict)]
    if not lists or problems is None:
        return
    from .ranks import _Unknown, _untraced
    from .slices import given_input

    try:
        with _untraced():
            given_input(problems, module)  # the model's run records what each call did
    except _Unknown:
        pass
    changes = problems.list_changes.get(id(module))
    if changes is None or len(changes) != len(lists):  # not known: any item may differ
        changes = [list(v) if isinstance(v, dict) else (len(v), len(v), False) for v in lists]
    target = tracer.path_of_module(module)
    for items, change in zip(lists, changes, strict=True):
        if isinstance(items, dict):
            if change:
                mark = tracer.create_proxy("call_function", appended, (out, target, "dict"), {})
                items.update(dict.fromkeys(change, mark))
            continue
        before, after, kept = change
        if kept and before == after:
            continue
        marks = [tracer.create_proxy("call_function", appended, (out, target), {})]
        marks += [marks[0]] * ((after - before if kept else after) - 1)
        if kept:
            items.extend(marks[: after - before])
        else:
            items[:] = marks[:after]


def read_marker(reader: Any, node: Any) -> bool:
    """A marker node (above): left out when nothing reads it, else refused where it is
    read; False for any other node. `reader` is trace._GraphReader."""
    from .where import describe

    if node.op != "call_function" or node.target is not appended:
        return False
    if node.users:
        user = next(iter(node.users))
        kind = node.args[2] if len(node.args) > 2 else "list"
        reader.fail(
            "E904",
            f"{describe(type(reader.module))}.forward reads a {kind} after `self."
            f"{node.args[1]}` changed it (an item the child put there)",
            user,
            _HINT,
        )
    return True
