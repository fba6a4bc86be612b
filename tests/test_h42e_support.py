"""The support texts `archspec check` asks for (backends/support.py), read faster but the same:
the walk of a graph's distinct nodes in one loop, and the names of a text cut out of a shipped
file read from that file's statements instead of a second parse."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Any

import pytest

import archspec
from archspec.backends import support
from archspec.ir import Graph, Module, Node
from archspec.ops import REGISTRY, Op
from archspec.ops.support import STATEMENTS

# a strided `padding: same` conv (a support class per node, several texts) inside a block
# that repeats (copies of one subtree), beside kinds with one text each
STRIDED_SAME = """
archspec: 1
name: strided_same
input: [N, 3, 32, 32]
blocks:
  Down:
    params: {c: {type: int}}
    layers:
      - {name: conv, type: std_conv2d, out_channels: c, kernel_size: 3, stride: 2, padding: same}
      - {name: bn, type: layer_norm2d}
      - {name: act, type: gelu}
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: same}
  - {name: d1, type: Down, c: 8}
  - {name: d2, type: Down, c: 8}
  - {name: d3, type: Down, c: 16}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
"""


def _reference_nodes(root: Module) -> Iterator[Node]:
    """The walk `_wanted` made before: a generator over the distinct nodes."""
    seen: set[int] = set()
    stack = [iter(root.nodes)]
    while stack:
        node = next(stack[-1], None)
        if node is None:
            stack.pop()
            continue
        yield node
        child = node.child
        if child is not None:
            origin = id(child.copy_of or child)
            if origin not in seen:
                seen.add(origin)
                stack.append(iter(child.nodes))


def _reference_wanted(graph: Graph) -> list[tuple[str, str]]:
    """`_wanted` as it was written before (a list searched for each text)."""
    wanted: list[tuple[str, str]] = []
    asked: dict[str, Op] = {}
    for node in _reference_nodes(graph.root):
        if node.child is not None:
            continue
        op = REGISTRY[node.kind]
        if not node.is_module and op.style == "module":
            continue
        if node.kind in asked and asked[node.kind] is op:
            continue
        text: Any = op.emit_support_for(node.attrs)
        pieces = text if isinstance(text, tuple) else (text,)
        if type(op).emit_support_for is Op.emit_support_for:
            asked[node.kind] = op
        for piece in pieces:
            if (node.kind, piece) not in wanted:
                wanted.append((node.kind, piece))
    return wanted


@pytest.mark.parametrize("source", ["maxvit_t", "swin_t", "convnext_tiny", STRIDED_SAME])
def test_wanted_is_the_reference_walk(source: str) -> None:
    graph = archspec.build_graph(source)
    wanted = support._wanted(graph)
    assert wanted == _reference_wanted(graph)
    assert len({kind for kind, text in wanted if text}) >= 2  # texts were asked for


def test_strided_same_asks_a_text_per_node_kind_once() -> None:
    """The strided `same` conv's class and its padding function come once per kind, however
    many nodes (and copies of the block) ask for them; the module holds each text once."""
    graph = archspec.build_graph(STRIDED_SAME)
    wanted = support._wanted(graph)
    assert len(wanted) == len(set(wanted))
    texts = [text for _, text in wanted if text]
    assert sum("def tf_same_padding" in t for t in texts) == 2  # conv2d's and std_conv2d's
    held, _ = support.support_texts(graph)
    assert sum("def tf_same_padding" in t for t in held) == 1
    assert any("class Conv2dSame" in t for t in texts)
    assert any("class StdConv2dSame" in t for t in texts)


def test_names_from_kept_statements_are_those_of_a_parse() -> None:
    """A whole file's text with more than definitions in it (window attention's) is named
    from the statements `definitions` kept, as parsing the text gives them."""
    archspec.build_graph("swin_t")  # asks for the window attention's text
    for op in list(REGISTRY.values()):
        op.emit_support()
    assert STATEMENTS, "no shipped text kept its statements"
    for text, body in list(STATEMENTS.items()):
        support._support_names.cache_clear()
        kept = support._support_names("kind", text)
        assert kept, "a kept text defines names"
        del STATEMENTS[text]
        try:
            support._support_names.cache_clear()
            assert support._support_names("kind", text) == kept
        finally:
            STATEMENTS[text] = body
        assert [type(s) for s in body] == [type(s) for s in ast.parse(text).body]
    support._support_names.cache_clear()
