"""Parameter, MAC and activation counts from the IR, before any tensor exists.

MACs follow the usual convention: a conv's are C_out * H_out * W_out * C_in/groups * k_h * k_w
per sample, a linear's in * out per row; other layers count zero. Counts include the batch
dim N, so they are symbolic in N (and in H, W when the input is symbolic).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..dims import Dim, ExpressionTooLarge, Shape, total
from ..errors import ShapeError
from ..ir import Graph, Module, Node
from ..ops import REGISTRY, Op, node_style
from ..ops.base import TOO_LARGE_HINT


@dataclass(frozen=True)
class Cost:
    """Totals for a node or module: trainable params, MACs, activation elements."""

    params: int
    macs: Dim
    activations: Dim

    def __add__(self, other: Cost) -> Cost:
        return Cost(
            self.params + other.params,
            self.macs + other.macs,
            self.activations + other.activations,
        )


ZERO = Cost(0, Dim.of(0), Dim.of(0))


class CostTooLarge(Exception):
    """A node's symbolic count is past `dims.MAX_SIZE`; `too_large` makes it an E411."""

    def __init__(self, node: Node, cause: ExpressionTooLarge) -> None:
        super().__init__(str(cause))
        self.node = node


def too_large(graph: Graph, exc: CostTooLarge, path: str | None = None) -> ShapeError:
    """The located error for a count too large to write as an expression."""
    where = f"{path or exc.node.name}: "
    return ShapeError(
        f"{where}its MACs or activations are an expression too large to track: {exc}",
        code="E411",
        span=exc.node.span or graph.root.span,
        hint=TOO_LARGE_HINT,
        sources=dict(graph.sources),
    )


def node_cost(node: Node) -> Cost:
    """Cost of one node, its child module included (train-only nodes count too)."""
    if node.child is not None:
        return module_cost(node.child)
    if node.shape is None:
        return ZERO
    params, macs = layer_counts(node, node.in_shapes, node.shape)
    try:
        return Cost(params, macs, REGISTRY[node.kind].activation_numel(node.shape))
    except ExpressionTooLarge as exc:
        raise CostTooLarge(node, exc) from None


def layer_counts(node: Node, in_shapes: Sequence[Shape], shape: Shape) -> tuple[int, Dim]:
    """Parameters (module ops only) and MACs of one layer at the given shapes: its declared
    ones, or a summary's symbolic ones. CostTooLarge past `dims.MAX_SIZE`."""
    op = REGISTRY[node.kind]
    try:
        params = op.params(node.attrs) if node_style(node) != "function" else 0
        return params, Dim.of(op.macs(node.attrs, in_shapes, shape))
    except ExpressionTooLarge as exc:
        raise CostTooLarge(node, exc) from None


def connections(node: Node, in_shapes: Sequence[Shape], shape: Shape) -> Dim:
    """Connections per sample of one layer, as LeCun et al. (1998) count them (the op's rule).
    CostTooLarge past MAX_SIZE."""
    try:
        return Dim.of(REGISTRY[node.kind].connections(node.attrs, in_shapes, shape))
    except ExpressionTooLarge as exc:
        raise CostTooLarge(node, exc) from None


def module_cost(module: Module) -> Cost:
    """The sum over a module's nodes, each count summed once (not one growing partial sum
    per node, which re-sorts every term each time: quadratic in the layers)."""
    parts = [node_cost(node) for node in module.nodes]
    try:
        return Cost(
            sum(c.params for c in parts),
            total(c.macs for c in parts),
            total(c.activations for c in parts),
        )
    except ExpressionTooLarge as exc:
        raise CostTooLarge(module.nodes[0], exc) from None


def graph_cost(graph: Graph) -> Cost:
    """Totals of a whole graph; ShapeError (E411, at the layer) when a symbolic count
    grows past what `dims` tracks (only a symbolic input can make it)."""
    try:
        return module_cost(graph.root)
    except CostTooLarge as exc:
        raise too_large(graph, exc) from None


@dataclass(frozen=True)
class Footprint:
    """What compiling and running a graph would allocate, as plain integers.

    `activations` counts the output elements of every node for one sample (a symbolic batch
    dim set to 1), and the temporaries some layers materialise (`Op.scratch_numel`); it is
    None when another input dim is symbolic.
    """

    params: int
    buffers: int
    activations: int | None
    #: the node holding the most parameter and buffer elements: (module path, node, elements)
    largest: tuple[str, Node, int] | None

    def nbytes(self, itemsize: int = 4) -> int:
        """Bytes that building allocates for parameters and buffers with `itemsize`-byte
        elements (4: float32, PyTorch's default; a BatchNorm's int64 step counter is
        counted as one element, 4 bytes short per layer)."""
        return (self.params + self.buffers) * itemsize


def footprint(graph: Graph, batch: int = 1) -> Footprint:
    """Parameter, buffer and activation element counts, fast enough for every compile.

    Unlike `graph_cost` it does no symbolic arithmetic: shapes are evaluated to integers.

    >>> footprint(build_graph("lenet5")).params  # doctest: +SKIP
    61706
    """
    from ..ir import iter_nodes

    env: dict[str, int] = {}
    lead = graph.input_shape[0] if graph.input_shape else None
    if lead is not None and not lead.is_const and len(lead.symbols) == 1:
        env[next(iter(lead.symbols))] = batch
    params = buffers = 0
    activations: int | None = 0
    largest: tuple[str, Node, int] | None = None
    for path, node in iter_nodes(graph.root):
        if node.child is not None or node.shape is None:
            continue
        op = REGISTRY[node.kind]
        if node_style(node) != "function":
            p, b = op.params(node.attrs), op.buffers(node.attrs)
            params += p
            buffers += b
            if largest is None or p + b > largest[2]:
                largest = (path, node, p + b)
        if activations is not None:
            try:
                sizes = [d.evaluate(env) for d in node.shape]
            except KeyError:  # a symbol other than the batch: no figure
                activations = None
                continue
            if type(op).activation_numel is Op.activation_numel:  # the product, minus Dims
                numel = 1
                for size in sizes:
                    numel *= size
            else:
                numel = op.activation_numel(tuple(Dim.of(v) for v in sizes)).value
            if type(op).scratch_numel is not Op.scratch_numel:
                try:
                    ins = [tuple(Dim.of(d.evaluate(env)) for d in s) for s in node.in_shapes]
                except KeyError:
                    activations = None
                    continue
                out = tuple(Dim.of(v) for v in sizes)
                numel += op.scratch_numel(node.attrs, ins, out).value
            activations += numel
    return Footprint(params, buffers, activations, largest)
