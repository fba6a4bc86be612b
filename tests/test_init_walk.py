"""Init rules find their layers with `nodes_of_kinds`: the nodes and paths of iter_nodes,
in its order, narrowed to the kinds a rule names."""

from __future__ import annotations

import pytest

import archspec
from archspec.ir import iter_nodes
from archspec.lowering.initexprs import nodes_of_kinds


@pytest.mark.parametrize("name", ["efficientnet_b0", "googlenet"])
@pytest.mark.parametrize("kinds", [(), ("conv2d",), ("linear", "batchnorm2d"), ("module",)])
def test_the_nodes_of_kinds_are_iter_nodes_narrowed(name: str, kinds: tuple[str, ...]) -> None:
    root = archspec.build_graph(name).root
    every = [(path, node) for path, node in iter_nodes(root) if not kinds or node.kind in kinds]
    got = nodes_of_kinds(root, kinds)
    assert [p for p, _ in got] == [p for p, _ in every] and len(got) > 0
    assert all(a is b for (_, a), (_, b) in zip(got, every, strict=True))
