"""A forward calling a child's entry's `forward` by name (timm's HRNet head:
`down = self.downsamp_modules[i - 1]; y = incre(yl[i]) + down.forward(y)`) has fx record the
entry's own children as the caller's steps; the refusal (E904) said only "it calls a
grandchild directly, or a method ... other than its forward (quantization's
FloatFunctional ...)", none of which the model does. It now names the call by name and
says to call the module itself.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure


class _ByName(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.downs = nn.ModuleList([nn.Sequential(nn.Conv2d(3, 3, 1), nn.ReLU())])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.downs[0].forward(x)


def test_a_forward_called_by_name_is_named_in_the_refusal() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(_ByName(), torch.zeros(1, 3, 4, 4))
    diag = info.value.diagnostics[0]
    assert diag.code == "E904" and "reaches `self.downs.0.0`" in diag.message
    assert "a module's `forward` by name (`down.forward(y)`" in diag.message
    assert "not `down.forward(y)`" in diag.hint
