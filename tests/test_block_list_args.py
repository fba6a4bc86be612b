"""A list written in place as a block's argument reads the caller's names, as a `str`
argument does: `window_size: [window, window]` is [4, 4] where the caller's `window` is 4
(before, the block received the texts ['window', 'window'], which compiled only while the
block saw a name of that spelling, and `archspec emit` stopped with an internal E601).
Text that names nothing in scope (a table's `HS`) stays text."""

from __future__ import annotations

import torch
from torch import nn

import archspec
from tests.ops_cases import same_as_emitted

SPEC = """\
archspec: 1
name: list_args
input: [N, 4, 9, 9]
params:
  w: 3
  act: relu
blocks:
  Conv:
    params: {ks: list, w: 1, row: [1, x]}
    layers:
      - {name: conv, type: conv2d, out_channels: 6, kernel_size: ks, padding: 1}
      - {name: act, type: relu, when: "row[1] == 'HS'"}
layers:
  - {name: a, type: Conv, ks: [w, w], row: [w, HS]}
  - {name: b, type: Conv, ks: [w, w - 2], row: [1, HS]}
"""


class Reference(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Module()
        self.a.conv = nn.Conv2d(4, 6, 3, padding=1)
        self.a.act = nn.ReLU()
        self.b = nn.Module()
        self.b.conv = nn.Conv2d(6, 6, (3, 1), padding=1)
        self.b.act = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.b.act(self.b.conv(self.a.act(self.a.conv(x))))


def test_list_argument_items_are_the_callers_values() -> None:
    graph = archspec.build_graph(SPEC)
    args = [n.child.args for n in graph.root.nodes if n.child is not None]
    assert args[0]["ks"] == [3, 3] and args[0]["row"] == [3, "HS"]  # the caller's w, not 1
    assert args[1]["ks"] == [3, 1]
    ours, reference = archspec.compile(SPEC).eval(), Reference().eval()
    theirs = reference.state_dict()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.items()
    ]
    ours.load_state_dict(theirs, strict=True)
    x = torch.randn(2, 4, 9, 9)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))
    same_as_emitted(SPEC, x)


NESTED = """\
archspec: 1
name: nested_list_args
input: [N, 4, 9, 9]
params: {w: 3}
blocks:
  Conv:
    params: {table: list}
    layers:
      - {name: conv, type: conv2d, out_channels: 6, kernel_size: "table[1][0]", padding: 1}
layers:
  - {name: a, type: Conv, table: [w, [w, [w]]]}
"""


def test_a_nested_list_argument_reads_the_callers_names_at_every_depth() -> None:
    """`[w, [w, [w]]]`: the items of the inner lists are the caller's w as well (the
    expression kept for the emitter raised TypeError on the inner list, exit 3)."""
    graph = archspec.build_graph(NESTED)
    (call,) = [n.child for n in graph.root.nodes if n.child is not None]
    assert call.args["table"] == [3, [3, [3]]]
    model = archspec.compile(NESTED)
    assert model.a.conv.kernel_size == (3, 3)
    same_as_emitted(NESTED, torch.randn(2, 4, 9, 9))
