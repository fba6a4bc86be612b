"""archspec import of models as users write them: a dense block whose first layer reads
`torch.cat(features, 1)` of one tensor, a stack of one tensor, and `nn.Softmax()` without
a dim."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
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


class ImplicitDim(nn.Module):
    """`nn.Softmax()` as old tutorials write it: torch picks the dim from the input's rank."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 4)
        self.softmax = nn.Softmax()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.softmax(self.fc(x))


def test_a_module_built_with_a_value_no_spec_states_is_refused_at_its_call() -> None:
    """Its reading was `dim: null`: "the imported spec does not compile", please report it."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(ImplicitDim(), torch.zeros(2, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903" and diag.span is not None
    assert diag.span.line == inspect.getsourcelines(ImplicitDim.forward)[1] + 1
    assert "the kind `softmax` takes no dim=None: build the module with a dim" in diag.message
    model = ImplicitDim()
    model.softmax = nn.Softmax(dim=1)
    assert "{name: softmax, type: softmax}" in roundtrip(model, (2, 8))  # dim 1: the default
