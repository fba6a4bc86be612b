"""Torch code of MaxViT's partition kinds, as torchvision.models.maxvit computes them; each
definition is copied verbatim into emitted files that use it (ops/partition.py reads them)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def maxvit_partition(x: torch.Tensor, size: int, grid: bool = False) -> torch.Tensor:
    """(B, C, H, W) -> (B, G, size * size, C): windows of size x size neighbours, or (grid)
    size x size pixels H // size apart, as torchvision's WindowPartition (and SwapAxes)."""
    B, C, H, W = x.shape
    p = H // size if grid else size
    x = x.reshape(B, C, H // p, p, W // p, p)
    x = x.permute(0, 2, 4, 3, 5, 1)
    x = x.reshape(B, (H // p) * (W // p), p * p, C)
    return torch.swapaxes(x, -2, -3) if grid else x


def maxvit_departition(
    x: torch.Tensor, like: torch.Tensor, size: int, grid: bool = False
) -> torch.Tensor:
    """The inverse of maxvit_partition: tokens back to a (B, C, H, W) map of `like`'s size."""
    H, W = like.shape[-2], like.shape[-1]
    if grid:
        x = torch.swapaxes(x, -2, -3)
    B, C = x.shape[0], x.shape[-1]
    p = H // size if grid else size
    x = x.reshape(B, H // p, W // p, p, p, C)
    x = x.permute(0, 5, 1, 3, 2, 4)
    return x.reshape(B, C, H, W)


class MaxVitPartition(nn.Module):
    """maxvit_partition as a module (no state), as torchvision's WindowPartition is one."""

    def __init__(self, size: int, grid: bool = False) -> None:
        super().__init__()
        self.size = size
        self.grid = grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return maxvit_partition(x, self.size, self.grid)


class MaxVitDepartition(nn.Module):
    """maxvit_departition as a module (no state), as torchvision's WindowDepartition."""

    def __init__(self, size: int, grid: bool = False) -> None:
        super().__init__()
        self.size = size
        self.grid = grid

    def forward(self, x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        return maxvit_departition(x, like, self.size, self.grid)


def maxvit_relative_position_index(height: int, width: int) -> torch.Tensor:
    """For every pair of positions in a height x width window, the row of their offset in
    the bias table (torchvision's `_get_relative_position_index`)."""
    coords = torch.stack(torch.meshgrid([torch.arange(height), torch.arange(width)], indexing="ij"))
    coords_flat = torch.flatten(coords, 1)
    relative_coords = coords_flat[:, :, None] - coords_flat[:, None, :]
    relative_coords = relative_coords.permute(1, 2, 0).contiguous()
    relative_coords[:, :, 0] += height - 1
    relative_coords[:, :, 1] += width - 1
    relative_coords[:, :, 0] *= 2 * width - 1
    return relative_coords.sum(-1)


class RelativePositionalMultiHeadAttention(nn.Module):
    """Multi-head self-attention over the tokens of each group, (B, G, P, D) -> (B, G, P, D),
    with a learned bias per head and relative offset, as torchvision's MaxViT class."""

    def __init__(self, feat_dim: int, head_dim: int, max_seq_len: int) -> None:
        super().__init__()
        self.n_heads = feat_dim // head_dim
        self.head_dim = head_dim
        self.size = int(max_seq_len**0.5)
        self.max_seq_len = max_seq_len
        self.to_qkv = nn.Linear(feat_dim, self.n_heads * self.head_dim * 3)
        self.scale_factor = feat_dim**-0.5
        self.merge = nn.Linear(self.head_dim * self.n_heads, feat_dim)
        self.relative_position_bias_table = nn.Parameter(
            torch.empty(((2 * self.size - 1) * (2 * self.size - 1), self.n_heads))
        )
        self.register_buffer(
            "relative_position_index", maxvit_relative_position_index(self.size, self.size)
        )
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def get_relative_positional_bias(self) -> torch.Tensor:
        bias_index = self.relative_position_index.view(-1)
        relative_bias = self.relative_position_bias_table[bias_index]
        relative_bias = relative_bias.view(self.max_seq_len, self.max_seq_len, -1)
        return relative_bias.permute(2, 0, 1).contiguous().unsqueeze(0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, G, P, D = x.shape
        H, DH = self.n_heads, self.head_dim
        q, k, v = torch.chunk(self.to_qkv(x), 3, dim=-1)
        q = q.reshape(B, G, P, H, DH).permute(0, 1, 3, 2, 4)
        k = k.reshape(B, G, P, H, DH).permute(0, 1, 3, 2, 4)
        v = v.reshape(B, G, P, H, DH).permute(0, 1, 3, 2, 4)
        k = k * self.scale_factor
        dot_prod = torch.einsum("B G H I D, B G H J D -> B G H I J", q, k)
        dot_prod = F.softmax(dot_prod + self.get_relative_positional_bias(), dim=-1)
        out = torch.einsum("B G H I J, B G H J D -> B G H I D", dot_prod, v)
        out = out.permute(0, 1, 3, 2, 4).reshape(B, G, P, D)
        return self.merge(out)


__all__ = [
    "MaxVitDepartition",
    "MaxVitPartition",
    "RelativePositionalMultiHeadAttention",
    "maxvit_departition",
    "maxvit_partition",
    "maxvit_relative_position_index",
]
