"""A feature extractor walking a plain nn.Sequential of stages and keeping every stage's output
(torchvision's SSDLite backbone: `for block in self.features: x = block(x);
output.append(x)`) was refused (E904 "calls the items of `self.features` with other steps
between them") where the same walk of an nn.ModuleList imported entry by entry; it now
imports so too (`key: features.0`). Found by tests/h42d/sweep.py.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

import archspec


class _Stages(nn.Module):
    """SSDLite's feature extractor in small: a Sequential of stages and a ModuleList of extra
    blocks, every output kept and returned in a dict."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU()),
            nn.Sequential(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.BatchNorm2d(6)),
        )
        self.extra = nn.ModuleList([nn.Conv2d(6, 8, 3, stride=2, padding=1)])

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        output = []
        for block in self.features:
            x = block(x)
            output.append(x)
        for block in self.extra:
            x = block(x)
            output.append(x)
        return OrderedDict([(str(i), v) for i, v in enumerate(output)])


def _exact(model: nn.Module, *shapes: tuple[int, ...]) -> str:
    """Import `model` on the first shape; assert the spec's module has its state_dict and
    its outputs at every shape. The spec."""
    model.eval()
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for t in model.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape, generator=gen) + 0.5)
    inputs = [torch.randn(s, generator=gen) for s in shapes]
    text = archspec.from_module(model, inputs[0])
    twin = archspec.compile(text).eval()
    assert [(k, v.shape) for k, v in twin.state_dict().items()] == [
        (k, v.shape) for k, v in model.state_dict().items()
    ]
    twin.load_state_dict(model.state_dict(), strict=True)
    model.load_state_dict(twin.state_dict(), strict=True)
    with torch.no_grad():
        for x in inputs:
            want, got = model(x), twin(x)
            assert list(got) == list(want)
            for key in want:
                torch.testing.assert_close(got[key], want[key], rtol=1e-5, atol=1e-6)
    return text


def test_a_sequential_of_stages_whose_every_output_is_kept_imports_entry_by_entry() -> None:
    text = _exact(_Stages(), (1, 3, 16, 16), (2, 3, 20, 24))
    assert "key: features.0" in text and "key: features.1" in text
    assert "outputs: {'0': features.0, '1': features.1, '2': extra}" in text
