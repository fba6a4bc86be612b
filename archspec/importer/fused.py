"""A module that holds one layer's tensors and runs that layer's computation with other steps
around it: timm's `BatchNormAct2d(nn.BatchNorm2d)`, whose forward is batch norm's own
`F.batch_norm` on its own tensors followed by its `drop` and `act` children, or a
`LayerNorm` subclass that permutes before and after `F.layer_norm`.

Its tensors have the keys a layer of that kind has under the module's name (`bn1.weight`,
`bn1.running_mean`) and its children hold none, so in the caller it is that layer, under the
module's name, and the other steps as nodes of their own: the same state_dict, the same
function. Nothing is matched by class name: a layer kind reads the module (`read_module`,
as for a leaf), builds its own module from the reading, and the calls that read the
module's tensors in its traced forward must be the kind's module's, call for call with equal
constants, in eval and in training mode (a batch norm counts its batches in training).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from .leaves import Leaf, _candidates, _scalars, defaults

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from ..ops.base import Op
    from .trace import Body, Item


def fused_layer(x: Any) -> Any:
    """Stands in a traced graph for the layer's computation (never run)."""
    return x


_READINGS: weakref.WeakKeyDictionary[Any, tuple[Any, Leaf | None]] = weakref.WeakKeyDictionary()


def _own(module: nn.Module) -> tuple[tuple[str, tuple[int, ...]], ...]:
    named = [*module.named_parameters(recurse=False), *module.named_buffers(recurse=False)]
    return tuple((name, tuple(t.shape)) for name, t in named)


def fused_reading(module: nn.Module) -> Leaf | None:
    """The layer kind whose module computes what `module` computes with its own tensors, when
    it holds tensors of its own, its children none, and its forward uses them only so."""
    from .leaves import instance_key

    key = instance_key(module)  # a module changed since (its eps) is read again
    cached = _READINGS.get(module)
    if cached is None or cached[0] != key:
        cached = _READINGS[module] = (key, _find(module))
    return cached[1]


def _find(module: nn.Module) -> Leaf | None:
    import torch

    from .order import stateful

    own = _own(module)
    if not own or any(stateful(child) for child in module.children()):
        return None
    for op, fields in _readings(module):
        base = defaults(op)
        for attempt in (_scalars(fields), fields):
            given = {**base, **attempt}
            attrs = {k: given[k] for k in op.spec.model_fields if k in given}
            try:
                with torch.device("meta"):
                    built = op.build(attrs)
            except Exception:
                continue
            if _own(built) == own and _same_use(built, module):
                full = {k: v for k, v in attrs.items() if k not in op.inferred}
                shown = {k: v for k, v in full.items() if k not in base or v != base[k]}
                return Leaf(op.kind, shown, full)
    return None


def _readings(module: nn.Module) -> Iterator[tuple[Op, dict[str, Any]]]:
    """Candidate readings: a kind's `read_module` of the module (a subclass of its torch
    class), else the fields of the functional call that reads its tensors (fused_calls.py)."""
    from ..ops.base import REGISTRY
    from .fused_calls import call_readings

    found = False
    for op in _candidates(module):
        try:
            fields = op.read_module(module) if op.style == "module" else None
        except Exception:
            continue
        if fields is not None:
            found = True
            yield op, fields
    if found:
        return
    graph = _module_graph(module)
    if graph is not None:
        names = {name for name, _ in _own(module)}
        for kind, fields in call_readings(module, graph, names):
            yield REGISTRY[kind], fields


def _same_use(built: nn.Module, module: nn.Module) -> bool:
    """In both modes, `module`'s forward reads its tensors in the calls the kind's module
    makes, and the kind's module makes nothing else."""
    from .modes import kept_modes

    names = {name for name, _ in _own(module)}
    graphs: dict[bool, Any] = {}
    try:
        with kept_modes(module):
            for training in (False, True):
                module.train(training)
                theirs = graphs[training] = _module_graph(module)
                ours = _layer_calls(built, names, training)
                if ours is None or theirs is None or _calls(theirs, names) != ours:
                    return False
    except Exception:  # a forward that cannot be traced is not shown to be the same
        return False
    _GRAPHS[module] = graphs  # fused_trace reads them
    return True


#: The kind's module's calls, per kind, fields and mode: tracing it is the slow part.
_LAYER_CALLS: dict[tuple[Any, ...], list[tuple[Any, ...]] | None] = {}

#: Each fused module's graphs in eval and training, traced once to be compared and read.
_GRAPHS: weakref.WeakKeyDictionary[Any, dict[bool, Any]] = weakref.WeakKeyDictionary()


def _layer_calls(built: nn.Module, names: set[str], training: bool) -> Any:
    """The calls of the kind's module reading its tensors; None unless it makes only them."""
    from .modes import kept_modes

    key = (type(built), repr(built), _own(built), training)
    if key not in _LAYER_CALLS:
        with kept_modes(built):
            built.train(training)
            graph = _layer_graph(built)
        ok = graph is not None and _only_calls(graph, names)
        _LAYER_CALLS[key] = _calls(graph, names) if ok else None
    return _LAYER_CALLS[key]


def _layer_graph(built: nn.Module) -> Any:
    """The kind's module traced whole; its input's rank (a batch norm checks it) is the first
    of 1..5 that traces."""
    for rank in range(1, 6):
        try:
            return _ranked_tracer(rank).trace(built)
        except Exception:
            continue
    return None


def _ranked_tracer(rank: int) -> Any:
    """An fx tracer whose input answers `dim()` and `ndim` with `rank`."""
    import torch.fx as fx

    class Ranked(fx.Proxy):
        def dim(self) -> int:
            return rank

        @property
        def ndim(self) -> int:
            return rank

    class RankTracer(fx.Tracer):
        def proxy(self, node: Any) -> fx.Proxy:
            return Ranked(node, self) if node.op == "placeholder" else super().proxy(node)

    tracer = RankTracer()
    tracer.proxy_buffer_attributes = True  # as the module's forward is traced (ranks.py)
    return tracer


def _module_graph(module: nn.Module) -> Any:
    from .trace import Problems, _trace

    return _trace(module, Problems())


def _tensor_reads(graph: Any, names: set[str]) -> tuple[set[Any], list[Any]]:
    """The get_attr nodes of the tensors `names`, and the nodes that read them."""
    attrs = {n for n in graph.nodes if n.op == "get_attr" and n.target in names}
    reads = [
        n for n in graph.nodes if n not in attrs and any(a in attrs for a in n.all_input_nodes)
    ]
    return attrs, reads


def _calls(graph: Any, names: set[str]) -> list[tuple[Any, ...]] | None:
    """The calls reading the tensors, as data: attributes by name, one other input (the
    data), constants as they are; None when a call reads anything else or the data feeds
    more than one call."""
    from torch.fx.node import map_arg

    attrs, reads = _tensor_reads(graph, names)
    fed = [n for n in reads if any(a not in attrs for a in n.all_input_nodes)]
    if len(fed) != 1 or len([a for a in fed[0].all_input_nodes if a not in attrs]) != 1:
        return None
    if any(n.users for n in reads if n is not fed[0]):  # a counter's `add_`: read by none
        return None

    def plain(v: Any) -> Any:
        return map_arg(v, lambda n: ("attr", n.target) if n in attrs else ("data",))

    from .fused_calls import bound

    return [
        (n.op, n.target, bound(n.target, plain(n.args), plain(n.kwargs)))
        if n.op == "call_function" and bound(n.target, n.args, n.kwargs) is not None
        else (n.op, n.target, plain(n.args), plain(n.kwargs))
        for n in reads
    ]


def _only_calls(graph: Any, names: set[str]) -> bool:
    """The kind's module computes nothing but those calls: its output is the one call that
    reads its input, and that input directly."""
    attrs, reads = _tensor_reads(graph, names)
    rest = [n for n in graph.nodes if n.op != "placeholder" and n not in attrs and n not in reads]
    (out,) = [n for n in rest if n.op == "output"] or [None]
    fed = [n for n in reads if any(a.op == "placeholder" for a in n.all_input_nodes)]
    return len(rest) == 1 and out is not None and len(fed) == 1 and out.args[0] is fed[0]


def fused_graph(module: nn.Module, graph: Any) -> Any:
    """`graph` (the module's traced forward) with the calls reading its tensors replaced by
    one `fused_layer` call of their data input, the steps around it left as they are."""
    names = {name for name, _ in _own(module)}
    attrs, reads = _tensor_reads(graph, names)
    (fed,) = [n for n in reads if any(a not in attrs for a in n.all_input_nodes)]
    (data,) = [a for a in fed.all_input_nodes if a not in attrs]
    with graph.inserting_before(fed):
        layer = graph.call_function(fused_layer, (data,))
    layer.stack_trace = fed.stack_trace
    fed.replace_all_uses_with(layer)
    for node in reversed(reads):
        graph.erase_node(node)
    for node in attrs:
        if not node.users:
            graph.erase_node(node)
    return graph


def fused_trace(module: nn.Module, problems: Any) -> Any:
    """trace._trace for a fused module: its graph with the layer's calls as one."""
    from .trace import _trace

    graph = _GRAPHS.get(module, {}).pop(module.training, None) or _trace(module, problems)
    return None if graph is None else fused_graph(module, graph)


#: In `spliced`, the name standing for what the fused child's call reads.
_CALL = "\0call"


def spliced(
    item: Item, body: Body, fresh: Callable[[str], str], inputs: tuple[str, ...] | None
) -> tuple[list[Item], str | None] | None:
    """The fused child `item` (its traced `body`) as items of its caller: its layer under the
    child's name and key, the steps around it under `fresh` names, an `nn.Identity` step
    dropped and an activation module without settings an `activation` node. `inputs`: what
    the call reads; None in a numbered Sequential, where the items must be a chain whose
    steps make no submodule (a submodule would take a position). Returns the items and the
    name of the output, or None when they cannot be so."""
    import dataclasses

    from ..ops.merge import ACTIVATION_FNS

    rename: dict[str, str | None] = {"input": _CALL}
    out: list[Item] = []
    prev = "input"
    for step in body.items:
        local = step.ref or ""
        if any(s not in rename for s in step.inputs or (prev,)):
            return None
        sources = [rename[s] for s in step.inputs or (prev,)]
        prev = local
        if step.kind == "identity" and step.is_module and not step.fields:
            rename[local] = sources[0]
            continue
        if local == body.fused:
            new = dataclasses.replace(step, name=item.name, key=item.key)
        elif step.kind in ACTIVATION_FNS and step.is_module and set(step.fields) <= {"inplace"}:
            new = dataclasses.replace(step, name=fresh(local), kind="activation", key=None)
            new.fields, new.full, new.is_module = {"fn": step.kind}, {"fn": step.kind}, False
        else:
            new = dataclasses.replace(step, name=fresh(local), key=None)
        if inputs is None:  # a chain: each step reads the one before
            before = out[-1].ref if out else _CALL
            if sources != [before] or (new.is_module and local != body.fused):
                return None
            new.inputs = ()
        else:
            new.inputs = tuple(n for s in sources for n in (inputs if s == _CALL else (s,)))
        rename[local] = new.ref
        out.append(new)
    final = body.output if isinstance(body.output, str) else prev
    result = rename.get(final, _CALL)
    if not out or result == _CALL or (inputs is None and result != out[-1].ref):
        return None
    return out, result


def fused_item(name: str | None, key: str | None, child: nn.Module, problems: Any) -> Item:
    """The item of a fused child before it is spliced: its traced body, the layer in it."""
    from .trace import Item, _traced

    if id(child) not in problems.bodies:
        problems.bodies[id(child)] = _traced(child, problems, fused=True)
    return Item(name, "fused", module=child, key=key, body=problems.bodies[id(child)].items)


def in_sequence(item: Item, problems: Any, taken: set[str]) -> list[Item]:
    """A child of a numbered list (an nn.Sequential, a ModuleList walked in turn) as the
    items it makes there: itself, or a fused child's layer and steps (see `spliced`)."""
    from .where import describe, diagnostic, span_of_class

    if item.kind != "fused":
        return [item]
    body = problems.bodies[id(item.module)]
    if body.fused is None:  # its trace failed (reported)
        return [item]

    def fresh(base: str) -> str:
        name, n = base, 1
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        taken.add(name)
        return name

    done = spliced(item, body, fresh, None)
    if done is not None:
        return done[0]
    cls = type(item.module)
    problems.add(
        diagnostic(
            "E904",
            f"{describe(cls)} holds a layer's tensors and runs steps around it that are no "
            "chain of parameter-free functions: in a numbered nn.Sequential each would take "
            "a position of its own",
            span_of_class(cls),
            "call it from a module's forward, where the steps around the layer are nodes "
            "that take no position",
        )
    )
    return [item]


def read_fused(reader: Any, node: Any) -> bool:
    """The `fused_layer` call in a fused module's graph: the layer, an item of the kind.
    False for any other node."""
    from .trace import Item

    if node.target is not fused_layer:
        return False
    inputs = reader._inputs((node.args[0],))
    leaf = fused_reading(reader.module)
    if inputs is not None and leaf is not None:
        name = reader._fresh("layer")
        reader._add(node, Item(name, leaf.kind, dict(leaf.fields), dict(leaf.full), inputs), name)
        reader.fused = name
    return True


def splice_call(reader: Any, node: Any, item: Item) -> None:
    """A fused child called in a traced forward: its items join the caller's, the layer
    under the child's attribute name, the steps around it named after it (`bn1_act`)."""
    body = reader.problems.bodies[id(item.module)]
    if body.fused is None:  # its trace failed (reported)
        return

    def fresh(base: str) -> str:
        name = reader._fresh(f"{item.ref}_{base}")
        reader.used.add(name)
        return name

    done = spliced(item, body, fresh, item.inputs)
    if done is None:  # cannot happen for a traced body; kept loud if it does
        reader.fail("E904", f"cannot splice `self.{item.ref}` into its caller", node, "")
        return
    steps, output = done
    for step in steps:
        reader.modes.mark(step, node)
        if step.ref:
            reader.used.add(step.ref)
        reader.items.append(step)
    reader.names[node] = output


def own_tensors_hint(module: nn.Module) -> str:
    """More of the hint of a call no kind computes, in a module holding tensors of its own
    (a norm written with mean and var): the form in which such a module imports."""
    if not _own(module):
        return ""
    return (
        "; a module holding its own tensors imports as a layer when its forward gives them to "
        "the function the layer calls (F.layer_norm(x, shape, self.weight, self.bias, eps), "
        "F.group_norm, F.conv2d, F.linear; F.batch_norm in a subclass of a torch batch norm, "
        "which counts its batches), with steps before and after it: "
        "its tensors named as the layer's (`weight`, `bias`), the sizes written as numbers "
        "(`(c,)`, not `x.shape[-1:]`), and no child holding tensors"
    )
