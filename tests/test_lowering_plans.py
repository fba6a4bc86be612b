"""The binding plans (lowering/layer.py `Binding`, constructs/block_call.py `CallPlan`,
lowering/itemplan.py `ItemPlan`, the items of a layer list, context.items_of): what a
layer spec or a block call binds the same way in every copy is worked out at its first
instance, and nothing downstream can tell: the graph and every diagnostic are those of
binding each instance from scratch."""

from __future__ import annotations

import dataclasses
import inspect
import textwrap
from typing import Any

import pytest

import archspec
from archspec.constructs import block_call, parallel, residual, sequential
from archspec.errors import ArchSpecError
from archspec.ir import Module, Node, module_of, node_of
from archspec.lowering import layer, walker
from archspec.lowering.context import Item
from archspec.lowering.itemplan import ItemPlan

from .conftest import spec_source


def _fresh_plans(m: pytest.MonkeyPatch) -> None:
    """Every instance binds from scratch: a plan is made for each and never kept, and each
    written layer list gets new items (so nothing kept by list is found again)."""
    m.setattr(layer, "binding", lambda lw, plan: layer.Binding(lw, plan.spec))
    m.setattr(block_call, "call_plan", lambda lw, spec, bdef: block_call.CallPlan(lw, spec, bdef))
    m.setattr(walker, "item_plan", lambda lw, spec: ItemPlan(spec))
    for module in (sequential, residual, parallel):
        m.setattr(module, "items_of", _fresh_items)


def _fresh_items(lw: Any, specs: list[Any], ypath: Any) -> list[Item]:
    return [Item(s, ypath + (i,)) for i, s in enumerate(specs)]


def _outcome(source: Any, **kw: Any) -> Any:
    try:
        return archspec.build_graph(source, **kw)
    except ArchSpecError as exc:
        return exc.render()


def _both(source: Any, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> tuple[Any, Any]:
    kept = _outcome(source, **kw)
    with monkeypatch.context() as m:
        _fresh_plans(m)
        fresh = _outcome(source, **kw)
    return kept, fresh


@pytest.mark.parametrize("name", ["efficientnet_b0", "densenet121", "mobilenet_v3_small"])
def test_a_shipped_spec_lowers_to_the_same_graph(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept, fresh = _both(spec_source(name), monkeypatch)
    assert kept == fresh


#: a `str` argument that is an expression where `act` is in scope (the rows') and text
#: where it is not; arguments and fields that differ per copy
ROWS = textwrap.dedent(
    """\
    archspec: 1
    name: t
    input: [N, 3, 32, 32]
    params:
      rows: {type: list, default: [[relu, 8], [gelu, 16]]}
    blocks:
      Unit:
        params: {w: int, act: {type: str, default: relu}, p: {type: float, default: 0.5}}
        layers:
          - {type: conv2d, out_channels: w, kernel_size: 1}
          - {type: relu, when: "act == 'relu'"}
          - {type: gelu, when: "act == 'gelu'"}
          - {type: dropout, p: p}
    layers:
      - type: for_each
        rows: rows
        fields: [act, width]
        count: 2
        layer: {type: Unit, w: width + i, act: act, p: "0.1 * i"}
      - {type: repeat, count: 2, layer: {type: Unit, w: 4 + i, act: act}}
    """
)


def test_arguments_and_fields_bind_per_instance(monkeypatch: pytest.MonkeyPatch) -> None:
    kept, fresh = _both(ROWS, monkeypatch)
    assert kept == fresh
    assert not isinstance(kept, str), kept
    copies = [n.child for n in kept.root.nodes[0].child.nodes]
    assert [c.args["w"] for c in copies] == [8, 9, 16, 17]
    assert [c.args["act"] for c in copies] == ["relu", "relu", "gelu", "gelu"]
    assert [c.args["p"] for c in copies] == [0.0, 0.1, 0.0, 0.1]
    # outside the rows `act` names nothing in scope: the text `act`, for both copies
    assert [n.child.args["act"] for n in kept.root.nodes[1].child.nodes] == ["act", "act"]
    # `act` is an expression in the rows' copies, text in the repeat's
    assert [list(n.exprs) for n in kept.root.nodes[0].child.nodes] == [["w", "act", "p"]] * 4
    assert [list(n.exprs) for n in kept.root.nodes[1].child.nodes] == [["w"], ["w"]]


def test_a_refused_literal_is_reported_as_before(monkeypatch: pytest.MonkeyPatch) -> None:
    text = ROWS.replace("kernel_size: 1}", "kernel_size: 0}").replace(
        "act: act}", "act: act, p: 2}"
    )
    kept, fresh = _both(text, monkeypatch)
    assert isinstance(kept, str) and kept == fresh
    # each message begins with its first instance's node and field: 0.0.0 is the conv of
    # the first copy; in the repeat's first, neither activation is there and the failed
    # conv took no position, so the dropout is 1.0.0
    assert "E309]: 0.0.0: kernel_size: 0 is below the minimum 1 (in 6 instances)" in kept
    assert "E309]: 1.0.0: p: 2.0 is above the maximum 1 (in 2 instances)" in kept


def test_node_of_makes_the_node_the_constructor_makes() -> None:
    """ir.node_of (lowering's Node without the frozen __init__) takes every field of Node,
    in order, and makes an equal node with its fields in the same order."""
    fields = [f.name for f in dataclasses.fields(Node)]
    assert list(inspect.signature(node_of).parameters) == fields
    values = [f"v{i}" for i in range(len(fields))]
    made, constructed = node_of(*values), Node(*values)
    assert made == constructed and list(vars(made)) == list(vars(constructed)) == fields
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "other"  # type: ignore[misc]


def test_module_of_makes_the_module_the_constructor_makes() -> None:
    """ir.module_of (lowering's Module without the frozen __init__) makes an equal module
    with its fields in the same order, the ones it is not given at their defaults."""
    given = {"class_name": "Net", "path": "a.b", "nodes": (), "outputs": (), "in_shape": None}
    given["args"] = {"k": 1}
    made, constructed = module_of(**given), Module(**given)
    fields = [f.name for f in dataclasses.fields(Module)]
    assert made == constructed and list(vars(made)) == list(vars(constructed)) == fields
    assert made.copy_of is None and made.in_axis == 1 and made.switches == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.path = "other"  # type: ignore[misc]


def test_a_call_runs_its_expression_arguments_as_its_plan_parsed_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An argument written as an expression for a non-`str` param is evaluated by the
    evaluator its CallPlan kept (no parse, no `_evaluated` per call); one that does not
    parse still fails per call, as written."""
    evaluated: list[Any] = []
    real = block_call._evaluated

    def counting(how: int, raw: Any, decl: Any, env: Any) -> Any:
        evaluated.append(raw)
        return real(how, raw, decl, env)

    monkeypatch.setattr(block_call, "_evaluated", counting)
    text = textwrap.dedent(
        """\
        archspec: 1
        name: calls
        input: [1, 4, 8, 8]
        params: {width: {type: int, default: 4}}
        blocks:
          B:
            params: {c: int}
            layers: [{name: conv, type: conv2d, out_channels: c, kernel_size: 1}]
        layers:
          - {name: stage, type: repeat, count: 3, layer: {type: B, c: "width * (i + 1)"}}
        """
    )
    graph = archspec.build_graph(text)
    stage = graph.root.node("stage").child
    assert stage is not None
    widths = [n.child.node("conv").attrs["out_channels"] for n in stage.nodes if n.child]
    assert widths == [4, 8, 12] and evaluated == []
    with pytest.raises(ArchSpecError, match="E206"):
        archspec.build_graph(text.replace("width * (i + 1)", "width * (i + "))
    assert evaluated and set(evaluated) == {"width * (i + "}


def test_a_scope_switch_is_the_switch_the_constructor_makes() -> None:
    """walker._switch (a Switch without the frozen __init__): equal, fields in order."""
    from archspec.ir import AttrExpr, Switch

    expr = AttrExpr("act == 'relu'", (("act", "block"),))
    made = walker._switch("relu", expr, None, "conv")
    constructed = Switch("relu", expr, None, "conv")
    fields = [f.name for f in dataclasses.fields(Switch)]
    assert made == constructed and list(vars(made)) == list(vars(constructed)) == fields
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.name = "other"  # type: ignore[misc]


def test_an_early_when_runs_as_its_plan_parsed_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """A `when` decided before its item's site (refs.switched_off_early) is run by the
    evaluator its ItemPlan kept, not bound through the ladder; a value that is not true or
    false still goes to the ladder, and the dispatch reports it."""
    from archspec.lowering import refs

    laddered: list[Any] = []
    real = refs.bind_value

    def counting(raw: Any, final: Any, env: Any) -> Any:
        laddered.append(raw)
        return real(raw, final, env)

    monkeypatch.setattr(refs, "bind_value", counting)
    text = textwrap.dedent(
        """\
        archspec: 1
        name: alts
        input: [1, 4, 8, 8]
        params: {act: {type: str, default: relu}, n: {type: int, default: 2}}
        layers:
          - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}
          - {type: relu, when: "act == 'relu'"}
          - {type: gelu, when: "act == 'gelu'"}
        """
    )
    kinds = [n.kind for n in archspec.build_graph(text).root.nodes]
    assert kinds == ["conv2d", "relu"] and laddered == []
    bad = text.replace("act == 'gelu'", "n + 1")
    with pytest.raises(ArchSpecError, match="expected true or false"):
        archspec.build_graph(bad)
    assert laddered == ["n + 1"]


def test_lets_bound_in_the_callers_own_env_are_added_to_it() -> None:
    """bind_lets(own_env=True) binds into the dict it is given (a block call's own copy of
    its names), not a copy of it; without it the caller's env is left as it is."""
    from archspec.lowering.lets import bind_lets

    class Walk:
        failed: set[str] = set()

    env = {"c": 4}
    lets, _ = bind_lets(Walk(), {"d": "c * 2"}, env, ("let",), {})  # type: ignore[arg-type]
    assert lets == {"d": 8} and env == {"c": 4}
    lets, _ = bind_lets(Walk(), {"d": "c * 2"}, env, ("let",), {}, own_env=True)  # type: ignore[arg-type]
    assert lets == {"d": 8} and env == {"c": 4, "d": 8}


def test_a_kept_closure_that_recurses_too_deeply_is_reported_as_evaluate_reports_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A block argument (CallPlan.runs), an early `when` (ItemPlan.when_run) and a layer's
    field (Binding.bound, values.field_runner) run the closures their plans kept
    (Expr.runner), without `evaluate`'s frame; a RecursionError there goes back to
    `evaluate`, which reports E206 at the argument, the `when` or the field, as for any
    other expression (not as a spec too deep to lower, E310)."""
    from archspec.expr import Expr

    deep = {"width * 2 + 0 * 7919", "act == 'relu' and 7919 > 0", "width * 3 + 0 * 7919"}
    real = Expr.runner

    def runner(self: Expr) -> Any:
        if self.text not in deep:
            return real(self)

        def recursing(env: Any) -> Any:
            raise RecursionError

        return recursing

    monkeypatch.setattr(Expr, "runner", runner)
    text = textwrap.dedent(
        """\
        archspec: 1
        name: deep
        input: [1, 4, 8, 8]
        params: {width: {type: int, default: 4}, act: {type: str, default: relu}}
        blocks:
          B:
            params: {c: int}
            layers: [{name: conv, type: conv2d, out_channels: c, kernel_size: 1}]
        layers:
          - {type: B, c: "width * 2 + 0 * 7919"}
          - {type: relu, when: "act == 'relu' and 7919 > 0"}
          - {name: wide, type: conv2d, out_channels: "width * 3 + 0 * 7919", kernel_size: 1}
        """
    )
    with pytest.raises(ArchSpecError) as caught:
        archspec.build_graph(text)
    rendered = caught.value.render()
    assert rendered.count("E206") == 3 and "nested too deeply to evaluate" in rendered
    assert 'out_channels: "width * 3 + 0 * 7919"' in rendered  # at the field
    assert "E310" not in rendered


def _declarations_from_items(lw: Any, items: list[Item]) -> tuple[dict, dict]:
    """walker.declarations as it was before it read the items' ItemPlans."""
    from archspec.lowering.context import piece_names, refs_of

    declared_at: dict[str, int] = {}
    refs: dict[str, list[str]] = {}
    for idx, it in enumerate(items):
        own = getattr(it.spec, "name", None) or it.name  # as Item.declared_names was
        for declared in ([own] if own else []) + piece_names(it.spec):
            declared_at[declared] = idx
            refs[declared] = refs_of(it.spec)
    return declared_at, refs


def test_declarations_read_off_item_plans_are_the_items_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """walker.declarations reads each item's names (its own, a forced one, a chunk's
    pieces) and `from` off its ItemPlan: the same as reading them off the item, for the
    graph and for the errors that read them (a later name, a cycle)."""
    text = textwrap.dedent(
        """\
        archspec: 1
        name: names
        input: [1, 8, 8, 8]
        layers:
          - {name: a, type: conv2d, out_channels: 8, kernel_size: 1}
          - {type: chunk, chunks: 2, dim: 1, names: [left, right]}
          - {name: b, type: add, from: [left, right]}
          - {type: repeat, count: 2, flat: true, names: "c{i}", layer: {type: relu}}
          - {name: s, type: repeat, count: 2, layer: {type: relu}}
          - {name: d, type: add, from: [b, c1]}
        """
    )
    later = text.replace("from: [left, right]", "from: [left, s]")
    cycle = text.replace("from: [left, right]", "from: [left, d]")
    for source in (text, later, cycle, ROWS, spec_source("googlenet")):
        kept = _outcome(source)
        with monkeypatch.context() as m:
            m.setattr(walker, "declarations", _declarations_from_items)
            assert _outcome(source) == kept
    assert not isinstance(_outcome(text), str)
    assert "E306" in _outcome(cycle) and "declared later" in _outcome(later)


def test_a_scopes_switches_are_the_ones_text_expr_makes(monkeypatch: pytest.MonkeyPatch) -> None:
    """walker._switch_exprs finds each switch's expression in the walk's cache (where
    text_expr keeps it) without text_expr's call: the same Switches as one text_expr each,
    a text that is no string (a construct of a plugin's may record one) included."""
    from types import SimpleNamespace

    from archspec.lowering.context import Scope
    from archspec.lowering.exprs import text_expr

    def one_call_each(lw: Any, scope: Any) -> tuple[Any, ...]:
        return tuple(
            walker._switch(
                n, text_expr(lw, t), scope.switch_spans.get(i), scope.switch_reads.get(i)
            )
            for i, (n, t) in enumerate(scope.switches)
        )

    for source in (ROWS, spec_source("mobilenet_v3_small")):
        kept = _outcome(source)
        with monkeypatch.context() as m:
            m.setattr(walker, "_switch_exprs", one_call_each)
            assert _outcome(source) == kept
    spec = SimpleNamespace(params={"act": "relu"}, let={}, blocks={})
    lw = SimpleNamespace(expr_cache={}, block_stack=[], spec=spec)
    scope = Scope("")
    scope.switches += [
        ("relu", "act == 'relu'"),
        ("", ["act", 2]),
        ("", True),
        ("x", "act == 'relu'"),
    ]
    scope.switch_spans[0] = "here"
    scope.switch_reads[3] = "conv"
    made = walker._switch_exprs(lw, scope)  # type: ignore[arg-type]
    assert made == one_call_each(lw, scope) and made[0].expr is made[3].expr
    assert [s.expr.text for s in made[1:3]] == ["['act', 2]", "True"]
    assert [s.reads for s in made] == [None, None, None, "conv"]


def test_a_block_calls_node_holds_its_call_plans_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The node of a block instance holds its CallPlan's written arguments (and its
    expressions, unless a `str` argument makes them per call), shared by the call's
    instances as a layer's node holds its Binding's: the same graph as binding every
    instance from scratch."""
    kept, fresh = _both(ROWS, monkeypatch)
    assert kept == fresh
    repeat = [n for n in kept.root.nodes[1].child.nodes if n.child is not None]
    assert len(repeat) == 2 and repeat[0].src == {"w": "4 + i", "act": "act"}
    assert repeat[0].src is repeat[1].src and repeat[0].exprs == repeat[1].exprs
    assert list(repeat[0].exprs) == ["w"]  # `act` is text here: its expressions per call
    stage = [n for n in kept.root.nodes[0].child.nodes if n.child is not None]
    assert stage[0].src is stage[1].src and list(stage[0].exprs) == ["w", "act", "p"]


def test_a_params_check_made_once_answers_as_coerce_param() -> None:
    """values.param_checker (a block call plan's check of each argument) returns what
    coerce_param returns and refuses what it refuses, with its message: values of the
    declared type inside and outside the bounds and MAX_INT, non-finite floats, bools and
    ints given for floats, text; params with and without bounds and choices."""
    from archspec.loader import MAX_INT
    from archspec.lowering.values import coerce_param, param_checker
    from archspec.schema import ParamDecl

    decls = [
        ParamDecl(type="int"),
        ParamDecl(type="int", ge=1, le=8),
        ParamDecl(type="int", ge=0.5),
        ParamDecl(type="float"),
        ParamDecl(type="float", ge=0, le=1),
        ParamDecl(type="float", le=2),
        ParamDecl(type="int", choices=[1, 2]),
        ParamDecl(type="bool"),
        ParamDecl(type="str"),
    ]
    values = [0, 1, 8, 9, -3, MAX_INT, MAX_INT + 1, -MAX_INT - 1, 0.0, 0.5, 1.0, 2.5, -0.0]
    values += [float("inf"), float("-inf"), float("nan"), True, False, "x", 1e308, [1]]
    for decl in decls:
        check = param_checker(decl)
        for value in values:
            try:
                expected: Any = ("ok", coerce_param(value, decl))
            except (ValueError, TypeError) as exc:
                expected = ("refused", type(exc), str(exc))
            try:
                got: Any = ("ok", check(value))
            except (ValueError, TypeError) as exc:
                got = ("refused", type(exc), str(exc))
            if expected[0] == "ok" and got[0] == "ok":
                same = type(got[1]) is type(expected[1]) and repr(got[1]) == repr(expected[1])
            else:
                same = got == expected
            assert same, (decl, value, got, expected)
