"""archspec import of forms a user writes from tutorials: sizes multiplied into a flatten
(the PyTorch tutorial's `num_flat_features`)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class TutorialNet(nn.Module):
    """The PyTorch 60-minute tutorial's LeNet: the flat size multiplied in a loop."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.fc = nn.Linear(4 * 3 * 3, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        x = x.view(-1, self.num_flat_features(x))
        return self.fc(x)

    def num_flat_features(self, x: torch.Tensor) -> int:
        size = x.size()[1:]
        num_features = 1
        for s in size:
            num_features *= s
        return num_features


class ProductView(TutorialNet):
    """The flat size written out, its factors grouped otherwise, the batch a -1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv(x)), 2)
        return self.fc(x.view(-1, x.size(1) * (x.shape[2] * x.size(-1))))


class TokensJoined(nn.Module):
    """(N, C, H, W) to (N, C, H * W), the product of the two last sizes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y.view(-1, y.shape[1], y.shape[2] * y.shape[3]).softmax(-1)


def test_sizes_multiplied_into_one_are_a_flatten_of_those_dims() -> None:
    text = roundtrip(TutorialNet(), (2, 1, 8, 8))
    assert "type: flatten, end_dim: 3" in text
    assert "reads a rank, 4 for the example input: `for s in size:`" in text  # the loop's length
    assert archspec.check(text, input=(5, 1, 8, 8)).ok  # any batch, as the model's -1
    assert "type: flatten, end_dim: 3" in roundtrip(ProductView(), (2, 1, 8, 8))
    text = roundtrip(TokensJoined(), (2, 3, 5, 7))
    assert "type: flatten, start_dim: 2, end_dim: 3" in text
    assert archspec.check(text, input=(1, 3, 9, 4)).ok


class TwoProducts(nn.Module):
    """Two joins in one view: no one flatten states it (refused, not approximated)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0) * x.size(1), x.size(2) * x.size(3))


class OutOfOrder(nn.Module):
    """Sizes multiplied but not the dims in their place: a transpose's sizes, refused."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(-1, x.size(3) * x.size(1), x.size(2))


@pytest.mark.parametrize("model", [TwoProducts(), OutOfOrder()])
def test_other_products_of_sizes_stay_refused(model: nn.Module) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.randn(2, 3, 4, 5))
    assert err.value.diagnostics[0].code == "E903"
    assert "`.view()` takes sizes read from tensor shapes" in err.value.diagnostics[0].message
