"""Pictures of a compiled spec: Graphviz DOT and Mermaid text from the IR, SVG/PNG via `dot`.

Two steps, so both text formats draw the same thing: `picture` lays the IR out as boxes,
clusters and shape-labelled edges (no format details), then `to_dot` / `to_mermaid` only
translate. Blocks (`blocks:` instances) open as clusters when they have branches or skips
inside (or down to an explicit `depth`) and are single boxes otherwise; unnamed containers
(stages, branches, shortcuts) always open, since a box saying "Sequential" tells nothing.
Layers that read the same tensor (Inception's branches, a residual body beside its
projection shortcut) sit side by side, a residual skip is a coloured edge into its `+`, and
a run of identical blocks (a ResNet stage) is drawn once and then folded into one box.
No torch here: drawing needs only the IR.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from .dims import format_shape
from .errors import ToolError
from .ir import INPUT, Graph, Module, Node
from .ops import REGISTRY

#: Default depth: None opens the blocks that have branches or skips (see `picture`).
DEFAULT_DEPTH: int | None = None

#: Output suffix -> format. Text formats need nothing installed; the others run `dot`.
FORMATS: dict[str, str] = {
    ".dot": "dot",
    ".gv": "dot",
    ".mmd": "mermaid",
    ".mermaid": "mermaid",
    ".svg": "svg",
    ".png": "png",
    ".pdf": "pdf",
}

INSTALL_HINT = (
    "install Graphviz (Debian/Ubuntu: `apt-get install graphviz`, macOS: `brew install "
    "graphviz`, conda: `conda install graphviz`), or write .dot or .mmd, which need nothing "
    "installed (paste .mmd into https://mermaid.live)"
)

#: Fill colours (a soft, colour-blind-friendly palette) shared by both text formats.
FILL: dict[str, str] = {
    "io": "#eeeeee",
    "conv": "#cfe2f3",
    "pool": "#fce5cd",
    "norm": "#fff2cc",
    "act": "#d9ead3",
    "linear": "#d9d2e9",
    "dropout": "#f4f4f4",
    "reshape": "#f4f4f4",
    "merge": "#ffffff",
    "block": "#ffffff",
}
CLUSTER_FILL = {"block": "#f7f9fc", "group": "#ffffff"}

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
        Box(":input", ["input", format_shape(graph.input_shape)], "io", "ellipse")
    ]
    refs = layout.module(graph.root, "", depth, ":input", top)
    outputs = graph.root.outputs
    for i, out in enumerate(outputs):
        one = len(outputs) == 1
        oid = ":output" if one else f":output:{out.name}"
        name = "output" if one else f"output {i}: {out.name}"
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
    ) -> dict[str, str]:
        """Draw `module`'s nodes into `into`; return node name -> id drawing its output."""
        refs = {INPUT: entry}
        readers = _readers(module)
        prev = INPUT
        run: _Run | None = None  # identical block instances in a row, folded into one box
        for node in module.nodes:
            path = f"{prefix}.{node.name}" if prefix else node.name
            train = train_only or node.train_only
            srcs = [refs[i] for i in node.inputs]
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
                inner = self.module(node.child, path, inner_depth, srcs[0], cluster.items, train)
                refs[node.name] = inner[node.child.outputs[0].name]
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
    if op.style == "function" and op.arity == "many":  # a join: its sign, in a circle if short
        sign = op.join_sign or node.kind
        return Box(path, [sign], "merge", "circle" if op.join_sign else "box", train)
    attrs = {k: node.attrs[k] for k in node.src if k in node.attrs and k not in _HIDDEN}
    what = node.kind
    if op.label_field is not None:  # what it applies names it better (`relu`, not `activation`)
        what = str(attrs.pop(op.label_field, node.kind))
    auto = node.name == node.kind or re.fullmatch(rf"{node.kind}_\d+", node.name)
    head = what if auto or node.name == what else f"{node.name}: {what}"
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
    return label


# --------------------------------------------------------------------------------------
# DOT.


def to_dot(pic: Picture) -> str:
    """Graphviz DOT text: clusters for blocks, rank=same for branches, shape-labelled edges."""
    out = [
        f"digraph {_q(pic.title)} {{",
        "  graph [rankdir=TB, newrank=true, compound=true, nodesep=0.25, ranksep=0.35,",
        '         fontname="Helvetica", fontsize=11, labeljust=l];',
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10,',
        '        color="#666666", margin="0.12,0.04", height=0.3];',
        '  edge [fontname="Helvetica", fontsize=8, fontcolor="#555555", color="#555555",',
        "        arrowsize=0.6];",
    ]
    for item in pic.items:
        out += _dot_item(item, "  ")
    for e in pic.edges:
        attrs = [f"label={_q(' ' + e.label)}"]
        if e.train_only:
            attrs.append("style=dashed")
        if e.skip:
            attrs += ['color="#1f77b4"', 'fontcolor="#1f77b4"', "penwidth=1.3"]
        out.append(f"  {_q(e.src)} -> {_q(e.dst)} [{', '.join(attrs)}];")
    for group in pic.ranks:
        out.append("  { rank=same; " + " ".join(_q(i) + ";" for i in group) + " }")
    out.append("}")
    return "\n".join(out) + "\n"


def _dot_item(item: Box | Cluster, pad: str) -> list[str]:
    if isinstance(item, Box):
        attrs = [f"label={_q(chr(10).join(item.lines))}", f'fillcolor="{FILL[item.category]}"']
        if item.shape == "circle":
            attrs += ["shape=circle", "width=0.3", "fixedsize=true", "fontsize=12"]
        elif item.shape == "ellipse":
            attrs.append("shape=ellipse")
        if item.category == "block":
            attrs.append('style="rounded,filled,bold"')
        if item.train_only:
            attrs.append('style="rounded,filled,dashed"')
        return [f"{pad}{_q(item.id)} [{', '.join(attrs)}];"]
    style = "rounded,filled" if item.kind == "block" else "rounded,dashed"
    if item.train_only:
        style = "rounded,dashed,filled"
    lines = [
        f"{pad}subgraph {_q(item.id)} {{",
        f"{pad}  label={_q(item.label)}; style={_q(style)}; "
        f'fillcolor="{CLUSTER_FILL[item.kind]}"; color="#999999";',
    ]
    for child in item.items:
        lines += _dot_item(child, pad + "  ")
    lines.append(f"{pad}}}")
    return lines


def _q(text: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, newlines as centred breaks."""
    body = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{body}"'


# --------------------------------------------------------------------------------------
# Mermaid.


def to_mermaid(pic: Picture) -> str:
    """Mermaid flowchart text (GitHub and mermaid.live render it)."""
    ids: dict[str, str] = {}
    for n, box in enumerate(pic.boxes()):
        ids[box.id] = f"n{n}"
    out = ["flowchart TB"]
    for cat, fill in FILL.items():
        out.append(f"  classDef {cat} fill:{fill},stroke:#666666,color:#000000")
    out.append("  classDef train stroke-dasharray: 4 3")
    clusters = iter(range(10**9))
    for item in pic.items:
        out += _mermaid_item(item, ids, clusters, "  ")
    for e in pic.edges:
        arrow = "-.->" if e.train_only else "==>" if e.skip else "-->"
        out.append(f"  {ids[e.src]} {arrow}|{_mq(e.label)}| {ids[e.dst]}")
    train = [ids[b.id] for b in pic.boxes() if b.train_only]
    if train:
        out.append(f"  class {','.join(train)} train")
    return "\n".join(out) + "\n"


def _mermaid_item(
    item: Box | Cluster, ids: dict[str, str], clusters: Iterator[int], pad: str
) -> list[str]:
    if isinstance(item, Box):
        text = _mq("<br/>".join(item.lines), breaks=True)
        shape = {"box": f"[{text}]", "circle": f"(({text}))", "ellipse": f"([{text}])"}
        return [f"{pad}{ids[item.id]}{shape[item.shape]}:::{item.category}"]
    lines = [f"{pad}subgraph c{next(clusters)} [{_mq(item.label)}]", f"{pad}  direction TB"]
    for child in item.items:
        lines += _mermaid_item(child, ids, clusters, pad + "  ")
    lines.append(f"{pad}end")
    return lines


def _mq(text: str, breaks: bool = False) -> str:
    """A Mermaid quoted label; entity codes keep quotes and brackets from ending it."""
    for raw, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(raw, code)
    if breaks:
        text = text.replace("#lt;br/#gt;", "<br/>")
    return f'"{text}"'


# --------------------------------------------------------------------------------------
# Files.


def format_for(path: str | Path) -> str:
    """The output format a file name asks for (by suffix)."""
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise ToolError(
            f"cannot draw to {str(path)!r}: unknown picture format {suffix or '(no suffix)'!r}",
            hint="use one of " + ", ".join(FORMATS),
        )
    return FORMATS[suffix]


def render(graph: Graph, fmt: str, depth: int | None = DEFAULT_DEPTH, fold: bool = True) -> bytes:
    """The picture as file content: DOT or Mermaid text, or what `dot -T<fmt>` makes."""
    pic = picture(graph, depth, fold)
    if fmt == "mermaid":
        return to_mermaid(pic).encode()
    dot_text = to_dot(pic)
    if fmt == "dot":
        return dot_text.encode()
    return run_dot(dot_text, fmt)


def run_dot(dot_text: str, fmt: str) -> bytes:
    """Run Graphviz's `dot`; a missing `dot` is an error that says how to install it."""
    exe = shutil.which("dot")
    if exe is None:
        raise ToolError(
            f"drawing {fmt.upper()} needs Graphviz's `dot` program, which is not on PATH",
            hint=INSTALL_HINT,
        )
    try:
        done = subprocess.run(
            [exe, f"-T{fmt}"], input=dot_text.encode(), capture_output=True, timeout=300
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ToolError(f"Graphviz `dot` failed to run: {exc}", hint=INSTALL_HINT) from exc
    if done.returncode != 0:
        err = done.stderr.decode(errors="replace").strip()
        raise ToolError(f"Graphviz `dot` failed (exit {done.returncode}): {err}")
    return done.stdout


def write_graph(
    graph: Graph,
    path: str | Path,
    depth: int | None = DEFAULT_DEPTH,
    fold: bool = True,
    *,
    force: bool = False,
) -> str:
    """Draw `graph` to `path` in the format its suffix names; returns that format.

    The write follows archspec.files' one rule for every writer: an existing file that is not
    an archspec picture of that format is replaced only with `force` (E603 otherwise).
    """
    from .files import DOT, MERMAID, PICTURE, write_atomic

    fmt = format_for(path)
    data = render(graph, fmt, depth, fold)
    write_atomic(path, data, kind={"dot": DOT, "mermaid": MERMAID}.get(fmt, PICTURE), force=force)
    return fmt


__all__ = [
    "DEFAULT_DEPTH",
    "FORMATS",
    "Box",
    "Cluster",
    "Edge",
    "Picture",
    "format_for",
    "picture",
    "render",
    "run_dot",
    "to_dot",
    "to_mermaid",
    "write_graph",
]
