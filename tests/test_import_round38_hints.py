"""The hint of a forward that tests two tensors' sizes (aladdinpersson's U-Net, `if x.shape
!= skip_connection.shape: x = TF.resize(...)`): it said to build the layer with fixed sizes,
which no U-Net can; it now says to resize always, which imports. A size compared with a
number keeps its hint."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure


class Up(nn.Module):
    def __init__(self, form: str) -> None:
        super().__init__()
        self.form = form
        self.up = nn.ConvTranspose2d(8, 4, 2, stride=2)
        self.conv = nn.Conv2d(8, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x[:, :4]
        x = self.up(F.max_pool2d(x, 2))
        resize = True
        if self.form == "shape":
            resize = x.shape != skip.shape
        elif self.form == "size":
            resize = x.size()[2:] != skip.size()[2:]
        elif self.form == "limit":
            resize = x.shape[-1] > 4
        if resize:
            x = F.interpolate(x, size=skip.shape[2:])
        return self.conv(torch.cat([skip, x], dim=1))


@pytest.mark.parametrize("form", ["shape", "size"])
def test_a_test_of_two_tensors_sizes_hints_to_resize_always(form: str) -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(Up(form), torch.rand(1, 8, 10, 10))
    (diag,) = info.value.diagnostics
    assert diag.code == "E902" and diag.span is not None and diag.span.file == __file__
    assert "resize always" in diag.hint and "interpolate_as" in diag.hint
    assert "fixed sizes" not in diag.hint


def test_the_resize_the_hint_asks_for_imports_and_leaves_equal_sizes_as_they_are() -> None:
    model = Up("always").eval()
    text = archspec.from_module(model, torch.rand(1, 8, 10, 10))
    assert "type: interpolate_as" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():
        for size in (10, 11):  # 10: the sizes match and the resize changes nothing
            x = torch.rand(1, 8, size, size)
            torch.testing.assert_close(twin(x), model(x), rtol=0, atol=0)


def test_a_size_compared_with_a_number_keeps_its_hint() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(Up("limit"), torch.rand(1, 8, 10, 10))
    assert "build the layer with fixed sizes" in info.value.diagnostics[0].hint
