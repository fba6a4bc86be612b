"""Session 41's acceptance round (helper h41e): what writing ConvNeXt V2, MobileViT, DeiT,
BiFPN, UNet++ and other networks from the docs alone found wrong in the general mechanisms,
each case reduced to the spec that shows it."""

from __future__ import annotations

import pytest
import torch

import archspec
from tests.ops_cases import same_as_emitted

# a join whose first input broadcasts from a lower rank: BiFPN's `weight[0] * p4_in`, a 0-d
# fusion weight times a map; ConvNeXt's `layer_scale * x`, (C, 1, 1) times (N, C, H, W)
FIRST_BROADCAST = {
    "selected_weight": "  - {name: w, type: parameter, shape: [2], value: 1.0}\n"
    "  - {name: a, type: select, dim: 0, index: 0, from: w}\n"
    "  - {name: x, type: mul, from: [a, input]}\n",
    "layer_scale": "  - {name: w, type: parameter, shape: [16, 1, 1], value: 1.0}\n"
    "  - {name: x, type: mul, from: [w, input]}\n",
    "zero_d_gain": "  - {name: w, type: parameter, shape: []}\n"
    "  - {name: x, type: add, from: [w, input]}\n",
    "maximum": "  - {name: w, type: parameter, shape: [16, 1, 1]}\n"
    "  - {name: x, type: maximum, from: [w, input]}\n",
}


@pytest.mark.parametrize("name", sorted(FIRST_BROADCAST))
def test_in_channels_after_a_join_whose_first_input_broadcasts(name: str) -> None:
    # it was E302 'the channels are at dim 5 here' (or 'a permute and a change of rank left
    # no dim known to hold the channels') at the conv: the join took the first input's axis
    # as moved by a change of rank, though the output's channels are the map's
    text = (
        f"archspec: 1\nname: {name}\ninput: [N, 16, H, W]\nlayers:\n{FIRST_BROADCAST[name]}"
        "  - {name: conv, type: conv2d, out_channels: in_channels * 2, kernel_size: 1}\n"
    )
    report = archspec.check(text)
    assert report.ok and not report.diagnostics, report.diagnostics
    model = archspec.compile(text)
    assert model.conv.in_channels == 16 and model.conv.out_channels == 32
    same_as_emitted(text, torch.rand(2, 16, 5, 3))


def test_a_block_reads_in_channels_after_its_layer_scale() -> None:
    # the block's class, emitted once for two widths, keeps reading its own input's width
    text = """\
archspec: 1
name: scaled_blocks
input: [N, 8, H, W]
blocks:
  Scaled:
    params: {dim: int}
    layers:
      - {name: gamma, type: parameter, shape: [dim, 1, 1], value: 0.5}
      - {name: scaled, type: mul, from: [gamma, input]}
      - {name: proj, type: conv2d, out_channels: in_channels + 8, kernel_size: 1}
layers:
  - {name: a, type: Scaled, dim: 8}
  - {name: b, type: Scaled, dim: 16}
"""
    model = archspec.compile(text)
    assert [model.a.proj.in_channels, model.b.proj.in_channels] == [8, 16]
    same_as_emitted(text, torch.rand(2, 8, 4, 4))


def test_requirements_with_or_are_bracketed_where_and_joins_them() -> None:
    # BiFPN's levels: each sum holds where the upsampled map's size is the other's or 1; the
    # words were 'where also H2 == 2*H3 or H2 == 1 and W2 == 2*W3 or W2 == 1', which read
    # with Python's precedence as another condition
    text = """\
archspec: 1
name: two_levels
inputs:
  hi: [N, 8, H, W]
  lo: [N, 8, H2, W2]
layers:
  - {name: up, type: upsample, scale_factor: 2, mode: nearest, from: lo}
  - {name: fused, type: add, from: [hi, up]}
"""
    words = archspec.check(text).domain_text
    assert words.endswith("where also (H == 2*H2 or H == 1) and (W == 2*W2 or W == 1)"), words
