"""`check` of a declared input writes each node's path and shape only when its `shapes` are
read (passes/pathshapes.py), the same mapping in the same order as the IR's rows; a copy of
a block instance shares the tree of what it copies."""

from __future__ import annotations

import dataclasses

import pytest

import archspec
from archspec.ir import Module
from archspec.passes import pathshapes, pipeline, shapes


def _copies(module: Module) -> list[Module]:
    out = [module] if module.copy_of is not None else []
    for node in module.nodes:
        if node.child is not None:
            out += _copies(node.child)
    return out


@pytest.mark.parametrize("spec", ["resnet50", "googlenet", "efficientnet_b0"])
def test_shapes_written_when_read(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = archspec.build_graph(spec)
    rows = list(shapes.declared_shapes(graph).rows)
    written: list[str] = []
    real = pathshapes._write
    monkeypatch.setattr(
        pathshapes, "_write", lambda t, p, out: (written.append(p), real(t, p, out))[1]
    )
    result = pipeline.run(dataclasses.replace(pipeline.verified(graph), symbolic_rows=False))
    checked = result.check_result()
    assert written == []  # nothing written by the check itself
    assert list(checked.shapes.items()) == [(r.path, r.shape) for r in rows]  # the rows' order
    assert written.count("") == 1
    assert checked.shapes == {r.path: r.shape for r in rows} == checked.shapes
    assert len(checked.shapes) == len(rows) and rows[-1].path in checked.shapes
    assert checked.shapes.get("no.such.layer") is None
    assert repr(checked.shapes) == repr({r.path: r.shape for r in rows})
    assert written.count("") == 1  # written once


def test_copies_share_the_tree_of_what_they_copy() -> None:
    graph = archspec.build_graph("resnet50")
    copies = _copies(graph.root)
    assert copies  # ResNet's identical Bottlenecks are copies of one lowering
    memo: dict[int, tuple[Module, pathshapes.Tree]] = {}
    tree = pathshapes.shape_tree(graph.root, memo)
    for copy in copies:
        assert copy.copy_of is not None
        assert pathshapes.shape_tree(copy, memo) is pathshapes.shape_tree(copy.copy_of, memo)
        assert pathshapes.shape_tree(copy) == pathshapes.shape_tree(copy.copy_of)
    fresh = pathshapes.PathShapes(pathshapes.shape_tree(graph.root))  # no tree shared
    assert dict(pathshapes.PathShapes(tree).items()) == dict(fresh.items())
    assert list(fresh) == [r.path for r in shapes.declared_shapes(graph).rows]


def test_json_of_a_check_reads_every_shape() -> None:
    result = archspec.check("resnet18")
    data = result.to_dict()
    assert list(data["shapes"]) == list(result.shapes) and data["shapes"]["fc"] == "(N, 1000)"
