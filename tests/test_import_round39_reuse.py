"""A parameter-free module the forward calls again with settings an `activation` cannot
state (ESRGAN's `self.lrelu = nn.LeakyReLU(0.2)` after every conv, YOLO's SPPF max pool run
three times) imports as a `reuse` of its first call: one child, as the model has, where it
was a second module per call (`lrelu_1`, `lrelu_2`: the same keys, but `print(model)` and
`state_dict()._metadata` listed modules the model does not have)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

import archspec


class Dense(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 4, 3, padding=1)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)
        self.pool = nn.MaxPool2d(5, 1, 2)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        y = self.pool(self.pool(x2))
        return self.relu(self.relu(y) + F.relu(x))


def test_a_stateless_module_called_again_is_one_child_called_again() -> None:
    model = Dense().eval()
    text = archspec.from_module(model, torch.zeros(1, 4, 8, 8))
    assert "{name: lrelu_1, type: reuse, node: lrelu}" in text
    assert "{name: pool_1, type: reuse, node: pool}" in text
    assert "fn: relu" in text  # an activation at torch's defaults stays computed in forward
    twin = archspec.compile(text).eval()
    assert sorted(n for n, _ in twin.named_modules()) == sorted(n for n, _ in model.named_modules())
    assert twin.state_dict()._metadata.keys() == model.state_dict()._metadata.keys()
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 4, 9, 7)
    with torch.no_grad():
        assert torch.equal(twin(x), model(x))
