"""An example input the model takes in eval mode but not in training, where a child used only
in training (Inception v3's `AuxLogits`, a 5x5 average pool) finds its map too small: the
imported spec, which states both modes, rightly refuses that input, but the refusal said
"if the model runs on it, report this" as if the import were at fault (torchvision's
inception_v3 on (1, 3, 96, 96), found by tests/h42d/sweep.py). It now says the model refuses
the input in training mode, in torch's words.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure


class _WithAux(nn.Module):
    """A classifier whose auxiliary head runs in training only, pooling 5x5."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)
        self.aux = nn.Sequential(nn.AvgPool2d(5), nn.Flatten(), nn.Linear(4, 2))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | torch.Tensor:
        x = self.conv(x)
        aux = self.aux(x) if self.training else None
        out = self.fc(self.pool(x).flatten(1))
        return (out, aux) if self.training else out


def test_an_input_too_small_in_training_alone_is_refused_as_the_models_training_refuses() -> None:
    model = _WithAux().eval()
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model, torch.zeros(1, 3, 8, 8))
    [diag] = info.value.diagnostics
    assert diag.code == "E904"
    assert "refuses the example input (1, 3, 8, 8) in training mode" in diag.message
    assert "report this" not in diag.hint and "in training too" in diag.hint
    assert not model.training  # the model is left as it was
    twin = archspec.compile(archspec.from_module(model, torch.zeros(1, 3, 16, 16)))
    assert twin.eval()(torch.zeros(1, 3, 8, 8)).shape == (1, 2)  # the spec takes it in eval
