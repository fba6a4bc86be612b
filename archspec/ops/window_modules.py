"""Torch modules of Swin's kinds (`shifted_window_attention`, `patch_merging`), as
torchvision.models.swin_transformer writes them: the same children, tensors and buffers,
registered in the same order, so a state_dict loads strictly both ways. Imported only when a
model is built; `archspec emit` copies the definitions below from this file's text, so the
emitted file and `compile` run the same code. Helpers are prefixed `swin_` (emitted names).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def swin_patch_merging_pad(x: torch.Tensor) -> torch.Tensor:
    """Pads (..., H, W, C) to even H and W and stacks each 2x2 patch's pixels: 4 * C."""
    H, W, _ = x.shape[-3:]
    x = F.pad(x, (0, 0, 0, W % 2, 0, H % 2))
    x0 = x[..., 0::2, 0::2, :]  # ... H/2 W/2 C
    x1 = x[..., 1::2, 0::2, :]  # ... H/2 W/2 C
    x2 = x[..., 0::2, 1::2, :]  # ... H/2 W/2 C
    x3 = x[..., 1::2, 1::2, :]  # ... H/2 W/2 C
    return torch.cat([x0, x1, x2, x3], -1)  # ... H/2 W/2 4*C


torch.fx.wrap("swin_patch_merging_pad")  # one call in a traced graph, as torchvision's


def swin_relative_position_bias(
    table: torch.Tensor, index: torch.Tensor, window_size: list[int]
) -> torch.Tensor:
    """The (1, heads, N, N) bias of a window of N = Wh * Ww tokens, read from the table."""
    n = window_size[0] * window_size[1]
    bias = table[index].view(n, n, -1)
    return bias.permute(2, 0, 1).contiguous().unsqueeze(0)


torch.fx.wrap("swin_relative_position_bias")  # one call in a traced graph, as torchvision's


def swin_shift_mask(
    x: torch.Tensor, pad_H: int, pad_W: int, window_size: list[int], shift: list[int]
) -> torch.Tensor:
    """(windows, N, N): -100 between tokens of a window that the cyclic shift brought
    together from different regions of the map, 0 elsewhere."""
    mask = x.new_zeros((pad_H, pad_W))
    h_slices = ((0, -window_size[0]), (-window_size[0], -shift[0]), (-shift[0], None))
    w_slices = ((0, -window_size[1]), (-window_size[1], -shift[1]), (-shift[1], None))
    count = 0
    for h in h_slices:
        for w in w_slices:
            mask[h[0] : h[1], w[0] : w[1]] = count
            count += 1
    mask = mask.view(
        pad_H // window_size[0], window_size[0], pad_W // window_size[1], window_size[1]
    )
    mask = mask.permute(0, 2, 1, 3).reshape(-1, window_size[0] * window_size[1])
    mask = mask.unsqueeze(1) - mask.unsqueeze(2)
    mask = mask.masked_fill(mask != 0, -100.0).masked_fill(mask == 0, 0.0)
    return mask


def swin_shifted_window_attention(
    x: torch.Tensor,
    qkv: nn.Linear,
    proj: nn.Linear,
    bias: torch.Tensor,
    window_size: list[int],
    shift_size: list[int],
    num_heads: int,
    attention_dropout: float,
    dropout: float,
    training: bool,
    logit_scale: torch.Tensor | None = None,
) -> torch.Tensor:
    """Window multi-head self-attention on (B, H, W, C), shifted or not, as torchvision's
    `shifted_window_attention`: pad to whole windows, roll, attend within each window (with
    the mask across the roll's seams), roll back, crop."""
    B, H, W, C = x.shape
    pad_r = (window_size[1] - W % window_size[1]) % window_size[1]
    pad_b = (window_size[0] - H % window_size[0]) % window_size[0]
    x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
    _, pad_H, pad_W, _ = x.shape
    # a window as large as the (padded) map is not shifted
    shift = [
        0 if window_size[0] >= pad_H else shift_size[0],
        0 if window_size[1] >= pad_W else shift_size[1],
    ]
    if sum(shift) > 0:
        x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
    num_windows = (pad_H // window_size[0]) * (pad_W // window_size[1])
    x = x.view(
        B, pad_H // window_size[0], window_size[0], pad_W // window_size[1], window_size[1], C
    )
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B * num_windows, window_size[0] * window_size[1], C)
    qkv_bias = qkv.bias
    if logit_scale is not None and qkv_bias is not None:  # v2: no key bias
        qkv_bias = qkv_bias.clone()
        length = qkv_bias.numel() // 3
        qkv_bias[length : 2 * length].zero_()
    q, k, v = (
        F.linear(x, qkv.weight, qkv_bias)
        .reshape(x.size(0), x.size(1), 3, num_heads, C // num_heads)
        .permute(2, 0, 3, 1, 4)
    )
    if logit_scale is not None:  # v2: cosine attention
        attn = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
        attn = attn * torch.clamp(logit_scale, max=4.605170185988092).exp()  # log(100)
    else:
        attn = (q * (C // num_heads) ** -0.5).matmul(k.transpose(-2, -1))
    attn = attn + bias
    if sum(shift) > 0:
        mask = swin_shift_mask(x, pad_H, pad_W, window_size, shift)
        attn = attn.view(x.size(0) // num_windows, num_windows, num_heads, x.size(1), x.size(1))
        attn = attn + mask.unsqueeze(1).unsqueeze(0)
        attn = attn.view(-1, num_heads, x.size(1), x.size(1))
    attn = F.softmax(attn, dim=-1)
    if training and attention_dropout > 0.0:
        attn = F.dropout(attn, p=attention_dropout)
    x = attn.matmul(v).transpose(1, 2).reshape(x.size(0), x.size(1), C)
    x = F.linear(x, proj.weight, proj.bias)
    if training and dropout > 0.0:
        x = F.dropout(x, p=dropout)
    x = x.view(
        B, pad_H // window_size[0], pad_W // window_size[1], window_size[0], window_size[1], C
    )
    x = x.permute(0, 1, 3, 2, 4, 5).reshape(B, pad_H, pad_W, C)
    if sum(shift) > 0:
        x = torch.roll(x, shifts=(shift[0], shift[1]), dims=(1, 2))
    return x[:, :H, :W, :].contiguous()


torch.fx.wrap("swin_shifted_window_attention")  # one call in a traced graph, as torchvision's


class ShiftedWindowAttention(nn.Module):
    """Swin's window attention with a learned relative position bias table (torchvision's
    ShiftedWindowAttention: keys relative_position_bias_table, relative_position_index,
    qkv, proj)."""

    def __init__(
        self,
        dim: int,
        window_size: list[int] | int,
        shift_size: list[int] | int,
        num_heads: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        attention_dropout: float = 0.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        # one int is a square window (torchvision takes the list only)
        self.window_size = [window_size] * 2 if isinstance(window_size, int) else list(window_size)
        self.shift_size = [shift_size] * 2 if isinstance(shift_size, int) else list(shift_size)
        if len(self.window_size) != 2 or len(self.shift_size) != 2:
            raise ValueError("window_size and shift_size must be of length 2")
        self.num_heads = num_heads
        self.attention_dropout = attention_dropout
        self.dropout = dropout
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.define_relative_position_bias_table()
        self.define_relative_position_index()

    def define_relative_position_bias_table(self) -> None:
        size = (2 * self.window_size[0] - 1) * (2 * self.window_size[1] - 1)
        self.relative_position_bias_table = nn.Parameter(torch.zeros(size, self.num_heads))
        nn.init.trunc_normal_(self.relative_position_bias_table, std=0.02)

    def define_relative_position_index(self) -> None:
        # each pair of tokens in a window: its (dh, dw) offset as one index into the table
        coords = torch.stack(
            torch.meshgrid(
                torch.arange(self.window_size[0]), torch.arange(self.window_size[1]), indexing="ij"
            )
        ).flatten(1)  # 2, Wh*Ww
        relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0).contiguous()
        relative[:, :, 0] += self.window_size[0] - 1  # shift to start from 0
        relative[:, :, 1] += self.window_size[1] - 1
        relative[:, :, 0] *= 2 * self.window_size[1] - 1
        self.register_buffer("relative_position_index", relative.sum(-1).flatten())

    def get_relative_position_bias(self) -> torch.Tensor:
        return swin_relative_position_bias(
            self.relative_position_bias_table, self.relative_position_index, self.window_size
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swin_shifted_window_attention(
            x,
            self.qkv,
            self.proj,
            self.get_relative_position_bias(),
            self.window_size,
            self.shift_size,
            self.num_heads,
            self.attention_dropout,
            self.dropout,
            self.training,
        )


class ShiftedWindowAttentionV2(ShiftedWindowAttention):
    """Swin V2's window attention: cosine attention with a learned per-head logit scale, and
    the bias made by a small MLP (cpb_mlp) from log-spaced relative coordinates
    (torchvision's ShiftedWindowAttentionV2: keys logit_scale, relative_coords_table,
    relative_position_index, qkv, proj, cpb_mlp)."""

    def __init__(
        self,
        dim: int,
        window_size: list[int],
        shift_size: list[int],
        num_heads: int,
        qkv_bias: bool = True,
        proj_bias: bool = True,
        attention_dropout: float = 0.0,
        dropout: float = 0.0,
    ) -> None:
        super().__init__(
            dim, window_size, shift_size, num_heads, qkv_bias, proj_bias, attention_dropout, dropout
        )
        self.logit_scale = nn.Parameter(torch.log(10 * torch.ones((num_heads, 1, 1))))
        self.cpb_mlp = nn.Sequential(
            nn.Linear(2, 512, bias=True),
            nn.ReLU(inplace=True),
            nn.Linear(512, num_heads, bias=False),
        )
        if qkv_bias:
            length = self.qkv.bias.numel() // 3
            self.qkv.bias[length : 2 * length].data.zero_()

    def define_relative_position_bias_table(self) -> None:
        table = torch.stack(
            torch.meshgrid(
                torch.arange(-(self.window_size[0] - 1), self.window_size[0], dtype=torch.float32),
                torch.arange(-(self.window_size[1] - 1), self.window_size[1], dtype=torch.float32),
                indexing="ij",
            )
        )
        table = table.permute(1, 2, 0).contiguous().unsqueeze(0)  # 1, 2*Wh-1, 2*Ww-1, 2
        table[:, :, :, 0] /= self.window_size[0] - 1
        table[:, :, :, 1] /= self.window_size[1] - 1
        table *= 8  # normalise to -8, 8
        table = torch.sign(table) * torch.log2(torch.abs(table) + 1.0) / 3.0
        self.register_buffer("relative_coords_table", table)

    def get_relative_position_bias(self) -> torch.Tensor:
        bias = swin_relative_position_bias(
            self.cpb_mlp(self.relative_coords_table).view(-1, self.num_heads),
            self.relative_position_index,
            self.window_size,
        )
        return 16 * torch.sigmoid(bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return swin_shifted_window_attention(
            x,
            self.qkv,
            self.proj,
            self.get_relative_position_bias(),
            self.window_size,
            self.shift_size,
            self.num_heads,
            self.attention_dropout,
            self.dropout,
            self.training,
            self.logit_scale,
        )


class PatchMerging(nn.Module):
    """Swin's downsampling: each 2x2 patch's 4 * C values, normalised, then a Linear to
    2 * C (torchvision's PatchMerging: keys reduction, norm)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.dim = dim
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduction(self.norm(swin_patch_merging_pad(x)))


class PatchMergingV2(nn.Module):
    """Swin V2's downsampling: the Linear to 2 * C first, then the norm (torchvision's
    PatchMergingV2: keys reduction, norm)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.dim = dim
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(2 * dim, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.reduction(swin_patch_merging_pad(x)))


__all__ = [
    "PatchMerging",
    "PatchMergingV2",
    "ShiftedWindowAttention",
    "ShiftedWindowAttentionV2",
    "swin_patch_merging_pad",
    "swin_relative_position_bias",
    "swin_shift_mask",
    "swin_shifted_window_attention",
]
