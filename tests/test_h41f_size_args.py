"""A child given sizes read in forward (PVT-v2's stage: `for blk in self.blocks: x = blk(x,
(H, W))`, H and W read off its map) is refused at that call, naming the sizes. The tuple of
sizes passed for a tensor list (VoVNet's `self.conv_mid(x, [x])`), so the call was taken for
a block of several inputs whose inputs had no names, and dropped without a word: the import
said only 'forward never calls `blocks`, which holds weights' and 'returns a Node, not one
tensor', or, when a reshape followed, refused the reshape."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError


class Block(nn.Module):
    def __init__(self, c: int = 8) -> None:
        super().__init__()
        self.fc = nn.Linear(c, c)

    def forward(self, x: torch.Tensor, size: object) -> torch.Tensor:
        return x + self.fc(x)


class ListOfBlocks(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Block(), Block()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        x = x.reshape(B, -1, C)
        for blk in self.blocks:
            x = blk(x, (H, W))
        return x


class OneBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blk = Block()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        return self.blk(x.reshape(B, -1, C), H * W)


def _messages(model: nn.Module) -> list[str]:
    with pytest.raises(ArchSpecError) as info:
        archspec.from_module(model.eval(), torch.randn(1, 4, 3, 8))
    return [d.message for d in info.value.diagnostics]


def test_items_of_a_list_given_sizes_are_refused_at_the_call() -> None:
    messages = _messages(ListOfBlocks())
    assert len(messages) == 2, messages
    for k, message in enumerate(messages):
        assert f"calls item `{k}` of `self.blocks` with size=(" in message
        assert "sizes read in forward" in message


def test_a_child_given_a_product_of_sizes_is_refused_at_the_call() -> None:
    (message,) = _messages(OneBlock())
    assert "calls `self.blk` with size=" in message
    assert "sizes read in forward" in message


class SizesFirst(nn.Module):
    """timm's XCiT: `self.pos_embed(B, Hp, Wp)`, a Fourier position encoding of sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.pos_embed = Encoding()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        return x + self.pos_embed(B, H, W)


class Encoding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(2, 4, 1)

    def forward(self, B: int, H: int, W: int) -> torch.Tensor:
        ys = torch.arange(H, dtype=torch.float32)[:, None].expand(H, W)
        xs = torch.arange(W, dtype=torch.float32)[None, :].expand(H, W)
        return self.proj(torch.stack([ys, xs])[None].expand(B, -1, -1, -1))


def test_a_child_given_sizes_first_says_so() -> None:
    messages = [m for m in _messages(SizesFirst()) if "self.pos_embed" in m]
    assert len(messages) == 1, messages
    assert "(sizes read in forward), not a tensor first" in messages[0]
