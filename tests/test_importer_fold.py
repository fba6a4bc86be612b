"""archspec import of sizes read as `h, w = x.shape[2:]` (VAN, PiT) and of a reshape whose
sizes a spec's `reshape` cannot state (tokens folded back into a map,
`x.transpose(1, 2).reshape(b, w, h, c)`, into the map's sizes but not as its tokens run):
the unpacked sizes are the dims they name, so an `F.interpolate` to them is
`interpolate_as`; the reshape was E903 at its statement, where it was "no layer kind
computes the operator `getitem`", and is now an `unflatten_as` of the map's dims 3 and 2, as
torch reshapes them. Tokens folded back as they run (`reshape(b, h, w, c)`) are a
`departition`, and TResNet's `x.view(n, c, h // 4, 4, w // 4, 4)`, once refused alike, is two
`unflatten` steps (importer/regroup.py, tests/test_importer_regroup.py)."""

from __future__ import annotations

import inspect
import sys

import torch
import torch.nn.functional as F
from torch import nn

import archspec
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


def test_tokens_folded_into_w_by_h_are_an_unflatten_as_as_torch_reshapes_them() -> None:
    """It was E903 ("sizes read from tensor shapes that no spec step states"): torch's
    reshape reads the row-major H * W tokens as W rows of H, which an `unflatten_as` of the
    input's dims 3 and 2 computes alike, for any size (session 37)."""
    text = roundtrip(FoldTransposed(), (2, 4, 5, 7))
    assert "dims: [3, 2]" in text
    assert archspec.check(text, input=(1, 4, 9, 3)).ok
