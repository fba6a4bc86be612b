"""Items as spec node mappings with literal values, one tree per module instance.

The trees of a class's instances are what `blocks.py` compares: their structure (kinds,
names, `from`, nesting) and their values (layer fields, block arguments), all with defaults
filled so that a value left at its default and a value stated compare equal.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from .trace import Item

#: Keys of a node mapping that are structure, not values.
STRUCTURE = frozenset(
    {
        "name",
        "key",
        "type",
        "from",
        "when",
        "layers",
        "layer",
        "count",
        "flat",
        "train_only",
        "eval_only",
        "pass_in_eval",
    }
    | {"body"}  # a residual's layers
    | {"names"}  # the pieces a split makes: sizes that leave none are another node
)
#: Keys of a node mapping that hold a list of nodes.
_LISTS = ("layers", "body")


def node_of(item: Item, call: Callable[[Any], tuple[str, dict[str, Any]]]) -> dict[str, Any]:
    """The node mapping of one item; `call` resolves a block call's instance to (block, args)."""
    node: dict[str, Any] = {}
    if item.name is not None:
        node["name"] = item.name
    if item.key is not None:
        node["key"] = item.key
    reads = None  # the one input an `identity` of several reads (model._by_class)
    if item.kind == "block":
        block, args = call(item.module)
        node["type"] = block
        if block == "identity":
            reads, args = args.get("reads"), {}
        node.update(args)
        if item.outputs:  # a block of several outputs: its tensors' names
            node["names"] = list(item.outputs)
    elif item.kind in ("sequential", "residual"):
        node["type"] = item.kind
        inner = "layers" if item.kind == "sequential" else "body"
        node[inner] = [node_of(i, call) for i in item.body or []]
    else:
        node["type"] = item.kind
        node.update(item.full)
    if item.inputs:
        node["from"] = list(item.inputs) if reads is None else [item.inputs[reads]]
    if item.train_only:
        node["train_only"] = True
    if item.eval_only:
        node["eval_only"] = True
    if item.pass_in_eval:
        node["pass_in_eval"] = True
    return node


def value_paths(node: dict[str, Any], prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Paths of a node's values: (field,) or ("layers", i, ..., field) inside a sequential
    (("body", i, ...) inside a residual)."""
    for key, value in node.items():
        if key in _LISTS:
            for i, sub in enumerate(value):
                yield from value_paths(sub, (*prefix, key, i))
        elif key not in STRUCTURE and not isinstance(value, str):
            yield (*prefix, key)


def get_path(node: dict[str, Any], path: tuple[Any, ...]) -> Any:
    cur: Any = node
    for part in path:
        cur = cur[part]
    return cur


def set_path(node: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    cur: Any = node
    for part in path[:-1]:
        cur = cur[part]
    cur[path[-1]] = value


def shape_of(node: dict[str, Any]) -> Any:
    """The node with its (non-text) values blanked: equal shapes differ only in values."""

    def blank(obj: Any, key: str | None) -> Any:
        if isinstance(obj, dict):
            return tuple(sorted((k, blank(v, k)) for k, v in obj.items()))
        if key in _LISTS:
            return tuple(blank(v, None) for v in obj)
        if key in STRUCTURE or isinstance(obj, str):
            return repr(obj)
        return "?"

    return blank(node, None)


def first_input_named(nodes: list[dict[str, Any]], first: str) -> None:
    """Write the first input of a list of several named inputs (the network's `inputs:`, a
    block's) by its name where its nodes read it (`from: x`, not `from: input`, beside
    `from: y`); nested lists keep `input`, their own input."""
    for node in nodes:
        read = node.get("from")
        if isinstance(read, list) and "input" in read:
            node["from"] = [first if r == "input" else r for r in read]
