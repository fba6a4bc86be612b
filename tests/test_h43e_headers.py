"""Tokens (N, L, C) read by layers of the features only (a Linear, a LayerNorm, an MLP block as
GPT-2 and ViT write them) were imported with the example's sizes, `input: [N, 8, 32]`,
which `check` reads as 8 channels of length L: the domain said `L = 32`, the one size the
Linear takes, and 8 tokens only, where the model takes any number. Where the example's
reading pins its sizes to the example's while naming them checks clean and takes more,
the header names them: `[N, L, 32]`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec


class Mlp(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(32)
        self.fc1 = nn.Linear(32, 64)
        self.act = nn.GELU(approximate="tanh")
        self.fc2 = nn.Linear(64, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.fc2(self.act(self.fc1(self.norm(x))))


class Flat(nn.Module):
    """Every size read: both readings pin them, and the example's stays."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8 * 32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x.flatten(1))


@pytest.mark.parametrize(
    ("model", "header", "domain", "other"),
    [
        (Mlp(), "[N, L, 32]", "(N, L, 32) with L >= 1", (1, 5, 32)),
        (nn.Sequential(nn.Linear(32, 16)), "[N, L, 32]", "(N, L, 32) with L >= 1", (3, 1, 32)),
        (Flat(), "[N, 8, 32]", "(N, 8, L) with L = 32", None),
    ],
)
def test_tokens_read_by_their_features_take_any_length(
    model: nn.Module, header: str, domain: str, other: tuple[int, ...] | None
) -> None:
    model = model.eval()
    text = archspec.from_module(model, torch.rand(2, 8, 32))
    assert f"\ninput: {header}\n" in text
    report = archspec.check(text)
    assert report.ok and not report.warnings, report.render()
    assert domain in report.domain_text
    if other is not None:  # a length the model takes, and so does the spec's module
        twin = archspec.compile(text).eval()
        twin.load_state_dict(model.state_dict())
        x = torch.rand(*other)
        torch.testing.assert_close(twin(x), model(x), rtol=0, atol=0)
