"""A value two steps read (a fork) whose first reader still holds the running variable `x`
when the second is written: the second keeps its node's name (`x_dist = norm[:, 1]`, as
timm's DeiT writes `x, x_dist = x[:, 0], x[:, 1]`), not the other running variable `out`,
which read as the network's output. A second reader that comes after the first's value is
used up takes `x` again, as before (SqueezeNet's Fire)."""

from __future__ import annotations

import torch

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module

from .emit_helpers import _load

TWO_HEADS = """archspec: 1
name: two_heads
input: [N, 5, 8]
layers:
  - {name: norm, type: layer_norm}
  - {name: x_cls, type: select, dim: 1, index: 0, from: norm}
  - {name: x_dist, type: select, dim: 1, index: 1, from: norm}
  - {name: head, type: linear, out_features: 3, from: x_cls}
  - {name: head_dist, type: linear, out_features: 3, from: x_dist}
  - {name: summed, type: add, from: [head, head_dist]}
"""

CHAINS = """archspec: 1
name: chains
input: [N, 4, 6, 6]
layers:
  - {name: squeeze, type: conv2d, out_channels: 2, kernel_size: 1}
  - {name: act, type: relu}
  - {name: e1, type: conv2d, out_channels: 3, kernel_size: 1, from: act}
  - {name: a1, type: relu}
  - {name: e3, type: conv2d, out_channels: 3, kernel_size: 3, padding: 1, from: act}
  - {name: a3, type: relu}
  - {name: cat, type: concat, from: [a1, a3]}
"""


def _forward(text: str) -> str:
    source = render_module(build_graph(text))
    return source[source.index("def forward") :]


def test_a_second_reader_of_a_fork_keeps_its_name() -> None:
    forward = _forward(TWO_HEADS)
    assert "        x = norm[:, 0]" in forward
    assert "        x_dist = norm[:, 1]" in forward
    assert "self.head_dist(x_dist)" in forward and "out" not in forward


def test_a_reader_after_the_running_value_is_used_up_takes_x_again() -> None:
    forward = _forward(CHAINS)
    assert "        x = self.e1(act)" in forward and "        x = self.e3(act)" in forward


def test_the_renamed_forward_computes_what_compile_does() -> None:
    graph = build_graph(TWO_HEADS)
    emitted = getattr(_load(render_module(graph), "fork_names"), graph.class_name)()
    model = archspec.compile(TWO_HEADS)
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        assert torch.equal(emitted.eval()(x), model.eval()(x))
