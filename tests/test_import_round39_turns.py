"""Entries of an `nn.ModuleList` that the forward first calls out of their registered order
(torchvision's FeaturePyramidNetwork runs `inner_blocks[-1]` and `layer_blocks[-1]` on the
coarsest map first, then walks to the finer ones) import when the data flow lets them be
called in order: the graph is put in that order, moving only torch layers and pure functions
(importer/turns.py), where it was E904 'calls item `2` of `self.inner_blocks` before item
`0`'. An order the data forbids, or one that would move an in-place step, stays E904."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec


class Pyramid(nn.Module):
    """torchvision's FPN walk over three maps, and its LastLevelMaxPool."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.ModuleList(
            nn.Sequential(nn.Conv2d(c, w, 3, 2, 1), nn.ReLU(inplace=True))
            for c, w in ((3, 8), (8, 16), (16, 32))
        )
        self.inner_blocks = nn.ModuleList(nn.Conv2d(c, 12, 1) for c in (8, 16, 32))
        self.layer_blocks = nn.ModuleList(nn.Conv2d(12, 12, 3, padding=1) for _ in range(3))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.body:
            x = stage(x)
            feats.append(x)
        last_inner = self.inner_blocks[-1](feats[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for idx in range(len(feats) - 2, -1, -1):
            lateral = self.inner_blocks[idx](feats[idx])
            top_down = F.interpolate(last_inner, size=lateral.shape[-2:], mode="nearest")
            last_inner = lateral + top_down
            results.insert(0, self.layer_blocks[idx](last_inner))
        results.append(F.max_pool2d(results[-1], 1, 2, 0))
        return results


class Chained(nn.Module):
    """Entry 1 reads entry 0's output but runs first on another tensor: no order has entry 0
    called first without changing what entry 1 reads."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(4, 4, 1) for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs[0](self.convs[1](x))


class Mutating(nn.Module):
    """Entry 0 reads `x` after an in-place step on it: moving it before entry 1 would move
    that step too, which the data flow of the graph does not show."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = nn.ModuleList(nn.Conv2d(4, 4, 1) for _ in range(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x * 1.5
        a = self.convs[1](y)
        y.mul_(2.0)
        return a + self.convs[0](y)


def test_the_pyramid_imports_with_its_entries_in_turn() -> None:
    model = Pyramid().eval()
    text = archspec.from_module(model, torch.zeros(1, 3, 32, 32))
    assert text.index("key: inner_blocks.0") < text.index("key: inner_blocks.2")
    twin = archspec.compile(text).eval()
    assert [(k, v.shape) for k, v in twin.state_dict().items()] == [
        (k, v.shape) for k, v in model.state_dict().items()
    ]
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 37, 50)
    with torch.no_grad():
        for got, expected in zip(twin(x), model(x), strict=True):
            assert torch.equal(got, expected)


@pytest.mark.parametrize("cls", [Chained, Mutating])
def test_an_order_the_data_or_an_in_place_step_forbids_stays_refused(cls: type) -> None:
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.from_module(cls().eval(), torch.zeros(1, 4, 8, 8))
    assert caught.value.error_code == "E904"
    assert "calls item `1` of `self.convs` before item `0`" in str(caught.value)


class Dropped(nn.Module):
    """Entry 1 runs first with its dropout: moving entry 0's dropout before it would give each
    the other's random numbers in training."""

    def __init__(self) -> None:
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(nn.Conv2d(4, 4, 1), nn.Dropout(0.5)) for _ in range(2)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.heads[1](x)
        return self.heads[0](x) + b


def test_a_move_that_would_swap_random_draws_stays_refused() -> None:
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.from_module(Dropped().eval(), torch.zeros(1, 4, 8, 8))
    assert caught.value.error_code == "E904"
    assert "calls item `1` of `self.heads` before item `0`" in str(caught.value)
