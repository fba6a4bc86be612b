"""Emitted `forward` reads no argument of `__init__` by its bare name: a function node whose
value comes from a block's param (a shuffle of `groups`) reads what `__init__` stores
(`self.groups`, as timm's SplitAttn reads `self.radix`); one from the network's param (a
split at `reg_tokens`) is written with its value, and the param is fixed, as a param that
decides structure is. Before, `forward` named the param (`x.split([reg_tokens, 16], 1)`) and
raised NameError on its first call."""

from __future__ import annotations

import torch
from torch.nn import functional as F

import archspec
from tests.ops_cases import emitted, same_as_emitted

SPEC = """\
archspec: 1
name: prefix_tokens
input: [N, 20, 8]
params:
  reg_tokens: 4
blocks:
  Shuffled:
    params: {groups: int}
    layers:
      - {name: fc, type: linear, out_features: 8}
      - {name: mixed, type: permute, dims: [0, 2, 1]}
      - {name: shuffled, type: channel_shuffle, groups: groups}
layers:
  - {type: split, split_size: [reg_tokens, 20 - reg_tokens], dim: 1, names: [prefix, patches]}
  - {name: body, type: Shuffled, groups: 2, from: patches}
  - {name: pooled, type: mean, dim: [2]}
"""


def test_function_values_from_params_are_stored_or_written_as_the_instances() -> None:
    source = archspec.emit(SPEC)
    assert "split([4, 16], dim=1)" in source
    assert "        self.groups = groups\n" in source
    assert "F.channel_shuffle(x, self.groups)" in source
    assert "self.body = Shuffled(2)" in source
    model = emitted(SPEC)  # runs: no name of __init__ in forward
    x = torch.randn(3, 20, 8)
    ours = archspec.compile(SPEC).eval()
    ours.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        want = F.channel_shuffle(ours.body.fc(x[:, 4:]).permute(0, 2, 1), 2).mean([2])
        torch.testing.assert_close(model.eval()(x), want, rtol=0, atol=0)
    same_as_emitted(SPEC, x)


def test_another_value_is_emitted_with_set() -> None:
    source = archspec.emit(SPEC, reg_tokens=6)
    assert "split([6, 14], dim=1)" in source
    same_as_emitted(SPEC.replace("reg_tokens: 4", "reg_tokens: 6"), torch.randn(2, 20, 8))
