"""Gaps found importing hand-written models: `F.dropout` left at its default
`training=True`, and a block that returns one piece of a chunk. Each either round-trips or
is refused at its statement."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


def _statement(diag, text: str) -> bool:
    with open(diag.span.file, encoding="utf-8") as fh:
        return text in fh.read().splitlines()[diag.span.line - 1]


class AlwaysDrops(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.fc(x), 0.3)  # training=True: drops in eval too


def test_dropout_at_its_default_training_flag_is_refused_on_the_meta_device_too() -> None:
    """On the meta device no outputs are compared: the statement itself must tell."""
    for device in ("cpu", "meta"):
        model = AlwaysDrops().to(device)
        with pytest.raises(ImportFailure) as info:
            archspec.from_module(model, torch.zeros(2, 8, device=device))
        (diag,) = info.value.diagnostics
        assert diag.code == "E903" and "drops in eval mode" in diag.message
        assert _statement(diag, "F.dropout(self.fc(x), 0.3)")


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
