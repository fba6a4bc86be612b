"""A conv given a weight computed in forward (a CondConv's experts mixed per sample,
`F.conv2d(x, (r @ self.weight).view(...), groups=b)`, or `F.conv2d(x, self.weight * 2)`)
was refused as any unknown call: "no layer kind computes `torch.conv2d` as called here".
The refusal says what it is: a weight computed in forward, which no kind holds."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure


class Mixed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 4 * 3 * 3 * 3))
        self.route = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        r = torch.sigmoid(self.route(x.mean((2, 3))))
        weight = (r @ self.weight).view(b * 4, 3, 3, 3)
        return F.conv2d(x.reshape(1, b * c, h, w), weight, padding=1, groups=b).view(b, 4, h, w)


class Scaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight * 2)


class Net(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


@pytest.mark.parametrize(
    ("inner", "example", "call"),
    [(Mixed(), torch.rand(2, 3, 8, 8), "torch.conv2d"), (Scaled(), torch.rand(2, 3), "linear")],
)
def test_a_weight_computed_in_forward_is_said_so(
    inner: nn.Module, example: torch.Tensor, call: str
) -> None:
    with pytest.raises(ImportFailure) as caught:
        archspec.from_module(Net(inner).eval(), example)
    diags = [d for d in caught.value.diagnostics if call in d.message]
    assert diags, caught.value.diagnostics
    assert "weight computed in forward" in diags[0].message
    assert diags[0].span is not None and diags[0].span.file.endswith("test_h43e_computed_weight.py")
