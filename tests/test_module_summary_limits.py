"""`archspec.summary(model)` of a forward that ends the program, and of a model nested
deeper than Python's recursion limit lets torch walk: each a ModuleSummaryError that says
so (SystemExit escaped the summary; the deep model raised torch's RecursionError). Ctrl-C
stays Ctrl-C."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

import archspec
from archspec.modfailures import DEEP_MODEL, deepest_module
from archspec.modsummary import ModuleSummaryError


class _Exits(nn.Module):
    def __init__(self, how: BaseException) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)
        self.how = how

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise self.how


class _Nest(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner: nn.Module = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def _nested(levels: int) -> nn.Module:
    """`levels` modules each inside the one before, built without recursing."""
    top = cur = _Nest()
    for _ in range(levels - 1):
        cur.inner = _Nest()
        cur = cur.inner
    return top


@pytest.mark.parametrize("how", [SystemExit(3), SystemExit(), SystemExit("usage: train.py")])
def test_a_forward_that_exits_is_a_summary_error(how: SystemExit) -> None:
    with pytest.raises(ModuleSummaryError, match=r"SystemExit.*the forward ends the program"):
        archspec.summary(_Exits(how), input_size=(1, 3))


def test_ctrl_c_in_a_forward_stays_ctrl_c() -> None:
    with pytest.raises(KeyboardInterrupt):
        archspec.summary(_Exits(KeyboardInterrupt()), input_size=(1, 3))


def test_a_model_too_deep_for_the_recursion_limit_says_its_depth() -> None:
    model = _nested(3000)
    assert sys.getrecursionlimit() < 3 * 3000  # what makes it too deep here
    with pytest.raises(ModuleSummaryError) as info:
        archspec.summary(model, input_size=(1, 3))
    text = str(info.value)
    assert "_Nest nests its modules 3,000 levels deep" in text, text
    assert "(at `inner.inner." in text and "recursion limit" in text
    assert not isinstance(info.value.__cause__, RecursionError)


def test_a_model_nested_a_little_is_summarised_as_before() -> None:
    """Below the depth the message is for, a summary works (and a deep walk is iterative)."""
    levels = DEEP_MODEL // 2
    assert deepest_module(_nested(levels)) == (levels, ".".join(["inner"] * levels))
    result = archspec.summary(_nested(levels), input_size=(1, 3))
    assert result.params == 12
    assert len(result.rows) == levels


def test_a_forward_that_recurses_without_end_keeps_its_hint() -> None:
    class Loops(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self(x)

    with pytest.raises(ModuleSummaryError, match=r"calls itself without end"):
        archspec.summary(Loops(), input_size=(1, 3))
