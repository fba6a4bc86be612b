"""The picture of a compiled spec, independent of any text format: boxes, clusters and
shape-labelled edges laid out from the IR (`archspec.graph` writes it as DOT or Mermaid).

Blocks (`blocks:` instances) open as clusters when they have branches or skips inside (or
down to an explicit `depth`) and are single boxes otherwise; unnamed containers (stages,
branches, shortcuts) always open, since a box saying "Sequential" tells nothing. Layers that
read the same tensor (Inception's branches, a residual body beside its projection shortcut)
sit side by side, a residual skip is a coloured edge into its join, and a run of identical
blocks (a ResNet stage) is drawn once and then folded into one box. A layer's colour is the
category its op declares (`Op.category`). No torch here: drawing needs only the IR.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import field
from typing import Any, Literal

from .dims import dtype_suffix, format_shape
from .ir import INPUT, Graph, Module, Node
from .lazymethods import dataclass
from .ops import REGISTRY, node_style
from .ops.outputs import BLOCK_OUTPUT

#: Default depth: None opens the blocks that have branches or skips (see `picture`).
DEFAULT_DEPTH: int | None = None

#: How a layer attribute is written in a box: short names for the common ones; "" means
#: the value alone (`relu` rather than `fn=relu`). Unlisted attributes keep their name.
_ABBREV: dict[str, str] = {
    "out_channels": "out",
    "out_features": "out",
    "kernel_size": "k",
    "stride": "s",
    "padding": "p",
    "dilation": "d",
    "output_size": "size",
    "fn": "",
}
#: Attributes left out of boxes (they change nothing a reader of the picture needs).
_HIDDEN = frozenset({"inplace"})


# --------------------------------------------------------------------------------------
# The picture: what to draw, independent of the text format.


@dataclass
class Box:
    """One drawn node: a layer, a closed block, a join, or the network's input/output."""

    id: str
    lines: list[str]
    category: str
    shape: Literal["box", "circle", "ellipse"] = "box"
    train_only: bool = False


@dataclass
class Cluster:
    """An opened module: a block instance (`block`) or an unnamed container (`group`)."""

    id: str
    label: str
    kind: Literal["block", "group"]
    items: list[Box | Cluster] = field(default_factory=list)
    train_only: bool = False


@dataclass(frozen=True)
class Edge:
    """A tensor flowing from one box to another, labelled with its shape."""

    src: str
    dst: str
    label: str
    train_only: bool = False
    skip: bool = False


@dataclass
class Picture:
    """Everything to draw; `ranks` are groups of boxes to place side by side."""

    title: str
    items: list[Box | Cluster]
    edges: list[Edge]
    ranks: list[list[str]]

    def boxes(self) -> Iterator[Box]:
        """Every box, depth first."""
        yield from _boxes(self.items)

    def clusters(self) -> Iterator[Cluster]:
        """Every cluster, depth first."""
        yield from _clusters(self.items)


def _boxes(items: Sequence[Box | Cluster]) -> Iterator[Box]:
    for item in items:
        if isinstance(item, Box):
            yield item
        else:
            yield from _boxes(item.items)


def _clusters(items: Sequence[Box | Cluster]) -> Iterator[Cluster]:
    for item in items:
        if isinstance(item, Cluster):
            yield item
            yield from _clusters(item.items)


def picture(graph: Graph, depth: int | None = DEFAULT_DEPTH, fold: bool = True) -> Picture:
    """Lay out `graph` for drawing.

    `depth=None` opens every block that has branches or skips inside and keeps plain chains
    of layers (a conv-bn-relu block) as one box; `depth=N` opens exactly N levels of blocks
    (0: every block is one box). With `fold`, a run of identical block instances (a ResNet
    stage) is drawn once, followed by one box standing for the rest of the run.
    """
    if depth is not None and depth < 0:
        raise ValueError("depth must be >= 0")
    layout = _Layout(graph, depth, fold)
    # ":" never occurs in a node path, so these ids cannot meet a layer's
    top: list[Box | Cluster] = [
        Box(
            ":input",
            ["input", format_shape(graph.input_shape) + dtype_suffix(graph.input_dtype)],
            "io",
            "ellipse",
        )
    ]
    more = []
    if graph.inputs:  # a network of several: one box per input, named as the spec names it
        first, *later = graph.inputs
        top[0].lines[0] = f"input {first.name}"
        for given in later:
            more.append(f":input:{given.name}")
            text = format_shape(given.shape) + dtype_suffix(given.dtype)
            top.append(Box(more[-1], [f"input {given.name}", text], "io", "ellipse"))
    refs = layout.module(graph.root, "", depth, ":input", top, more=more)
    outputs = graph.root.outputs
    for i, out in enumerate(outputs):
        one = len(outputs) == 1 and out.key is None
        oid = ":output" if one else f":output:{out.name}" if out.key is None else f":output:{i}"
        shown = graph.inputs[0].name if out.name == INPUT and graph.inputs else out.name
        name = "output" if one else f"output {i}: {shown}" if out.key is None else ""
        if out.key is not None:  # the network's `outputs:` mapping: forward's dict key
            name = f"output {out.key}: {shown}"
        top.append(Box(oid, [name], "io", "ellipse", out.train_only))
        shape = graph.root.out_shapes[i]
        layout.edges.append(Edge(refs[out.name], oid, _shape(shape), out.train_only))
    ranks = [ids for ids in layout.fanout.values() if len(ids) > 1]
    return Picture(graph.name, top, layout.edges, ranks)


class _Layout:
    """Walks IR modules, emitting boxes/clusters and resolving node names to drawn ids."""

    def __init__(self, graph: Graph, depth: int | None, fold: bool) -> None:
        self.edges: list[Edge] = []
        #: source id -> boxes that read it as their only input (drawn side by side)
        self.fanout: dict[str, list[str]] = {}
        self.fold = fold
        self.defaults = {
            name: {p.name: p.default for p in infos if not p.required}
            for name, infos in graph.blocks.items()
        }

    def module(
        self,
        module: Module,
        prefix: str,
        depth: int | None,
        entry: str,
        into: list[Box | Cluster],
        train_only: bool = False,
        more: Sequence[str] = (),
    ) -> dict[str, str]:
        """Draw `module`'s nodes into `into`; return node name -> id drawing its output
        (`more`: the ids drawing a block's inputs after the first, `entry`'s)."""
        refs = {INPUT: entry, **dict(zip(module.extra_inputs, more))}
        readers = _readers(module)
        prev = INPUT
        run: _Run | None = None  # identical block instances in a row, folded into one box
        for node in module.nodes:
            path = f"{prefix}.{node.name}" if prefix else node.name
            train = train_only or node.train_only or node.pass_in_eval
            srcs = [refs[i] for i in node.inputs]
            if node.kind == BLOCK_OUTPUT and (node.inputs[0], node.attrs["_index"]) in refs:
                srcs = [refs[(node.inputs[0], node.attrs["_index"])]]  # its output's box
            sig = _signature(node) if self.fold and node.child and node.child.block else None
            if run is not None and sig == run.sig and node.inputs == (prev,):
                if run.box is None:
                    run.box = Box(path, [], "block", train_only=train)
                    into.append(run.box)
                    self.edges.append(Edge(srcs[0], path, _shape(node.in_shapes[0]), train))
                run.names.append(node.name)
                run.box.lines = run.label()
                refs[node.name] = run.box.id
                prev = node.name
                continue
            if self.opens(node, depth):
                assert node.child is not None
                label = _cluster_label(node, self.defaults.get(node.child.block or "", {}))
                cluster = Cluster(f"cluster:{path}", label, _kind(node.child), train_only=train)
                into.append(cluster)
                inner_depth = depth - 1 if depth is not None and node.child.block else depth
                inner = self.module(
                    node.child, path, inner_depth, srcs[0], cluster.items, train, srcs[1:]
                )
                refs[node.name] = inner[node.child.outputs[0].name]
                for k, out in enumerate(node.child.outputs[1:], 1):  # a block of several
                    refs[(node.name, k)] = inner[out.name]  # type: ignore[index]
            else:
                into.append(self.box(node, path, train))
                self.connect(node, path, srcs, train, readers)
                refs[node.name] = path
            run = _Run(sig, node) if sig is not None else None
            prev = node.name
        return refs

    def opens(self, node: Node, depth: int | None) -> bool:
        """Whether a node is drawn as an open cluster rather than one box."""
        child = node.child
        if child is None:
            return False
        if child.block is None:
            return True
        return _has_join(child) if depth is None else depth > 0

    def box(self, node: Node, path: str, train: bool) -> Box:
        """A layer's box (its name, kind and written attributes) or a closed block's."""
        if node.child is not None:
            module = node.child
            args = _changed(module.args, self.defaults.get(module.block or "", {}))
            head = f"{node.name}: {module.class_name}"
            return Box(path, [head, *_args(args)], "block", train_only=train)
        return _layer_box(node, path, train)

    def connect(
        self,
        node: Node,
        path: str,
        srcs: list[str],
        train: bool,
        readers: dict[str, int],
    ) -> None:
        """Edges into a box. Into a join, a tensor that other layers read too is a skip."""
        for i, src in enumerate(srcs):
            skip = len(srcs) > 1 and readers.get(node.inputs[i], 0) > 1
            label = _shape(node.in_shapes[i] if i < len(node.in_shapes) else None)
            self.edges.append(Edge(src, path, label, train, skip))
        if len(srcs) == 1 and not train:
            self.fanout.setdefault(srcs[0], []).append(path)


@dataclass
class _Run:
    """Block instances identical to `first` that follow it: drawn as one box after it."""

    sig: tuple[Any, ...]
    first: Node
    names: list[str] = field(default_factory=list)
    box: Box | None = None

    def label(self) -> list[str]:
        assert self.first.child is not None
        which = self.names[0] if len(self.names) == 1 else f"{self.names[0]}-{self.names[-1]}"
        times = f" x{len(self.names)}" if len(self.names) > 1 else ""
        return [f"{which}: {self.first.child.class_name}{times}", f"same as {self.first.name}"]


def _readers(module: Module) -> dict[str, int]:
    """How many nodes (and outputs) of a module read each name."""
    counts: dict[str, int] = {}
    for node in module.nodes:
        for name in set(node.inputs):
            counts[name] = counts.get(name, 0) + 1
    for out in module.outputs:
        counts[out.name] = counts.get(out.name, 0) + 1
    return counts


def _has_join(module: Module) -> bool:
    """True when a module has branches or skips (a node reading two or more tensors)."""
    return any(
        len(n.inputs) > 1 or (n.child is not None and _has_join(n.child)) for n in module.nodes
    )


def _signature(node: Node) -> tuple[Any, ...]:
    """What makes two block instances draw the same: structure, attributes and shapes."""
    child = node.child
    inner = ()
    if child is not None:
        inner = (
            child.class_name,
            tuple(sorted((k, repr(v)) for k, v in child.args.items())),
            tuple(_signature(n) for n in child.nodes),
            tuple(o.name for o in child.outputs),
        )
    return (
        node.name if node.child is None else "",
        node.kind,
        tuple(sorted((k, repr(v)) for k, v in node.attrs.items())),
        node.inputs if node.child is None else (),
        node.train_only,
        node.eval_only,
        node.pass_in_eval,
        repr(node.shape),
        inner,
    )


def _kind(module: Module) -> Literal["block", "group"]:
    return "block" if module.block else "group"


def _shape(shape: Any) -> str:
    return format_shape(shape) if shape is not None else "?"


def _layer_box(node: Node, path: str, train: bool) -> Box:
    """A layer's box: its name and kind (the name alone when generated), then its attributes."""
    op = REGISTRY[node.kind]
    # a join: its sign, in a circle if short
    if node_style(node) == "function" and op.arity == "many":
        sign = op.join_sign or node.kind
        return Box(path, [sign], "merge", "circle" if op.join_sign else "box", train)
    hidden = _HIDDEN | {op.names_field}  # a piece's box carries its own name already
    attrs = {k: node.attrs[k] for k in node.src if k in node.attrs and k not in hidden}
    what = node.kind
    if op.label_field is not None:  # what it applies names it better (`relu`, not `activation`)
        what = str(attrs.pop(op.label_field, node.kind))
    auto = node.name == node.kind or re.fullmatch(rf"{node.kind}_\d+", node.name)
    head = what if auto or node.name == what else f"{node.name}: {what}"
    head += " [eval only]" if node.eval_only else ""
    head += f" [eval: {node.inputs[0]}]" if node.pass_in_eval else ""
    return Box(path, [head, *_args(attrs)], op.category, train_only=train)


def _changed(args: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Block arguments that differ from the block's declared defaults."""
    return {k: v for k, v in args.items() if k not in defaults or defaults[k] != v}


def _args(values: Mapping[str, Any], per_line: int = 3) -> list[str]:
    """`k=3 s=2 p=1`, a few per line so boxes stay narrow."""
    parts = []
    for key, value in values.items():
        name = _ABBREV.get(key, key)
        text = _value(value)
        parts.append(f"{name}={text}" if name else text)
    return [" ".join(parts[i : i + per_line]) for i in range(0, len(parts), per_line)]


def _value(value: Any) -> str:
    """A short rendering: `3x3` for a per-dim list, `[16 items]` for anything longer."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        flat = all(isinstance(v, (int, float, str)) for v in value)
        if flat and len(value) <= 3:
            return "x".join(_value(v) for v in value)
        return f"[{len(value)} items]"
    text = str(value)
    if not text.isprintable():  # a `str` param's line break or lone surrogate (`--set` of
        # bytes that are not UTF-8): shown as its escape, so the picture stays one valid line
        text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in text)
    return text if len(text) <= 24 else text[:21] + "..."


def _cluster_label(node: Node, defaults: Mapping[str, Any]) -> str:
    module = node.child
    assert module is not None
    label = f"{node.name}: {module.class_name}" if module.block else node.name
    args = " ".join(_args(_changed(module.args, defaults), per_line=99))
    if args:
        label += f"  ({args})"
    if node.train_only:
        label += "  [training only]"
    if node.eval_only:
        label += "  [eval only]"
    if node.pass_in_eval:
        label += f"  [eval: {node.inputs[0]}]"
    return label
