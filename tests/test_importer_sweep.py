"""archspec import on patterns met in a sweep of timm's and torchvision's models (one small
model per family): each pattern is written here in plain torch, as the model wrote it, and
either round-trips exactly (tests/test_importer.py's `roundtrip`) or is refused at its place
in the source."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class ScaledBlock(nn.Module):
    """A learned scale reshaped where it is used (timm's MetaNeXt block: `gamma.reshape`)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.gamma = nn.Parameter(torch.ones(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y = y.mul(self.gamma.reshape(1, -1, 1, 1))
        return y + x


def test_a_step_reading_a_learned_tensor_names_it_not_the_flow() -> None:
    """A `parameter` is not in a spec's flow: the step after it reads the step before it
    unless `from:` says otherwise, so a reshape of the parameter must name it."""
    model = nn.Sequential(nn.Conv2d(3, 8, 1), ScaledBlock(8), ScaledBlock(8))
    text = roundtrip(model, (2, 3, 6, 5))
    assert "from: gamma" in text


class TakesList(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return self.conv(xs[0])


class PassesList(nn.Module):
    """timm's SelecSls and PiT hand a child a list it does not start by concatenating."""

    def __init__(self) -> None:
        super().__init__()
        self.features = TakesList()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features([x])


def test_a_list_given_to_a_child_is_refused_naming_the_child_as_the_source_does() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(PassesList(), torch.zeros(1, 3, 4, 4))
    (first,) = [d for d in info.value.diagnostics if "a list" in d.message]
    assert first.code == "E904"
    assert "forward passes `self.features` a list" in first.message
    assert first.span is not None and first.span.file == __file__
    with open(__file__, encoding="utf-8") as fh:
        assert "self.features([x])" in fh.read().splitlines()[first.span.line - 1]
