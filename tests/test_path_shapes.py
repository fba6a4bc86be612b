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


_COPIES_WARN = """
archspec: 1
name: windows_in_copies
input: [N, 3, 2, 2]
blocks:
  W:
    layers:
      - {name: p, type: maxpool2d, kernel_size: 3, stride: 2, padding: 1}
      - {name: out, type: identity, from: input}
  Two:
    layers:
      - {name: a, type: W}
      - {name: b, type: W}
layers:
  - {name: w1, type: W}
  - {name: w2, type: W}
  - {name: t1, type: Two}
  - {name: t2, type: Two}
  - {type: flatten}
  - {type: linear, out_features: 10}
"""


@pytest.mark.parametrize("spec", ["resnet50", "googlenet", _COPIES_WARN])
def test_window_lint_makes_the_tree(spec: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The window lint of a declared input walks the IR once for its W402s and for the
    result's tree of shapes (`shape_tree` is not asked again); a copy of a block instance
    that warns warns at its own path."""
    graph = archspec.build_graph(spec)
    rows = list(shapes.declared_shapes(graph).rows)
    expected = [(r.path, r.shape) for r in rows]
    windows = [
        w.message.split(":")[0]
        for w in shapes.window_warnings(
            shapes.infer_shapes(graph, [d.value if d.is_const else 1 for d in graph.input_shape])
        )
    ]

    def refused(*args: object) -> None:
        raise AssertionError("the IR walked again for its shapes")

    monkeypatch.setattr(pathshapes, "shape_tree", refused)
    result = pipeline.run(dataclasses.replace(pipeline.verified(graph), symbolic_rows=False))
    checked = result.check_result()
    assert list(checked.shapes.items()) == expected
    assert [d.message.split(":")[0] for d in checked.diagnostics if d.code == "W402"] == windows
    if spec is _COPIES_WARN:
        assert windows == ["w1.p", "w2.p", "t1.a.p", "t1.b.p", "t2.a.p", "t2.b.p"]
