"""The instances of one module class as one block with params.

Instances are compared node by node (a node is known by its name, or by its position among
a Sequential's children): values equal in every instance stay literals; values that vary
become block params (named after an instance attribute holding the same values, when there
is one: `stride`, `use_res_connect`); nodes present in some instances only, or different in
shape (an `add` reading `downsample` or the input), get a `when:` flag param each. Instances
whose node orders cannot be merged become separate blocks (`Name`, `Name_2`, ...).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import field
from typing import Any

from ..lazymethods import dataclass
from .tree import get_path, set_path, shape_of, value_paths

_MISSING = object()
#: More `when:` flags than this in one block: its instances differ too much to read as one
#: (DenseNet's blocks of 6 and 24 layers); they become blocks of their own.
MAX_FLAGS = 4


@dataclass
class Block:
    """One block definition and the arguments of each instance that calls it."""

    name: str
    params: dict[str, dict[str, Any]]  # name -> {type, default}
    layers: list[dict[str, Any]]
    args: list[dict[str, Any]] = field(default_factory=list)  # per instance, every param
    output: str | list[str] | None = None  # several: `outputs: [a, b]`
    register_order: list[str] | None = None  # children's registration order, when not run order
    inputs: list[str] | None = None  # the tensors its forward takes, when several


def _key(node: dict[str, Any], position: int) -> Any:
    return node["name"] if "name" in node else node.get("key", ("#", position))


def _keys(nodes: list[dict[str, Any]]) -> list[Any]:
    out, position = [], 0
    for node in nodes:
        out.append(_key(node, position))
        if "name" not in node and "key" not in node:
            position += 1
    return out


def _merged_order(orders: list[list[Any]]) -> list[Any] | None:
    """One order of all keys that keeps every instance's order, or None (a conflict)."""
    after: dict[Any, set[Any]] = {}
    first_seen: dict[Any, int] = {}
    for order in orders:
        for i, key in enumerate(order):
            first_seen.setdefault(key, len(first_seen))
            after.setdefault(key, set())
            if i:
                after[key].add(order[i - 1])
    result: list[Any] = []
    done: set[Any] = set()
    while len(result) < len(after):
        ready = [k for k in after if k not in done and after[k] <= done]
        if not ready:
            return None
        pick = min(ready, key=first_seen.__getitem__)
        result.append(pick)
        done.add(pick)
    return result


def _kind_of(values: list[Any]) -> str | None:
    present = [v for v in values if v is not _MISSING]
    if all(isinstance(v, bool) for v in present):
        return "bool"
    if all(isinstance(v, int) and not isinstance(v, bool) for v in present):
        return "int"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in present):
        return "float"
    if all(isinstance(v, list) for v in present):
        return "list"
    return None


def _fits(vector: list[Any], other: list[Any]) -> bool:
    """Equal wherever both are given, with the same Python types."""
    return all(
        a is _MISSING or b is _MISSING or (type(a) is type(b) and a == b)
        for a, b in zip(vector, other, strict=True)
    )


class _Params:
    """Value vectors (one value per instance) turned into named params, shared when equal."""

    def __init__(self, instances: list[Any], reserved: set[str]) -> None:
        self.count = len(instances)
        self.vectors: dict[str, list[Any]] = {}
        self.kinds: dict[str, str] = {}
        self.reserved = reserved
        self.attrs = _attribute_vectors(instances)

    def related(self, vector: list[Any]) -> str | None:
        """`p * k` or `p // k` of a param `p` already made, when that gives every value."""
        for name, known in self.vectors.items():
            if self.kinds[name] != "int" or _kind_of(vector) != "int":
                continue
            pairs = [(a, b) for a, b in zip(vector, known) if a is not _MISSING]
            if any(b is _MISSING for _, b in pairs):
                continue
            for k in range(2, 9):
                if all(a == b * k for a, b in pairs):
                    return f"{name} * {k}"
                if all(a == b // k for a, b in pairs):
                    return f"{name} // {k}"
        return None

    def name_for(self, vector: list[Any], hint: str | list[str]) -> str:
        for name, known in self.vectors.items():
            if _fits(vector, known) and self.kinds[name] == _kind_of(vector):
                self.vectors[name] = [b if a is _MISSING else a for a, b in zip(vector, known)]
                return name
        name = next(
            (a for a, vec in self.attrs.items() if a not in self.vectors and _fits(vector, vec)),
            None,
        )
        if name is None or name in self.reserved:
            hints = [hint] if isinstance(hint, str) else hint
            free = [h for h in hints if h not in self.vectors and h not in self.reserved]
            name, n = (free[0] if free else hints[-1]), 2
            while name in self.vectors or name in self.reserved:
                name, n = f"{hints[-1]}_{n}", n + 1
        self.vectors[name] = list(vector)
        self.kinds[name] = _kind_of(vector) or "int"
        return name

    def flag(self, vector: list[bool], hint: str) -> str:
        for name, known in self.vectors.items():
            if self.kinds[name] != "bool":
                continue
            if known == vector:
                return name
            if known == [not v for v in vector]:
                return f"not {name}"
        return self.name_for(list(vector), hint)

    def declare(self) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
        params, args = {}, []
        n = self.count
        for name, vec in self.vectors.items():
            present = [v for v in vec if v is not _MISSING]
            common = Counter(repr(v) for v in present).most_common(1)[0][0]
            default = next(v for v in present if repr(v) == common)
            params[name] = {"type": self.kinds[name], "default": default}
        for i in range(n):
            args.append(
                {
                    name: params[name]["default"] if vec[i] is _MISSING else vec[i]
                    for name, vec in self.vectors.items()
                }
            )
        return params, args


def _attribute_vectors(instances: list[Any]) -> dict[str, list[Any]]:
    """Plain attributes every instance has (`self.stride = stride`): candidate param names."""
    from ..ops.names import NAME_RE, RESERVED_NAMES

    common: dict[str, list[Any]] = {}
    for i, module in enumerate(instances):
        attrs = {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in vars(module).items()
            if NAME_RE.match(k)
            and k not in RESERVED_NAMES
            and not k.startswith("_")
            and k not in ("training", "in_channels", "in_features")
            and isinstance(v, bool | int | float | tuple | list)
        }
        if i == 0:
            common = {k: [v] for k, v in attrs.items()}
        else:
            common = {k: vec + [attrs[k]] for k, vec in common.items() if k in attrs}
    return common


def merge_instances(
    name: str,
    instances: list[Any],
    trees: list[list[dict[str, Any]]],
    outputs: list[str | None],
    inputs: Sequence[str] = (),
) -> Block | None:
    """One block for all instances, or None when their node orders conflict; `inputs`: the
    names of the block's inputs, which its outputs may name (SelecSLS returns `x[1]`)."""
    orders = [_keys(t) for t in trees]
    order = _merged_order(orders)
    if order is None:
        return None
    output = _returned(orders, trees, outputs, ("input", *inputs))
    if output is False:
        return None
    by_key = [dict(zip(keys, tree, strict=True)) for keys, tree in zip(orders, trees, strict=True)]
    reserved = {"in_channels", "in_features", "i"}
    params = _Params(instances, reserved)
    layers: list[dict[str, Any]] = []
    flags: set[str] = set()
    for key in order:
        shapes: list[Any] = []
        chosen: list[int | None] = []
        for nodes in by_key:
            node = nodes.get(key)
            if node is None:
                chosen.append(None)
                continue
            shape = shape_of(node)
            if shape not in shapes:
                shapes.append(shape)
            chosen.append(shapes.index(shape))
        for v, _ in enumerate(shapes):
            users = [i for i, c in enumerate(chosen) if c == v]
            node = _template(by_key[users[0]][key])
            present = [c == v for c in chosen]
            if not all(present):
                hint = _flag_hint(key, v, len(shapes))
                node["when"] = params.flag(present, hint)
                flags.add(node["when"].removeprefix("not "))
                if len(flags) > MAX_FLAGS:
                    return None
            for path in value_paths(node):
                vector = [
                    get_path(by_key[i][key], path) if chosen[i] == v else _MISSING
                    for i in range(len(instances))
                ]
                given = [x for x in vector if x is not _MISSING]
                if all(type(x) is type(given[0]) and x == given[0] for x in given):
                    continue
                if _kind_of(vector) is None:
                    vector = _as_lists(vector)
                    if vector is None:
                        return None
                hint = _value_hint(key, path)
                if _kind_of(vector) == "list" and not _takes_expression(node, path):
                    value = _by_element(params, vector, hint)
                    if value is None:
                        return None
                else:
                    value = params.related(vector) or params.name_for(vector, hint)
                set_path(node, path, value)
            layers.append(node)
    declared, args = params.declare()
    return Block(name, declared, layers, args, output)


def _returned(
    orders: list[list[Any]],
    trees: list[list[dict[str, Any]]],
    outputs: list[Any],
    inputs: Sequence[str] = (),
) -> str | list[str] | bool | None:
    """What the block returns: None, its last node (in every instance); a node every
    instance has and returns, with nodes after it that nothing reads, or a piece of a
    `chunk` or `split` (`a, b = x.chunk(2, 1); return b`) every instance names
    (`outputs:`); or False: the instances return different nodes."""
    if all(out is None or out == keys[-1] for keys, out in zip(orders, outputs, strict=True)):
        return None
    first = outputs[0]
    if not isinstance(first, str | list) or any(o != first for o in outputs):
        return False
    for keys, tree in zip(orders, trees, strict=True):
        pieces = {piece for node in tree for piece in node.get("names", ())}
        if any(o not in keys and o not in pieces and o not in inputs for o in _listed(first)):
            return False
    return first


def _listed(output: str | list[str]) -> list[str]:
    """The names a block returns: one, or each of several (`outputs: [a, b]`)."""
    return output if isinstance(output, list) else [output]


def _takes_expression(node: dict[str, Any], path: tuple[Any, ...]) -> bool:
    """Whether the field at `path` of a layer kind's node takes one expression for the
    whole list (`parameter`'s `shape: shape`), or only a list of them (`reshape`'s `shape`)."""
    from pydantic import TypeAdapter, ValidationError

    from ..ops.base import REGISTRY

    op = REGISTRY.get(node.get("type"))  # type: ignore[arg-type]
    field = op.spec.model_fields.get(str(path[-1])) if op is not None and len(path) == 1 else None
    if field is None:
        return True  # a block call's argument: a param takes any value
    try:
        TypeAdapter(field.annotation).validate_python("a_param")
    except ValidationError:
        return False
    return True


def _by_element(params: _Params, vector: list[Any], hint: list[str]) -> list[Any] | None:
    """Lists of one length that differ as one list whose differing elements are params
    (`shape: [1, scale_shape_1, 1, 1]`), for a field that takes no whole-list expression."""
    given = [v for v in vector if v is not _MISSING]
    if len({len(v) for v in given}) != 1:
        return None
    out: list[Any] = []
    for j in range(len(given[0])):
        column = [v[j] if v is not _MISSING else _MISSING for v in vector]
        present = [x for x in column if x is not _MISSING]
        if all(type(x) is type(present[0]) and x == present[0] for x in present):
            out.append(present[0])
            continue
        names = [f"{h}_{j}" for h in hint]
        out.append(params.related(column) or params.name_for(column, names))
    return out


def _as_lists(vector: list[Any]) -> list[Any] | None:
    """Ints beside lists of one length as such lists (`3` beside `[1, 7]`: `[3, 3]`)."""
    lengths = {len(v) for v in vector if isinstance(v, list)}
    if len(lengths) != 1:
        return None
    (n,) = lengths
    out = [[v] * n if isinstance(v, int) and not isinstance(v, bool) else v for v in vector]
    return out if _kind_of(out) == "list" else None


def _template(node: dict[str, Any]) -> dict[str, Any]:
    import copy

    return copy.deepcopy(node)


def _base(key: Any) -> str:
    """A node's key as the start of a param name (`block1-0` -> `block1_0`)."""
    text = re.sub(r"\W", "_", key) if isinstance(key, str) else f"item{key[1]}"
    return text if text[:1].isalpha() else f"n_{text}"


def _flag_hint(key: Any, variant: int, count: int) -> str:
    base = _base(key)
    return f"has_{base}" if count == 1 else f"{base}_v{variant + 1}"


def _value_hint(key: Any, path: tuple[Any, ...]) -> list[str]:
    field_name = str(path[-1])
    base = _base(key)
    inner = [str(p) for p in path[:-1] if p not in ("layers", "body")]
    return [field_name, "_".join([base, *inner, field_name])]
