"""milesial's U-Net through `archspec import` (importer/padas.py): the upsampled map padded
to its skip's size, `F.pad(x1, [diffX // 2, diffX - diffX // 2, diffY // 2, diffY - diffY //
2])` with the differences read off both maps, is `pad_as` for every input, in a block of two
inputs (`Up(x1, x2)`, whose sizes the model's run gives). Round trips at the example size and
at odd sizes, where the pads differ; pads of another form stay E903."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer_timm25 import round_trip_and_emit


def _double_conv(i: int, o: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(i, o, 3, padding=1, bias=False), nn.BatchNorm2d(o), nn.ReLU(inplace=True)
    )


class Up(nn.Module):
    def __init__(self, i: int, o: int, bilinear: bool) -> None:
        super().__init__()
        if bilinear:
            self.up: nn.Module = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
            self.conv = _double_conv(i + o, o)
        else:
            self.up = nn.ConvTranspose2d(i, i // 2, 2, stride=2)
            self.conv = _double_conv(i // 2 + o, o)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        diff_y = x2.size()[2] - x1.size()[2]
        diff_x = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diff_x // 2, diff_x - diff_x // 2, diff_y // 2, diff_y - diff_y // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class UNet(nn.Module):
    def __init__(self, bilinear: bool) -> None:
        super().__init__()
        self.inc = _double_conv(3, 8)
        self.down = nn.Sequential(nn.MaxPool2d(2), _double_conv(8, 16))
        self.up = Up(16, 8, bilinear)
        self.outc = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        return self.outc(self.up(self.down(x1), x1))


@pytest.mark.parametrize("bilinear", [False, True])
def test_milesials_unet_pads_to_its_skip_for_every_size(bilinear: bool) -> None:
    model = UNet(bilinear).eval()
    text = round_trip_and_emit(model, (1, 3, 16, 16))
    up = yaml.safe_load(text)["blocks"]["Up"]["layers"]
    (pad,) = [v for v in up if v["type"] == "pad_as"]
    assert len(pad["from"]) == 2
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    for size in ((2, 3, 17, 23), (1, 3, 9, 12)):  # odd sizes: a pixel of padding
        x = torch.randn(size, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            torch.testing.assert_close(twin(x), model(x), rtol=1e-5, atol=1e-6)


class OtherSplit(Up):
    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        diff_y = x2.size()[2] - x1.size()[2]
        diff_x = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diff_x - diff_x // 2, diff_x // 2, diff_y - diff_y // 2, diff_y // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class SwappedDims(Up):
    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        diff_y = x2.size()[2] - x1.size()[2]
        diff_x = x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [diff_y // 2, diff_y - diff_y // 2, diff_x // 2, diff_x - diff_x // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


@pytest.mark.parametrize("up", [OtherSplit, SwappedDims])
def test_pads_of_another_form_stay_refused(up: type) -> None:
    model = UNet(False)
    model.up = up(16, 8, False)
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model.eval(), torch.randn(1, 3, 16, 16))
    assert err.value.diagnostics[0].code == "E903"
    assert "pad" in err.value.diagnostics[0].message
