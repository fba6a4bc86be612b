"""A network of two inputs whose forward cannot be traced (torchvision's RAFT checks its two
images' sizes) got, besides the true E902, a false E904 "takes 1 input, and 2 examples were
given". Found by tests/h42d/sweep.py.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure


class _TwoImages(nn.Module):
    """RAFT's check of its two images' sizes, a branch on sizes no fixed graph states."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, image1: torch.Tensor, image2: torch.Tensor) -> torch.Tensor:
        if image1.shape[-2:] != image2.shape[-2:]:
            raise ValueError("the images differ in size")
        return self.conv(image1) - self.conv(image2)


def test_a_forward_of_two_tensors_that_cannot_be_traced_is_not_said_to_take_one() -> None:
    """It was refused with a second, false E904: "forward takes 1 input, and 2 examples were
    given" (the count of an untraced forward's inputs taken as one)."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(_TwoImages(), (torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)))
    [diag] = info.value.diagnostics
    assert diag.code == "E902" and "control flow" in diag.message
    assert diag.span is not None and diag.span.line > 0
