"""Emitted `forward` names a block's inputs as its `inputs:` does, the first one included
(`forward(self, x1, x2)`, milesial's U-Net `Up`), where it was `x` whatever the spec said."""

from __future__ import annotations

import textwrap

import torch

from tests.emit_helpers import _load, matches_compile

FPN = textwrap.dedent(
    """\
    archspec: 1
    name: fpn_step
    input: [N, 8, 16, 16]
    blocks:
      TopDown:
        inputs: [top, feat]
        layers:
          - {name: lateral, type: conv2d, out_channels: 8, kernel_size: 1, from: feat}
          - {name: up, type: interpolate_as, from: [top, lateral], mode: nearest}
          - {name: merged, type: add, from: [lateral, up]}
    layers:
      - {name: c4, type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
      - {name: lat, type: conv2d, out_channels: 8, kernel_size: 1}
      - {name: td, type: TopDown, from: [lat, input]}
    """
)


def test_the_first_input_keeps_its_name() -> None:
    source = matches_compile(FPN, (2, 8, 16, 16))
    assert "def forward(self, top: torch.Tensor, feat: torch.Tensor)" in source
    assert "# top: (N, 8, H, W)" in source
    assert "F.interpolate(top, size=lateral.shape[2:]" in source
    assert "self.td(lat, x)" in source  # the network's own input stays `x`


def test_a_checkpointed_block_passes_its_inputs_by_their_names() -> None:
    text = FPN.replace("inputs: [top, feat]", "inputs: [top, feat]\n    checkpoint: true")
    source = matches_compile(text, (2, 8, 16, 16))
    assert "checkpoint(self._forward_impl, top, feat, use_reentrant=False)" in source
    assert "def _forward_impl(self, top: torch.Tensor, feat: torch.Tensor)" in source
    model = _load(source, "fpn_ckpt").FpnStep().train()
    model(torch.randn(2, 8, 16, 16, requires_grad=True)).sum().backward()


def test_a_first_input_named_as_a_file_name_is_renamed_and_one_named_out_kept() -> None:
    """`F` is torch.nn.functional in an emitted file, so an input called F gets another
    name; `out`, a variable the body may write, stays the input's until nothing reads it."""
    text = FPN.replace("[top, feat]", "[F, feat]").replace("[top,", "[F,")
    source = matches_compile(text, (1, 8, 16, 16))
    assert "def forward(self, F_: torch.Tensor, feat: torch.Tensor)" in source
    assert "F.interpolate(F_," in source
    text = FPN.replace("[top, feat]", "[out, feat]").replace("[top,", "[out,")
    source = matches_compile(text, (1, 8, 16, 16))
    assert "def forward(self, out: torch.Tensor, feat: torch.Tensor)" in source


CELLS = textwrap.dedent(
    """\
    archspec: 1
    name: cells
    input: [N, 3, 8, 8]
    blocks:
      Cell:
        inputs: [x_prev, x]
        layers:
          - {name: prev, type: conv2d, out_channels: 4, kernel_size: 1, from: x_prev}
          - {name: cur, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1, from: x}
          - {name: out, type: concat, from: [prev, cur]}
    layers:
      - {name: stem, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
      - {name: cell_0, type: Cell, from: [input, stem]}
      - type: repeat
        count: 2
        flat: true
        names: "cell_{i + 1}"
        layer: {type: Cell, from: [{each: stem, when: i == 0}, {each: "cell_{i - 1}", when: i > 0},
                                   "cell_{i}"]}
    """
)


def test_a_later_input_named_x_compiles_and_keeps_its_name() -> None:
    """NASNet's cells take (x_prev, x): the compiled forward's fx placeholders were named
    after the inputs, `x` twice, a SyntaxError in torch.fx (an internal error, exit 3)."""
    source = matches_compile(CELLS, (2, 3, 8, 8))
    assert "def forward(self, x_prev: torch.Tensor, x: torch.Tensor)" in source
    assert "self.cur(x)" in source and "self.cell_2(cell_0, cell_1)" in source
