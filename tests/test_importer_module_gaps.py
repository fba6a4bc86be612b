"""Modules and functions `archspec import` refused though the language computes them:
torch.maximum and torch.minimum (the joins of those kinds), nn.ChannelShuffle, nn.Softmax2d,
the dropouts torch has beside nn.Dropout and nn.Dropout2d; and those it still refuses, each
with a message that names the setting and what to do."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.api import build_graph
from archspec.errors import ArchSpecError
from tests.emit_helpers import matches_compile
from tests.test_importer import roundtrip

EXTREMA = """\
archspec: 1
name: extrema
input: [N, 4, H, W]
layers:
  - {name: a, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: gate, type: adaptive_avgpool2d, output_size: 1, from: input}
  - {name: hi, type: maximum, from: [a, gate]}
  - {name: lo, type: minimum, from: [gate, input]}
  - {name: out, type: concat, from: [hi, lo]}
"""


def test_maximum_and_minimum_broadcast_as_torch_computes_them() -> None:
    model = archspec.compile(EXTREMA).eval()
    x = torch.randn(2, 4, 5, 6, generator=torch.Generator().manual_seed(0))
    x[0, 0, 0, 0] = float("nan")  # torch's maximum gives NaN where either side is one
    with torch.no_grad():
        a, gate = model.a(x), x.mean((2, 3), keepdim=True)
        want = torch.cat([torch.maximum(a, gate), torch.minimum(gate, x)], 1)
        torch.testing.assert_close(model(x), want, equal_nan=True, rtol=0, atol=0)
    source = matches_compile(EXTREMA, (2, 4, 5, 6))
    assert "hi = torch.maximum(a, gate)" in source and "torch.minimum(gate, x)" in source
    assert archspec.check(EXTREMA).outputs[0][1:2] == (8,)


def test_maximum_of_shapes_that_do_not_broadcast_is_located() -> None:
    text = EXTREMA.replace("from: [gate, input]", "from: [gate, a]").replace(
        "out_channels: 4, kernel_size: 3", "out_channels: 3, kernel_size: 3"
    )
    with pytest.raises(ArchSpecError) as exc:
        build_graph(text)
    assert exc.value.error_code == "E402" and "maximum joins inputs" in exc.value.render()
    assert exc.value.span is not None and exc.value.span.line == 7


class Extrema(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(3, 6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.a(x), self.b(x)
        return torch.maximum(a, b) + a.minimum(b)


def test_maximum_and_minimum_import() -> None:
    text = roundtrip(Extrema(), (2, 3, 8, 8))
    assert "type: maximum, from: [a, b]" in text and "type: minimum, from: [a, b]" in text
