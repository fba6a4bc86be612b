"""A forward returning a tuple of lists (torchvision's RPNHead: each map's logits and boxes)
was refused as "returns a tuple, not one tensor", where a tuple of tensors imports. Found by
tests/h42d/sweep.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure


class _Heads(nn.Module):
    """RPN's head in small: each map's logits and boxes returned as two lists."""

    def __init__(self) -> None:
        super().__init__()
        self.cls = nn.Conv2d(4, 3, 1)
        self.box = nn.Conv2d(4, 12, 1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> tuple[list[torch.Tensor], ...]:
        return [self.cls(a), self.cls(b)], [self.box(a), self.box(b)]


def test_a_tuple_of_lists_returned_is_refused_as_what_it_is() -> None:
    """It was "returns a tuple, not one tensor", where a tuple of tensors imports: the
    refusal names the lists in it and says to return one flat tuple."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(_Heads(), (torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 4, 4)))
    [diag] = info.value.diagnostics
    assert diag.code == "E904"
    assert "returns a tuple holding 2 lists, not tensors alone" in diag.message
    assert "return one flat tuple" in diag.hint
