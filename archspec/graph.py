"""Pictures of a compiled spec: Graphviz DOT and Mermaid text, SVG/PNG/PDF via `dot`.

Two steps, so both text formats draw the same thing: `archspec.picture` lays the IR out as
boxes, clusters and shape-labelled edges (no format details), then `to_dot` / `to_mermaid`
here only translate, and `render` / `write_graph` make files. No torch here.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ToolError
from .ir import Graph
from .picture import DEFAULT_DEPTH, Box, Cluster, Edge, Picture, picture

if TYPE_CHECKING:  # pragma: no cover
    from .files import OutputKind

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
    for raw, code in (("#", "#35;"), ("&", "#amp;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;")):
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
    from .files import write_atomic

    fmt = output_format(path)
    data = render(graph, fmt, depth, fold)
    write_atomic(path, data, kind=_output_kind(fmt), force=force)
    return fmt


def output_format(path: str | Path, *, force: bool = True) -> str:
    """The format a picture written to `path` takes: its suffix's, or DOT for a stream with
    none (stdout, a FIFO, the null device: what `archspec graph` prints). Refuses what the
    write would, before any drawing: E604 (a directory, a device), E702 (an unknown suffix),
    and without `force` E603 (a file archspec did not draw)."""
    from .files import check_target

    fmt = FORMATS.get(Path(path).suffix.lower())
    if fmt is None:  # a stream is drawn as DOT; a file, by its suffix (E702)
        fmt = "dot" if check_target(path, force=True) else format_for(path)
        if force:
            return fmt
    check_target(path, kind=_output_kind(fmt), force=force)
    return fmt


def _output_kind(fmt: str) -> OutputKind:
    from .files import DOT, MERMAID, PICTURE

    return {"dot": DOT, "mermaid": MERMAID}.get(fmt, PICTURE)


__all__ = [
    "DEFAULT_DEPTH",
    "FORMATS",
    "Box",
    "Cluster",
    "Edge",
    "Picture",
    "format_for",
    "output_format",
    "picture",
    "render",
    "run_dot",
    "to_dot",
    "to_mermaid",
    "write_graph",
]
