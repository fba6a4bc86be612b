"""The shape pass walks each distinct block instance once (passes/walkmemo.py): a replay
must give exactly the rows, requirements and domain a real walk gives."""

from __future__ import annotations

import dataclasses

import pytest

import archspec
from archspec.passes import shapes, walkmemo
from archspec.passes.inputdomain import generalise_input
from archspec.passes.shapes import ShapeTable, infer_shapes


def _tables(name: str, monkeypatch: pytest.MonkeyPatch) -> tuple[ShapeTable, ShapeTable, int]:
    graph = archspec.build_graph(name)
    sym = generalise_input(graph.input_shape).shape
    found = []
    real_find = walkmemo.WalkMemo.find

    def counting_find(self: walkmemo.WalkMemo, *args: object) -> object:
        kept = real_find(self, *args)  # type: ignore[arg-type]
        found.append(kept is not None)
        return kept

    monkeypatch.setattr(walkmemo.WalkMemo, "find", counting_find)
    kept = infer_shapes(graph, sym)
    monkeypatch.setattr(shapes, "walk_key", lambda *args: None)
    walked = infer_shapes(graph, sym)
    return kept, walked, sum(found)


@pytest.mark.parametrize(
    "name", ["resnet50", "mobilenet_v2", "efficientnet_b0", "inception_v3", "convnext_tiny"]
)
def test_replayed_walk_equals_the_real_walk(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    kept, walked, hits = _tables(name, monkeypatch)
    assert hits > 0  # the memo was used
    # a rule's message is a partial made per call (compared by identity): compare its text
    assert dataclasses.replace(kept, constraints=()) == dataclasses.replace(walked, constraints=())
    assert [r.path for r in kept.rows] == [r.path for r in walked.rows]
    assert _facts(kept) == _facts(walked)


def _facts(table: ShapeTable) -> list[tuple[object, ...]]:
    return [
        (
            c.path,
            c.describe(),
            c.span,
            c.train_only,
            c.constraint.kind,
            c.constraint.lhs,
            c.constraint.rhs,
            c.constraint.code,
            c.constraint.hint,
        )
        for c in table.constraints
    ]


def test_a_different_structure_is_walked() -> None:
    graph = archspec.build_graph("resnet50")
    stage = next(n.child for n in graph.root.nodes if n.name == "layer1")
    assert stage is not None
    first, second = stage.nodes[0].child, stage.nodes[1].child
    assert first is not None and second is not None
    assert walkmemo.same_structure(second, stage.nodes[2].child)  # type: ignore[arg-type]
    assert not walkmemo.same_structure(first, second)  # the first one downsamples


def test_a_body_shared_by_instances_that_differ_is_replayed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """EfficientNet's MBConv instances differ in their stochastic depth, so no instance is
    replayed whole; the body they share (one lowering, lowering/memo.py) is."""
    graph = archspec.build_graph("efficientnet_b0")
    replayed = []
    real = walkmemo.replay

    def spy(kept: walkmemo.Kept, module: object, path: str, *args: object) -> None:
        replayed.append((kept.module.block, path))
        real(kept, module, path, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(shapes, "replay", spy)
    infer_shapes(graph, generalise_input(graph.input_shape).shape)
    assert any(block is None and path.startswith("features.") for block, path in replayed)
