"""archspec import of forwards whose gradients are not torch's own: torch.fx records neither
a grad-mode change nor a custom autograd.Function (it runs through `apply` to `forward`), so
they were imported as plain steps, silently training what the model froze or replacing a
straight-through estimator's backward. Each is E904 at its statement."""

from __future__ import annotations

import inspect

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure


class StraightThrough(torch.autograd.Function):
    @staticmethod
    def forward(ctx: object, x: torch.Tensor) -> torch.Tensor:
        return F.relu(x)

    @staticmethod
    def backward(ctx: object, grad: torch.Tensor) -> torch.Tensor:
        return grad


class Net(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 4, 1)
        self.head = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.how == "no_grad":
            with torch.no_grad():  # the statement
                y = self.conv(x)
        elif self.how == "set_grad_enabled":
            torch.set_grad_enabled(False)  # the statement
            y = self.conv(x)
            torch.set_grad_enabled(True)
        elif self.how == "inference_mode":
            with torch.inference_mode():  # the statement
                y = self.conv(x)
        else:
            y = StraightThrough.apply(self.conv(x))  # the statement
        return self.head(y)


@pytest.mark.parametrize("how", ["no_grad", "set_grad_enabled", "inference_mode", "function"])
def test_a_forward_with_its_own_gradients_is_refused_at_the_statement(how: str) -> None:
    model = nn.Sequential(Net(how), nn.ReLU()).eval()
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model, torch.zeros(1, 3, 4, 4))
    diag = info.value.diagnostics[0]
    assert diag.code == "E904" and "Net.forward" in diag.message
    lines, first = inspect.getsourcelines(Net.forward)
    assert diag.span.file.endswith("test_importer_gradmode.py")
    assert "# the statement" in lines[diag.span.line - first]
    assert "requires_grad_" in (diag.hint or "")


def test_grad_mode_outside_the_forward_is_not_the_models() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU()).eval()
    with torch.no_grad():
        text = archspec.from_module(model, torch.zeros(1, 3, 4, 4))
    assert "conv2d" in text


class Autocast(nn.Module):
    def __init__(self, enabled: bool) -> None:
        super().__init__()
        self.enabled = enabled
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.enabled):  # the statement
            return self.conv(x)


def test_a_forward_under_autocast_is_refused_at_the_statement() -> None:
    """fx records no autocast: on the meta device (no outputs to compare) the model, which
    computes its conv in bfloat16, imported silently as a float32 `conv2d`."""
    with torch.device("meta"):
        model = Autocast(True).eval()
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model, torch.zeros(1, 3, 4, 4, device="meta"))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904" and "enters `torch.autocast` (cpu, bfloat16)" in diag.message
    lines, first = inspect.getsourcelines(Autocast.forward)
    assert "# the statement" in lines[diag.span.line - first]
    assert "run the compiled module under `torch.autocast`" in (diag.hint or "")


def test_autocast_turned_off_keeps_float32_and_imports() -> None:
    text = archspec.from_module(Autocast(False).eval(), torch.zeros(1, 3, 4, 4))
    assert "type: conv2d" in text
