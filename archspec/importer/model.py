"""A whole model as spec data: every module traced once, classes grouped into blocks.

Classes are merged from the innermost out (a block's calls of inner blocks carry their
arguments, which must be known first); the root's forward becomes the spec's `layers`.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import field
from typing import TYPE_CHECKING, Any

from ..errors import ImportFailure
from ..lazymethods import dataclass
from .blocks import Block, merge_instances
from .frozen import frozen_paths
from .inputs import network_body
from .trace import Body, Item, Problems, body_of
from .tree import first_input_named, node_of, shape_of
from .tying import tied_parameters
from .where import describe, source_lines, span_of_class

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn


@dataclass
class Imported:
    """What `render` writes: blocks in definition order and the root's nodes."""

    class_name: str
    blocks: list[Block]
    layers: list[dict[str, Any]]
    output: str | list[str] | dict[str, str] | None
    origin: str
    calls: dict[int, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)  # what the example input fixed
    register_order: list[str] | None = None  # the network's, when forward calls out of it
    #: the names of the network's inputs when its forward takes several (`inputs:`)
    inputs: list[str] = field(default_factory=list)
    #: the module paths whose parameters the model does not train (`frozen:`)
    frozen: list[str] = field(default_factory=list)
    #: each parameter's later name to its first, for one held under two (`tied:`)
    tied: dict[str, str] = field(default_factory=dict)
    #: the forward's assertions bounding a size of the input, which the domain must imply
    bounds: list[Any] = field(default_factory=list)


def _walk_items(items: list[Item]) -> list[Item]:
    out = []
    for item in items:
        out.append(item)
        if item.body:
            out.extend(_walk_items(item.body))
    return out


class _Collector:
    def __init__(self) -> None:
        self.problems = Problems()
        self.bodies: dict[int, Body] = {}
        self.height: dict[int, int] = {}
        self.by_class: dict[type, list[Any]] = {}

    def visit(self, module: nn.Module) -> int:
        key = id(module)
        if key in self.height:
            return self.height[key]
        self.height[key] = 0
        body = body_of(module, self.problems)
        self.bodies[key] = body
        inner = [self.visit(i.module) for i in _walk_items(body.items) if i.kind == "block"]
        self.height[key] = 1 + max(inner, default=0)
        return self.height[key]


def ascii_word(text: str, limit: int = 56) -> str:
    """`text` (a class's name: any identifier, `Résumé`, 200 letters, a keyword made with
    type()) as ASCII letters, digits and `_`, accents dropped, within `limit` characters,
    never starting with `_` (empty when nothing is left)."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"\W", "", plain).lstrip("_")[:limit]


def _first_free(base: str, free: Callable[[str], bool]) -> str:
    """`base`, or `base_2`, `base_3`, ... : the first that `free` takes."""
    name, n = base, 2
    while not free(name):
        name, n = f"{base}_{n}", n + 1
    return name


def _takes(name: str) -> bool:
    """Whether a spec takes `name` as a block's or class's name."""
    from ..ops.names import check_name

    try:
        check_name(name)
    except ValueError:
        return False
    return True


def _block_name(cls: type, taken: set[str]) -> str:
    from ..ops.base import CONSTRUCT_KINDS, REGISTRY

    base = ascii_word(cls.__name__) or "Block"
    if base[0].isdigit():
        base = "B" + base
    name = _first_free(
        base,
        lambda n: n not in taken and n not in REGISTRY and n not in CONSTRUCT_KINDS and _takes(n),
    )
    taken.add(name)
    return name


def _class_name(cls: type) -> str:
    """The spec's `class_name:`: the model's class name when emitted code can define it (not
    `F`, `nn`, a builtin, a keyword or an nn.Module attribute), else the nearest name that it
    can."""
    from ..ops.names import is_free_name

    base = ascii_word(cls.__name__) or "Net"
    if base[0].isdigit():
        base = "Net" + base
    return _first_free(base, lambda n: is_free_name(n) and _takes(n))


def import_model(model: nn.Module, example_input: Any = None) -> Imported:
    """The spec data of `model` (in its current mode), or ImportFailure listing every
    construct that has no exact equivalent, each at its place in the Python source; the
    example input gives the sizes a constant slice needs (slices.py)."""
    from .fused import fused_reading
    from .leaves import read_leaf

    if read_leaf(model) is not None or (fused := fused_reading(model)) is not None:
        what = type(model).__name__
        if read_leaf(model) is None:  # its own tensors given to F.linear, say, in its forward
            what += f", a {fused.kind} on its own tensors"
        raise ImportFailure(
            f"the model is one layer ({what}): its state_dict keys have no "
            "module name, and a spec's network is a module of named layers",
            span=span_of_class(type(model)),
            hint="wrap it: nn.Sequential(layer) imports, with keys `0.weight`, ...",
            code="E904",
        )
    collector = _Collector()
    collector.problems.example = (model, example_input) if example_input is not None else None
    collector.problems.network = model
    collector.visit(model)
    root = network_body(collector.bodies, model, collector.problems)
    problems = collector.problems.items
    if problems:
        raise ImportFailure(diagnostics=problems, sources=source_lines(problems))
    calls: dict[int, tuple[str, dict[str, Any]]] = {}
    by_class = _by_level(_by_class(model, collector.bodies, calls), collector.height)
    heights = {k: max(collector.height[id(m)] for m in ms) for k, ms in by_class.items()}
    blocks: list[Block] = []
    taken: set[str] = set()

    def call(module: Any) -> tuple[str, dict[str, Any]]:
        return calls[id(module)]

    for key in sorted(by_class, key=lambda k: heights[k]):
        cls, instances = key[0], by_class[key]
        trees = [[node_of(i, call) for i in collector.bodies[id(m)].items] for m in instances]
        outputs = [collector.bodies[id(m)].output for m in instances]
        for group in _by_inputs(instances, trees, outputs, collector.bodies):
            name = _block_name(cls, taken)
            members = [instances[i] for i in group]
            inputs = collector.bodies[id(members[0])].inputs or ()
            block = merge_instances(
                name, members, [trees[i] for i in group], [outputs[i] for i in group], inputs
            )
            if block is None:  # cannot happen for one shape; kept loud if it does
                raise ImportFailure(
                    f"cannot merge the instances of {describe(cls)}",
                    span=span_of_class(cls),
                    code="E904",
                )
            bodies = [collector.bodies[id(m)] for m in members]
            _from_bodies(block, cls, bodies, members)
            if block.inputs:
                first_input_named(block.layers, block.inputs[0])
            blocks.append(block)
            for member, args in zip(members, block.args, strict=True):
                calls[id(member)] = (name, args)
    layers = [node_of(i, call) for i in root.items]
    if root.inputs:
        first_input_named(layers, root.inputs[0])
    output = root.output
    if not layers and output in (None, "input"):
        # forward returns its input (an empty nn.Sequential, a pass-through): a spec's network
        # has at least one layer, and `identity` is one that holds nothing
        layers, output = [{"type": "identity"}], None
    found, cls = collector.problems, type(model)
    imported = Imported(_class_name(cls), blocks, layers, output, describe(cls), calls)
    imported.notes = found.notes
    imported.register_order = root.register_order  # the network's own, as a block's
    imported.inputs = list(root.inputs or [])
    imported.frozen = frozen_paths(model)  # parameters it keeps from training
    imported.tied = tied_parameters(model)  # parameters held under two names
    imported.bounds = found.bounds  # checked against the written spec's domain
    return imported


def _by_class(model: Any, bodies: dict[int, Body], calls: dict[int, Any]) -> dict[type, list]:
    """The submodules with traced bodies by class, in model order. Those whose forward
    returns its input untouched (timm's `DropPath(0.0)`, which rdnet keeps where other
    models put `nn.Identity()`, or timm's SelectSeq returning `x[0]` of the list it is
    given) are `identity` nodes (in `calls`), not blocks: a block has at least one layer."""
    by_class: dict[type, list[Any]] = {}
    for module in model.modules():
        if id(module) not in bodies or module is model:
            continue
        body = bodies[id(module)]
        taken = ["input", *(body.inputs or [])[1:]]  # a forward of several: the one returned
        if not body.items and body.output in taken:  # (tree.node_of: `from` reads it alone)
            calls[id(module)] = ("identity", {"reads": taken.index(body.output)})
        else:
            by_class.setdefault(type(module), []).append(module)
    return by_class


def _by_level(
    by_class: dict[type, list[Any]], height: dict[int, int]
) -> dict[tuple[type, int], list[Any]]:
    """The instances of each class, those of a class that holds instances of itself (DLA's
    `DlaTree` of trees) apart by their height: a block cannot call itself, and each is
    merged after the ones it calls."""
    groups: dict[tuple[type, int], list[Any]] = {}
    for cls, instances in by_class.items():
        ids = {id(m) for m in instances}
        nested = any(id(d) in ids for m in instances for d in m.modules() if d is not m)
        for m in instances:
            groups.setdefault((cls, height[id(m)] if nested else 0), []).append(m)
    return groups


def _from_bodies(block: Block, cls: type, bodies: list[Body], members: list[Any]) -> None:
    """What a block takes from its instances' traced bodies: one `register_order:`, and its
    `inputs:` when its forward takes several tensors (inputs.py)."""
    block.register_order = _register_order(cls, bodies, members)
    block.inputs = bodies[0].inputs


def _register_order(cls: type, bodies: list[Body], members: list[Any]) -> list[str] | None:
    """The one `register_order:` of a block's instances (None: execution order). Instances
    that differ by children only some hold (timm's PreActBottleneck registers `downsample`
    first, in its strided instances only) take the order of the one that holds them all,
    when every other instance registers its own children in that order."""
    from .order import holders

    orders = {tuple(b.register_order or ()) for b in bodies}
    if len(orders) == 1:
        (order,) = orders
        return list(order) or None
    registered = [holders(m) for m in members]
    full = max(registered, key=len)
    if all(set(r) <= set(full) and r == [k for k in full if k in r] for r in registered):
        return full
    raise ImportFailure(
        f"the instances of {describe(cls)} register their children in different orders",
        span=span_of_class(cls),
        hint="a block has one `register_order:`; register the children alike",
        code="E904",
    )


def _by_inputs(
    instances: list[Any], trees: list[Any], outputs: list[Any], bodies: dict[int, Body]
) -> list[list[int]]:
    """`_groups` of the instances whose forward takes the same tensors: one called with a
    tensor for a defaulted argument (DLA's `self.tree1(x, shortcut)`) is traced with it as an
    input, and is another block than one called without it (`Tree`, `Tree_2`)."""
    by: dict[Any, list[int]] = {}
    for i, module in enumerate(instances):
        by.setdefault(tuple(bodies[id(module)].inputs or ()), []).append(i)
    found = []
    for taken, part in by.items():
        pick = [instances[i] for i in part], [trees[i] for i in part], [outputs[i] for i in part]
        found.extend([part[j] for j in group] for group in _groups(*pick, taken))
    return sorted(found)


def _groups(
    instances: list[Any], trees: list[Any], outputs: list[Any], inputs: tuple[str, ...]
) -> list[list[int]]:
    """All instances in one block when they merge, else one group per distinct shape."""
    probe = merge_instances("probe", instances, trees, outputs, inputs)
    if probe is not None:
        return [list(range(len(instances)))]
    shapes: dict[Any, list[int]] = {}
    for i, tree in enumerate(trees):
        returned = tuple(outputs[i]) if isinstance(outputs[i], list) else outputs[i]
        shapes.setdefault((tuple(shape_of(n) for n in tree), returned), []).append(i)
    groups: list[list[int]] = []
    for group in shapes.values():
        members = [instances[i] for i in group]
        picked = [trees[i] for i in group]
        picked_outputs = [outputs[i] for i in group]
        if merge_instances("probe", members, picked, picked_outputs, inputs) is not None:
            groups.append(group)
            continue
        same: dict[str, list[int]] = {}  # values that no param can hold: one block each
        for i in group:
            same.setdefault(repr(trees[i]), []).append(i)
        groups.extend(same.values())
    return groups
