"""A drop path of the model's own (timm's `DropPath`, copied into many repositories) is a
`stochastic_depth` when it draws and scales as torchvision's StochasticDepth does. timm's
FocalNet, built with its default drop_path_rate, holds `DropPath(drop_prob=0.009)` and
more: the import refused its training steps, E903 'no layer kind computes the tensor method
`.new_empty()`' and `.bernoulli_()` (docs/import.md listed it: 'Steps that differ in
training'). A module of no tensors and no children whose float attribute, as `p`, and a
`mode` make a StochasticDepth that returns the same values in both modes, on inputs of
several ranks and seeds, drawing the same random numbers, is now read as that kind."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError


def drop_path(x: torch.Tensor, drop_prob: float, training: bool) -> torch.Tensor:
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.ndim - 1)
    random_tensor = x.new_empty(shape).bernoulli_(keep_prob)
    random_tensor.div_(keep_prob)
    return x * random_tensor


class DropPath(nn.Module):
    def __init__(self, drop_prob: float) -> None:
        super().__init__()
        self.drop_prob = drop_prob

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return drop_path(x, self.drop_prob, self.training)


class FloorDropPath(DropPath):
    """The older form: `floor(keep + U(0, 1))`, drawing other numbers than bernoulli_."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.drop_prob == 0.0 or not self.training:
            return x
        keep = 1 - self.drop_prob
        mask = (keep + torch.rand((x.shape[0],) + (1,) * (x.ndim - 1))).floor()
        return x.div(keep) * mask


class Block(nn.Module):
    def __init__(self, drop: nn.Module) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)
        self.drop_path = drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.fc(x))


def test_a_drop_path_of_the_models_own_is_stochastic_depth() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(Block(DropPath(0.25)), Block(DropPath(0.5))).eval()
    text = archspec.from_module(model, torch.randn(2, 5, 8))
    assert "{name: drop_path, type: stochastic_depth, p: p, mode: row}" in text
    assert "layer: {type: Block, p: 0.25 if i == 0 else 0.5}" in text
    twin = archspec.compile(text)
    twin.load_state_dict(model.state_dict())
    checked = 0
    for training in (False, True):  # in training too: the same draws from the same seed
        model.train(training)
        twin.train(training)
        for seed in range(4):
            x = torch.randn(6, 5, 8)
            torch.manual_seed(seed)
            want = model(x)
            torch.manual_seed(seed)
            assert torch.equal(twin(x), want)
            checked += 1
    assert checked == 8


def test_a_drop_path_that_draws_otherwise_stays_refused() -> None:
    """Its eval is the identity, but its training draws other numbers: no kind states it."""
    model = nn.Sequential(Block(FloorDropPath(0.25))).eval()
    with pytest.raises(ArchSpecError) as info:
        archspec.from_module(model, torch.randn(2, 5, 8))
    assert all(d.span is not None for d in info.value.diagnostics)
    assert "stochastic_depth" not in str(info.value)
