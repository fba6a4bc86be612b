"""A region of forward with autocast disabled on the device of a tensor (timm's EfficientViT:
`with torch.autocast(device_type=v.device.type, enabled=False):`) computes as the rest of
forward does outside autocast, and imports as a disabled region written with its device does;
it was E902 "Expected `device_type` of type `str`", and after a size read said a size was at
fault. Enabled there, it is refused as an enabled autocast is (E904).
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure


class _Region(nn.Module):
    def __init__(self, enabled: bool) -> None:
        super().__init__()
        self.lin = nn.Linear(4, 4)
        self.enabled = enabled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        with torch.autocast(device_type=x.device.type, enabled=self.enabled):
            y = self.lin(x)
        return y.reshape(b, n * c)


def test_autocast_disabled_on_a_tensors_device_imports() -> None:
    model = _Region(False).eval()
    x = torch.randn(2, 3, 4)
    twin = archspec.compile(archspec.from_module(model, x)).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x))


def test_autocast_enabled_on_a_tensors_device_is_refused_as_autocast() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(_Region(True), torch.zeros(1, 3, 4))
    [diag] = info.value.diagnostics
    assert diag.code == "E904"
    assert "enters `torch.autocast` (the device of a tensor)" in diag.message
    assert diag.span is not None and diag.span.line > 0
