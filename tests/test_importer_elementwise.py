"""Elementwise arithmetic of a forward read as the kinds that compute it to the last bit
(importer/elementwise.py): clamps as `hardtanh` or `relu`, squares as a `mul` of a tensor
with itself, negation as a `scale` by -1. Plain torch models; each round-trips exactly
(keys, outputs, emitted source)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer_timm25 import round_trip_and_emit


class Arithmetic(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        a = torch.clamp(y, 0, 6) + y.clamp(min=-1.5, max=2) + torch.clip(y, max=1, min=-1)
        b = y.clamp(min=0) + torch.clamp_min(y, 0) + F.relu6(y + 3)
        c = y**2 + y.pow(2) + torch.square(y) + torch.pow(y, 2)
        return a * b - c + (-y) + torch.neg(y) + y.neg()


def test_clamps_squares_and_negations_round_trip_exactly() -> None:
    text = round_trip_and_emit(Arithmetic().eval(), (3, 8))
    kinds = [v["type"] for v in yaml.safe_load(text)["layers"]]
    assert kinds.count("hardtanh") == 3
    assert kinds.count("scale") >= 3  # -y three ways (and the + 3 of relu6's input)
    squares = [v for v in yaml.safe_load(text)["layers"] if v["type"] == "mul"]
    assert sum(len(set(v["from"])) == 1 for v in squares) == 4  # y * y, four ways


def test_extreme_values_are_the_models() -> None:
    """Infinities and the edges of the clamp give the model's floats (NaN aside, which
    `relu` and `hardtanh` pass through as torch's clamp does)."""
    model = Arithmetic().eval()
    twin = archspec.compile(archspec.from_module(model, torch.rand(1, 8))).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.tensor([[0.0, -0.0, 6.0, -1.5, 2.0, 1e30, -1e30, float("nan")]])
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), equal_nan=True, rtol=0, atol=0)


class ClampBelow(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.clamp(min=0.5)  # no kind treats a NaN as this clamp does


class Fourth(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x**4  # torch's generic pow, which x * x * x * x is not to the last bit


@pytest.mark.parametrize("model", [ClampBelow(), Fourth()])
def test_what_no_kind_computes_exactly_stays_refused(model: nn.Module) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.rand(2, 4))
    assert err.value.diagnostics[0].code == "E903"
