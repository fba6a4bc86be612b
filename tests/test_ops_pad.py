"""zero_pad1d and zero_pad3d against torch's nn.ZeroPad1d / nn.ZeroPad3d: symbolic output
sizes at many sizes, batched and unbatched inputs, emitted source, located errors, and a
causal temporal block (a TCN's left padding) against the same block written in torch."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from torch import nn

import archspec

from .ops_cases import assert_located, param_count, same_as_emitted, spec, symbolic_out


def _tup(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


@pytest.mark.parametrize("padding", [0, 3, [2, 0], [0, 1], [4, 5]])
def test_zero_pad1d_is_torchs(padding: Any) -> None:
    text = spec([{"type": "zero_pad1d", "padding": padding}], ("N", 4, "L"))
    reference = nn.ZeroPad1d(_tup(padding))
    model = archspec.compile(text)
    for n, length in itertools.product([1, 2], [1, 2, 7, 16]):
        x = torch.randn(n, 4, length)
        out = model(x)
        assert tuple(out.shape) == symbolic_out(text, {"N": n, "L": length})
        assert torch.equal(out, reference(x))
    assert param_count(text) == (0, 0)
    same_as_emitted(text, torch.randn(2, 4, 5))
    unbatched = spec([{"type": "zero_pad1d", "padding": padding}], (4, "L"))
    x = torch.randn(4, 6)
    assert torch.equal(archspec.compile(unbatched)(x), reference(x))


@pytest.mark.parametrize("padding", [1, [1, 0, 0, 2, 3, 0], [0, 0, 0, 0, 0, 1]])
def test_zero_pad3d_is_torchs(padding: Any) -> None:
    text = spec([{"type": "zero_pad3d", "padding": padding}], ("N", 2, "D", "H", "W"))
    reference = nn.ZeroPad3d(_tup(padding))
    model = archspec.compile(text)
    for d, h, w in itertools.product([1, 3], [2, 5], [1, 4]):
        x = torch.randn(2, 2, d, h, w)
        out = model(x)
        assert tuple(out.shape) == symbolic_out(text, {"N": 2, "D": d, "H": h, "W": w})
        assert torch.equal(out, reference(x))
    same_as_emitted(text, torch.randn(1, 2, 3, 4, 5))


def test_zero_pad_bad_values_are_located() -> None:
    assert_located(spec([{"type": "zero_pad1d", "padding": [1, 2, 3]}], ("N", 4, 8)), "E409")
    assert_located(spec([{"type": "zero_pad1d", "padding": -1}], ("N", 4, 8)), "E309", "-1")
    assert_located(spec([{"type": "zero_pad2d", "padding": 1}], ("N",)), "E401")
    assert_located(spec([{"type": "zero_pad3d", "padding": [1, 1]}], ("N", 2, 3, 3, 3)), "E409")
    assert_located(spec([{"type": "zero_pad3d", "padding": 1}], ("N", 8)), "E401")


CAUSAL = """\
archspec: 1
name: causal_tcn
input: [N, 4, L]
blocks:
  TemporalBlock:
    params: {n_out: int, dilation: int}
    let:
      project: in_channels != n_out
    layers:
      - {name: pad1, type: zero_pad1d, padding: [2 * dilation, 0]}
      - {name: conv1, type: conv1d, out_channels: n_out, kernel_size: 3, dilation: dilation}
      - {name: relu1, type: relu}
      - {name: downsample, type: conv1d, out_channels: n_out, kernel_size: 1, from: input,
         when: project}
      - {name: projected, type: add, from: [relu1, downsample], when: project}
      - {name: kept, type: add, from: [relu1, input], when: not project}
      - {name: relu, type: relu}
layers:
  - name: network
    type: for_each
    rows: [[8], [8]]
    fields: [c]
    row_index: r
    layer: {type: TemporalBlock, n_out: c, dilation: 2 ** r}
"""


class _TemporalBlock(nn.Module):
    """A TCN block (locuslab's TemporalBlock, one conv) made causal by left zero padding."""

    def __init__(self, n_in: int, n_out: int, dilation: int) -> None:
        super().__init__()
        self.pad1 = nn.ZeroPad1d((2 * dilation, 0))
        self.conv1 = nn.Conv1d(n_in, n_out, 3, dilation=dilation)
        self.relu1 = nn.ReLU()
        self.downsample = nn.Conv1d(n_in, n_out, 1) if n_in != n_out else None
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu1(self.conv1(self.pad1(x)))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def test_causal_temporal_blocks_are_the_torch_network() -> None:
    reference = nn.Sequential(_TemporalBlock(4, 8, 1), _TemporalBlock(8, 8, 2)).eval()
    model = archspec.compile(CAUSAL).eval()
    want = [(f"network.{k}", v.shape) for k, v in reference.state_dict().items()]
    assert [(k, v.shape) for k, v in model.state_dict().items()] == want
    model.load_state_dict({f"network.{k}": v for k, v in reference.state_dict().items()})
    reference.load_state_dict({k[len("network.") :]: v for k, v in model.state_dict().items()})
    for length in (1, 5, 32):
        x = torch.randn(2, 4, length)
        with torch.no_grad():
            torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
        # causal: the first steps do not see later ones
        y = x.clone()
        y[..., -1] += 1.0
        with torch.no_grad():
            assert torch.equal(model(x)[..., :-1], model(y)[..., :-1])
    assert archspec.check(CAUSAL).domain_text == "causal_tcn accepts (N, 4, L) with L >= 1"
    same_as_emitted(CAUSAL, torch.randn(2, 4, 9))
