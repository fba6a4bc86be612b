"""Gaps found importing hand-written models: a block that returns one piece of a chunk.
Each either round-trips or is refused at its statement."""

from __future__ import annotations

import copy

import torch
from torch import nn

from tests.test_importer import roundtrip


def _statement(diag, text: str) -> bool:
    with open(diag.span.file, encoding="utf-8") as fh:
        return text in fh.read().splitlines()[diag.span.line - 1]


class Half(nn.Module):
    """Returns one piece of a chunk; which one differs between instances."""

    def __init__(self, first: bool) -> None:
        super().__init__()
        self.first = first
        self.conv = nn.Conv2d(4, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(x).chunk(2, dim=1)
        return a if self.first else b


def test_a_block_returning_a_piece_of_a_chunk_round_trips() -> None:
    model = nn.Sequential(Half(True), Half(False), copy.deepcopy(Half(False)))
    text = roundtrip(model, (2, 4, 5, 5))
    assert "outputs: [chunk_0]" in text and "outputs: [chunk_1]" in text
