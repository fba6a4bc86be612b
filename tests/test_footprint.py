"""`footprint` counts each layer once per distinct (kind, style, attributes, shapes) objects:
the copies of a block instance share them, and anything else must be counted again."""

from __future__ import annotations

import dataclasses

import archspec
from archspec.ir import Graph, Node
from archspec.passes.costs import footprint

SPEC = """archspec: 1
name: two
input: [N, 3, 8, 8]
layers:
  - {name: a, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: b, type: conv2d, out_channels: 6, kernel_size: 3}
  - {name: c, type: batchnorm2d}
  - {name: d, type: conv2d, out_channels: 6, kernel_size: 3, padding: 1, padding_mode: reflect}
"""


def _numel(node: Node) -> int:
    out = 1
    for d in node.shape or ():
        out *= d.value if d.is_const else 1  # the batch is 1
    return out


def _with(graph: Graph, *nodes: Node) -> Graph:
    return dataclasses.replace(graph, root=dataclasses.replace(graph.root, nodes=nodes))


def test_copies_that_share_objects_count_like_the_real_ones() -> None:
    graph = archspec.build_graph("resnet50")
    fp = footprint(graph)
    model = archspec.compile("resnet50", device="meta")
    assert fp.params == sum(p.numel() for p in model.parameters())
    assert fp.activations == 37_561_832


def test_a_node_sharing_some_objects_is_counted_again() -> None:
    graph = archspec.build_graph(SPEC)
    a, b, c, d = graph.root.nodes
    base = footprint(_with(graph, a))
    # the same attributes, other shapes: other activations (a key of the attributes alone
    # would reuse a's)
    moved = dataclasses.replace(a, name="m", shape=b.shape)
    fp = footprint(_with(graph, a, moved))
    assert fp.activations == base.activations + _numel(b)  # type: ignore[operator]
    assert fp.params == 2 * base.params
    # the same output, another input: another padded copy (reflect pads a copy of it)
    padded = footprint(_with(graph, d))
    wide = (tuple(x * 2 if i > 1 else x for i, x in enumerate(d.in_shapes[0])),)
    fp = footprint(_with(graph, d, dataclasses.replace(d, name="e", in_shapes=wide)))
    copy = padded.activations - _numel(d)  # type: ignore[operator]
    assert copy == 1 * 6 * 8 * 8  # (N, 6, 6, 6) padded by 1
    assert fp.activations == 2 * _numel(d) + copy + 1 * 6 * 14 * 14  # type: ignore[operator]
    # the same shapes, other attributes: other parameters
    wider = dataclasses.replace(a, name="w", attrs=b.attrs)
    fp = footprint(_with(graph, a, wider))
    assert fp.params == base.params + footprint(_with(graph, b)).params
    assert fp.largest is not None and fp.largest[0] == "w"
    # the same objects, another kind: a relu holds nothing, whatever the batchnorm holds
    relu = dataclasses.replace(c, name="r", kind="relu")
    alone = footprint(_with(graph, c))
    fp = footprint(_with(graph, c, relu))
    assert (fp.params, fp.buffers) == (alone.params, alone.buffers) != (0, 0)
    # a node computed in forward holds no parameters, even with a module's objects
    called = dataclasses.replace(a, name="f", is_module=False)
    fp = footprint(_with(graph, a, called))
    assert fp.params == base.params
    assert fp.activations == 2 * base.activations  # type: ignore[operator]


def test_the_family_keeps_counts_per_batch_bound() -> None:
    """Inside a family's scope the counts of a subtree are kept per batch bound: the same
    graph at batch 2 is counted again, not given batch 1's activations."""
    from archspec.passes.family import shared_findings

    graph = archspec.build_graph("resnet18")
    one, two = footprint(graph), footprint(graph, batch=2)
    with shared_findings():
        inside = [footprint(graph), footprint(graph, batch=2), footprint(graph)]
    assert [fp.activations for fp in inside] == [one.activations, two.activations] + [
        one.activations
    ]
    assert two.activations == 2 * one.activations  # type: ignore[operator]
    assert {fp.params for fp in inside} == {one.params}


def test_scratch_sees_each_input_with_the_batch_bound() -> None:
    """A padded copy is counted at its input with the batch bound, also when the input is
    the output of a layer counted before (the bound shape kept by its id)."""
    graph = archspec.build_graph(SPEC)
    d = graph.root.nodes[3]
    twice = dataclasses.replace(d, name="e", in_shapes=(d.shape,), shape=d.shape)
    fp = footprint(_with(graph, d, twice))
    alone = footprint(_with(graph, d))
    copy = alone.activations - _numel(d)  # type: ignore[operator]
    assert copy == 1 * 6 * 8 * 8  # d pads its (N, 6, 6, 6) input by 1 on each side
    # e pads d's output, the same size and the very tuple d's count bound: the same copy
    assert fp.activations == 2 * alone.activations  # type: ignore[operator]


def test_a_conv_said_to_have_no_scratch_has_none_and_the_others_are_counted() -> None:
    # the count asks a built-in conv `_no_scratch(attrs)` before binding its shapes: it
    # must agree with scratch_numel for every padding a conv takes
    from archspec.dims import Dim
    from archspec.ops import REGISTRY

    spec = """archspec: 1
name: pads
input: [N, 3, 16, 16]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, padding_mode: reflect}
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: same}
  - {type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: same}
  - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, padding_mode: circular}
"""
    graph = archspec.build_graph(spec)
    said = []
    for node in graph.root.nodes:
        op = REGISTRY[node.kind]
        scratch = op.scratch_numel(node.attrs, node.in_shapes, node.shape)
        assert op._no_scratch(node.attrs) == (scratch == Dim.of(0)), node.name
        said.append(op._no_scratch(node.attrs))
    assert said == [True, False, True, False, False]
    fp = footprint(graph)
    plain = sum(_numel(n) for n in graph.root.nodes)
    padded = 4 * 18 * 18 + 4 * 17 * 17 + 4 * 10 * 10  # reflect, SAME at stride 2, circular
    assert fp.activations == plain + padded
