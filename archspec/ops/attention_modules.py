"""Torch modules of the attention ops torch lacks; copied verbatim into emitted files."""

from __future__ import annotations

import torch
from torch import nn


class MultiheadSelfAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention on one (N, L, D) input as query, key and value, as torchvision's
    ViT calls it (`self_attention(x, x, x, need_weights=False)`), or on a query and a key
    (and value) of their own; same state_dict keys. `batch_first=False` reads (L, N, D), as
    torch's own default does. `is_causal=True` passes the causal mask, -inf above the
    diagonal, as CLIP's text transformer and `nn.Transformer.generate_square_subsequent_mask`
    make it. `need_weights=True` runs torch's default call, `attn(q, k, v)[0]`, which also
    averages the weights (dropped) and rounds otherwise than the fused path."""

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = True,
        is_causal: bool = False,
        need_weights: bool = False,
    ) -> None:
        super().__init__(embed_dim, num_heads, dropout=dropout, bias=bias, batch_first=batch_first)
        self.is_causal = is_causal
        self.need_weights = need_weights

    def forward(  # type: ignore[override]
        self, x: torch.Tensor, key: torch.Tensor | None = None, value: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Self-attention of `x`, or `x` attending to `key` (and `value`, default `key`)."""
        key = x if key is None else key
        value = key if value is None else value
        mask = None
        if self.is_causal:
            seq = 1 if self.batch_first else 0
            mask = torch.full((x.shape[seq], key.shape[seq]), float("-inf"), device=x.device)
            mask = mask.triu(1).to(x.dtype)
        return super().forward(x, key, value, need_weights=self.need_weights, attn_mask=mask)[0]


__all__ = ["MultiheadSelfAttention"]
