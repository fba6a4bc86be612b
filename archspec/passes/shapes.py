"""Symbolic shape checking: every node's shape for any input size, and which sizes work.

Lowering computed shapes for the spec's declared input. This pass re-runs the same shape
rules (the ops' `infer`) over the IR with the input's spatial dims generalised to symbols
(`(N, 3, 224, 224)` -> `(N, 3, H, W)`), so each node's shape is an exact expression and each
rule's requirement becomes a constraint on H and W; `passes/domain.py` solves them into the
exact set of accepted inputs. A concrete input is checked by the same walk with numbers: the
first rule that fails names the first layer that breaks, at its line in the spec.

Layers that run only in training (`train_only`, and what reads them) do not narrow the domain:
it is what the network accepts in eval mode, as torchvision's `min_size` is. Their own
requirements give the training-mode domain, shown beside it when it is narrower, and an input
they cannot take is a warning (W404), not an error.

>>> result = check_graph(build_graph("vgg16"))  # doctest: +SKIP
>>> result.domain_text  # doctest: +SKIP
'vgg16 accepts (N, 3, H, W) with H, W >= 32'
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import field
from typing import Any

from ..dims import Dim, Shape, dtype_suffix, format_shape
from ..errors import Diagnostic, Severity, SourceSpan
from ..ir import INPUT, Graph, Module, Node
from ..lazymethods import dataclass
from ..ops import REGISTRY, Constraint, ShapeFailure
from ..ops.outputs import BLOCK_OUTPUT
from ..ops.shapectx import Message, RecordOnce
from .domain import Domain
from .family import family_memo
from .pathshapes import PathShapes, Tree, declared_path_shapes, tree_memo
from .positions import HINT as POSITIONS_HINT
from .positions import View, follow_positions, index_room
from .walkmemo import Kept, WalkMemo, replay, walk_key
from .windows import clean_subtrees, declared_warnings_and_tree, window_warning, windowed_kinds

#: The one shape formatter, under the name this module always gave it.
shape_text = format_shape


@dataclass(frozen=True)
class NodeShape:
    """One node's shapes, at its dotted path; `depth` 0 is the root module's nodes."""

    path: str
    node: Node
    depth: int
    in_shapes: tuple[Shape, ...]
    shape: Shape


@dataclass(frozen=True)
class LocatedConstraint:
    """A shape requirement, with the span of the node that made it."""

    constraint: Constraint
    span: SourceSpan | None
    #: made by a layer that runs only in training mode
    train_only: bool = False

    @property
    def path(self) -> str:
        return self.constraint.node

    def describe(self) -> str:
        """The rule's own message with the symbolic values filled in."""
        c = self.constraint
        b = str(c.rhs) if c.rhs is not None else ""
        return c.template.format(a=str(c.lhs), b=b, d=str(c.lhs))


@dataclass(frozen=True)
class ShapeTable:
    """Shapes of every node for one input, parents before children (registration order)."""

    input_shape: Shape
    #: a tuple, or the declared input's rows as `DeclaredRows` reads them from the IR
    rows: Sequence[NodeShape]
    outputs: tuple[Shape, ...]
    constraints: tuple[LocatedConstraint, ...]
    failure: Diagnostic | None = None
    #: the first training-only layer that fails at this input (it and its readers have no
    #: row); eval mode is unaffected
    train_failure: Diagnostic | None = None

    def shape_of(self, path: str) -> Shape:
        for row in self.rows:
            if row.path == path:
                return row.shape
        raise KeyError(path)


class _Collect(RecordOnce):
    """Records constraints with their node's span as the walk visits each node, each once.

    A stage's extent is required positive by every layer that reads it (a ResNet's 56x56
    stage by each of its convs): a requirement equal to one already made, in the same mode
    (eval or training only), adds nothing to the domain or to which requirement first
    empties it, both of which take the first one. So only the first is kept, as the solver
    would keep it (`domain._Solve.add`), and the others are not even made.
    """

    def __init__(self, either_or: bool = True) -> None:
        super().__init__()
        #: False: a join where one side may be 1 fails as ambiguous (the emitter's class
        #: walks: a shape that holds either way may still be a number one instance's
        #: argument gives, which a class shared by instances must not write)
        self.either_or = either_or
        self.located: list[LocatedConstraint] = []
        self.span: SourceSpan | None = None
        self.train = False
        self.train_failure: Diagnostic | None = None
        self.memo = WalkMemo(family_memo("walks") if either_or else None)
        #: this walk, as the kept child walks name it (passes/walkmemo.py)
        self.walk = object()
        #: the once-keys of requirements made again, in order; whether a rule read the
        #: requirements in force (a kept walk says both: another walk may replay it)
        self.rejected: list[tuple[object, ...]] = []
        self.forced = False

    def record_either_or(self, c: Constraint) -> None:
        if not self.either_or:
            raise ShapeFailure(c.code, f"{c.lhs} against {c.rhs}: equal, or broadcast", c.hint)
        super().record_either_or(c)

    def once_key(self, kind: str, lhs: Dim, rhs: Dim | None) -> tuple[object, ...]:
        """Equal requirements in the same mode (eval, or training only) are one."""
        return (kind, lhs, rhs, self.train)

    def wants(self, kind: str, lhs: Dim, rhs: Dim | None) -> bool:
        key = self.once_key(kind, lhs, rhs)
        if key in self.seen:
            self.rejected.append(key)
            return False
        self.seen.add(key)
        return True

    def in_force(self) -> list[Constraint]:
        """A training-only layer's requirements do not hold for eval mode's nodes."""
        self.forced = True
        if self.train:
            return self.constraints
        located = self.located
        return [
            c
            for i, c in enumerate(self.constraints)
            if i >= len(located) or not located[i].train_only
        ]

    follows_training = True

    def require_in_training(self, d: Dim, message: Message, hint: str) -> None:
        """`d >= 1` kept as a training-only requirement (the training-mode domain); a
        number below 1 is the walk's training failure (W404), not an error."""
        d = Dim.of(d)
        if d.is_const:
            if d.value < 1 and self.train_failure is None:
                text = message() if callable(message) else message
                self.train_failure = Diagnostic(
                    "W404",
                    f"in training mode, {self.node}: {text}",
                    self.span,
                    hint,
                    Severity.WARNING,
                )
            return
        train, self.train = self.train, True
        try:  # made and flushed as a training-only layer's requirement is
            self._flush()
            self.require_positive(d, "E405", message, hint)
            self._flush()
        finally:
            self.train = train

    def _flush(self) -> None:
        for c in self.constraints[len(self.located) :]:
            self.located.append(LocatedConstraint(c, self.span, self.train))


class _Broken(Exception):
    def __init__(self, diagnostic: Diagnostic) -> None:
        super().__init__(diagnostic.message)
        self.diagnostic = diagnostic


def infer_shapes(
    graph: Graph,
    input_shape: Sequence[int | str | Dim],
    *,
    rows: bool = True,
    more: Sequence[Shape] = (),
    either_or: bool = True,
) -> ShapeTable:
    """Run every node's shape rule for this input (numbers, symbols or both); `more`: the
    shapes of the root's inputs after the first, for a block's module (`Module.extra_inputs`).

    Symbolic requirements are collected as constraints; a requirement that fails outright
    stops the walk with `failure` set (a diagnostic at the node's line), keeping the rows
    computed before it. A training-only layer that fails sets `train_failure` instead, and
    the walk goes on without it and its readers. `either_or` False fails a join where one
    side may be 1 (as `_Collect` says why).
    """
    inp = tuple(Dim.of(d) for d in input_shape)
    ctx = _Collect(either_or)
    made: list[NodeShape] | None = [] if rows else None
    failure = None
    outputs: tuple[Shape, ...] = ()
    try:
        walked = _walk(graph.root, inp, "", 0, ctx, made, False, tuple(more))
        outputs = tuple(s for s in walked if s is not None)
    except _Broken as exc:
        failure = exc.diagnostic
    located = tuple(ctx.located)
    return ShapeTable(inp, tuple(made or ()), outputs, located, failure, ctx.train_failure)


def declared_shapes(graph: Graph) -> ShapeTable:
    """The table for the declared input, read from the IR (lowering computed it already)."""
    outputs = tuple(s for s in graph.output_shapes if s is not None)
    return ShapeTable(graph.input_shape, DeclaredRows(graph.root), outputs, ())


class DeclaredRows(Sequence[NodeShape]):
    """The declared input's rows, made from the IR the first time they are read: `check`
    of a declared input reads each node's shape by its path, and its window lint walks the
    IR itself (`root`), so it makes no row."""

    __slots__ = ("_root", "_rows", "_tree")
    __hash__ = None  # type: ignore[assignment]  # equal to a tuple of the same rows

    def __init__(self, root: Module) -> None:
        self._root = root
        self._rows: tuple[NodeShape, ...] | None = None
        #: the names and shapes under root, when the window lint made them (`shapes`)
        self._tree: Tree | None = None

    def _all(self) -> tuple[NodeShape, ...]:
        if self._rows is None:
            rows: list[NodeShape] = []
            _declared_rows(self._root, "", 0, rows)
            self._rows = tuple(rows)
        return self._rows

    def __len__(self) -> int:
        return len(self._all())

    def __getitem__(self, index: Any) -> Any:
        return self._all()[index]

    def __iter__(self) -> Iterator[NodeShape]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DeclaredRows):
            other = other._all()
        return isinstance(other, tuple) and self._all() == other

    def __repr__(self) -> str:
        return repr(self._all())

    def shapes(self) -> Mapping[str, Shape]:
        """Each node's shape by its path (its row's), read from the IR without the rows and
        written out when read (passes/pathshapes.py)."""
        if self._rows is not None:
            return {r.path: r.shape for r in self._rows}
        if self._tree is not None:  # the window lint walked the IR for it already
            return PathShapes(self._tree)
        return declared_path_shapes(self._root)

    def lint_windows(self, windows: Mapping[str, int], out: list[Diagnostic]) -> None:
        """W402 of the layers under root into `out` (`window_warnings`), and the tree of
        their names and shapes that `shapes` reads, made in the same walk of the IR."""
        clean, trees = clean_subtrees(windows), tree_memo()
        self._tree = declared_warnings_and_tree(
            self._root,
            "",
            windows,
            out,
            {} if clean is None else clean,
            {} if trees is None else trees,
        )

    @property
    def root(self) -> Module:
        """The module the rows are read from."""
        return self._root


def _declared_rows(module: Module, prefix: str, depth: int, rows: list[NodeShape]) -> None:
    """Append the rows of `module`'s nodes and their children's, in module order (a module
    function, not a closure: a recursive closure is a reference cycle, which would keep the
    whole graph alive until the next full collection)."""
    dot = prefix + "." if prefix else ""
    for node in module.nodes:
        path = dot + node.name
        assert node.shape is not None  # a lowered graph has every shape
        rows.append(_row(path, node, depth, tuple(node.in_shapes), node.shape))
        if node.child is not None:
            _declared_rows(node.child, path, depth + 1, rows)


def _walk(
    module: Module,
    inp: Shape,
    prefix: str,
    depth: int,
    ctx: _Collect,
    rows: list[NodeShape] | None,
    train: bool = False,
    more: tuple[Shape, ...] = (),
) -> tuple[Shape | None, ...]:
    """The module's output shapes; None for a training-only one that failed (`ctx`);
    `more`: the shapes of a block's inputs after the first (`Module.extra_inputs`)."""
    env: dict[str, Shape | None] = {INPUT: inp}
    several: dict[str, tuple[Shape | None, ...]] = {}
    views: dict[str, View] | None = None  # position ids (passes/positions.py), once any
    if more:
        env.update(zip(module.extra_inputs, more))
    dot = prefix + "." if prefix else ""
    for node in module.nodes:
        inputs = node.inputs
        if len(inputs) == 1:  # most nodes read one
            one = env[inputs[0]]
            ins = None if one is None else (one,)
        else:
            ins = tuple(map(env.__getitem__, inputs))  # (no comprehension's frame per node)
            if None in ins:  # a shape is a tuple, never equal to None
                ins = None
        shape: Shape | None = None
        if ins is not None:
            node_train = train or node.train_only or node.pass_in_eval
            if node.child is not None:
                shape = _walk_child(node, dot + node.name, ins, depth, ctx, rows, node_train)
            elif node.kind == BLOCK_OUTPUT:  # one output of the block instance it reads
                shape = several[inputs[0]][node.attrs["_index"]]
                ins = (shape,) if shape is not None else None
                if rows is not None and ins is not None:
                    rows.append(_row(dot + node.name, node, depth, ins, shape))
            else:
                room = None if views is None else index_room(node, views, ins)
                shape = _walk_node(node, dot + node.name, ins, depth, ctx, rows, node_train, room)
                if shape is not None and (views is not None or node.kind == "buffer"):
                    views = follow_positions(node, views, ins, shape)
        if type(shape) is _Several:  # a block instance of several outputs: their shapes
            several[node.name] = shape.shapes
            shape = shape.shapes[0]
        env[node.name] = shape
    outputs = module.outputs
    if len(outputs) == 1:  # most modules have one (a comprehension is a call per module)
        return (env[outputs[0].name],)
    return tuple([env[o.name] for o in outputs])


def _row(
    path: str, node: Node, depth: int, in_shapes: tuple[Shape, ...], shape: Shape
) -> NodeShape:
    """A NodeShape without the frozen dataclass's __init__ (a row per node per walk)."""
    row = object.__new__(NodeShape)
    row.__dict__.update(path=path, node=node, depth=depth, in_shapes=in_shapes, shape=shape)
    return row


def _walk_node(
    node: Node,
    path: str,
    ins: tuple[Shape, ...],
    depth: int,
    ctx: _Collect,
    rows: list[NodeShape] | None,
    train: bool,
    room: tuple[Dim, str] | None = None,
) -> Shape | None:
    """One layer's shape, its row added; None when a training-only layer fails, which is
    recorded in `ctx` and leaves no row. `room`: a lookup's of position ids
    (positions.index_room), which must be at least 1."""
    ctx.node, ctx.span, ctx.train = path, node.span, train
    made = len(ctx.constraints)
    try:
        shape = REGISTRY[node.kind].infer(dict(node.attrs), ins, ctx).shape
        if room is not None:
            ctx.require_positive(room[0], "E409", room[1], POSITIONS_HINT)
    except ShapeFailure as exc:
        diagnostic = Diagnostic(exc.code, f"{path}: {exc.message}", node.span, exc.hint)
        if not train:
            raise _Broken(diagnostic) from None
        ctx.train_failure = ctx.train_failure or diagnostic
        return None
    finally:
        if len(ctx.constraints) != made:
            ctx._flush()
    if rows is not None:
        rows.append(_row(path, node, depth, ins, shape))
    return shape


def _walk_child(
    node: Node,
    path: str,
    ins: tuple[Shape, ...],
    depth: int,
    ctx: _Collect,
    rows: list[NodeShape] | None,
    train: bool,
) -> Shape | None:
    """A child module's shape and rows: a block instance like one walked before is replayed
    (passes/walkmemo.py), any other walked and, when clean, kept."""
    child = node.child
    assert child is not None
    key = walk_key(child, train, rows is not None) if ctx.train_failure is None else None
    # a block of several inputs is walked again for another shape of any of them
    walked_in = ins if child.input_names else ins[0]
    kept = ctx.memo.find(key, child, walked_in, ctx) if key in ctx.memo.kept else None
    if kept is not None:
        if rows is not None:
            rows.append(_row(path, node, depth, ins, _first(kept.shape)))
        replay(kept, child, path, depth + 1, ctx, rows)
        return kept.shape
    slot, made, again, forced = len(rows or ()), len(ctx.located), len(ctx.rejected), ctx.forced
    if rows is not None:  # the child's own row comes before its nodes' rows
        rows.append(_row(path, node, depth, ins, ()))
    ctx.forced = False
    walked = _walk(child, ins[0], path, depth + 1, ctx, rows, train, ins[1:])
    read, ctx.forced = ctx.forced, forced or ctx.forced
    if walked[0] is None:
        if rows is not None:
            del rows[slot:]
        return None
    if rows is not None:
        rows[slot] = _row(path, node, depth, ins, walked[0])
    # a block of several outputs: all their shapes, for its `block_output` nodes (_walk)
    shape = walked[0] if len(walked) == 1 else _Several(walked)
    if key is not None and ctx.train_failure is None:
        inner = tuple(rows[slot + 1 :]) if rows is not None else ()
        located = tuple(ctx.located[made:])
        again_made = tuple(ctx.rejected[again:])
        kept = Kept(
            child, path, depth + 1, shape, inner, located, again_made, ctx.walk, read, walked_in
        )
        ctx.memo.keep(key, kept)
    return shape


class _Several:
    """The output shapes of a block instance of several outputs, as `_walk_child` gives
    them to `_walk` (which reads them for the instance's `block_output` nodes) and the
    walk memo keeps them (`Kept.shape`)."""

    __slots__ = ("shapes",)

    def __init__(self, shapes: tuple[Shape | None, ...]) -> None:
        self.shapes = shapes


def _first(shape: Any) -> Shape:
    """A child module's row's shape: its first output's (`_Several`) or its only one."""
    return shape.shapes[0] if type(shape) is _Several else shape  # type: ignore[no-any-return]


# --------------------------------------------------------------------------------------
# Checking a graph: the result object of `archspec.check`.


@dataclass(frozen=True)
class CheckResult:
    """What `archspec.check` found: shapes, the accepted inputs, and diagnostics."""

    name: str
    file: str
    input_shape: Shape | None = None
    symbolic_input: Shape | None = None
    shapes: Mapping[str, Shape] = field(default_factory=dict)
    outputs: tuple[Shape, ...] = ()
    symbolic_outputs: tuple[Shape, ...] = ()
    domain: Domain | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    sources: Mapping[str, str] = field(default_factory=dict)
    #: the inputs training mode accepts, when layers that run only in training narrow
    #: `domain` (the eval-mode inputs); else None
    train_domain: Domain | None = None
    #: the input's dtype (`input_dtype:`): "float32", or "int64" for token ids
    input_dtype: str = "float32"
    #: a network of several inputs (`inputs:`): their names, the shapes checked and the
    #: symbolic shapes of those after the first (`input_shape`, `symbolic_input`), and every
    #: input's dtype; empty for a network of one
    input_names: tuple[str, ...] = ()
    more_inputs: tuple[Shape, ...] = ()
    more_symbolic: tuple[Shape, ...] = ()
    input_dtypes: tuple[str, ...] = ()

    def inputs_text(self, symbolic: bool = True) -> str:
        """The input as a sentence names it: `(N, 3, H, W)`, or for a network of several
        each by name, `z (N, 100), label (N) int64`."""
        first = self.symbolic_input if symbolic else self.input_shape
        if not self.input_names:
            return format_shape(first or ()) + dtype_suffix(self.input_dtype)
        return ", ".join(f"{name} {text}" for name, text in self.input_texts(symbolic))

    def input_texts(self, symbolic: bool = True) -> list[tuple[str, str]]:
        """(name, shape and dtype) of each input of a network of several."""
        first = self.symbolic_input if symbolic else self.input_shape
        shapes = (first or (), *(self.more_symbolic if symbolic else self.more_inputs))
        return [
            (name, format_shape(shape) + dtype_suffix(dtype))
            for name, shape, dtype in zip(self.input_names, shapes, self.input_dtypes)
        ]

    @property
    def ok(self) -> bool:
        """True when nothing is an error (warnings are allowed)."""
        return not self.errors

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]

    @property
    def domain_text(self) -> str:
        """`vgg16 accepts (N, 3, H, W) with H, W >= 32`."""
        if self.domain is None or self.symbolic_input is None:
            return f"{self.name}: the accepted inputs are unknown"
        words = self.domain.describe()
        template = self.inputs_text()
        if self.domain.is_empty:
            return f"{self.name} accepts no input of the form {template}"
        text = f"{self.name} accepts {template}" + (f" with {words}" if words != "any size" else "")
        if self.train_domain is not None:
            text += f" (in training mode, {self.train_domain.describe()})"
        return text

    def render(self, color: bool = False) -> str:
        """Every diagnostic, compiler-style."""
        return "\n".join(d.render(dict(self.sources), color) for d in self.diagnostics)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (shapes as strings) for JSON output."""
        return {
            "name": self.name,
            "file": self.file,
            "ok": self.ok,
            "input": format_shape(self.input_shape) if self.input_shape else None,
            **({} if self.input_dtype == "float32" else {"input_dtype": self.input_dtype}),
            "outputs": [format_shape(s) for s in self.outputs],
            "symbolic_input": format_shape(self.symbolic_input) if self.symbolic_input else None,
            "symbolic_outputs": [format_shape(s) for s in self.symbolic_outputs],
            **({"inputs": self._inputs_dict()} if self.input_names else {}),
            "domain": self.domain_text if self.domain is not None else None,
            "shapes": {p: format_shape(s) for p, s in self.shapes.items()},
            "diagnostics": [d.to_dict() for d in self.diagnostics],
        }

    def _inputs_dict(self) -> dict[str, Any]:
        """Each input of a network of several by name: shape checked, symbolic, dtype."""
        given = (self.input_shape or (), *self.more_inputs)
        symbolic = (self.symbolic_input or (), *self.more_symbolic)
        return {
            name: {"shape": format_shape(a), "symbolic": format_shape(b), "dtype": dtype}
            for name, a, b, dtype in zip(self.input_names, given, symbolic, self.input_dtypes)
        }


def check_graph(graph: Graph, input_shape: Sequence[int] | None = None) -> CheckResult:
    """Shape-check a lowered graph for every input size, and for `input_shape` if given.

    The input checked is `input_shape`, else the declared input; its first broken layer is
    an error whose hint says which inputs would work. The passes that do it run in order in
    `passes/pipeline.py` (RULES); this is their result in the form `archspec.check` returns.
    """
    from .pipeline import analyse

    return analyse(graph, input_shape).check_result()


def window_warnings(table: ShapeTable) -> list[Diagnostic]:
    """W402: a conv or pool that reduces a dim to 1 with a window larger than its input
    (passes/windows.py); for the declared input, read from the IR with no row made."""
    windows = windowed_kinds()
    rows = table.rows
    out: list[Diagnostic] = []
    if isinstance(rows, DeclaredRows):
        rows.lint_windows(windows, out)
        return out
    for row in rows:
        nd = windows.get(row.node.kind)
        if nd is not None and row.node.child is None:
            found = window_warning(row.path, row.node, row.in_shapes, row.shape, nd)
            if found is not None:
                out.append(found)
    return out
