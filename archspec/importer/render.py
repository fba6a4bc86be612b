"""Imported spec data as YAML text a person reads: one flow mapping per layer, blocks first,
runs of equal block calls as `repeat`, values at their defaults and `from:` of a plain chain
left out."""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from ..ops.base import REGISTRY
from ..yaml_floats import dump
from .blocks import Block
from .leaves import defaults
from .model import Imported

_FIRST_KEYS = (
    "name",
    "key",
    "type",
    "count",
    "flat",
    "when",
    "train_only",
    "eval_only",
    "pass_in_eval",
    "from",
)


def _scalar(value: Any) -> str:
    """`value` as YAML reads it back: every name goes through here too, so a class, block or
    attribute called `true`, `null` or `on` stays text (unquoted, YAML read a boolean)."""
    text = dump(value, default_flow_style=True, width=10**6, sort_keys=False)
    text = text.strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    return text.removesuffix("...").strip()


def _flow(node: dict[str, Any]) -> str:
    keys = [k for k in _FIRST_KEYS if k in node] + [k for k in node if k not in _FIRST_KEYS]
    return "{" + ", ".join(f"{_scalar(k)}: {_scalar(node[k])}" for k in keys) + "}"


def _lines(nodes: list[dict[str, Any]], indent: int) -> list[str]:
    pad = " " * indent
    out = []
    for node in nodes:
        nested = {k: v for k, v in node.items() if k in ("layers", "layer", "body")}
        if not nested:
            out.append(f"{pad}- {_flow(node)}")
            continue
        head = {k: v for k, v in node.items() if k not in nested}
        keys = [k for k in _FIRST_KEYS if k in head] + [k for k in head if k not in _FIRST_KEYS]
        first = True
        for k in keys:
            out.append(f"{pad}{'- ' if first else '  '}{_scalar(k)}: {_scalar(head[k])}")
            first = False
        if "layers" in nested and not nested["layers"]:  # an empty nn.Sequential
            out.append(f"{pad}  layers: []")
        elif "layers" in nested:
            out.append(f"{pad}  layers:")
            out.extend(_lines(nested["layers"], indent + 4))
        if "body" in nested:  # a residual's
            out.append(f"{pad}  body:")
            out.extend(_lines(nested["body"], indent + 4))
        if "layer" in nested:
            out.append(f"{pad}  layer: {_flow(nested['layer'])}")
    return out


def _drop_defaults(node: dict[str, Any], blocks: dict[str, Block]) -> dict[str, Any]:
    kind = node.get("type")
    if kind in REGISTRY:
        base = defaults(REGISTRY[kind])
    elif kind in blocks:
        base = {k: p["default"] for k, p in blocks[kind].params.items()}
    else:
        base = {}
    return {k: v for k, v in node.items() if k not in base or v != base[k]}


def _tidy(nodes: list[dict[str, Any]], blocks: dict[str, Block]) -> list[dict[str, Any]]:
    """Runs of calls folded into repeats, defaults dropped, `from` of a chain dropped."""
    out: list[dict[str, Any]] = []
    prev: dict[str, Any] | None = None
    for node in _fold(nodes):
        node = _drop_defaults(dict(node), blocks)
        if "layer" in node:
            node["layer"] = _drop_defaults(node["layer"], blocks)
            if "body" in node["layer"]:  # a repeat of residuals
                node["layer"]["body"] = _tidy(node["layer"]["body"], blocks)
        src = node.get("from")
        if src is not None:
            before = "input" if prev is None else _flow_name(prev)
            if src == [before] and (prev is None or prev.get("when") in (None, node.get("when"))):
                del node["from"]
            elif len(src) == 1:
                node["from"] = src[0]
        for inner in ("layers", "body"):
            if inner in node:
                node[inner] = _tidy(node[inner], blocks)
        out.append(node)
        if not _out_of_flow(node):  # the node after a learned tensor reads what came before it
            prev = node
    return out


def _flow_name(node: dict[str, Any]) -> str | None:
    """What the next item reads by default: a node of several outputs (`names:`) gives its
    kind's flow piece (an indices pool its values, `chunk` its last piece, a block call its
    last output), any other its name or key. The item after an indices pool was written
    `from: pool` where the default reads just that."""
    names = node.get("names")
    if isinstance(names, list) and names:
        op = REGISTRY.get(node.get("type"))  # type: ignore[arg-type]
        return str(names[op.flow_piece if op is not None else -1])
    return node.get("name") or node.get("key")


def _out_of_flow(node: dict[str, Any]) -> bool:
    """A `parameter` or `buffer` (a kind that reads no input) is not in the flow."""
    op = REGISTRY.get(node.get("type"))  # type: ignore[arg-type]
    return op is not None and op.arity == 0


def _positional(node: dict[str, Any]) -> bool:
    return not ({"name", "key", "from", "when", "layers"} & set(node))


def _fold(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A head and copies equal to each other, all positional, as one `repeat`: the index
    chooses the head's values (`stride: "2 if i == 0 else 1"`)."""
    out: list[dict[str, Any]] = []
    i = 0
    while i < len(nodes):
        head = nodes[i]
        j = i + 1
        if _positional(head):
            while j < len(nodes) and _positional(nodes[j]) and nodes[j] == nodes[i + 1]:
                if nodes[j]["type"] != head["type"]:
                    break
                j += 1
        rest = nodes[i + 1] if j - i >= 2 else head
        changed = [k for k, v in rest.items() if head.get(k) != v]
        # two copies fold only when the first differs by plain values (a stage's stride)
        plain = len(changed) <= 2 and not any(isinstance(head.get(k), str) for k in changed)
        whole = i == 0 and j == len(nodes)
        if any(isinstance(head.get(k), list) or isinstance(rest[k], list) for k in changed):
            j = i + 1  # the index cannot choose between lists in an expression
        if (
            j - i >= 2
            and set(head) == set(nodes[i + 1])
            and (not changed or j - i >= 3 or (whole and plain))
        ):
            layer = _indexed(head, nodes[i + 1])
            out.append({"type": "repeat", "count": j - i, "flat": True, "layer": layer})
            i = j
        else:
            out.append(head)
            i += 1
    return out


def _indexed(head: dict[str, Any], rest: dict[str, Any]) -> dict[str, Any]:
    layer = {}
    for k, v in rest.items():
        h = head.get(k, v)
        if h == v and type(h) is type(v):
            layer[k] = v
        elif isinstance(v, bool) and isinstance(h, bool):
            layer[k] = "i == 0" if h else "i != 0"
        else:
            layer[k] = f"{_operand(h)} if i == 0 else {_operand(v)}"
    return layer


def _operand(value: Any) -> str:
    """A value as an operand of the index's conditional: a bool as the expression language
    writes it (`False`: YAML's `false` is no name there), a conditional in parentheses."""
    if isinstance(value, bool):
        return str(value)
    text = _scalar(value)
    return f"({text})" if isinstance(value, str) and " if " in value else text


def _unflat(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A sequential that is one flat repeat becomes the repeat itself (`layer1: repeat`)."""
    out = []
    for node in nodes:
        if node.get("type") == "sequential" and len(node["layers"]) == 1:
            inner = node["layers"][0]
            if inner.get("type") == "repeat" and inner.get("flat"):
                node = {k: v for k, v in node.items() if k not in ("type", "layers")}
                node = {**node, "type": "repeat", "count": inner["count"], "layer": inner["layer"]}
        if "layers" in node:
            node["layers"] = _unflat(node["layers"])
        out.append(node)
    return out


def _params_lines(params: dict[str, dict[str, Any]]) -> list[str]:
    out = []
    for name, p in params.items():
        out.append(
            f"      {_scalar(name)}: {{type: {p['type']}, default: {_scalar(p['default'])}}}"
        )
    return out


def _ref(node: dict[str, Any]) -> Any:
    """What `from:` and `outputs:` call a node: its name, or its key (`'0'`, `block1-0`)."""
    return node.get("name") or node.get("key")


def render(
    imported: Imported,
    name: str,
    input_shape: list[Any],
    input_dtype: str = "float32",
    more: Sequence[tuple[list[Any], str]] = (),
) -> str:
    """The spec text of an imported model (`input_dtype` int64: its input is indices;
    `more`: the shape and dtype of each input after the first, named `imported.inputs`)."""
    by_name = {b.name: b for b in imported.blocks}
    lines = [
        "archspec: 1",
        f"name: {_scalar(name)}",
        f"class_name: {_scalar(imported.class_name)}",
        f"description: {_scalar('imported from ' + imported.origin + ' by archspec import')}",
    ]
    if imported.inputs:  # a network of several: each by name, in forward's order
        lines.append("inputs:")
        for input_name, (shape, dtype) in zip(
            imported.inputs, [(input_shape, input_dtype), *more], strict=True
        ):
            value = (
                _scalar(shape) if dtype != "int64" else f"{{shape: {_scalar(shape)}, dtype: int64}}"
            )
            lines.append(f"  {input_name}: {value}")
    else:
        lines.append(f"input: {_scalar(input_shape)}")
        lines.extend(["input_dtype: int64"] if input_dtype == "int64" else [])
    if imported.notes:  # what holds for the example input's rank or sizes only
        lines.append("# the example input fixed what follows; another input needs another import:")
        lines.extend(f"#   {note}" for note in imported.notes)
    if imported.blocks:
        lines.append("blocks:")
    for block in imported.blocks:
        lines.append(f"  {_scalar(block.name)}:")
        if block.params:
            lines.append("    params:")
            lines.extend(_params_lines(block.params))
        if block.inputs:
            lines.append(f"    inputs: {_scalar(block.inputs)}")
        if block.register_order:
            lines.append(f"    register_order: {_scalar(block.register_order)}")
        if isinstance(block.output, list):  # a block of several outputs
            lines.append(f"    outputs: {_scalar(block.output)}")
        elif block.output and block.layers and _ref(block.layers[-1]) != block.output:
            lines.append(f"    outputs: {_scalar([block.output])}")
        lines.append("    layers:")
        lines.extend(_lines(_unflat(_tidy(copy.deepcopy(block.layers), by_name)), 6))
    if imported.register_order:
        lines.append(f"register_order: {_scalar(imported.register_order)}")
    lines.append("layers:")
    lines.extend(_lines(_unflat(_tidy(copy.deepcopy(imported.layers), by_name)), 2))
    last = _ref(imported.layers[-1]) if imported.layers else None
    if isinstance(imported.output, list | dict):  # a tuple, or a dict by the same keys
        lines.append(f"outputs: {_scalar(imported.output)}")
    elif imported.output and imported.output != last:
        lines.append(f"outputs: {_scalar([imported.output])}")
    if imported.frozen:  # parameters the model does not train
        lines.append(f"frozen: {_scalar(imported.frozen)}")
    if imported.tied:  # parameters held under two names
        lines.append("tied:")
        lines.extend(f"  {_scalar(k)}: {_scalar(v)}" for k, v in imported.tied.items())
    return "\n".join(lines) + "\n"
