"""`F.interpolate` to another map's size read by positive dims imports as `interpolate_as`:
HRNet's segmentation head writes `x0_h, x0_w = x[0].size(2), x[0].size(3)` and then
`F.interpolate(x[1], size=(x0_h, x0_w), mode="bilinear")`, others `size=(y.size(2),
y.size(3))` or `h, w = y.shape[2:]`, and a 1-d decoder `size=skip.shape[-1]`; each was E903
'no layer kind computes `torch.nn.functional.interpolate` as called here', where only the
negative dims (`(y.shape[-2], y.shape[-1])`) were read. Sizes that are not the other map's
spatial size in order stay E903."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec


class Two(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 3, 1, 1)
        self.b = nn.Conv2d(3, 8, 3, 2, 1)


class Unpacked(Two):  # HRNet's seg head
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0, x1 = self.a(x), self.b(x)
        h, w = x0.size(2), x0.size(3)
        up = F.interpolate(x1, size=(h, w), mode="bilinear", align_corners=False)
        return torch.cat([x0, up], 1)


class Inline(Two):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0, x1 = self.a(x), self.b(x)
        return x0 + F.interpolate(x1, size=(x0.size(2), x0.size(3)), mode="bilinear")


class Sliced(Two):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0, x1 = self.a(x), self.b(x)
        h, w = x0.shape[2:]
        return x0 + F.interpolate(x1, size=(h, w), mode="nearest")


class Length(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv1d(3, 8, 3, 1, 1)
        self.b = nn.Conv1d(3, 8, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0, x1 = self.a(x), self.b(x)
        return x0 + F.interpolate(x1, size=x0.shape[-1], mode="linear")


class Swapped(Two):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0, x1 = self.a(x), self.b(x)
        return F.interpolate(x1, size=(x0.size(3), x0.size(2)))


class OneSize(Two):  # one int is both sizes of a map
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0, x1 = self.a(x), self.b(x)
        return F.interpolate(x1, size=x0.size(2))


@pytest.mark.parametrize(
    ("cls", "example", "other"),
    [
        (Unpacked, (1, 3, 16, 16), (2, 3, 37, 50)),
        (Inline, (1, 3, 16, 16), (2, 3, 37, 50)),
        (Sliced, (1, 3, 16, 16), (2, 3, 37, 50)),
        (Length, (1, 3, 16), (2, 3, 37)),
    ],
)
def test_a_resize_to_the_sizes_of_another_map_is_interpolate_as(
    cls: type, example: tuple[int, ...], other: tuple[int, ...]
) -> None:
    model = cls().eval()
    text = archspec.from_module(model, torch.zeros(example))
    assert "type: interpolate_as, from: [b, a]" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(other)
    with torch.no_grad():
        assert torch.equal(twin(x), model(x))


@pytest.mark.parametrize("cls", [Swapped, OneSize])
def test_sizes_that_are_not_the_maps_in_order_stay_refused(cls: type) -> None:
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.from_module(cls().eval(), torch.zeros(1, 3, 16, 12))
    assert caught.value.error_code == "E903"
    assert "torch.nn.functional.interpolate" in str(caught.value)
