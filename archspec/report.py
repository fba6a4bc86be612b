"""Per-layer summaries: name, type, output shape, parameters and MACs, with totals.

Shapes and MACs are symbolic in N, H, W (the input generalised as in `passes/shapes.py`), or
concrete for a given input. MACs (multiply-accumulates) follow the usual convention, per
forward pass of the whole batch N:

* conv: `C_out * H_out * W_out * (C_in / groups) * k_h * k_w` (1-d and 3-d alike), per sample;
* linear: `in_features * out_features` per row;
* every other layer (pools, norms, activations, adds, concats): 0.

So resnet50 at 1x3x224x224 has 4.09 G MACs, torchvision's published "4.09 GFLOPS" (which
counts MACs). Parameters are every trainable tensor (BatchNorm's weight and bias, not its
running statistics). Folding (`depth`) shows a module as one row with its layers' sums, and a
module that is expanded is a heading without numbers, so every table's column sums equal its
totals.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .dims import Dim, ExpressionTooLarge, Shape, format_shape, product, total
from .errors import ShapeError
from .ir import Graph, Node
from .ops import REGISTRY, node_style
from .ops.base import TOO_LARGE_HINT
from .passes.costs import CostTooLarge, connections, layer_counts, too_large
from .passes.pipeline import Analysis, run, symbolic_shapes, verified
from .passes.shapes import (
    ShapeTable,
    batch_of_one,
    declared_shapes,
    generalise_input,
    shape_text,
)

if TYPE_CHECKING:  # pragma: no cover
    from rich.table import Table


@dataclass(frozen=True)
class Row:
    """One line of a summary. `params is None` marks a heading: its layers follow it."""

    path: str
    name: str
    type: str
    depth: int
    shape: Shape
    params: int | None
    macs: Dim | None
    folded: bool = False
    train_only: bool = False
    #: connections per sample as LeCun et al. (1998) count them (inputs + bias per unit)
    connections: Dim | None = None
    #: a module summary's Trainable column (torchinfo's words): "True", "False", "Partial"
    trainable: str | None = None

    @property
    def is_heading(self) -> bool:
        return self.params is None

    @property
    def shape_text(self) -> str:
        return shape_text(self.shape)

    @property
    def macs_text(self) -> str:
        """MACs as text; a layer's symbolic count is shown as `k * product(output shape)`."""
        if self.macs is None:
            return ""
        if self.macs.is_const:
            return f"{self.macs.value:,}"
        if not self.folded:
            per = _per_output(self.macs, self.shape)
            if per is not None:
                const = per
                dims = []
                for d in self.shape:
                    if d.is_const:
                        const *= d.value
                    else:
                        dims.append(str(d) if d.terms_count == 1 and not d.const else f"({d})")
                return "*".join([str(const), *dims] if const != 1 else dims)
        return str(self.macs)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one training step holds at the summary's batch, per dtype name: the weights,
    their gradients (trainable ones only), the buffers, and the activations autograd saves
    for the backward pass. Optimizer state and the allocator's slack are not included."""

    batch: int
    parameters: tuple[tuple[str, int], ...]
    gradients: tuple[tuple[str, int], ...]
    buffers: tuple[tuple[str, int], ...]
    activations: tuple[tuple[str, int], ...]

    def parts(self) -> tuple[tuple[str, tuple[tuple[str, int], ...]], ...]:
        return (
            ("parameters", self.parameters),
            ("gradients", self.gradients),
            ("buffers", self.buffers),
            ("activations", self.activations),
        )

    @property
    def total(self) -> int:
        return sum(n for _, part in self.parts() for _, n in part)

    def to_dict(self) -> dict[str, Any]:
        return {
            "batch": self.batch,
            **{name: dict(part) for name, part in self.parts()},
            "total": self.total,
        }


@dataclass(frozen=True)
class ModuleFacts:
    """What only a summary of an nn.Module has: its inputs, the trainable/frozen split of
    its parameters, and a memory estimate."""

    inputs: tuple[Shape, ...]
    dtypes: tuple[str, ...]
    trainable: int
    frozen: int
    memory: MemoryEstimate


@dataclass(frozen=True, repr=False)
class Summary:
    """A per-layer table of one spec (symbolic or at a concrete input) or of an nn.Module.

    `print(summary)` shows the table as the CLI prints it; in a notebook it is an HTML table.
    """

    name: str
    input_shape: Shape
    rows: tuple[Row, ...]
    params: int
    macs: Dim
    depth: int | None = None
    #: the declared input with N=1, and the MACs there, when the table is symbolic
    example_input: Shape | None = None
    example_macs: int | None = None
    connections: Dim = field(default_factory=lambda: Dim.of(0))
    #: set for a summary of an nn.Module (None for a spec's)
    module: ModuleFacts | None = None

    @property
    def concrete(self) -> bool:
        return self.macs.is_const

    def __str__(self) -> str:
        from .summary_text import summary_text

        return summary_text(self)

    __repr__ = __str__

    def _repr_html_(self) -> str:
        from .summary_text import summary_html

        return summary_html(self)

    # plain data ------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready data; a symbolic count is a string, a concrete one an int."""
        return {
            "name": self.name,
            "input": format_shape(self.input_shape),
            "depth": self.depth,
            "convention": "MACs: conv C_out*H_out*W_out*C_in/groups*k_h*k_w, linear in*out, "
            "others 0; batch included. Connections: per sample, inputs plus bias of every unit "
            "(LeCun et al. 1998)",
            "rows": [
                {
                    "path": r.path,
                    "name": r.name,
                    "type": r.type,
                    "depth": r.depth,
                    "output_shape": r.shape_text,
                    "params": r.params,
                    "macs": _plain(r),
                    "connections": None if r.connections is None else _dim_plain(r.connections),
                    "folded": r.folded,
                    "train_only": r.train_only,
                }
                for r in self.rows
            ],
            "total": {
                "params": self.params,
                "macs": self.macs.value if self.macs.is_const else str(self.macs),
                "connections": _dim_plain(self.connections),
            },
            "example": None
            if self.example_input is None
            else {"input": format_shape(self.example_input), "macs": self.example_macs},
            **({} if self.module is None else {"module": self._module_dict()}),
        }

    def _module_dict(self) -> dict[str, Any]:
        """A module summary's own data: inputs, the trainable split, per-row and memory."""
        m = self.module
        assert m is not None
        return {
            "inputs": [format_shape(s) for s in m.inputs],
            "dtypes": list(m.dtypes),
            "trainable_params": m.trainable,
            "frozen_params": m.frozen,
            "trainable": {r.path: r.trainable for r in self.rows if r.trainable is not None},
            "memory_bytes": m.memory.to_dict(),
        }

    def to_json(self, indent: int = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self) -> str:
        """One line per row (headings have empty counts); the totals are the column sums."""
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(
            ["path", "name", "type", "depth", "output_shape", "params", "macs", "connections"]
        )
        for r in self.rows:
            w.writerow(
                [
                    r.path,
                    r.name,
                    r.type,
                    r.depth,
                    r.shape_text,
                    "" if r.params is None else r.params,
                    "" if r.macs is None else _plain(r),
                    "" if r.connections is None else _dim_plain(r.connections),
                ]
            )
        return buf.getvalue()

    def to_markdown(self) -> str:
        """A GitHub table with a bold totals line."""
        from .summary_text import markdown

        return markdown(self)

    def footer(self) -> str:
        """Totals in words, with the size in G/M where it is a number; symbolic MACs
        factored (`4.09 G MACs x N at (N, 3, 224, 224)`)."""
        from .summary_text import footer

        return footer(self)

    def table(self) -> Table:
        """A rich table for the terminal."""
        from .summary_text import table

        return table(self)


def _per_output(macs: Dim, shape: Shape) -> int | None:
    """k with macs == k * product(shape) exactly, if there is one."""
    out = product(shape)
    env = {name: 1009 + 2 * i for i, name in enumerate(sorted(out.symbols | macs.symbols))}
    size = out.evaluate(env)
    if size == 0:
        return None
    k = macs.evaluate(env) // size
    return k if out * k == macs else None


def _dim_plain(d: Dim) -> int | str:
    """A count as JSON/CSV data: an int, or its formula as text."""
    return d.value if d.is_const else str(d)


def _plain(r: Row) -> int | str | None:
    if r.macs is None:
        return None
    return r.macs.value if r.macs.is_const else r.macs_text


def _macs_cell(r: Row, code: bool = False) -> str:
    if r.macs is None or r.macs.is_const:
        return _cell(r.macs)
    return f"`{r.macs_text}`" if code else r.macs_text


def _cell(v: int | Dim | None, code: bool = False) -> str:
    if v is None:
        return ""
    if isinstance(v, Dim):
        if v.is_const:
            return f"{v.value:,}"
        return f"`{v}`" if code else str(v)
    return f"{v:,}"


def _type_of(node: Node) -> str:
    if node.child is not None:
        return node.child.block or node.child.class_name
    op = REGISTRY[node.kind]
    if op.label_field is not None:  # `relu (function)`: what it applies, and how
        return f"{node.attrs[op.label_field]} ({node_style(node)})"
    return op.torch_name or node.kind


def _leaf_cost(node: Node, in_shapes: Sequence[Shape], shape: Shape) -> tuple[int, Dim, Dim]:
    """A layer's row figures: the cost pass's counts, and its connections."""
    params, macs = layer_counts(node, in_shapes, shape)
    return params, macs, connections(node, in_shapes, shape)


def _sums(
    graph: Graph, costs: list[tuple[int, Dim, Dim]], what: str, span: Any
) -> tuple[int, Dim, Dim]:
    """Params, MACs and connections summed once each (E411 if a sum is too large)."""
    try:
        return sum(c[0] for c in costs), total(c[1] for c in costs), total(c[2] for c in costs)
    except ExpressionTooLarge as exc:
        raise ShapeError(
            f"the MACs of {what} are an expression too large to track: {exc}",
            code="E411",
            span=span or graph.root.span,
            hint=TOO_LARGE_HINT,
            sources=dict(graph.sources),
        ) from None


def summarise_table(graph: Graph, table: ShapeTable, depth: int | None = None) -> Summary:
    """Rows from a shape table, modules deeper than `depth` folded into one row each."""
    if depth is not None and depth < 1:
        raise ValueError("depth must be at least 1")
    try:
        costs: dict[str, tuple[int, Dim, Dim]] = {
            r.path: _leaf_cost(r.node, r.in_shapes, r.shape)
            for r in table.rows
            if r.node.child is None
        }
    except CostTooLarge as exc:
        path = next((r.path for r in table.rows if r.node is exc.node), None)
        raise too_large(graph, exc, path) from None
    # each leaf's costs go to its ancestor at the folding depth, in one pass (a scan of all
    # leaves per folded row was quadratic in the spec's size)
    inside: dict[str, list[tuple[int, Dim, Dim]]] = {}
    if depth is not None:
        for p, c in costs.items():
            parts = p.split(".")
            if len(parts) > depth:
                inside.setdefault(".".join(parts[:depth]), []).append(c)
    rows: list[Row] = []
    for r in table.rows:
        if depth is not None and r.depth >= depth:
            continue
        common = dict(
            path=r.path,
            name=r.node.name,
            type=_type_of(r.node),
            depth=r.depth,
            shape=r.shape,
            train_only=r.node.train_only,
        )
        if r.node.child is None:
            params, macs, conns = costs[r.path]
            rows.append(Row(params=params, macs=macs, connections=conns, **common))  # type: ignore[arg-type]
        elif depth is None or r.depth + 1 < depth:
            rows.append(Row(params=None, macs=None, **common))  # type: ignore[arg-type]
        else:
            params, macs, conns = _sums(graph, inside.get(r.path, []), r.path, r.node.span)
            rows.append(
                Row(params=params, macs=macs, connections=conns, folded=True, **common)  # type: ignore[arg-type]
            )
    total_params, total_macs, total_connections = _sums(
        graph, list(costs.values()), graph.name, graph.root.span
    )
    example, example_macs = None, None
    if not total_macs.is_const:
        values = batch_of_one(graph.input_shape)
        if values is not None:
            example = tuple(Dim.of(v) for v in values)
            example_macs = total_macs.evaluate(generalise_input(graph.input_shape).bind(values))
    return Summary(
        graph.name,
        table.input_shape,
        tuple(rows),
        total_params,
        total_macs,
        depth,
        example,
        example_macs,
        total_connections,
    )


def summarise(
    graph: Graph, input_shape: Sequence[int] | None = None, depth: int | None = None
) -> Summary:
    """The summary of a lowered graph: symbolic, or at `input_shape` (ShapeError if it breaks)."""
    return summarise_analysis(verified(graph, input_shape), depth)


def summarise_analysis(analysis: Analysis, depth: int | None = None) -> Summary:
    """The summary from the pass pipeline's tables: at the analysis's input after every pass
    (ShapeError if it breaks), else symbolic after `symbolic_shapes` (no shape rule runs
    twice; the declared shapes come from the IR)."""
    graph = analysis.graph
    if analysis.input is not None:
        checked = run(analysis)
        if checked.errors:
            raise ShapeError(diagnostics=checked.errors, sources=dict(graph.sources))
        assert checked.table is not None
        return summarise_table(graph, checked.table, depth)
    table = run(analysis, through=symbolic_shapes).general
    if table is not None and table.failure is None:
        try:
            return summarise_table(graph, table, depth)
        except ShapeError as exc:  # counts too large as formulas: the declared input's
            if exc.error_code != "E411":
                raise
    # shapes that only hold for the declared input, or formulas too large to write
    return summarise_table(graph, declared_shapes(graph), depth)
