"""The passes over a lowered graph, in one ordered tuple: one checked result for every command.

`RULES` is the pipeline, as sqlglot's optimizer lists its rules: plain functions, each taking
the `Analysis` so far and returning a new one (nothing edits the frozen IR or an earlier
analysis). Each command runs the passes it needs and no pass twice:

* `build_graph` (and with it `compile`, `emit`, `graph`) stops after `verify_graph`: the IR
  already holds every shape at the declared input;
* `compile` of a spec with a symbolic input goes on through `input_shapes`, to refuse a graph
  that no input can run (E410);
* `summary` without an input stops after `symbolic_shapes`; `check` and `summary` at an input
  run every pass.

>>> analysis = analyse(build_graph("vgg16"))  # doctest: +SKIP
>>> analysis.check_result().domain_text  # doctest: +SKIP
'vgg16 accepts (N, 3, H, W) with H, W >= 32'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import field

from ..dims import Dim, Shape, format_shape
from ..errors import Diagnostic, Severity, ShapeError
from ..inputlayout import channel_dim, size_dims
from ..ir import Graph, replaced
from ..lazymethods import dataclass
from .domain import Domain
from .inputdomain import (
    SymbolicInput,
    first_impossible,
    generalise_inputs,
    input_domain,
    training_domain,
)
from .shapes import (
    CheckResult,
    DeclaredRows,
    LocatedConstraint,
    NodeShape,
    ShapeTable,
    declared_shapes,
    infer_shapes,
    window_warnings,
)
from .verify import verify


@dataclass(frozen=True)
class Analysis:
    """What the passes know of one lowered graph, for one input (None: the declared one)."""

    graph: Graph
    input: tuple[int, ...] | None = None
    #: a network of several inputs (`inputs:`): the shapes of those after `input`, given too
    more_input: tuple[tuple[int, ...], ...] = ()
    #: names of the passes run so far, in order
    done: tuple[str, ...] = ()
    #: the input with its batch and spatial dims as symbols, and every shape for it (the
    #: table's rows only when `symbolic_rows`, or when `input_shapes` reads them)
    symbolic: SymbolicInput | None = None
    general: ShapeTable | None = None
    #: keep every node's row of the symbolic walk (a summary shows them; `check` reads the
    #: requirements, the outputs and the table of the input checked)
    symbolic_rows: bool = True
    #: the declared input's sizes by symbol, and whether every spatial size is declared
    declared_env: Mapping[str, int] = field(default_factory=dict)
    sizes_declared: bool = False
    #: the accepted inputs in eval mode (None: the rules could not run on symbols), and in
    #: training mode when layers that run only then narrow them (else None)
    domain: Domain | None = None
    train_domain: Domain | None = None
    #: the shapes at the input checked, and its sizes by symbol (None: symbolic)
    table: ShapeTable | None = None
    env: Mapping[str, int] | None = None
    #: the input does not fit the graph at all (E407): no later pass has anything to check
    mismatch: Diagnostic | None = None
    diagnostics: tuple[Diagnostic, ...] = ()

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    def check_result(self) -> CheckResult:
        """The analysis as `archspec.check` returns it (run through `input_shapes` first)."""
        graph, sym, general = self.graph, self.symbolic, self.general
        assert sym is not None and general is not None, "run the passes first"
        base = dict(
            name=graph.name,
            file=graph.file,
            symbolic_input=sym.shape,
            symbolic_outputs=_on_domain(general.outputs, self.domain)
            if general.failure is None
            else (),
            domain=self.domain,
            train_domain=self.train_domain,
            input_dtype=graph.input_dtype,
            input_names=graph.root.input_names,
            more_symbolic=sym.more,
            input_dtypes=graph.input_dtypes if graph.inputs else (),
            sources=dict(graph.sources),
            diagnostics=self.diagnostics,
        )
        if self.mismatch is not None or self.table is None:
            given = tuple(Dim.of(d) for d in self.input or ())
            if graph.inputs:  # several: the declared shapes (`_input_mismatch` says which)
                given, more = graph.input_shape, graph.input_shapes[1:]
                return CheckResult(input_shape=given, more_inputs=more, **base)  # type: ignore[arg-type]
            return CheckResult(input_shape=given, **base)  # type: ignore[arg-type]
        table = self.table
        more = graph.input_shapes[1:]
        if self.input is not None:  # the shapes given
            more = tuple(tuple(map(Dim.of, shape)) for shape in self.more_input)
        elif table is general:  # no size declared: the symbolic walk's
            more = sym.more
        return CheckResult(
            input_shape=table.input_shape,
            more_inputs=more,
            shapes=_by_path(table.rows),
            outputs=_on_domain(table.outputs, self.domain) if table.failure is None else (),
            **base,  # type: ignore[arg-type]
        )


def _by_path(rows: Sequence[NodeShape]) -> Mapping[str, Shape]:
    """Each row's shape by its path; the declared ones straight from the IR (no row made),
    written out when read (passes/pathshapes.py: `check`'s text reads none). Neither keeps
    the graph alive with the result (the CLI keeps the results of all its specs)."""
    if isinstance(rows, DeclaredRows):
        return rows.shapes()
    return {r.path: r.shape for r in rows}


def _on_domain(shapes: tuple[Shape, ...], domain: Domain | None) -> tuple[Shape, ...]:
    """Output shapes as they read on the accepted inputs (a U-Net's `16*(H//16)` is `H`
    where H must be a multiple of 16)."""
    if domain is None:
        return shapes
    return tuple(tuple(domain.simplify(d) for d in s) for s in shapes)


Pass = Callable[[Analysis], Analysis]


def verify_graph(a: Analysis) -> Analysis:
    """The graph lint (passes/verify.py): SpecError on a broken graph, W401 warnings kept.

    >>> verify_graph(Analysis(lowered)).graph.diagnostics  # doctest: +SKIP
    """
    return replaced(a, graph=verify(a.graph))


def symbolic_shapes(a: Analysis) -> Analysis:
    """Every node's shape with the input's batch and spatial dims as symbols.

    >>> symbolic_shapes(a).general.outputs  # doctest: +SKIP
    ((N, 1000),)
    """
    sym = generalise_inputs(a.graph.input_shapes)
    # `input_shapes` takes these rows for an input whose sizes are not all declared
    rows = a.symbolic_rows or (a.input is None and not _sizes_declared(a.graph))
    general = infer_shapes(a.graph, sym.shape, rows=rows, more=sym.more)
    return replaced(a, symbolic=sym, general=general)


def _sizes_declared(graph: Graph) -> bool:
    """Whether the declared inputs give every spatial size (as `accepted_inputs` finds)."""
    return all(
        shape[i].is_const and shape[i].value > 0
        for shape in graph.input_shapes
        for i in size_dims(shape)
    )


def _some_size_declared(graph: Graph) -> bool:
    """Whether the declared input gives a spatial size as a number (a text recogniser's
    height, `[N, 1, 32, W]`), which its shapes keep."""
    return any(shape[i].is_const for shape in graph.input_shapes for i in size_dims(shape))


def _tokens_note(declared: Shape, failure: Diagnostic) -> str:
    """What W403's hint says first where a declared `(N, 20, 32)` of numbers, read as
    (N, C, L), fails where a layer needs its last dim as features (an attention, a
    recurrent layer, a layer norm: 'needs a known D', E406): tokens name their count."""
    rank3 = len(declared) == 3 and declared[1].is_const and declared[2].is_const
    if not rank3 or failure.code != "E406":
        return ""
    return (
        f"`input: [{', '.join(map(str, declared))}]` reads as (N, C, L), {declared[1]} channels of "
        f"length L; tokens of {declared[2]} features write their count as a symbol, "
        f"`input: [N, L, {declared[2]}]`; else "
    )


def accepted_inputs(a: Analysis) -> Analysis:
    """Solve the symbolic walk's requirements into the set of inputs that work (the domain);
    W403 when the rules could not run on symbols, E410 when no input is left.

    >>> accepted_inputs(a).domain.describe()  # doctest: +SKIP
    'H, W >= 32'
    """
    graph, sym, table = a.graph, a.symbolic, a.general
    assert sym is not None and table is not None
    declared = [[d.value if d.is_const else 0 for d in shape] for shape in graph.input_shapes]
    env = {s: v for s, v in sym.bind(*declared).items() if v > 0}
    sizes_declared = all(s in env for s in sym.spatial)
    diags = list(graph.diagnostics)
    domain = train_domain = None
    if table.failure is not None:
        f = table.failure
        diags.append(
            Diagnostic(
                "W403",
                f"archspec cannot check other input sizes: {f.message}",
                f.span,
                _tokens_note(graph.input_shape, f)
                + "shapes are checked for the declared input only; `--input` (in Python,"
                " `input=`) checks another size"
                if a.input is None
                else "shapes are checked for the input given only: which others the network "
                "takes is not known",
                Severity.WARNING,
            )
        )
    else:
        domain = input_domain(table, sym, env if sizes_declared else None)
        if domain.is_empty:
            diags.append(_empty_domain(graph, table, sym))
        else:
            diags.extend(_batch_tied(graph, table, sym, domain))
        train_domain = training_domain(table, sym, env if sizes_declared else None)
        if train_domain is not None and train_domain.describe() == domain.describe():
            train_domain = None
    return replaced(
        a,
        declared_env=env,
        sizes_declared=sizes_declared,
        domain=domain,
        train_domain=train_domain,
        diagnostics=(*a.diagnostics, *diags),
    )


def input_shapes(a: Analysis) -> Analysis:
    """The shapes at the input checked: the one asked for (walked now), else the symbolic
    walk when no size is declared, else the declared shapes the IR holds. Its first broken
    layer is an error whose hint leads with the inputs that would work.

    >>> input_shapes(replace(a, input=(1, 3, 224, 224))).table.outputs  # doctest: +SKIP
    ((1, 1000),)
    """
    graph, sym, general, domain = a.graph, a.symbolic, a.general, a.domain
    assert sym is not None and general is not None
    env: Mapping[str, int] | None = a.declared_env
    if a.input is not None:
        bad = _input_mismatch(graph, a.input, a.more_input)
        if bad is not None:
            return replaced(a, mismatch=bad, diagnostics=(*a.diagnostics, bad))
        table = infer_shapes(graph, a.input, more=[tuple(map(Dim.of, s)) for s in a.more_input])
        env = sym.bind(a.input, *a.more_input)
    elif general.failure is None and not a.sizes_declared and not _some_size_declared(graph):
        table, env = general, None
    elif not a.sizes_declared:  # `[N, 1, 32, W]`: the shapes lowering made, 32 kept
        table, env = declared_shapes(graph), None
    else:
        table = declared_shapes(graph)
        declared = tuple(d.value for d in graph.input_shape if d.is_const)
        train = a.train_domain
        if train and env and len(declared) == len(graph.input_shape) and not train.contains(env):
            # a declared batch of 1 that training mode cannot take: walked as `--input` is,
            # for its W404 (lowering checked the declared input in eval mode only)
            more = [tuple(d.evaluate(env) for d in shape) for shape in sym.more]
            table = infer_shapes(graph, declared, more=more)
    diags: list[Diagnostic] = []
    if table.train_failure is not None:
        diags.append(_training_only(table.train_failure, a.train_domain))
    if table.failure is not None:
        diags.append(_with_domain_hint(table.failure, graph, domain, sym))
    elif env is not None and domain and not domain.is_empty:
        culprit = _fails_at_batch_one(general, sym, env, domain)
        if culprit is not None or not domain.contains(env):
            diags.append(_outside_domain(graph, table, general, sym, env, domain, culprit))
    return replaced(a, table=table, env=env, diagnostics=(*a.diagnostics, *diags))


def window_lint(a: Analysis) -> Analysis:
    """W402: a conv or pool whose window is larger than its input (see `window_warnings`).

    >>> [d.code for d in window_lint(a).diagnostics]  # doctest: +SKIP
    ['W402']
    """
    if a.table is None:
        return a
    return replaced(a, diagnostics=(*a.diagnostics, *window_warnings(a.table)))


#: The passes, in the order they run.
RULES: tuple[Pass, ...] = (
    verify_graph,
    symbolic_shapes,
    accepted_inputs,
    input_shapes,
    window_lint,
)


def run(a: Analysis, through: Pass = RULES[-1]) -> Analysis:
    """Run the passes `a` has not run yet, in order, up to and including `through`."""
    if through not in RULES:
        raise ValueError(f"{getattr(through, '__name__', through)!r} is not one of the RULES")
    for rule in RULES[len(a.done) : RULES.index(through) + 1]:
        a = replaced(rule(a), done=(*a.done, rule.__name__))
    return a


def verified(
    graph: Graph,
    input_shape: Sequence[int] | None = None,
    more: Sequence[Sequence[int]] = (),
) -> Analysis:
    """The analysis of a graph `build_graph` returned (verified already), for an input (and
    for a network of several, `more`: the shapes of the others)."""
    given = tuple(input_shape) if input_shape is not None else None
    extra = tuple(tuple(s) for s in more)
    return Analysis(graph, given, extra, done=(verify_graph.__name__,))


def analyse(
    graph: Graph,
    input_shape: Sequence[int] | None = None,
    through: Pass = RULES[-1],
    more: Sequence[Sequence[int]] = (),
) -> Analysis:
    """Run the passes after `verify_graph` over a verified graph, up to `through`."""
    return run(verified(graph, input_shape, more), through)


def require_some_input(analysis: Analysis) -> None:
    """Refuse a graph that no input size can run (E404/E410), which lowering alone cannot
    see when the declared input is symbolic: the passes run on as far as the input, as
    `check` runs them, so every command refuses what check refuses."""
    graph = analysis.graph
    if not graph.constraints:
        return
    errors = run(analysis, through=input_shapes).errors
    if errors:
        raise ShapeError(diagnostics=errors, sources=dict(graph.sources))


def _input_mismatch(
    graph: Graph, given: tuple[int, ...], more: tuple[tuple[int, ...], ...] = ()
) -> Diagnostic | None:
    """A concrete input must keep the declared rank and every declared non-size dim; a
    network of several inputs takes one shape per input, each checked so."""
    count = len(graph.inputs) or 1
    if 1 + len(more) != count:
        names = f" ({', '.join(i.name for i in graph.inputs)})" if graph.inputs else ""
        return Diagnostic(
            "E407",
            f"{1 + len(more)} input shape{'s were' if more else ' was'} given, but "
            f"{graph.name} takes {count} input{'s' if count > 1 else ''}{names}",
            graph.input_span,
            "give one shape per input, in the order `inputs:` names them (`--input` once "
            "per input; in Python, `input=[(1, 100), (1,)]`)"
            if graph.inputs
            else "give one shape: the network takes one input (`--input` once)",
        )
    for k, shape in enumerate(more, 1):
        one = replaced(graph, input_shape=graph.inputs[k].shape, inputs=())
        bad = _input_mismatch(one, shape)
        if bad is not None:
            name = graph.inputs[k].name
            return replaced(
                bad, message=f"input `{name}`: {bad.message}", span=graph.inputs[k].span
            )
    if graph.inputs:
        declared_first = replaced(graph, inputs=())
        bad = _input_mismatch(declared_first, given)
        if bad is not None:
            first = graph.inputs[0].name
            return replaced(bad, message=f"input `{first}`: {bad.message}")
        return None
    declared = graph.input_shape
    if len(given) != len(declared):
        return Diagnostic(
            "E407",
            f"the input {format_shape(tuple(map(Dim.of, given)))} has rank {len(given)}, "
            f"but {graph.name} declares {format_shape(declared)}",
            graph.input_span,
            f"give {len(declared)} dims, e.g. "
            + ",".join(str(d.value) if d.is_const else "1" for d in declared),
        )
    # the channels: dim 1, or the last of tokens (N, L, 64), (L, N, 64) and NHWC maps
    at = channel_dim(declared)
    word = "features" if at == 2 else "channels"
    if at is not None and declared[at].is_const and given[at] != declared[at].value:
        return Diagnostic(
            "E407",
            f"the input has {given[at]} {word}, but {graph.name} declares {format_shape(declared)}",
            graph.input_span,
            f"layer widths follow the declared {word}: change `input:` in the spec to "
            f"accept another count of {word}",
        )
    return None


def _with_domain_hint(
    failure: Diagnostic, graph: Graph, domain: Domain | None, sym: SymbolicInput
) -> Diagnostic:
    """The first broken layer's diagnostic, its hint led by the inputs that would work."""
    if domain is None or domain.is_empty or not sym.spatial:
        return failure
    accepts = f"{graph.name} accepts {format_shape(sym.shape)} with {domain.describe(limit=3)}"
    rest = failure.hint
    hint = f"{accepts}. {rest[:1].upper()}{rest[1:]}" if rest else accepts
    return Diagnostic(failure.code, failure.message, failure.span, hint, failure.severity)


def _training_only(failure: Diagnostic, train_domain: Domain | None) -> Diagnostic:
    """W404: a layer that runs only in training mode cannot take this input (eval can)."""
    needs = f"training mode needs {train_domain.describe(limit=3)}; " if train_domain else ""
    if failure.code == "W404":  # a layer of both modes that needs more in training
        return replaced(failure, hint=f"eval mode takes this input; {needs}{failure.hint}")
    return Diagnostic(
        "W404",
        f"in training mode, {failure.message}",
        failure.span,
        f"the layer runs only in training mode, so eval mode takes this input; {needs}"
        f"{failure.hint[:1].lower()}{failure.hint[1:]}"
        if failure.hint
        else f"the layer runs only in training mode, so eval mode takes this input; {needs}",
        Severity.WARNING,
    )


def _fails_at_batch_one(
    general: ShapeTable, sym: SymbolicInput, env: Mapping[str, int], domain: Domain
) -> LocatedConstraint | None:
    """A requirement left unsolved that reads the batch N and fails at these sizes with N = 1
    (`4 == 12*N`: a matmul of (N, 3, 4, 4) and its reshape to (12*N, 4)): `contains` leaves
    N free, and the declared input must work for a batch of one."""
    batch = sym.batch
    if not batch or batch in env:
        return None
    at = {**env, batch: 1}
    for r in domain.unsolved:
        if batch in r.symbols and r.symbols <= at.keys() and not r.holds(at):
            for lc in general.constraints:
                if lc.constraint == r.constraint:
                    return lc
    return None


def _outside_domain(
    graph: Graph,
    table: ShapeTable,
    general: ShapeTable,
    sym: SymbolicInput,
    env: Mapping[str, int],
    domain: Domain,
    culprit: LocatedConstraint | None = None,
) -> Diagnostic:
    """Every layer passed at these sizes, yet no input of them is in the domain: a layer's
    requirement left free (on the batch N: `4 == 256*N`) fails for all of them, named at its
    layer; if none does, the walk and the solver disagree, which is a bug."""
    shown = format_shape(table.input_shape)
    at_one = culprit is not None
    if at_one:  # found at a batch of one: say so
        shown += f" with {sym.batch} = 1"
    culprit = culprit or first_impossible(general, sym, env)
    if culprit is None:
        return Diagnostic(
            "E410",
            f"the input {shown} passes every layer but is outside the solved domain",
            graph.input_span,
            "this is an archspec bug: please report it with the spec",
        )
    accepts = f"{graph.name} accepts {format_shape(sym.shape)} with {domain.describe(limit=3)}"
    c = culprit.constraint
    why = culprit.describe()
    if at_one:  # and say it in the sizes of that batch of one
        at = {**env, sym.batch: 1}
        more = [tuple(d.evaluate(at) for d in shape) for shape in sym.more]
        failure = infer_shapes(graph, tuple(d.evaluate(at) for d in sym.shape), more=more).failure
        if failure is not None and failure.span == culprit.span:
            why = failure.message.removeprefix(f"{culprit.path}: ")
    return Diagnostic(
        c.code,
        f"the input {shown} fails at {culprit.path}: {why}",
        culprit.span or graph.input_span,
        f"{accepts}. {c.hint[:1].upper()}{c.hint[1:]}" if c.hint else accepts,
    )


def _empty_domain(graph: Graph, table: ShapeTable, sym: SymbolicInput) -> Diagnostic:
    culprit = first_impossible(table, sym)
    where = culprit.span if culprit is not None else graph.input_span
    what = f"{culprit.path}: {culprit.describe()}" if culprit is not None else "the constraints"
    return Diagnostic(
        "E410",
        f"no input size works for {graph.name}: {what}",
        where,
        f"no {', '.join(sym.spatial) or 'input'} satisfies this layer together with the "
        "ones before it: check its sizes, strides and in_features",
    )


#: batch sizes tried to tell a network that takes any batch from one that takes some
_BATCHES = (1, 2, 3, 5, 8)


def _batch_tied(
    graph: Graph, table: ShapeTable, sym: SymbolicInput, domain: Domain
) -> list[Diagnostic]:
    """W406 when a layer ties the batch N to some sizes (`N = 1`): torch would run the
    network at those batches only, which is almost never meant (an `expand` given its two
    inputs the other way round, a `reshape` that writes the batch as a number); named at
    the first layer that refuses a batch the others take."""
    batch = sym.batch
    if not batch:
        return []
    taken = [n for n in _BATCHES if domain.contains({batch: n})]
    refused = [n for n in _BATCHES if n not in taken]
    if not taken or not refused:
        return []
    culprit = first_impossible(table, sym, {batch: refused[0]})
    where = culprit.span if culprit is not None else graph.input_span
    what = f"{culprit.path}: {culprit.describe()}; " if culprit is not None else ""
    only = f"{batch} = {taken[0]}" if len(taken) == 1 else f"{batch} in {taken} of {_BATCHES}"
    return [
        Diagnostic(
            "W406",
            f"{what}{graph.name} runs only at a batch of {only}",
            where,
            "a layer here makes the batch dim meet a fixed size: give a learned tensor "
            "batch 1 and broadcast or `expand` it over the batch (`from: [token, x]`, the "
            "token first), and write the batch of a `reshape` as 0",
            Severity.WARNING,
        )
    ]
