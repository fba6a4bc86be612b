"""archspec import of a block called with its tensors by keyword: the Attention U-Net's gate
as LeeJunHyun/Image_Segmentation calls it, `self.Att5(g=d5, x=x4)`. It was E904 'calls
`self.att` with (g=up, x=enc), not a tensor first', with a hint saying that import reads a
child called with tensors for arguments of its forward, which is what the call gives."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from tests.test_importer import roundtrip


class AttentionGate(nn.Module):
    def __init__(self, f_g: int, f_l: int, f_int: int) -> None:
        super().__init__()
        self.W_g = nn.Sequential(nn.Conv2d(f_g, f_int, 1), nn.BatchNorm2d(f_int))
        self.W_x = nn.Sequential(nn.Conv2d(f_l, f_int, 1), nn.BatchNorm2d(f_int))
        self.psi = nn.Sequential(nn.Conv2d(f_int, 1, 1), nn.BatchNorm2d(1), nn.Sigmoid())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        psi = self.psi(self.relu(self.W_g(g) + self.W_x(x)))
        return x * psi


class AttentionUNet(nn.Module):
    """One scale of an Attention U-Net: the decoder's map gates the encoder's skip."""

    def __init__(self, swapped: bool = False) -> None:
        super().__init__()
        self.swapped = swapped
        self.enc = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.down = nn.Sequential(nn.MaxPool2d(2), nn.Conv2d(8, 16, 3, padding=1), nn.ReLU())
        self.up = nn.Sequential(nn.Upsample(scale_factor=2), nn.Conv2d(16, 8, 3, padding=1))
        self.att = AttentionGate(8, 8, 4)
        self.dec = nn.Conv2d(16, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.enc(x)
        d = self.up(self.down(e))
        a = self.att(x=e, g=d) if self.swapped else self.att(g=d, x=e)
        return self.dec(torch.cat((a, d), dim=1))


@pytest.mark.parametrize("swapped", [False, True])
def test_a_block_given_its_tensors_by_keyword_reads_them_in_its_forwards_order(
    swapped: bool,
) -> None:
    text = roundtrip(AttentionUNet(swapped), (2, 3, 8, 8))
    assert "inputs: [g, x]" in text
    assert "- {name: att, type: AttentionGate, from: [up, enc]}" in text


class Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) + x


class ByKeyword(nn.Module):
    """Children given their one tensor by keyword: a block, a conv, and attention."""

    def __init__(self) -> None:
        super().__init__()
        self.block = Residual()
        self.head = nn.Conv2d(3, 4, 1)
        self.attn = nn.MultiheadAttention(4, 2, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.head(input=self.block(x=x)).flatten(2).transpose(1, 2)
        out, _ = self.attn(query=y, key=y, value=y)
        return out


def test_a_child_given_its_tensor_by_keyword_is_called_with_it() -> None:
    """It was E904 'calls `self.block` with (x=x), not a tensor first', with the tensor the
    block's forward takes given by its name."""
    text = roundtrip(ByKeyword(), (2, 3, 4, 4))
    assert "- {name: block, type: Residual}" in text
    assert "type: multihead_attention" in text
