"""archspec import of models as users write them: a dense block whose first layer reads
`torch.cat(features, 1)` of one tensor, and a stack of one tensor."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from tests.emit_helpers import matches_compile
from tests.test_importer import roundtrip


class DenseBlock(nn.Module):
    """Each layer reads the concatenation of every map so far, the first one of `[x]` alone."""

    def __init__(self, cin: int = 4, growth: int = 2, n: int = 3) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            nn.Sequential(
                nn.BatchNorm2d(cin + i * growth),
                nn.ReLU(),
                nn.Conv2d(cin + i * growth, growth, 3, padding=1),
            )
            for i in range(n)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = [x]
        for layer in self.layers:
            features.append(layer(torch.cat(features, 1)))
        return torch.cat(features, 1)


class StackOfOne(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(torch.stack((self.conv(torch.cat((x,), dim=1)),), dim=2))


def test_a_concat_of_one_tensor_is_that_tensor() -> None:
    """It was a concat node of one input: "the imported spec does not compile"."""
    text = roundtrip(DenseBlock(), (2, 4, 5, 5))
    assert text.count("type: concat") == 3  # the second and third layers' inputs, the output
    matches_compile(text, (2, 4, 5, 5))


def test_a_stack_of_one_tensor_is_its_unsqueeze() -> None:
    text = roundtrip(StackOfOne(), (2, 3, 4, 4))
    assert "type: stack" not in text and "type: concat" not in text
    assert "type: unsqueeze, dim: 2}" in text
    matches_compile(text, (2, 3, 4, 4))
