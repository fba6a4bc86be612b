"""archspec import of in-place steps a user writes: on a tensor whose view was taken before
(the view shares its storage, so the model reads the changed values through it: refused at
the step, not left to the final comparison's 'please report this model'; so does what a
child that returns its input gives back), and in their
in-place forms (`x.sigmoid_()`, `torch.relu_(x)`, `F.leaky_relu_(x, 0.2)`), read as their
out-of-place kinds where nothing reads the input again."""

from __future__ import annotations

import inspect
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class ViewedBefore(nn.Module):
    """A flattened view taken before `y += 1`: the model's `fc` reads the changed values."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 4 * 4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = y.view(y.size(0), -1)
        y += 1.0  # changes z too
        return self.fc(z)


class SliceBefore(nn.Module):
    """A slice of `y` concatenated after an in-place ReLU on `y`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        a = y[:, :2]
        b = F.relu(y, inplace=True)  # changes a too
        return torch.cat([a, b], 1)


class ChangedThroughView(nn.Module):
    """A step on a slice changes the tensor it was cut from."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y[:, :2].mul_(2.0)  # changes y
        return y


class PassThrough(nn.Module):
    """timm's `DropPath(0.0)`: returns the tensor it is given, the same storage."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class ThroughAChild(nn.Module):
    """An in-place ReLU on what a pass-through child returned: `y` itself."""

    def __init__(self, read_again: bool = True) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.drop_path = PassThrough()
        self.read_again = read_again

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        out = F.relu(self.drop_path(y), inplace=True)  # changes y too
        return out + y if self.read_again else out


def test_a_child_that_returns_its_input_shares_its_storage() -> None:
    """Nothing read again afterwards: the step is its out-of-place kind, as before."""
    text = roundtrip(ThroughAChild(read_again=False), (2, 3, 4, 4))
    assert "{name: drop_path, type: identity}" in text and "fn: relu}" in text


@pytest.mark.parametrize(
    ("model", "statement", "said"),
    [
        (
            ThroughAChild(),
            "out = F.relu(self.drop_path(y), inplace=True)  # changes y too",
            "the later read of `conv`, which shares the storage of `drop_path`",
        ),
        (
            ViewedBefore(),
            "y += 1.0",
            "the later read of `view`, which shares the storage of `conv`",
        ),
        (SliceBefore(), "b = F.relu(y, inplace=True)", "the later read of `getitem`"),
        (ChangedThroughView(), "y[:, :2].mul_(2.0)", "the later read of `conv`"),
    ],
)
def test_an_in_place_step_on_a_tensor_viewed_or_a_view_is_refused_at_it(
    model: nn.Module, statement: str, said: str
) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.randn(2, 3, 4, 4))
    (diag,) = err.value.diagnostics
    assert diag.code == "E904" and "reads it again afterwards" in diag.message
    assert diag.span is not None and diag.span.line == _line_of(statement)
    assert said in (diag.hint or "")


class InPlaceForms(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).sigmoid_()
        y = torch.relu_(y - 0.5)
        y = F.leaky_relu_(y.tanh_(), 0.2)
        return y.clamp_(0.0, 0.25)


def test_in_place_forms_read_as_their_kinds() -> None:
    text = roundtrip(InPlaceForms(), (2, 3, 6, 6))
    for fn in ("sigmoid", "relu", "tanh"):
        assert f"type: activation, fn: {fn}}}" in text
    assert "type: leaky_relu, negative_slope: 0.2" in text
    assert "type: hardtanh" in text


class StatementForm(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        torch.relu_(y)
        return y


def test_an_in_place_function_whose_input_is_read_again_is_read_as_its_result() -> None:
    """It was E903 'no layer kind computes `torch.relu_`', then E904 (read again): `y` is
    read after `torch.relu_(y)` changed it, and nothing else shares its storage."""
    text = roundtrip(StatementForm(), (2, 3, 4, 4))
    assert "type: activation, fn: relu}" in text


def _line_of(text: str) -> int:
    lines = inspect.getsource(sys.modules[__name__]).splitlines()
    return next(
        i for i, line in enumerate(lines, 1) if line.strip() == text or text + "  #" in line
    )


class SizeScaled(nn.Module):
    """`c *= 2` on a size read off the shape: a number rebound, no tensor changed, and the
    batch read off the same shape is no view of it (timm's Hiera scales its `B` so)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _ = x.shape
        c *= 2
        return self.fc(x.view(b, -1))


def test_a_size_scaled_in_place_is_no_in_place_step() -> None:
    assert "shape: [0, -1]" in roundtrip(SizeScaled(), (2, 3, 4))
