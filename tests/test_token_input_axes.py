"""A declared input of tokens is read as tokens everywhere: `[N, L, 32]` and `[L, N, 32]`
hold their features last (inputdomain.size_dims), but lowering took dim 1 as their
channels, so a block of two token inputs had comments of `(N, L, L)` and `(N, L, L_mem)`
(or none: its walk failed) and `in_channels` of `[N, L, 32]` was `L`, its E302 hint saying
to write L as a number; and `[10, N, 32]` (sequence first) was stated `(N2, N, 32)`."""

from __future__ import annotations

import pytest
import torch

import archspec
from archspec.errors import ArchSpecError
from tests.ops_cases import same_as_emitted

CROSS = """\
archspec: 1
name: memnet
input: [N, L, 32]
blocks:
  Cross:
    inputs: [x, mem]
    layers:
      - {name: attn, type: multihead_attention, num_heads: 4, from: [x, mem]}
      - {name: out, type: add, from: [attn, x]}
layers:
  - {name: mem, type: slice, dim: 1, start: 1}
  - {name: cross, type: Cross, from: [input, mem]}
"""


def test_a_block_of_two_token_inputs_states_each_with_its_features_last() -> None:
    source = archspec.emit(CROSS)
    assert "        # x: (N, L, in_channels)\n        # mem: (N, L_mem, 32)\n" in source
    assert "        out = self.attn(x, mem)  # (N, L, in_channels)\n" in source
    same_as_emitted(CROSS, torch.rand(2, 5, 32))


def test_in_channels_of_tokens_is_not_their_count() -> None:
    text = CROSS.split("blocks:")[0] + "layers:\n  - {type: linear, out_features: in_channels}\n"
    with pytest.raises(ArchSpecError) as exc:
        archspec.compile(text, device="meta")
    (diag,) = exc.value.diagnostics
    assert diag.code == "E302" and "the channels are at dim 2 here" in (diag.hint or "")
    assert "Write that size as a number" not in (diag.hint or "")


def test_tokens_sequence_first_name_their_length_l() -> None:
    text = (
        "archspec: 1\nname: seqf\ninput: [10, N, 32]\nlayers:\n"
        "  - {name: attn, type: multihead_attention, num_heads: 4, batch_first: false}\n"
    )
    report = archspec.check(text)
    assert report.domain_text == "seqf accepts (L, N, 32) with L >= 1"
    assert "        # x: (L, N, 32)\n" in archspec.emit(text)
