"""archspec import of sizes read as `h, w = x.shape[2:]` (VAN, PiT) and of a reshape whose
sizes a spec's `reshape` cannot state (tokens folded back into a map,
`x.transpose(1, 2).reshape(b, w, h, c)`, into the map's sizes but not as its tokens run):
the unpacked sizes are the dims they name, so an `F.interpolate` to them is
`interpolate_as`; the reshape is E903 at its statement, saying why and what a spec writes
instead, where it was "no layer kind computes the operator `getitem`". Tokens folded back as
they run (`reshape(b, h, w, c)`) are a `departition`, and TResNet's `x.view(n, c, h // 4, 4,
w // 4, 4)`, once refused alike, is two `unflatten` steps (importer/regroup.py,
tests/test_importer_regroup.py)."""

from __future__ import annotations

import inspect
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class ResizeToUnpacked(nn.Module):
    """A branch brought back to the input's size read as `h, w = x.shape[-2:]`."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(4, 4, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        return x + F.interpolate(self.down(x), size=(h, w), mode="nearest")


class FoldBack(nn.Module):
    """Tokens through a linear layer, then folded back into the map (VAN's stages)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        h, w = x.shape[2:]
        tokens = self.fc(x.flatten(2).transpose(1, 2))
        return tokens.reshape(b, h, w, -1).permute(0, 3, 1, 2)


class FoldTransposed(FoldBack):
    """The tokens folded into (W, H): the map's sizes, but not as its tokens run."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        h, w = x.shape[2:]
        tokens = self.fc(x.flatten(2).transpose(1, 2))
        return tokens.reshape(b, w, h, -1).permute(0, 3, 1, 2)


def _line_of(text: str) -> int:
    lines = inspect.getsource(sys.modules[__name__]).splitlines()
    return next(i for i, line in enumerate(lines, 1) if text in line)


def test_sizes_unpacked_from_a_shape_slice_are_its_dims() -> None:
    text = roundtrip(ResizeToUnpacked(), (2, 4, 9, 7))
    assert "type: interpolate_as" in text


def test_tokens_folded_back_by_the_maps_sizes_are_a_departition() -> None:
    """It was E903 at the reshape; now a departition of one-token groups, for any size."""
    text = roundtrip(FoldBack(), (2, 4, 5, 7))
    assert "{name: departition, type: departition, from: [unsqueeze, input], size: 1}" in text
    assert archspec.check(text, input=(1, 4, 9, 3)).ok


@pytest.mark.parametrize(
    ("model", "statement"), [(FoldTransposed(), "return tokens.reshape(b, w, h, -1)")]
)
def test_a_reshape_to_sizes_no_spec_states_says_what_to_write(
    model: nn.Module, statement: str
) -> None:
    with pytest.raises(ImportFailure) as caught:
        archspec.from_module(model.eval(), torch.zeros(1, 4, 8, 8))
    first = caught.value.diagnostics[0]
    assert first.code == "E903"
    assert first.span.line == _line_of(statement)
    assert "sizes read from tensor shapes" in first.message
    assert "departition" in first.hint and "unflatten" in first.hint
