"""A forward calling a module's `forward` by name (timm's HRNet head: `down =
self.downsamp_modules[i - 1]; y = incre(yl[i]) + down.forward(y)`) has fx record the
module's own children as the caller's steps. A plain nn.Sequential entry of a container so
called, its items in a chain, is now the one call `down(y)` is, and imports; it was E904
"reaches `self.downs.0.0` inside its child", saying only "it calls a grandchild directly, or
a method ... other than its forward (quantization's FloatFunctional ...)", none of which the
model does. Any other such call is refused naming the call by name.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_h42d_sequential_entries import _exact


class _ByName(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.incre = nn.ModuleList([nn.Conv2d(3, 4, 1), nn.Conv2d(3, 4, 3, stride=2, padding=1)])
        self.downs = nn.ModuleList(
            [nn.Sequential(nn.Conv2d(4, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU())]
        )

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        y = None
        for i, incre in enumerate(self.incre):
            if y is None:
                y = incre(x)
            else:
                down = self.downs[i - 1]
                y = incre(x) + down.forward(y)
        return {"y": y}


class _Inside(nn.Module):
    """A Sequential entry's forward called by name, and one of its items called again."""

    def __init__(self) -> None:
        super().__init__()
        self.downs = nn.ModuleList([nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU())])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downs[0].forward(x) + self.downs[0][0](x)


def test_a_sequential_entrys_forward_called_by_name_imports() -> None:
    text = _exact(_ByName(), (1, 3, 16, 16), (2, 3, 20, 24))
    assert "from: [incre.1, downs]" in text  # the list's one entry: a sequence


def test_a_forward_called_by_name_elsewhere_is_named_in_the_refusal() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(_Inside(), torch.zeros(1, 3, 4, 4))
    diag = info.value.diagnostics[0]
    assert diag.code == "E904" and "`self.downs.0.0`" in diag.message
    assert "a module's `forward` by name (`down.forward(y)`" in diag.message
    assert "not `down.forward(y)`" in diag.hint
