"""Classic hand-written models that `archspec import` met in session 44's sweep
(tests/h44c/sweep.py) and refused or read wrong, each as its authors write it."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import archspec
from archspec.api import build_graph
from archspec.errors import ArchSpecError, ImportFailure


def _round_trips(model: nn.Module, text: str, *inputs: torch.Tensor) -> None:
    """The compiled and the emitted spec hold the model's state_dict (keys, shapes, order;
    loaded strictly) and compute its eval outputs."""
    namespace: dict[str, object] = {}
    exec(compile(archspec.emit(text), "<emitted>", "exec"), namespace)
    emitted = namespace[build_graph(text).class_name]()  # type: ignore[operator]
    for twin in (archspec.compile(text), emitted):
        assert [(k, v.shape) for k, v in twin.state_dict().items()] == [
            (k, v.shape) for k, v in model.state_dict().items()
        ]
        twin.load_state_dict(model.state_dict(), strict=True)
        with torch.no_grad():
            torch.testing.assert_close(twin.eval()(*inputs), model.eval()(*inputs))


def _line_of(text: str) -> int:
    return next(i for i, ln in enumerate(Path(__file__).read_text().splitlines(), 1) if text in ln)


class VDSR(nn.Module):
    """twtygqyy/pytorch-vdsr: its first and last convs are `self.input` and `self.output`."""

    def __init__(self) -> None:
        super().__init__()
        self.residual_layer = nn.Sequential(nn.Conv2d(8, 8, 3, 1, 1, bias=False), nn.ReLU(True))
        self.input = nn.Conv2d(1, 8, 3, 1, 1, bias=False)
        self.output = nn.Conv2d(8, 1, 3, 1, 1, bias=False)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.relu(self.input(x))
        out = self.residual_layer(out)
        out = self.output(out)
        return torch.add(out, residual)


def test_a_child_registered_as_input_is_refused_for_what_input_means_in_a_spec() -> None:
    """`self.input = nn.Conv2d(...)` registers in torch, but a spec reads its module's input
    as `input`: the refusal says so, not that torch would refuse it."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(VDSR(), torch.zeros(1, 1, 8, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903"
    assert diag.span is not None and diag.span.line == _line_of("self.input = nn.Conv2d")
    assert "`input` is the name a spec reads" in diag.message
    assert "torch would refuse" not in diag.message
    assert "under another name" in (diag.hint or "")


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("input", "`input` is the name a spec reads"),
        ("super", "a name the code archspec writes uses itself"),
        ("forward", "an attribute of nn.Module"),
    ],
)
def test_a_key_no_spec_takes_says_why_truly(key: str, says: str) -> None:
    head = "archspec: 1\nname: keyed\ninput: [N, 8]\nlayers:\n"
    spec = head + f"  - {{key: {key}, type: linear, out_features: 8}}\n"
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(spec)
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.span.line, diag.span.col) == ("E204", 5, 11)
    assert says in diag.message
