"""An einsum that is no batched matrix product (a ResNet block's `torch.einsum("nchw,c->nchw",
y, self.gate)`, a sum written `"nchw->nc"`) was refused as any unknown call: "no layer kind
computes `torch.functional.einsum` as called here", with a hint listing other calls and not
einsum. The refusal names the equation, says which einsum a spec states, and how to write
the others."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure


class Gated(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.gate = nn.Parameter(torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nchw,c->nchw", self.conv(x), self.gate)


class Summed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("nchw->nc", self.conv(x))


@pytest.mark.parametrize(("model", "equation"), [(Gated(), "nchw,c->nchw"), (Summed(), "nchw->nc")])
def test_an_einsum_of_another_form_is_refused_by_its_equation(
    model: nn.Module, equation: str
) -> None:
    with pytest.raises(ImportFailure) as caught:
        archspec.from_module(model.eval(), torch.rand(1, 4, 8, 8))
    (diag,) = caught.value.diagnostics
    assert diag.code == "E903"
    assert diag.span is not None and diag.span.file.endswith("test_h43e_einsum_refusal.py")
    assert f"torch.einsum({equation!r}" in diag.message
    assert "batched matrix product" in diag.message
    assert "bhid,bhjd->bhij" in diag.hint and ".sum(" in diag.hint
