"""`archspec.summary` of an nn.Module given inputs its forward cannot take: the error says
what does not fit and how to give them, rather than guessing at the forward's code."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import archspec
from archspec.modsummary import ModuleSummaryError


class _TwoInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.fc(a) + b


class _KeywordOnly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, *, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


class _Inner(nn.Module):
    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return x + y


class _CallsInnerWrongly(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = _Inner()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)  # a bug of the model, not of the inputs given


@pytest.mark.parametrize(
    ("model", "given", "misfit"),
    [
        (_TwoInputs(), {"input_size": (2, 4)}, "missing a required argument: 'b'"),
        (_KeywordOnly(), {"input_size": (2, 4)}, "too many positional arguments"),
        (_TwoInputs(), {"input_data": {"x": torch.zeros(2, 4)}}, "missing a required argument"),
    ],
)
def test_inputs_that_do_not_fit_forwards_signature_say_so(
    model: nn.Module, given: dict, misfit: str
) -> None:
    """The hint names forward's signature and how input_size= and input_data= map to its
    arguments; it used to blame a forward that reads tensor values (`.item()`)."""
    with pytest.raises(ModuleSummaryError) as caught:
        archspec.summary(model, **given)
    text = str(caught.value)
    assert f"{type(model).__name__}.forward(" in text
    assert misfit in text
    assert "input_data= a list of the positional arguments" in text
    assert ".item()" not in text


def test_a_type_error_inside_the_forward_keeps_the_general_hint() -> None:
    """The inputs fit the root's forward: what failed is the model's own call."""
    with pytest.raises(ModuleSummaryError, match=r"\.item\(\)") as caught:
        archspec.summary(_CallsInnerWrongly(), input_size=(2, 4))
    assert "cannot take them" not in str(caught.value)


@pytest.mark.parametrize(
    ("model", "size"),
    [
        (nn.Linear(4, 4).half(), (2, 4)),
        (nn.Sequential(nn.Linear(4, 4, bias=False)).bfloat16(), (2, 4)),
        (nn.Sequential(nn.Conv2d(3, 4, 3, bias=False)).half(), (2, 3, 8, 8)),
        (nn.Conv2d(3, 4, 3).bfloat16(), (2, 3, 8, 8)),  # torch's meta kernel checks the bias
    ],
)
def test_inputs_of_another_dtype_than_the_weights_are_refused_as_a_device_would(
    model: nn.Module, size: tuple[int, ...]
) -> None:
    """torch's CPU and CUDA kernels refuse a float32 input to a float16 layer, and its meta
    kernels mostly do not check: the summary used to succeed for a model that cannot run."""
    with pytest.raises(RuntimeError):  # the real forward, on the CPU
        model(torch.zeros(size))
    with pytest.raises(ModuleSummaryError, match=r"dtype of the model's weights: dtypes="):
        archspec.summary(model, input_size=size)
    dtype = next(model.parameters()).dtype
    assert archspec.summary(model, input_size=size, dtypes=[dtype]).macs.value > 0


def test_under_autocast_operands_of_two_dtypes_are_left_to_it() -> None:
    """Autocast casts the operands on a real device (not on meta): no refusal there."""

    class _Autocast(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4).bfloat16()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return self.fc(x)

    _Autocast()(torch.zeros(2, 4))  # runs on the CPU
    assert archspec.summary(_Autocast(), input_size=(2, 4)).macs.value == 2 * 4 * 4


class _RunsTwice(nn.Module):
    """One conv run on the full input and on a pooled one: 2 runs of different shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(4)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.conv(x), self.conv(self.pool(x))


def test_a_module_run_several_times_says_so_beside_the_mac_total_of_its_runs() -> None:
    """Its row adds the MACs of every run; without a word of it, the row's shape (one run's)
    and its MACs (all runs') did not agree, as a reader checking one against the other finds."""
    table = archspec.summary(_RunsTwice(), input_size=(1, 3, 16, 16))
    rows = {r.path: r for r in table.rows}
    assert rows["conv"].type == "Conv2d (2 runs)"
    assert rows["conv"].shape_text == "(1, 3, 16, 16)"  # the first run's output
    assert rows["conv"].macs.value == 3 * 27 * (16 * 16 + 4 * 4)
    assert rows["pool"].type == "AdaptiveAvgPool2d"  # one run: no count
    assert "Conv2d (2 runs)" in table.to_text(width=120)


class _Embedder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 8)
        self.fc = nn.Linear(8, 2)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.fc(self.emb(tokens))


def test_float_indices_say_to_give_an_integer_dtype() -> None:
    """input_size's tensors are float32 by default; an embedding reads indices. The hint said
    "a forward that reads tensor values ... check the input size", which is not the fix."""
    with pytest.raises(ModuleSummaryError) as info:
        archspec.summary(_Embedder(), input_size=(2, 7))
    assert "dtypes=[torch.long]" in str(info.value) and ".item()" not in str(info.value)
    done = archspec.summary(_Embedder(), input_size=(2, 7), dtypes=[torch.long])
    assert done.params == 100 * 8 + 8 * 2 + 2
