"""A child whose forward returns several maps, returned whole by its caller (a YOLO-style
`return self.detect(p3, p4)`, the head returning one (N, A, 5 + C, H, W) map per scale in a
list): the call is a block call with `names:` and the caller returns those names, where the
import failed with E904 'the imported spec ... does not compile: block `Detect` returns 2
outputs (permute, permute_1); this call does not name them' and the hint 'please report
this model: the import should have refused it'. A child returning a list is counted as one
returning a tuple."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec


class Detect(nn.Module):
    def __init__(self, ch: tuple[int, ...] = (8, 16), as_list: bool = True) -> None:
        super().__init__()
        self.na, self.no, self.as_list = 3, 9, as_list
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in ch)

    def forward(self, p3: torch.Tensor, p4: torch.Tensor) -> list[torch.Tensor]:
        out = []
        for i, x in enumerate((p3, p4)):
            x = self.m[i](x)
            bs, _, ny, nx = x.shape
            out.append(x.view(bs, self.na, self.no, ny, nx).permute(0, 1, 3, 4, 2).contiguous())
        return out if self.as_list else (out[0], out[1])


class Detector(nn.Module):
    def __init__(self, as_list: bool = True) -> None:
        super().__init__()
        self.b1 = nn.Conv2d(3, 8, 3, 2, 1)
        self.b2 = nn.Conv2d(8, 16, 3, 2, 1)
        self.detect = Detect(as_list=as_list)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        p3 = self.b1(x)
        return self.detect(p3, self.b2(p3))


class Wrapped(nn.Module):
    """The same one level down: a block returning its child's maps whole."""

    def __init__(self) -> None:
        super().__init__()
        self.model = Detector()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return self.model(x)


@pytest.mark.parametrize("model", [Detector(), Detector(as_list=False), Wrapped()])
def test_the_maps_a_child_returns_whole_are_the_callers_outputs(model: nn.Module) -> None:
    model.eval()
    text = archspec.from_module(model, torch.zeros(1, 3, 32, 32))
    assert "type: Detect, from: [b1, b2], names: [detect_0, detect_1]" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 37, 50)
    with torch.no_grad():
        got, expected = twin(x), model(x)
    assert len(got) == len(expected) == 2
    for a, b in zip(got, expected, strict=True):
        assert a.shape == b.shape and torch.equal(a, b)


class ListDetect(nn.Module):
    """YOLOv5's `Detect`: the maps come in one list, each replaced in it."""

    def __init__(self) -> None:
        super().__init__()
        self.m = nn.ModuleList(nn.Conv2d(c, 27, 1) for c in (8, 16))

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        for i in range(2):
            x[i] = self.m[i](x[i])
        return x


class ListDetector(Detector):
    def __init__(self) -> None:
        super().__init__()
        self.detect = ListDetect()  # type: ignore[assignment]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        p3 = self.b1(x)
        return self.detect([p3, self.b2(p3)])


def test_a_list_of_maps_replaced_item_by_item_is_the_block_s_inputs() -> None:
    # session 39 refused it (E902, the list's item assignment on one traced value); since
    # session 41 the list is traced as one input per map (tests/test_h41c_several.py)
    model = ListDetector().eval()
    text = archspec.from_module(model, torch.zeros(1, 3, 32, 32))
    assert "type: ListDetect, from: [b1, b2], names: [detect_0, detect_1]" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 37, 50)
    with torch.no_grad():
        got, expected = twin(x), model(x)
    assert len(got) == len(expected) == 2
    assert all(torch.equal(a, b) for a, b in zip(got, expected, strict=True))
