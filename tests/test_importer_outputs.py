"""An imported spec is checked by what it computes, not only by its tensors: built with the
model's weights, it runs the example input in eval mode beside the model (shapes only on the
meta device). A spec with the right state_dict and another function is E904."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
import archspec.importer as importer
from archspec.errors import ImportFailure


def _model() -> nn.Sequential:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 5))


def test_a_spec_with_the_models_tensors_and_another_function_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    right = importer.spec_text(_model(), torch.zeros(1, 3, 4, 4))
    assert "type: relu" in right
    wrong = right.replace("type: relu", "type: sigmoid")
    monkeypatch.setattr(importer, "_imported_text", lambda *args: wrong)
    with pytest.raises(ImportFailure) as caught:
        archspec.from_module(_model(), torch.randn(2, 3, 4, 4))
    (diag,) = caught.value.diagnostics
    assert diag.code == "E904"
    assert "computes other outputs than the model: output 0 differs" in diag.message


def test_the_right_spec_passes_and_the_models_modes_are_kept() -> None:
    model = _model().train()
    model[1].eval()  # a mixed state, as after freezing part of a model
    text = archspec.from_module(model, torch.randn(2, 3, 4, 4))
    assert "type: relu" in text
    assert model.training and not model[1].training and model[0].training


def test_on_the_meta_device_the_shapes_are_compared() -> None:
    with torch.device("meta"):
        model = _model()
    text = archspec.from_module(model, torch.zeros(1, 3, 4, 4, device="meta"))
    assert "out_features: 5" in text


def test_a_forward_that_fails_on_the_example_is_e904_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Picky(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 1)
            self.broken = False

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            if self.broken:
                raise RuntimeError("no")
            return self.conv(x)

    model = Picky()
    text = importer.spec_text(model, torch.zeros(1, 3, 4, 4))
    model.broken = True
    monkeypatch.setattr(importer, "_imported_text", lambda *args: text)
    with pytest.raises(ImportFailure) as caught:
        archspec.from_module(model, torch.zeros(1, 3, 4, 4))
    (diag,) = caught.value.diagnostics
    assert diag.code == "E904"
    assert "failed (RuntimeError: no)" in diag.message
