"""archspec import of arithmetic with numbers and of division: `x * 0.5`, `x + 3`, `1 - x`
and `x / 4` are `scale` nodes (a factor that varies between a block's instances a param),
`a / b` a `div`; `x / 6`, which no product computes to the last bit, is refused at its
statement, saying what to write."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class Scaled(nn.Module):
    def __init__(self, alpha: float) -> None:
        super().__init__()
        self.alpha = alpha
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y * self.alpha - y.div(4) + torch.div(y, y + 2)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(Scaled(0.5), Scaled(0.25))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return 1 - 2 * self.blocks(x / 2)


def test_arithmetic_with_numbers_and_division_round_trip() -> None:
    text = roundtrip(Net(), (2, 4, 5, 5))
    assert "{name: mul, type: scale, factor: alpha}" in text
    assert "type: scale, factor: -1, offset: 1}" in text and "type: div," in text


class HardSwish(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * F.relu6(x + 3.0) / 6.0  # the statement


def test_a_division_no_product_computes_exactly_is_refused_at_it() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), HardSwish())
    try:
        archspec.from_module(model, torch.zeros(1, 3, 4, 4))
    except ImportFailure as exc:
        (diag,) = exc.diagnostics
        assert diag.code == "E903" and "truediv" in diag.message
        assert "x / 6" in (diag.hint or "") and diag.span.file.endswith(__file__.rsplit("/")[-1])
    else:
        raise AssertionError("x / 6 was imported")
