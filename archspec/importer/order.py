"""Items in the order their modules were registered, where the data flow allows it.

A spec registers its layers in the order it lists them, so the state_dict follows the list.
torchvision's GoogLeNet registers its auxiliary heads after `inception5b` but calls them
after `inception4a`; listing a head last, reading `inception4a` by name, keeps both the data
flow and the model's state_dict order.
"""

from __future__ import annotations

from typing import Any

from ..errors import Diagnostic
from ..ops.names import NAME_RE, RESERVED_NAMES
from .trace import Item
from .where import describe, diagnostic, span_of_class


def stateful(module: Any) -> bool:
    """Whether the module (an nn.Module) holds a parameter or a buffer."""
    return any(True for _ in module.parameters()) or any(True for _ in module.buffers())


def holders(module: Any) -> list[str]:
    """The children of the module holding tensors, in registration (state_dict) order."""
    return [key for key, child in module.named_children() if stateful(child)]


def registration_order(items: list[Item], holders: list[str]) -> list[Item]:
    """`items` reordered so the modules named in `holders` come in that order, each after
    everything it reads; other items keep their order. Unchanged when no such order exists."""
    by_name = {item.ref: item for item in items if item.ref}
    for item in items:  # the pieces of a chunk, split or with_indices pool: by their names
        for piece in item.fields.get("names", []) if _has_pieces(item.kind) else []:
            by_name[piece] = item
        for piece in item.outputs or []:  # a block call's tensors (WaveNet's `x, skip`)
            by_name[piece] = item
    position = {id(item): i for i, item in enumerate(items)}
    done: set[int] = set()
    out: list[Item] = []

    def emit(first: Item) -> bool:
        """Append `first` after the earlier items it reads, depth first without recursion
        (a forward of 1,000 steps in a chain recursed past Python's limit); False when
        they read each other in a cycle."""
        if id(first) in done:
            return True
        path = {id(first)}
        stack = [(first, iter(first.inputs))]
        while stack:
            item, reads = stack[-1]
            for src in reads:
                dep = by_name.get(src)
                if dep is None or id(dep) in done or position[id(dep)] >= position[id(item)]:
                    continue
                if id(dep) in path:
                    return False
                path.add(id(dep))
                stack.append((dep, iter(dep.inputs)))
                break
            else:
                stack.pop()
                path.discard(id(item))
                done.add(id(item))
                out.append(item)
        return True

    for name in holders:
        item = by_name.get(name)
        if item is not None and not emit(item):
            return items
    for item in items:
        emit(item)
    held = [i.ref for i in out if i.ref in holders]
    return out if held == [h for h in holders if h in by_name] else items


def _has_pieces(kind: str) -> bool:
    """Whether a kind's outputs are named by `names` (`Op.names_field`)."""
    from ..ops import REGISTRY

    op = REGISTRY.get(kind)
    return op is not None and op.names_field == "names"


def unstated_order(items: list[Item], called: list[str], holders: list[str]) -> str | None:
    """Why a block's `register_order:` cannot state children called (`called`) in another
    order than registered (`holders`), as words to append to the refusal; None: it can."""
    if len(set(called)) != len(called) or sorted(called) != sorted(holders):
        return ""
    if not all(NAME_RE.match(k) and k not in RESERVED_NAMES for k in holders):
        return ", and not all of their keys are names `register_order:` can list"
    prev = "input"
    for item in items:
        if not item.is_module or item.one_mode or item.inputs not in ((), (prev,)):
            return None
        prev = item.ref or ""
    return ", in a plain chain (an nn.Sequential registers its entries in the order it calls them)"


def unread_tensors(module: Any, graph: Any) -> list[Diagnostic]:
    """The module's own parameters and persistent buffers that its forward never reads (a
    step counter, a table kept for later): a spec holds only the tensors its nodes use, so
    the twin's state_dict would lack them. One located E904 each."""
    read = {str(n.target) for n in graph.nodes if n.op == "get_attr"}
    persistent = [k for k in module._buffers if k not in module._non_persistent_buffers_set]
    own = [*module._parameters, *persistent]
    cls = type(module)
    return [
        diagnostic(
            "E904",
            f"{describe(cls)} holds the tensor `{name}`, which its forward never reads",
            span_of_class(cls),
            "a spec holds only the tensors its layers use; register it as a non-persistent "
            "buffer, or move it out of the model",
        )
        for name in own
        if name not in read and getattr(module, name, None) is not None
    ]


def check_order(reader: Any, holders: list[str]) -> None:
    """Children holding tensors must be called in the order they were registered (the
    state_dict's order), each once: a spec registers its layers in execution order."""
    called = [t for t in reader.called if t in holders]
    cls = type(reader.module)
    missing = [k for k in holders if k not in called]
    if missing:
        reader.problems.add(
            diagnostic(
                "E904",
                f"{describe(cls)}.forward never calls `{missing[0]}`, which holds weights "
                "(in eval mode)",
                span_of_class(cls),
                "a spec holds only the weights its forward uses; remove the child, or call it",
            )
        )
    elif called != holders:
        why = unstated_order(reader.items, called, holders)
        if why is None:  # each called once, in another order: `register_order:`
            reader.register_order = holders
            return
        reader.problems.add(
            diagnostic(
                "E904",
                f"{describe(cls)}.forward calls its children in another order than "
                f"they are registered ({', '.join(called)} vs {', '.join(holders)}){why}",
                span_of_class(cls),
                "a spec registers layers in the order they run unless a block (or the "
                "network) states `register_order:`; register the children in the order "
                "forward calls them",
            )
        )
