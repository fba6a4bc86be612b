"""The passes look at the copies of one block instance once (`Module.copy_of`, set by the
lowering memo): what they find must be what they find when every copy is looked at."""

from __future__ import annotations

import dataclasses

import pytest

import archspec
from archspec.ir import Graph, Module, iter_modules, replaced
from archspec.passes import walkmemo
from archspec.passes.costs import footprint
from archspec.passes.shapes import declared_shapes, window_warnings
from archspec.passes.verify import verify

NAMES = ["resnet50", "efficientnet_b0", "inception_v3", "googlenet", "swin_t"]


def _no_copies(module: Module) -> Module:
    """`module` with no `copy_of` anywhere under it: every subtree is looked at."""
    nodes = tuple(
        n if n.child is None else replaced(n, child=_no_copies(n.child)) for n in module.nodes
    )
    return replaced(module, nodes=nodes, copy_of=None)


def _pair(name: str) -> tuple[Graph, Graph]:
    graph = archspec.build_graph(name)
    return graph, dataclasses.replace(graph, root=_no_copies(graph.root))


@pytest.mark.parametrize("name", NAMES)
def test_a_copy_has_the_structure_of_what_it_copies(name: str) -> None:
    graph = archspec.build_graph(name)
    copies = [m for m in iter_modules(graph.root) if m.copy_of is not None]
    assert copies  # the memo made some
    for module in copies:
        assert module.copy_of is not None and module.copy_of.copy_of is None
        assert module.path != module.copy_of.path
        assert walkmemo.same_structure(module.copy_of, module)


@pytest.mark.parametrize("name", NAMES)
def test_passes_find_in_copies_what_they_find_walking_each(name: str) -> None:
    kept, walked = _pair(name)
    assert footprint(kept) == footprint(walked)
    assert verify(kept).diagnostics == verify(walked).diagnostics
    kept_rows, walked_rows = declared_shapes(kept), declared_shapes(walked)
    assert window_warnings(kept_rows) == window_warnings(walked_rows)
    assert kept_rows.rows.shapes() == walked_rows.rows.shapes()  # type: ignore[attr-defined]


def test_a_warning_in_a_copy_is_found_in_each_copy() -> None:
    text = """
archspec: 1
name: copies
input: [N, 3, 2, 2]
blocks:
  Squeeze:
    layers:
      - {name: pool, type: maxpool2d, kernel_size: 3, stride: 2, ceil_mode: true}
      - {name: side, type: relu, from: input}
      - {name: out, type: identity, from: pool}
layers:
  - {name: a, type: Squeeze}
  - {name: b, type: Squeeze, from: input}
  - {type: add, from: [a, b]}
"""
    kept, walked = _pair(text)
    assert kept.root.node("b").child.copy_of is kept.root.node("a").child  # type: ignore[union-attr]
    table = declared_shapes(kept)
    found = window_warnings(table)
    assert [d.message.split(":")[0] for d in found] == ["a.pool", "b.pool"]
    assert found == window_warnings(declared_shapes(walked))
    assert verify(kept).diagnostics == verify(walked).diagnostics
    assert any(d.code == "W401" for d in verify(kept).diagnostics)
