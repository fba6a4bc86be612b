"""archspec import of ConvNeXt V2's global response norm as timm writes it: `x.norm(p=2,
dim=(1, 2), keepdim=True)` and `torch.addcmul(bias, weight, x * x_n)` read as the kinds
`vector_norm` and `addcmul` (they were E903, "no layer kind computes `.norm()`"), and
`torch.linalg.vector_norm` / `torch.norm` as the same kind; a norm no kind states stays E903."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class GlobalResponseNorm(nn.Module):
    """timm's, channels last."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_g = x.norm(p=2, dim=(1, 2), keepdim=True)
        x_n = x_g / (x_g.mean(dim=-1, keepdim=True) + self.eps)
        wb = (1, 1, 1, -1)
        return x + torch.addcmul(self.bias.view(wb), self.weight.view(wb), x * x_n)


class Pooled(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.grn = GlobalResponseNorm(8)
        self.fc = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.grn(self.conv(x).permute(0, 2, 3, 1))
        if self.how == "linalg":
            y = torch.linalg.vector_norm(y, 2, dim=(1, 2))
        elif self.how == "torch":
            y = torch.norm(y, p=1, dim=[1, 2])
        elif self.how == "all":  # over every dim: no kind states it
            y = y.norm(p=2, dim=(1, 2)) * y.norm()
        else:
            y = y.mean(dim=(1, 2))
        return self.fc(y)


@pytest.mark.parametrize("how", ["mean", "linalg", "torch"])
def test_a_global_response_norm_and_vector_norms_round_trip(how: str) -> None:
    text = roundtrip(Pooled(how), (2, 3, 8, 8))
    assert "type: vector_norm, dim: [1, 2], keepdim: true}" in text
    assert "type: addcmul, from: [reshape, reshape_1, mul]}" in text
    if how != "mean":
        ord_ = ", ord: 1.0" if how == "torch" else ""
        assert f"type: vector_norm, dim: [1, 2]{ord_}}}" in text


def test_a_norm_over_every_dim_stays_refused_at_its_statement() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(Pooled("all").eval(), torch.zeros(1, 3, 8, 8))
    codes = [d.code for d in info.value.diagnostics]
    assert "E903" in codes and "`.norm()`" in info.value.render()
