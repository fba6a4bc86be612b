"""Functional pooling in the forward of audio (N, C, L) and video (N, C, D, H, W) networks
imports as the 2-d forms do: F.max_pool1d, F.avg_pool1d, F.adaptive_avg_pool1d (torchaudio's
M5 tutorial) and their 3-d twins each become the layer kind that computes them; and a pooled
branch resized back to its input's size (DeepLabV3's ASPPPooling) is `interpolate_as`."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from tests.test_importer import roundtrip


class AudioNet(nn.Module):
    """M5-like: conv1d stages pooled in forward, then a global average pool."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(1, 8, kernel_size=9, stride=4)
        self.bn1 = nn.BatchNorm1d(8)
        self.conv2 = nn.Conv1d(8, 8, kernel_size=3)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool1d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.avg_pool1d(self.conv2(x), kernel_size=3, stride=1, padding=1)
        x = F.adaptive_avg_pool1d(x, 1).flatten(1)
        return F.log_softmax(self.fc(x), dim=1)


class VideoNet(nn.Module):
    """A C3D-like stem pooled in forward, then an adaptive max pool."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv3d(3, 4, kernel_size=3, padding=1)
        self.conv2 = nn.Conv3d(4, 4, kernel_size=3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool3d(F.relu(self.conv1(x)), kernel_size=(1, 2, 2))
        x = F.avg_pool3d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(F.adaptive_max_pool3d(x, 1), 1))


def test_audio_pools_in_forward_import() -> None:
    text = roundtrip(AudioNet(), (2, 1, 200))
    for kind in ("maxpool1d", "avgpool1d", "adaptive_avgpool1d"):
        assert f"type: {kind}" in text


def test_video_pools_in_forward_import() -> None:
    text = roundtrip(VideoNet(), (2, 3, 4, 8, 8))
    for kind in ("maxpool3d", "avgpool3d", "adaptive_maxpool3d"):
        assert f"type: {kind}" in text


class ASPPPooling(nn.Sequential):
    """torchvision.models.segmentation.deeplabv3.ASPPPooling."""

    def __init__(self, c_in: int, out: int, tail: bool) -> None:
        pool = nn.AdaptiveAvgPool2d(1)
        super().__init__(pool, nn.Conv2d(c_in, out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU())
        self.tail = tail

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:] if self.tail else x.shape[2:]
        for mod in self:
            x = mod(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class PooledHead(nn.Module):
    def __init__(self, tail: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = ASPPPooling(8, 4, tail)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        return torch.cat([x, self.pool(x)], 1)


@pytest.mark.parametrize("tail", [True, False])
def test_a_branch_resized_to_its_input_imports_for_any_size(tail: bool) -> None:
    model = PooledHead(tail)
    text = roundtrip(model, (2, 8, 16, 16))
    assert "type: interpolate_as, from: ['3', input], mode: bilinear" in text
    # its pooling branch's batch norm sees one value per sample: training needs a batch of 2
    assert archspec.check(text).domain_text.endswith(
        "with H, W >= 1 (in training mode, N >= 2 and H, W >= 1)"
    )
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.randn(2, 8, 9, 13)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=0, atol=0)
