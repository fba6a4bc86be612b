"""Torch modules of the layout ops that torch itself lacks; copied verbatim into emitted files."""

from __future__ import annotations

import torch
from torch import nn


class Permute(nn.Module):
    """Reorders the dims of its input, as torchvision's `ops.misc.Permute` (no state)."""

    def __init__(self, dims: list[int]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.permute(x, self.dims)


__all__ = ["Permute"]
