"""Torch modules of the attention ops torch lacks; copied verbatim into emitted files."""

from __future__ import annotations

import torch
from torch import nn


class MultiheadSelfAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention on one (N, L, D) input as query, key and value, as torchvision's
    ViT calls it (`self_attention(x, x, x, need_weights=False)`); same state_dict keys.
    `batch_first=False` reads (L, N, D), as torch's own default does."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = True,
    ) -> None:
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=batch_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x, x, x, need_weights=False)[0]


__all__ = ["MultiheadSelfAttention"]
