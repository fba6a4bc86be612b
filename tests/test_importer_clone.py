"""archspec import of `x.clone()` (`torch.clone(x)`), as VAN's attention keeps its shortcut
(`shortcut = x.clone()`, `u = x.clone()`): a copy of the same values, so the node is its
input, as `x.contiguous()` is. The import's own comparison with the model on the example
input still stands behind it."""

from __future__ import annotations

import inspect
import sys

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class LKA(nn.Module):
    """VAN's large-kernel attention: three convs, then the input times their output."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv0 = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.conv_spatial = nn.Conv2d(dim, dim, 7, padding=9, groups=dim, dilation=3)
        self.conv1 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.clone()
        attn = self.conv1(self.conv_spatial(self.conv0(x)))
        return u * attn


class SpatialAttention(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj_1 = nn.Conv2d(dim, dim, 1)
        self.activation = nn.GELU()
        self.spatial_gating_unit = LKA(dim)
        self.proj_2 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = torch.clone(x, memory_format=torch.preserve_format)
        x = self.proj_2(self.spatial_gating_unit(self.activation(self.proj_1(x))))
        return x + shortcut


def test_a_clone_is_its_input() -> None:
    text = roundtrip(SpatialAttention(8), (2, 8, 12, 12))
    assert "clone(" not in text and "identity" not in text
    assert "{name: mul, type: mul, from: [input, conv1]}" in text
    assert "{name: add, type: add, from: [proj_2, input]}" in text


class ClonedBeforeInplace(nn.Module):
    """The clone keeps the input's values while an in-place ReLU changes the input."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        kept = x.clone()
        return kept + self.relu(x)


def test_a_clone_read_after_an_inplace_step_on_its_source_is_refused_at_the_step() -> None:
    """A spec reads the copy as its source, which the in-place ReLU would change under it:
    refused where the step is (E904), never imported as another computation."""
    with pytest.raises(ImportFailure) as caught:
        archspec.from_module(ClonedBeforeInplace().eval(), torch.zeros(1, 3, 5, 5))
    (diag,) = [d for d in caught.value.diagnostics if d.code == "E904"]
    assert diag.span.line == _line_of("return kept + self.relu(x)")
    assert "a `clone()` of it (`clone`) is `conv` there" in diag.hint
    assert "inplace=False" in diag.hint


def _line_of(text: str) -> int:
    lines = inspect.getsource(sys.modules[__name__]).splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)
