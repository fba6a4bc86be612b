"""A map cropped back in several dims at once to another tensor's sizes: DaViT's and
Swin's window attention pads (N, H, W, C) to a multiple of its window and, after the
windows, takes `x[:, :H, :W, :]`, H and W read off its input. One dim cut so (`pe[:, :
x.size(1)]`) was a `slice_as`, and so was each of two cuts written one after the other
(`x[:, :H][:, :, :W]`), but the two in one index were E903 'a tensor index `x[...]` slices
with a bound worked out from a size of a tensor' (timm's davit.py:456), though
docs/spec-language.md shows that crop as one `slice_as` per dim. Each cut dim is now one."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ArchSpecError


class Window(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[1:3]
        y = F.pad(self.fc(x), (0, 0, 0, (4 - W % 4) % 4, 0, (4 - H % 4) % 4))
        return y[:, :H, :W, :] + x


class Offset(Window):
    """A cut that starts past 0 is no `slice_as`: refused as before."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        H, W = x.shape[1:3]
        y = F.pad(self.fc(x), (0, 0, 1, 1, 1, 1))
        return y[:, 1 : H + 1, :W, :]


def test_a_padded_map_cropped_back_in_two_dims() -> None:
    torch.manual_seed(0)
    model = Window().eval()
    text = archspec.from_module(model, torch.randn(1, 5, 6, 8))
    assert text.count("type: slice_as") == 2
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    checked = 0
    for shape in ((1, 5, 6, 8), (2, 8, 3, 8)):
        x = torch.randn(shape)
        with torch.no_grad():
            assert torch.allclose(twin(x), model(x), atol=1e-6)
        checked += 1
    assert checked == 2


def test_a_cut_from_elsewhere_than_0_stays_refused() -> None:
    with pytest.raises(ArchSpecError) as info:
        archspec.from_module(Offset().eval(), torch.randn(1, 5, 6, 8))
    assert "slices with a bound worked out from a size of a tensor" in str(info.value)
