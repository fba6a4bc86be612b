"""Torch modules of the attention ops torch lacks; copied verbatim into emitted files."""

from __future__ import annotations

import torch
from torch import nn


class MultiheadSelfAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention on one (N, L, D) input as query, key and value, as torchvision's
    ViT calls it (`self_attention(x, x, x, need_weights=False)`), or on a query and a key
    (and value) of their own; same state_dict keys. `batch_first=False` reads (L, N, D), as
    torch's own default does."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = True,
    ) -> None:
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=batch_first)

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Self-attention of `x`, or `x` attending to `key` (and `value`, default `key`)."""
        key = x if key is None else key
        value = key if value is None else value
        return super().forward(x, key, value, need_weights=False)[0]


__all__ = ["MultiheadSelfAttention"]
