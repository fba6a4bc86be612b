"""A module's own parameter or buffer given dims of size 1 by indexing, as hand-written
layers write a per-channel scale (`x * self.gamma[None, :, None, None]`): it was E903 'a
tensor index `x[...]` takes one position of the batch dim, or adds a dim before it', though
the tensor has no batch dim and `self.gamma.view(1, -1, 1, 1)` imported. It is now the
`reshape` that view is."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class ScaleShift(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.gamma = nn.Parameter(torch.rand(8))
        self.register_buffer("beta", torch.rand(8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y * self.gamma[None, :, None, None] + self.beta[None, ..., None, None]


def test_a_modules_own_tensor_indexed_with_nones_is_a_reshape() -> None:
    text = roundtrip(ScaleShift(), (2, 3, 8, 8))
    assert "type: reshape, from: gamma, shape: [1, 8, 1, 1]" in text
    assert "type: reshape, from: beta, shape: [1, 8, 1, 1]" in text


class BatchNone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)[None, :]


def test_a_dim_before_the_batch_of_a_computed_tensor_stays_refused() -> None:
    with pytest.raises(ImportFailure, match="adds a dim before it"):
        archspec.from_module(BatchNone(), torch.rand(2, 3, 8, 8))


class Projection(nn.Module):
    """A projection of its own written with `torch.mm`, as graph-network code writes `XW`."""

    def __init__(self, method: bool) -> None:
        super().__init__()
        self.method = method
        self.fc = nn.Linear(8, 8)
        self.weight = nn.Parameter(torch.rand(8, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        return h.mm(self.weight) if self.method else torch.mm(h, self.weight)


@pytest.mark.parametrize("method", [False, True])
def test_torch_mm_of_two_matrices_is_a_matmul(method: bool) -> None:
    """It was E903 'no layer kind computes `torch.mm` as called here', where `@` imported."""
    text = roundtrip(Projection(method), (3, 8))
    assert "type: matmul, from: [fc, weight]" in text
