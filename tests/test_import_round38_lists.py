"""archspec import of an nn.ModuleList walked in a loop whose items' outputs are read again
later: a U-Net's encoder list keeping its skips (`blocks.append(x)`, then a pool between the
items) and a backbone returning its stages' features. Each is stated entry by entry
(`key: down_path.0`) and round-trips exactly; before, it was refused as "items called with
other steps between them"."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import archspec
from tests.emit_helpers import matches_compile
from tests.test_importer import roundtrip


def _conv_block(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
        nn.Conv2d(cout, cout, 3, padding=1),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


class UpBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int) -> None:
        super().__init__()
        self.up = nn.ConvTranspose2d(in_ch, out_ch, kernel_size=2, stride=2)
        self.conv = _conv_block(in_ch, out_ch)

    def forward(self, x: torch.Tensor, bridge: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.up(x), size=bridge.shape[2:], mode="bilinear")
        return self.conv(torch.cat([up, bridge], 1))


class LoopUNet(nn.Module):
    """jvanvugt/pytorch-unet's shape: both paths are ModuleLists walked in loops, the
    encoder's outputs kept in a list for the decoder, an F.max_pool2d between its items."""

    def __init__(self, in_channels: int = 1, n_classes: int = 2, depth: int = 3) -> None:
        super().__init__()
        prev = in_channels
        self.down_path = nn.ModuleList()
        for i in range(depth):
            self.down_path.append(_conv_block(prev, 2 ** (3 + i)))
            prev = 2 ** (3 + i)
        self.up_path = nn.ModuleList()
        for i in reversed(range(depth - 1)):
            self.up_path.append(UpBlock(prev, 2 ** (3 + i)))
            prev = 2 ** (3 + i)
        self.last = nn.Conv2d(prev, n_classes, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        blocks = []
        for i, down in enumerate(self.down_path):
            x = down(x)
            if i != len(self.down_path) - 1:
                blocks.append(x)
                x = F.max_pool2d(x, 2)
        for i, up in enumerate(self.up_path):
            x = up(x, blocks[-i - 1])
        return self.last(x)


def test_a_unet_whose_encoder_list_keeps_its_skips_round_trips_entry_by_entry() -> None:
    text = roundtrip(LoopUNet(), (2, 1, 16, 16))
    assert "key: down_path.0" in text
    assert "from: [up_path.0, down_path.0]" in text  # the skip reads the encoder's entry
    model, twin = LoopUNet().eval(), archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.rand(1, 1, 20, 20)  # a size the pools do not halve evenly: the resize works
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=1e-5, atol=1e-6)


class Pyramid(nn.Module):
    """A backbone returning every stage's output (a feature pyramid's input)."""

    def __init__(self) -> None:
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(nn.Conv2d(3 if i == 0 else 8 * i, 8 * (i + 1), 3, 2, 1), nn.ReLU())
            for i in range(3)
        )

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        outs = []
        for stage in self.stages:
            x = stage(x)
            outs.append(x)
        return outs


def test_a_backbone_returning_each_stages_features_round_trips() -> None:
    model = Pyramid().eval()
    text = archspec.from_module(model, torch.rand(2, 3, 16, 16))
    assert "outputs: [stages.0, stages.1, stages.2]" in text
    twin = archspec.compile(text).eval()
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict(model.state_dict())
    x = torch.rand(1, 3, 24, 24)
    with torch.no_grad():
        for got, want in zip(twin(x), model(x), strict=True):
            torch.testing.assert_close(got, want)


class MultiTask(nn.Module):
    """A shared trunk and one head per task in an nn.ModuleDict, every head's output
    returned (the loop over `.values()` traces as each head called in turn)."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten()
        )
        self.heads = nn.ModuleDict({"age": nn.Linear(8, 1), "gender": nn.Linear(8, 2)})

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.backbone(x)
        return tuple(head(features) for head in self.heads.values())


def test_heads_in_a_module_dict_returned_as_a_tuple_are_its_entries() -> None:
    """It was E904 'calls the items of `self.heads` each on the same tensor, and their
    outputs are not one torch.cat': a dict's entries were never stated one by one."""
    model = MultiTask().eval()
    text = archspec.from_module(model, torch.rand(2, 3, 8, 8))
    assert "- {key: heads.gender, type: linear, from: backbone, out_features: 2}" in text
    assert "outputs: [heads.age, heads.gender]" in text
    twin = archspec.compile(text).eval()
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict(model.state_dict())
    x = torch.rand(3, 3, 8, 8)
    with torch.no_grad():
        for got, want in zip(twin(x), model(x), strict=True):
            torch.testing.assert_close(got, want)
    assert "self.heads" in matches_compile(text, (2, 3, 8, 8))
