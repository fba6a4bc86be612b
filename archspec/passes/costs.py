"""Parameter, MAC and activation counts from the IR, before any tensor exists.

MACs follow the usual convention: a conv's are C_out * H_out * W_out * C_in/groups * k_h * k_w
per sample, a linear's in * out per row; other layers count zero. Counts include the batch
dim N, so they are symbolic in N (and in H, W when the input is symbolic).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..dims import Dim, ExpressionTooLarge, Shape, evaluate_shape, total
from ..errors import ShapeError
from ..inputlayout import batch_symbols
from ..ir import Graph, Module, Node
from ..lazymethods import dataclass
from ..ops import REGISTRY, Op, node_style
from ..ops.base import TOO_LARGE_HINT
from ..ops.guard import is_foreign
from .family import family_memo


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
    op = REGISTRY[node.kind]
    try:
        acts = op.activation_numel(node.shape)
        if op.reads_nodes:  # a reuse: its call's layers, as a child module's are counted
            acts += op.scratch_numel(node.attrs, node.in_shapes, node.shape)
        return Cost(params, macs, acts)
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


def connections(node: Node, in_shapes: Sequence[Shape], shape: Shape, batch: Dim) -> Dim:
    """Connections per sample of one layer, as LeCun et al. (1998) count them: the op's count
    of the whole input divided by the network's `batch` (its symbol set to 1: `N` of
    `(L, N, 32)` too, which a layer's output does not hold first). CostTooLarge past MAX_SIZE."""
    try:
        total = Dim.of(REGISTRY[node.kind].connections(node.attrs, in_shapes, shape))
        if batch.is_const:
            return total.floordiv(max(1, batch.value))
        return total.subs({s: 1 for s in batch.symbols})
    except ExpressionTooLarge as exc:
        raise CostTooLarge(node, exc) from None


class ParamCounter:
    """A module's parameter count, its children included (what `node_cost` counts, without
    the MACs), for many modules of one graph: `shard_unit_paths` weighs a training unit by
    it, the root and every unit. Each subtree is counted once: a copy of one
    (`Module.copy_of`) and a module asked for again read what it added, so the questions
    cost one walk of the graph's distinct subtrees, not one walk each. A class, not a
    recursive closure: that would be a reference cycle keeping the graph alive until the
    next full collection."""

    def __init__(self) -> None:
        #: by id of a module counted (the original of a copy): it, and its parameter count
        self.counted: dict[int, tuple[Module, int]] = {}

    def __call__(self, module: Module) -> int:
        origin = module.copy_of or module
        kept = self.counted.get(id(origin))
        if kept is not None and kept[0] is origin:
            return kept[1]
        count = 0
        for node in module.nodes:
            if node.child is not None:
                count += self(node.child)
            elif node.shape is not None and node_style(node) != "function":
                count += REGISTRY[node.kind].params(node.attrs)
        self.counted[id(origin)] = (origin, count)
        return count


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
        cost = module_cost(graph.root)
    except CostTooLarge as exc:
        raise too_large(graph, exc) from None
    if not graph.tied:
        return cost
    # a tensor held under two names (`tied:`) is one parameter, as torch counts it
    return Cost(cost.params - sum(t.numel for t in graph.tied), cost.macs, cost.activations)


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

    Unlike `graph_cost` it does no symbolic arithmetic: shapes are evaluated to integers
    (the batch symbol set to `batch`), each kind's facts are looked up once, and a node's
    path is only written for the node that holds the most.

    >>> footprint(build_graph("lenet5")).params  # doctest: +SKIP
    61706
    """
    env: dict[str, int] = {}
    symbols = batch_symbols(graph.input_shape or ())
    if len(symbols) == 1:
        env[next(iter(symbols))] = batch
    walk = _FootprintWalk(env)
    walk.module(graph.root, "")
    largest = None
    if walk.largest is not None:
        prefix, node, held = walk.largest
        largest = (f"{prefix}.{node.name}" if prefix else node.name, node, held)
    params = walk.params - sum(t.numel for t in graph.tied)  # a tied tensor is one
    return Footprint(params, walk.buffers, walk.activations, largest)


#: What the layers under a module hold: it, the path they were counted at, parameter and
#: buffer elements, activation elements (None: a symbol is left) and the heaviest layer
#: (module path, node, elements: the first of those holding the most), or None.
_Subtree = tuple[Module, str, int, int, int | None, tuple[str, Node, int] | None]


class _FootprintWalk:
    """The running totals of one `footprint` (a class, not a recursive closure: that would
    be a reference cycle keeping the graph alive until the next full collection).

    The copies of one block instance (lowering/memo.py) are counted once: a subtree's
    counts are kept under the module it copies (`Module.copy_of`), for the graph and, when
    the variants of a family are checked together, for the others (passes/family.py).
    """

    def __init__(self, env: dict[str, int]) -> None:
        self.env = env
        self.params = self.buffers = 0
        self.activations: int | None = 0
        #: (the node's module path, node, elements) of the node holding the most
        self.largest: tuple[str, Node, int] | None = None
        #: kind -> its facts (`_facts`)
        self.facts: dict[str, tuple[Op, Any, Any, bool, bool, bool]] = {}
        #: by id of a shape: it, and its sizes and their product (`sized`)
        self.sizes: dict[int, tuple[Shape, tuple[list[int], int] | None]] = {}
        #: by id of a shape: it, and it with the batch bound (`bound_shape`)
        self.bound_shapes: dict[int, tuple[Shape, Shape]] = {}
        #: by id of a module walked (the original of a copy, `Module.copy_of`): it, the
        #: path it was counted at, what its subtree added to the params, the buffers and
        #: the activations, and its heaviest layer; the family's for this batch bound
        #: (passes/family.py), when its activations were known before it
        self.subtrees: dict[int, _Subtree] = {}
        family = family_memo("footprint")
        self.family: dict[int, _Subtree] | None = (
            None if family is None else family.setdefault(tuple(env.items()), {})
        )

    def module(self, module: Module, prefix: str) -> None:
        """Add the counts of the layers under `module`. A copy of a subtree walked before
        adds what that one added, and its heaviest layer at this path when it holds more
        than the heaviest so far (the first of equals is the one named)."""
        origin = module.copy_of or module
        seen = self.subtrees.get(id(origin))
        if seen is None and self.family is not None:
            seen = self.family.get(id(origin))
        if seen is not None and seen[0] is origin:
            self.params += seen[2]
            self.buffers += seen[3]
            if self.activations is not None:
                self.activations = None if seen[4] is None else self.activations + seen[4]
            held = seen[5]
            if held is not None and (self.largest is None or held[2] > self.largest[2]):
                self.largest = (prefix + held[0][len(seen[1]) :], held[1], held[2])
            return
        params, buffers, activations, largest = (
            self.params,
            self.buffers,
            self.activations,
            self.largest,
        )
        self.largest = None
        self._nodes(module, prefix)
        held = self.largest
        if held is None or (largest is not None and held[2] <= largest[2]):
            self.largest = largest
        added = (
            None
            if activations is None or self.activations is None
            else self.activations - activations
        )
        sub = (origin, prefix, self.params - params, self.buffers - buffers, added, held)
        self.subtrees[id(origin)] = sub
        if self.family is not None and activations is not None:  # its activations known
            self.family[id(origin)] = sub

    def _nodes(self, module: Module, prefix: str) -> None:
        """Add the counts of `module`'s own layers, and walk its children. One loop with the
        kind's facts at hand (`_facts`): it runs for every layer that is not a copy."""
        facts_of, sizes = self.facts, self.sizes
        for node in module.nodes:
            child = node.child
            if child is not None:
                self.module(child, f"{prefix}.{node.name}" if prefix else node.name)
                continue
            shape = node.shape
            if shape is None:
                continue
            facts = facts_of.get(node.kind)
            if facts is None:
                facts = self._facts(node.kind)
            op, params, buffers, plain, scratch, tensor = facts
            if node.is_module or tensor:  # as `node_style(node) != "function"`
                p = 0 if params is None else params(node.attrs)
                b = 0 if buffers is None else buffers(node.attrs)
                self.params += p
                self.buffers += b
                if self.largest is None or p + b > self.largest[2]:
                    self.largest = (prefix, node, p + b)
            if self.activations is None:  # an earlier layer left a symbol: no total
                continue
            kept = sizes.get(id(shape))
            sized = kept[1] if kept is not None and kept[0] is shape else self.sized(shape)
            if sized is None:  # a symbol other than the batch: no figure
                self.activations = None
                continue
            numel = sized[1] if plain else op.activation_numel(self.bound_shape(shape)).value
            if scratch and (scratch is True or not scratch(node.attrs)):
                more = self.scratch(op, node, shape)
                if more is None:
                    self.activations = None
                    continue
                numel += more
            self.activations += numel

    def _facts(self, kind: str) -> tuple[Op, Any, Any, bool, Any, bool]:
        """A kind's facts, looked up once per walk: its op, its `params` and `buffers`
        (None: it holds nothing, Op's own), whether its activations are the product of its
        shape, whether it has scratch, whether it is a learned tensor (it holds its
        elements even when not a module)."""
        op = REGISTRY[kind]
        cls = type(op)
        found = self.facts[kind] = (
            op,
            None if cls.params is Op.params else op.params,
            None if cls.buffers is Op.buffers else op.buffers,
            cls.activation_numel is Op.activation_numel,
            # scratch: False, or True, or a built-in kind's `_no_scratch(attrs)`, which says
            # without the shapes that a node has none (a conv padding with zeros); a plugin's
            # class (a subclass of a built-in one included) is asked for its scratch
            ((None if is_foreign(op) else getattr(op, "_no_scratch", None)) or True)
            if cls.scratch_numel is not Op.scratch_numel
            else False,
            op.style == "tensor",
        )
        return found

    def scratch(self, op: Op, node: Node, shape: Shape) -> int | None:
        """A layer's temporaries (`Op.scratch_numel`) at its shapes with the batch bound;
        None when an input has a symbol other than the batch."""
        ins = []
        for s in node.in_shapes:
            if self.sized(s) is None:
                return None
            ins.append(self.bound_shape(s))
        return op.scratch_numel(node.attrs, ins, self.bound_shape(shape)).value  # type: ignore[no-any-return]

    def bound_shape(self, shape: Shape) -> Shape:
        """The shape with the batch bound (its sizes known: `sized`): a dim without symbols
        is its own value, only the others are made again; kept by the shape's id."""
        kept = self.bound_shapes.get(id(shape))
        if kept is not None and kept[0] is shape:
            return kept[1]
        sizes = self.sized(shape)
        assert sizes is not None
        out = tuple([d if d.is_const else Dim.of(v) for d, v in zip(shape, sizes[0])])
        self.bound_shapes[id(shape)] = (shape, out)
        return out

    def sized(self, shape: Shape) -> tuple[list[int], int] | None:
        """The shape's sizes and their product with the batch bound, None when another
        symbol is left; kept by the shape's id (a layer's output is often the next one's,
        the very same tuple: a conv's, read by its norm and its activation)."""
        kept = self.sizes.get(id(shape))
        if kept is not None and kept[0] is shape:
            return kept[1]
        try:
            sizes = evaluate_shape(shape, self.env)
        except KeyError:
            found = None
        else:
            numel = 1
            for size in sizes:
                numel *= size
            found = (sizes, numel)
        self.sizes[id(shape)] = (shape, found)
        return found
