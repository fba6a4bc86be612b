"""Functional pooling in the forward of audio (N, C, L) and video (N, C, D, H, W) networks
imports as the 2-d forms do: F.max_pool1d, F.avg_pool1d, F.adaptive_avg_pool1d (torchaudio's
M5 tutorial) and their 3-d twins each become the layer kind that computes them."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

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
