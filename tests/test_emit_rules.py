"""Source emission, values a shape rule fills in: written as the arithmetic the rule did on
traced numbers (backends/emit/rules.py), never fitted to instances; and the emitter reads
the expressions lowering kept, never the spec's text."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest
import torch

import archspec
import archspec.backends.pyvalues as pyvalues
from archspec.api import build_graph
from archspec.backends.emit.rules import Traced, TracedFloat, _Log, _val, rule_values
from archspec.backends.pyvalues import Val, literal
from archspec.dims import Dim
from archspec.ir import Node

from .emit_helpers import _load

EMIT = Path(pyvalues.__file__).parent


def _node(kind: str, attrs: dict, in_shapes: list[tuple[int, ...]], shape: tuple) -> Node:
    return Node(
        "x",
        kind,
        attrs,
        tuple(f"i{k}" for k in range(len(in_shapes))),
        tuple(Dim.of(d) for d in shape),
        tuple(tuple(Dim.of(d) for d in s) for s in in_shapes),
        None,
    )


def _sym(text: str, value: int, *names: str) -> Val:
    return Val(text, value, frozenset(names or (text,)))


def _ins(*channels: Val, hw: int = 8) -> list[tuple[Val, ...]]:
    return [(literal(Dim.of("N")), c, literal(hw), literal(hw)) for c in channels]


def test_conv_in_channels_is_its_input_channels_and_out_its_attribute() -> None:
    attrs = dict(
        out_channels=12,
        kernel_size=3,
        stride=1,
        padding=1,
        dilation=1,
        groups=3,
        bias=False,
        padding_mode="zeros",
        in_channels=6,
    )
    node = _node("conv2d", attrs, [("N", 6, 8, 8)], ("N", 12, 8, 8))
    given = {f: literal(v) for f, v in attrs.items() if f != "in_channels"}
    given["out_channels"] = _sym("planes * 4", 12, "planes")
    given["groups"] = _sym("g", 3)
    derived, out = rule_values(node, given, _ins(_sym("in_channels", 6, "<in>")))
    assert derived["in_channels"] == Val("in_channels", 6, frozenset({"<in>"}))
    assert out[1].text == "planes * 4" and out[1].exact
    assert out[2] == literal(8)  # a constant input size stays a constant


def test_concat_channels_are_the_sum_the_rule_computes() -> None:
    node = _node("concat", {"dim": 1}, [("N", 3, 8, 8), ("N", 5, 8, 8)], ("N", 8, 8, 8))
    _, out = rule_values(node, {"dim": literal(1)}, _ins(_sym("a", 3), _sym("b * 2", 5, "b")))
    assert out[1] == Val("a + b * 2", 8, frozenset({"a", "b"}))


def test_batchnorm_features_follow_an_inexact_input_inexactly() -> None:
    attrs = {"eps": 1e-5, "momentum": 0.1, "affine": True, "track_running_stats": True}
    node = _node("batchnorm2d", {**attrs, "num_features": 7}, [("N", 7, 4, 4)], ("N", 7, 4, 4))
    given = {f: literal(v) for f, v in attrs.items()}
    fuzzy = Val("7", 7, frozenset({"k"}), exact=False)
    derived, out = rule_values(node, given, _ins(fuzzy, hw=4))
    assert not derived["num_features"].exact and derived["num_features"].names == {"k"}
    assert not out[1].exact


def test_a_number_the_rule_orders_is_not_written_as_one_branch(monkeypatch: Any) -> None:
    from archspec.ops import REGISTRY
    from archspec.ops.base import Inferred

    def choose(self: Any, attrs: dict, inputs: Any, ctx: Any) -> Inferred:
        (x,) = inputs
        if x[1].value > 1_000_000:  # a check: the other answer refuses the input
            raise ValueError("too wide")
        return Inferred(attrs, (x[0], Dim.of(max(x[1].value, 4)), x[2], x[3]))

    node = _node("relu", {"inplace": False}, [("N", 6, 8, 8)], ("N", 6, 8, 8))
    c = _sym("c", 6)
    _, out = rule_values(node, {"inplace": literal(False)}, _ins(c))
    assert out[1] == c  # relu's own rule: the channels are the input's
    monkeypatch.setattr(type(REGISTRY["relu"]), "infer", choose)
    _, out = rule_values(node, {"inplace": literal(False)}, _ins(c))
    assert out[1] == Val("6", 6, frozenset({"c"}), exact=False)  # max(c, 4) is not c
    log = _Log()
    a = Traced.make(3, ast.Name("a"), frozenset({"a"}), True, log)
    b = Traced.make(5, ast.Name("b"), frozenset({"b"}), True, log)
    assert _val(a + b, 8, frozenset()).text == "a + b"
    assert max(a, b) is b and log.count == 1


def test_a_number_turned_plain_makes_plain_results_inexact() -> None:
    log = _Log()
    c = Traced.make(6, ast.Name("c"), frozenset({"c"}), True, log)
    scale = TracedFloat.make(1.5, frozenset({"s"}), log)
    assert int(c) == 6 and int(scale * 4) == 6
    assert log.escaped == {"c", "s"}
    assert _val(6, 6, frozenset(log.escaped)).exact is False
    assert _val(c + 1, 7, frozenset(), frozenset(log.escaped)).exact is False
    assert _val(c - 0, 6, frozenset()).text == "c"  # `x - 0` is `x`


def test_dims_keep_traced_numbers() -> None:
    log = _Log()
    c = Traced.make(4, ast.Name("c"), frozenset({"c"}), True, log)
    d = (Dim.of(c) * 3 + 1) // 2
    assert isinstance(d.value, Traced) and d.value == 6 and d.value.text() == "(c * 3 + 1) // 2"
    assert type(Dim.of(5).value) is int and type(Dim(None, True).value) is int


def test_emitter_reads_no_spec_text_and_probes_no_rule() -> None:
    assert not hasattr(pyvalues, "Tracer") and not hasattr(pyvalues, "render_src")
    for path in [*EMIT.glob("emit/*.py"), *EMIT.glob("py*.py")]:
        tree = ast.parse(path.read_text())
        names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
        attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert not {"Tracer", "render_src"} & (names | attrs), path
        assert "src" not in attrs and "switches" not in attrs, path  # Node.src, spec text


@pytest.mark.parametrize("text_when", ["in_channels != 8 or s != 1"])
def test_when_and_switches_are_kept_as_expressions(text_when: str) -> None:
    spec = f"""
archspec: 1
name: w
input: [N, 4, 8, 8]
blocks:
  B:
    params: {{s: int}}
    layers:
      - type: residual
        body: [{{type: conv2d, out_channels: 8, kernel_size: 3, stride: s, padding: 1}}]
        shortcut:
          name: down
          when: {text_when}
          layers: [{{type: conv2d, out_channels: 8, kernel_size: 1, stride: s}}]
layers:
  - {{name: a, type: B, s: 1}}
  - {{name: b, type: B, s: 1}}
"""
    graph = build_graph(spec)
    a = graph.root.node("a").child
    b = graph.root.node("b").child
    assert a is not None and b is not None
    down = a.node("down")
    assert down.when_expr is not None and down.when_expr.text == text_when
    assert dict(down.when_expr.names) == {"in_channels": "input", "s": "block"}
    assert [(sw.name, sw.expr.text) for sw in b.switch_exprs] == [("down", text_when)]


@pytest.mark.parametrize("text", ["round(sqrt(c * 21))", "widths[c]", "c.real"])
def test_an_expression_python_cannot_write_is_the_instances_literal(text: str) -> None:
    from archspec.ir import AttrExpr

    env = pyvalues.Env(frozenset({"c"}), {"c": 3}, {"c": "c"})
    got = pyvalues.render_expr(AttrExpr(text, (("c", "block"),)), 8, env, None)
    assert got.text == "8" and not got.exact and "c" in got.names
    kept = pyvalues.render_expr(AttrExpr("max(c * 2, 8)", (("c", "block"),)), 8, env, None)
    assert kept == Val("max(c * 2, 8)", 8, frozenset({"c"}))
    # ceil and floor: the emitted file imports math's
    kept = pyvalues.render_expr(AttrExpr("ceil(c * 2.5)", (("c", "block"),)), 8, env, None)
    assert kept == Val("ceil(c * 2.5)", 8, frozenset({"c"}))
    # make_divisible: the emitted file defines it (torchvision's _make_divisible)
    text = "make_divisible(c * 2, 8)"
    kept = pyvalues.render_expr(AttrExpr(text, (("c", "block"),)), 8, env, None)
    assert kept == Val(text, 8, frozenset({"c"}))


CHUNK_FREE = """archspec: 1
name: chunk_free
input: [N, 8, H, W]
blocks:
  B:
    params: {w: int, e: int, s: 1}
    let:
      down: s == 2
    layers:
      - {name: expand, type: conv2d, out_channels: 2 * w + e, kernel_size: 1, bias: false}
      - {type: chunk, chunks: 2, dim: 1, names: [a, b]}
      - {name: ca, type: conv2d, out_channels: w, kernel_size: 3, padding: 1, stride: s, from: a}
      - {name: cb, type: conv2d, out_channels: w, kernel_size: 3, padding: 1, stride: s, from: b}
      - {name: pool, type: maxpool2d, kernel_size: 3, stride: 2, padding: 1, when: down, from: ca}
      - {name: cat, type: concat, from: [ca, cb], when: not down}
      - {name: cat, type: concat, from: [pool, cb], when: down}
layers:
  - {name: b1, type: B, w: 3, e: 0}
  - {name: b2, type: B, w: 5, e: 0}
  - {name: b3, type: B, w: 6, e: 0, s: 2}
"""


def test_each_piece_of_a_chunk_has_its_own_size_in_a_class_with_free_arguments() -> None:
    """The rule was run without the piece's `_index`, so every piece got the last one's size:
    `(2 * w + e) // 2` for `a` too, right for the instances (e = 0) but not for the class's
    other arguments (`B(8, 3, 1)`: `a` has 4 channels, its conv was built for 3)."""
    source = archspec.emit(CHUNK_FREE)
    # one class: its cases (`down`, a let over `s`) are tested in forward (`self.down`)
    assert "def __init__(self, in_channels: int, w: int, e: int, s: int = 1) -> None:" in source
    assert (
        "self.ca = nn.Conv2d((2 * w + e + 1) // 2, w, kernel_size=3, stride=s, padding=1)" in source
    )
    assert "self.cb = nn.Conv2d((2 * w + e) // 2, w, kernel_size=3, stride=s, padding=1)" in source
    block = _load(source, "chunk_free").B(8, 3, 1)
    assert block(torch.randn(1, 8, 4, 4)).shape == (1, 6, 4, 4)
