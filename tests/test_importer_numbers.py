"""archspec import of arithmetic with numbers and of division: `x * 0.5`, `x + 3`, `1 - x`
and `x / 4` are `scale` nodes (a factor that varies between a block's instances a param),
`a / b` a `div`; `x / 6`, which no product computes to the last bit, a `scale` by its
`divisor`."""

from __future__ import annotations

import pytest
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


def test_a_division_by_a_number_is_a_scale_by_that_divisor() -> None:
    """`x / 6` was E903 ('no product computes it to the last bit: write x * (1 / 6)'), which
    changed the model to import it: the `scale`'s divisor is torch's own quotient."""
    model = nn.Sequential(nn.Conv2d(3, 4, 1), HardSwish())
    text = roundtrip(model, (2, 3, 4, 4))
    assert "type: scale, divisor: 6.0}" in text


class Reciprocal(nn.Module):
    def __init__(self, negative: bool) -> None:
        super().__init__()
        self.negative = negative

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x / -3.0 if self.negative else 6.0 / x  # the statement


@pytest.mark.parametrize("negative", [False, True])
def test_a_number_over_a_tensor_or_a_negative_divisor_is_refused_at_it(negative: bool) -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), Reciprocal(negative))
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.zeros(1, 3, 4, 4))
    (diag,) = err.value.diagnostics
    assert diag.code == "E903" and "truediv" in diag.message
    assert diag.span is not None and diag.span.file.endswith(__file__.rsplit("/")[-1])
