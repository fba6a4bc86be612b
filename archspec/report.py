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

from collections.abc import Sequence
from typing import Any

from .dims import Dim, ExpressionTooLarge, Shape, total
from .errors import ShapeError
from .inputlayout import batch_dim, batch_of_one
from .ir import Graph, Node
from .ops import REGISTRY, node_style
from .ops.base import TOO_LARGE_HINT
from .ops.outputs import BLOCK_OUTPUT
from .passes.costs import CostTooLarge, connections, layer_counts, too_large
from .passes.inputdomain import generalise_inputs
from .passes.pipeline import Analysis, run, symbolic_shapes, verified
from .passes.shapes import ShapeTable, declared_shapes
from .summaries import MemoryEstimate as MemoryEstimate
from .summaries import ModuleFacts as ModuleFacts
from .summaries import Row as Row
from .summaries import Summary as Summary


def _type_of(node: Node) -> str:
    if node.child is not None:
        return node.child.block or node.child.class_name
    op = REGISTRY[node.kind]
    if op.label_field is not None:  # `relu (function)`: what it applies, and how
        return f"{node.attrs[op.label_field]} ({node_style(node)})"
    return op.torch_name or node.kind


def _leaf_cost(
    node: Node, in_shapes: Sequence[Shape], shape: Shape, batch: Dim
) -> tuple[int, Dim, Dim]:
    """A layer's row figures: the cost pass's counts, and its connections per sample."""
    params, macs = layer_counts(node, in_shapes, shape)
    return params, macs, connections(node, in_shapes, shape, batch)


def _output_shapes(table: ShapeTable) -> dict[str, tuple[Shape, ...]]:
    """The shapes of every output of each block instance of several, by its path: its row
    showed its first output's alone. The call's `block_output` rows, which follow its
    layers at its own depth, read it by its name."""
    found: dict[str, list[Shape]] = {}
    latest: dict[tuple[int, str], str] = {}  # the last row of each name at each depth
    for r in table.rows:
        if r.node.kind == BLOCK_OUTPUT and r.node.inputs:
            path = latest.get((r.depth, r.node.inputs[0]))
            if path is not None:
                found.setdefault(path, []).append(r.shape)
        latest[(r.depth, r.node.name)] = r.path
    return {path: tuple(shapes) for path, shapes in found.items() if len(shapes) > 1}


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


def summarise_table(
    graph: Graph,
    table: ShapeTable,
    depth: int | None = None,
    given: tuple[tuple[int, ...], ...] | None = None,
) -> Summary:
    """Rows from a shape table, modules deeper than `depth` folded into one row each;
    `given`: the shapes of a network's later inputs, when the table is at shapes given."""
    if depth is not None and depth < 1:
        raise ValueError("depth must be at least 1")
    at = batch_dim(graph.input_shape)
    batch = table.input_shape[at] if at is not None and at < len(table.input_shape) else Dim.of(1)
    try:
        costs: dict[str, tuple[int, Dim, Dim]] = {
            r.path: _leaf_cost(r.node, r.in_shapes, r.shape, batch)
            for r in table.rows
            if r.node.child is None
        }
    except CostTooLarge as exc:
        path = next((r.path for r in table.rows if r.node is exc.node), None)
        raise too_large(graph, exc, path) from None
    for tie in graph.tied:  # one tensor under two names: counted where torch meets it first
        if tie.uncounted in costs:
            params, macs, conns = costs[tie.uncounted]
            costs[tie.uncounted] = (params - tie.numel, macs, conns)
    # each leaf's costs go to its ancestor at the folding depth, in one pass (a scan of all
    # leaves per folded row was quadratic in the spec's size)
    # (by the rows' depths, not the dots of a path: a key `fuse_layers.0.1` is one level)
    inside: dict[str, list[tuple[int, Dim, Dim]]] = {}
    if depth is not None:
        above: list[str] = []  # the path of the row at each depth above this one
        for r in table.rows:
            del above[r.depth :]
            above.append(r.path)
            if r.depth >= depth and r.path in costs:
                inside.setdefault(above[depth - 1], []).append(costs[r.path])
    several = _output_shapes(table)
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
            # a step eval skips (pass_in_eval) is computed in training only as well
            train_only=r.node.train_only or r.node.pass_in_eval,
            shapes=several.get(r.path, ()),
            eval_only=r.node.eval_only,
            pass_in_eval=r.node.pass_in_eval,
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
    return Summary(
        graph.name,
        table.input_shape,
        tuple(rows),
        total_params,
        total_macs,
        depth,
        connections=total_connections,
        input_dtype=graph.input_dtype,
        frozen_params=_frozen_params(graph, costs),
        **_inputs_of(graph, table, total_macs, given),
    )


def _frozen_params(graph: Graph, costs: dict[str, tuple[int, Dim, Dim]]) -> int:
    """The parameters of the layers under the spec's `frozen:` paths (each a layer's path or
    one of its containers'), which the built module does not train; a tied tensor is frozen
    when either of its layers is, wherever it is counted."""
    if not graph.frozen:
        return 0
    heads = tuple(f"{p}." for p in graph.frozen)

    def frozen(path: str) -> bool:
        return path in graph.frozen or path.startswith(heads)

    counted = sum(c[0] for path, c in costs.items() if frozen(path))
    for tie in graph.tied:  # left out of the row of `uncounted`, counted in its twin's
        if frozen(tie.uncounted) and not frozen(tie.counted):
            counted += tie.numel
    return counted


def _inputs_of(
    graph: Graph, table: ShapeTable, total_macs: Dim, given: tuple[tuple[int, ...], ...] | None
) -> dict[str, Any]:
    """The Summary's example (the declared inputs with N = 1, and the MACs there, when the
    table is symbolic) and, for a network of several inputs, the others' shapes as the
    table has them (`given`: the shapes given, when it is at those)."""
    out: dict[str, Any] = {}
    sym = generalise_inputs(graph.input_shapes)
    values = [batch_of_one(shape) for shape in graph.input_shapes]
    if not total_macs.is_const and all(v is not None for v in values):
        out["example_input"] = tuple(Dim.of(v) for v in values[0] or ())
        out["example_macs"] = total_macs.evaluate(sym.bind(*(v or () for v in values)))
        if graph.inputs:
            out["more_examples"] = tuple(tuple(map(Dim.of, v or ())) for v in values[1:])
    if graph.inputs:  # a network of several: the others' shapes, as the table's first
        more = sym.more if table.input_shape == sym.shape else graph.input_shapes[1:]
        if given is not None:
            more = tuple(tuple(map(Dim.of, shape)) for shape in given)
        out |= dict(
            input_names=graph.root.input_names, more_inputs=more, input_dtypes=graph.input_dtypes
        )
    return out


def summarise(
    graph: Graph,
    input_shape: Sequence[int] | None = None,
    depth: int | None = None,
    more: Sequence[Sequence[int]] = (),
) -> Summary:
    """The summary of a lowered graph: symbolic, or at `input_shape` (and for a network of
    several inputs, `more`: the others'; ShapeError if it breaks)."""
    return summarise_analysis(verified(graph, input_shape, more), depth)


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
        return summarise_table(graph, checked.table, depth, analysis.more_input)
    table = run(analysis, through=symbolic_shapes).general
    if table is not None and table.failure is None:
        try:
            return summarise_table(graph, table, depth)
        except ShapeError as exc:  # counts too large as formulas: the declared input's
            if exc.error_code != "E411":
                raise
    # shapes that only hold for the declared input, or formulas too large to write
    return summarise_table(graph, declared_shapes(graph), depth)
