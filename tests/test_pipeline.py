"""The pass pipeline (archspec/passes/pipeline.py): one ordered tuple of plain functions, each
returning a new Analysis; commands run it as far as they need and no shape rule twice."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest

import archspec
from archspec import api
from archspec.ops import REGISTRY
from archspec.passes import pipeline
from archspec.passes.pipeline import RULES, Analysis, analyse, run, verify_graph

BROKEN_AT_DECLARED = """\
archspec: 1
name: small
input: [N, 1, 6, 6]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 5}
  - {type: maxpool2d, kernel_size: 3}
"""


def test_rules_are_plain_functions_in_their_order() -> None:
    names = [r.__name__ for r in RULES]
    assert names == [
        "verify_graph",
        "symbolic_shapes",
        "accepted_inputs",
        "input_shapes",
        "window_lint",
    ]
    for rule in RULES:
        assert rule.__module__ == pipeline.__name__ and (rule.__doc__ or "").strip()


def test_each_pass_returns_a_new_analysis_and_leaves_the_old_one() -> None:
    graph = archspec.build_graph("lenet5")
    start = pipeline.verified(graph, (2, 1, 32, 32))
    seen = [start]
    a = start
    for rule in RULES[1:]:
        a = run(a, through=rule)
        assert a is not seen[-1] and a.done[-1] == rule.__name__
        seen.append(a)
    assert start.general is None and start.table is None and start.diagnostics == ()
    assert seen[1].general is not None and seen[1].domain is None
    assert seen[2].domain is not None and seen[2].table is None
    assert seen[-1].table is not None and seen[-1].graph is graph
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.domain = None  # type: ignore[misc]


def test_verify_returns_a_new_graph_and_never_edits_the_lowered_one() -> None:
    spec = {
        "archspec": 1,
        "name": "unused",
        "input": ["N", 4],
        "layers": [
            {"name": "a", "type": "linear", "out_features": 3},
            {"name": "b", "type": "linear", "out_features": 2, "from": "input"},
        ],
    }
    doc, validated = api._parse(spec)
    lowered = api.lower(validated, doc, None, api.DEFAULT_MAX_LAYERS)
    before = lowered.diagnostics
    checked = run(Analysis(lowered), through=verify_graph).graph
    assert lowered.diagnostics == before and "W401" not in [d.code for d in before]
    assert checked is not lowered and [d.code for d in checked.diagnostics] == ["W401"]


def test_run_refuses_a_function_that_is_no_pass() -> None:
    with pytest.raises(ValueError, match="is not one of the RULES"):
        run(pipeline.verified(archspec.build_graph("lenet5")), through=len)  # type: ignore[arg-type]


@pytest.fixture
def conv_rule_calls(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[Any, ...]]]:
    """Every input a conv2d shape rule is run on (the registry calls the class's rule)."""
    cls = type(REGISTRY["conv2d"])
    original = cls.infer
    calls: list[tuple[Any, ...]] = []

    def counting(self: Any, attrs: Any, inputs: Any, ctx: Any) -> Any:
        calls.append(tuple(str(d) for d in inputs[0]))
        return original(self, attrs, inputs, ctx)

    monkeypatch.setattr(cls, "infer", counting)
    yield calls


def _per_conv(calls: list[tuple[Any, ...]]) -> int:
    graph = archspec.build_graph("lenet5")
    convs = sum(1 for _ in _conv_nodes(graph))
    calls.clear()
    return convs


def _conv_nodes(graph: Any) -> Iterator[Any]:
    from archspec.ir import iter_nodes

    return (n for _, n in iter_nodes(graph.root) if n.kind == "conv2d")


@pytest.mark.parametrize(
    ("command", "runs"),
    [
        # lowering, then the symbolic walk; the declared shapes are read from the IR
        (lambda: archspec.check("lenet5"), 2),
        (lambda: archspec.summary("lenet5"), 2),
        # and the walk at the input asked for, once (summary ran it twice more before)
        (lambda: archspec.check("lenet5", input=(2, 1, 32, 32)), 3),
        (lambda: archspec.summary("lenet5", input=(2, 1, 32, 32)), 3),
        (lambda: archspec.build_graph("lenet5"), 1),
    ],
    ids=["check", "summary", "check-input", "summary-input", "build_graph"],
)
def test_no_shape_rule_runs_twice_for_one_input(
    conv_rule_calls: list[tuple[Any, ...]], command: Any, runs: int
) -> None:
    convs = _per_conv(conv_rule_calls)
    assert convs == 2
    command()
    assert len(conv_rule_calls) == runs * convs, conv_rule_calls
    assert len(set(conv_rule_calls)) == len(conv_rule_calls)  # each (layer, input) once


def test_the_hint_pass_reads_and_validates_the_spec_once(monkeypatch: pytest.MonkeyPatch) -> None:
    reads: list[object] = []
    real = api.read_source
    monkeypatch.setattr(api, "read_source", lambda s: reads.append(s) or real(s))
    result = archspec.check(BROKEN_AT_DECLARED)
    assert not result.ok and len(reads) == 1
    (error,) = result.errors
    assert error.code == "E405" and (error.hint or "").startswith("small accepts (N, 1, H, W)")


def test_check_graph_is_the_pipelines_result() -> None:
    from archspec.passes.shapes import check_graph

    graph = archspec.build_graph("resnet18")
    direct = check_graph(graph, (1, 3, 224, 224))
    assert direct == analyse(graph, (1, 3, 224, 224)).check_result()
    assert direct.ok and direct.outputs and direct.domain is not None


SYMBOLIC_SIZES = """\
archspec: 1
name: open
input: [N, 3, H, W]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2}
  - {type: maxpool2d, kernel_size: 2}
"""


@pytest.mark.parametrize(
    ("spec", "given"),
    [
        ("resnet50", None),
        ("inception_v3", None),
        ("inception_v3", (1, 3, 64, 64)),
        (SYMBOLIC_SIZES, None),
        (SYMBOLIC_SIZES, (2, 3, 9, 9)),
        ("alexnet", (1, 3, 64, 64)),
    ],
)
def test_the_symbolic_rows_change_no_result(spec: str, given: tuple[int, ...] | None) -> None:
    """`check` asks the symbolic walk for no rows: a table nobody reads. Its result is the
    same, and the rows are still made when `input_shapes` takes that table."""
    graph = archspec.build_graph(spec)
    kept = run(pipeline.verified(graph, given))
    lean = run(dataclasses.replace(pipeline.verified(graph, given), symbolic_rows=False))
    assert lean.check_result() == kept.check_result()
    assert lean.diagnostics == kept.diagnostics
    assert kept.general is not None and lean.general is not None and kept.general.rows
    made = [
        [(c.path, c.span, c.train_only, c.describe()) for c in a.general.constraints]  # type: ignore[union-attr]
        for a in (kept, lean)
    ]
    assert made[0] == made[1]
    read_by_input_shapes = given is None and lean.table is lean.general
    assert bool(lean.general.rows) == read_by_input_shapes
    assert read_by_input_shapes == (spec == SYMBOLIC_SIZES and given is None)


def _reaches_ir(obj: object) -> bool:
    """Whether any Graph, Module or Node is reachable from `obj` (through gc referents)."""
    import gc

    from archspec.ir import Graph, Module, Node

    todo, seen = [obj], set()
    while todo:
        o = todo.pop()
        if id(o) in seen or isinstance(o, (type, type(gc))):
            continue
        seen.add(id(o))
        if isinstance(o, (Graph, Module, Node)):
            return True
        todo.extend(gc.get_referents(o))
    return False


def test_check_makes_no_row_of_the_declared_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """`check` of a declared input reads the IR's rows of the layers with a window (W402)
    alone, and each node's shape by its path straight from the IR: the table of every node
    is made only when it is read, and then it is the table the IR holds."""
    from archspec.passes import shapes

    graph = archspec.build_graph("googlenet")
    whole = list(shapes.declared_shapes(graph).rows)
    made: list[str] = []
    real = shapes._declared_rows
    monkeypatch.setattr(
        shapes, "_declared_rows", lambda m, *rest: (made.append(m.path), real(m, *rest))[1]
    )
    result = run(dataclasses.replace(pipeline.verified(graph), symbolic_rows=False))
    checked = result.check_result()
    assert checked.ok and checked.domain_text and made == []
    assert not _reaches_ir(checked.shapes)  # the result does not keep the graph alive
    assert checked.shapes == {r.path: r.shape for r in whole} and made == []
    assert result.table is not None and list(result.table.rows) == whole
    assert result.table.rows == tuple(whole) and made.count("") == 1  # made once
    assert result.table.rows.shapes() == checked.shapes  # type: ignore[attr-defined]
    with_rows = dataclasses.replace(result.table, rows=tuple(whole))
    assert shapes.window_warnings(with_rows) == shapes.window_warnings(result.table)
