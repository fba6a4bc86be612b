"""A network (or block) of several inputs, said by name: `archspec diff --json` gave
`input`, the first input alone (`inputs` now gives each by name, and the text's 'each at
its own input' sees a later input change), and `archspec import` wrote the first input as
`from: input` beside `from: y` (now `from: x`)."""

from __future__ import annotations

import torch
from torch import nn

import archspec

TWO = """\
archspec: 1
name: two
inputs:
  img: [N, 3, 16, 16]
  meta: [N, META]
layers:
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 3, from: img}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flat, type: flatten}
  - {name: fc, type: linear, out_features: 4, from: meta}
  - {name: both, type: concat, from: [flat, fc]}
"""


def test_diff_gives_every_input_by_name() -> None:
    a, b = TWO.replace("META", "8"), TWO.replace("META", "16")
    found = archspec.diff(a, b).to_dict()
    assert found["a"]["input"] == [1, 3, 16, 16]
    assert found["a"]["inputs"] == {"img": [1, 3, 16, 16], "meta": [1, 8]}
    assert found["b"]["inputs"] == {"img": [1, 3, 16, 16], "meta": [1, 16]}
    text = archspec.diff(a, b).text()
    assert "MACs per sample: 21,200 -> 21,232 (+32) (each at its own input)" in text
    one = "archspec: 1\nname: one\ninput: [N, 8]\nlayers: [{type: linear, out_features: 2}]\n"
    assert "inputs" not in archspec.diff(one, one).to_dict()["a"]


class Two(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.b = nn.Linear(6, 4)
        self.a = nn.Linear(8, 4)
        self.fuse = Fuse()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.b(y) * self.a(x)
        return self.fuse(h, x)


class Fuse(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gate = nn.Linear(8, 4)
        self.out = nn.Linear(4, 4)

    def forward(self, h: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        g = torch.sigmoid(self.gate(x))
        return self.out(h) * g


def test_import_reads_the_first_input_by_its_name() -> None:
    model = Two().eval()
    example = (torch.rand(2, 8), torch.rand(2, 6))
    text = archspec.from_module(model, example)
    assert "{name: a, type: linear, from: x, out_features: 4}" in text
    assert "{name: out, type: linear, from: h, out_features: 4}" in text
    assert "from: input" not in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(twin(*example), model(*example), rtol=0, atol=0)
