"""The input header of an imported token model names its sizes: `archspec import` wrote the
example's sizes (`input: [N, 20, 32]`), which `check` reads as 20 channels of length L, so
an attention or a recurrent layer then needed a known D (W403) and no other length was
checked; token ids (`[N, 20]`) and tokens sequence first (`[20, N, 32]`, whose check named
the batch N2) likewise. It now writes `[N, L, 32]`, `[N, L]` and `[L, N, 32]` where that
checks clean, and the example's sizes elsewhere (a conv1d's channels stay a number)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec


class Encoder(nn.Module):
    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=batch_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)


class Tokens(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 32)
        self.gru = nn.GRU(32, 16, batch_first=True)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.gru(self.emb(ids))[0]


class Channels(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(20, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


@pytest.mark.parametrize(
    ("model", "example", "header", "domain"),
    [
        (Encoder(True), torch.rand(2, 20, 32), "[N, L, 32]", "(N, L, 32) with L >= 1"),
        (Encoder(False), torch.rand(20, 2, 32), "[L, N, 32]", "(L, N, 32)"),
        (Tokens(), torch.randint(0, 100, (2, 20)), "[N, L]", "(N, L) int64"),
        (Channels(), torch.rand(2, 20, 32), "[N, 20, 32]", "(N, 20, L) with L >= 3"),
    ],
)
def test_the_header_names_the_sizes_the_model_reads(
    model: nn.Module, example: torch.Tensor, header: str, domain: str
) -> None:
    text = archspec.from_module(model.eval(), example)
    assert f"\ninput: {header}\n" in text
    report = archspec.check(text)
    assert report.ok and not report.warnings, report.render()
    assert domain in report.domain_text


class Unread(Encoder):
    """A side computation nothing reads: the spec's check warns of it (W401) at any header."""

    def __init__(self) -> None:
        super().__init__(True)
        self.side = nn.Linear(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.side(x)
        return self.layer(x)


def test_a_warning_of_another_kind_keeps_the_sizes_named() -> None:
    text = archspec.from_module(Unread().eval(), torch.rand(2, 20, 32))
    assert "\ninput: [N, L, 32]\n" in text
    assert [w.code for w in archspec.check(text).warnings] == ["W401"]
