"""`archspec.summary` of an nn.Module whose inputs or outputs come in the forms models use
beyond tensors, lists and dicts: an RNN's PackedSequence, an output record (a dataclass),
and parameters held by a module that has no forward (ParameterList, ParameterDict)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence

import archspec
import archspec.modsummary


def test_a_packed_sequence_is_input_data_as_its_data() -> None:
    """torch refuses a PackedSequence whose batch sizes are not on the CPU: they stay there,
    its data becomes meta (it was torch's ValueError, raised from archspec's input handling)."""
    packed = pack_padded_sequence(torch.randn(5, 3, 4), [5, 3, 2])  # 10 steps in all
    lstm = nn.LSTM(4, 6)
    s = archspec.summary(lstm, input_data=[packed])
    assert s.params == 4 * 6 * (4 + 6 + 2)
    assert s.module is not None
    assert s.module.inputs == ((10, 4),)  # the data, not the batch sizes beside it
    # the output: the packed data (10 steps of 6), then h and c; not the CPU batch sizes
    assert s.module.outputs == ((10, 6), (1, 3, 6), (1, 3, 6))
    assert s.macs.value == 10 * 4 * 6 * (4 + 6)  # per step: 4 gates of (in + hidden) x hidden
    assert packed.data.device.type == "cpu"  # the caller's sequence is untouched


@dataclass
class _Output:
    logits: torch.Tensor
    features: torch.Tensor
    note: str = "not a tensor"


class _ReturnsARecord(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Linear(8, 16)
        self.head = nn.Linear(16, 3)

    def forward(self, x: torch.Tensor) -> _Output:
        features = self.body(x)
        return _Output(self.head(features), features)


def test_an_output_record_shows_its_tensors() -> None:
    """A dataclass output was one opaque leaf to pytree: the summary showed no output."""
    s = archspec.summary(_ReturnsARecord(), input_size=(2, 8))
    assert s.module is not None and s.module.outputs == ((2, 3), (2, 16))
    assert "-> output (2, 3), (2, 16)" in s.to_text(width=100)


class _Weights(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.weights = nn.ParameterList([nn.Parameter(torch.randn(8, 8)) for _ in range(2)])
        self.biases = nn.ParameterDict({"out": nn.Parameter(torch.zeros(8))})
        self.unused = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for w in self.weights:
            x = F.linear(x, w)
        return x + self.biases["out"]


def test_a_holder_of_parameters_is_not_marked_as_not_run() -> None:
    """A ParameterList has no forward to run: its parameters were read, so "(not run)" said
    the opposite of what happened; a module with a forward that never ran keeps the mark."""
    rows = {r.path: r for r in archspec.summary(_Weights(), input_size=(2, 8)).rows}
    assert rows["weights"].type == "ParameterList" and rows["weights"].params == 128
    assert rows["biases"].type == "ParameterDict"
    assert rows["unused"].type == "Linear (not run)"


def _small() -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.Flatten(), nn.Linear(288, 4))


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch.jit's, from dynamo's import
def test_a_compiled_module_is_summarised_as_it_runs_eagerly() -> None:
    """torch.compile's wrapper and module.compile() ran the forward through the compiler,
    which fails on meta tensors (inductor: BackendCompilerFailed) after seconds of work."""
    plain = archspec.summary(_small(), input_size=(2, 3, 8, 8))
    wrapped = archspec.summary(torch.compile(_small()), input_size=(2, 3, 8, 8))
    assert wrapped.name == "Sequential"  # the module it compiled, rows under its own names
    assert [r.path for r in wrapped.rows] == [r.path for r in plain.rows]
    in_place = _small()
    in_place.compile()
    for s in (wrapped, archspec.summary(in_place, input_size=(2, 3, 8, 8))):
        assert (s.params, s.macs.value) == (plain.params, plain.macs.value)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_an_exported_program_module_is_summarised() -> None:
    """torch.export's module refuses train() and eval() (NotImplementedError), which the
    summary called: it was refused with the hint for data-dependent operators."""
    model = _small().eval()
    exported = torch.export.export(model, (torch.randn(2, 3, 8, 8),)).module()
    s = archspec.summary(exported, input_size=(2, 3, 8, 8))
    plain = archspec.summary(model, input_size=(2, 3, 8, 8), mode="eval")
    assert (s.params, s.macs.value) == (plain.params, plain.macs.value)
    assert s.module is not None and s.module.outputs == ((2, 4),)
    assert not any("(not run)" in r.type for r in s.rows)  # its submodules hold parameters


def test_a_value_dependent_forward_is_told_briefly_with_a_way_out() -> None:
    """torch's nonzero message runs on about a setting of its own: it was cut mid-word at 300
    characters ("'torch.fx.experimental._con"); it ends at a word now, and the hint says
    which part of such a model can be summarised."""

    class Boxes(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.backbone = nn.Conv2d(3, 4, 3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            scores = self.backbone(x)
            return scores.nonzero()  # box selection: as many rows as values pass

    with pytest.raises(archspec.modsummary.ModuleSummaryError) as caught:
        archspec.summary(Boxes(), input_size=(1, 3, 8, 8))
    told = str(caught.value)
    torchs = told.split("NotImplementedError: ", 1)[1].split(" (an operator", 1)[0]
    assert torchs.endswith(" ...") and torchs[:-4].split()[-1].isalpha()
    assert "a detection model's .backbone" in told


@pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")
def test_the_memory_line_names_a_batch_only_where_the_inputs_give_one() -> None:
    """nn.Transformer, nn.LSTM and nn.MultiheadAttention read (L, N, E) by default: their
    memory was said to be 'at batch 10' for a sequence of 10, a batch of 2."""
    seq_first = archspec.summary(
        nn.Transformer(16, 2, 1, 1, 32), input_size=[(10, 2, 16), (7, 2, 16)]
    )
    assert seq_first.module is not None and seq_first.module.memory.batch is None
    assert "Memory of a training step at these inputs:" in seq_first.to_text(width=100)
    lstm = archspec.summary(nn.LSTM(4, 8), input_size=(5, 3, 4)).module
    assert lstm is not None and lstm.memory.batch is None
    batch_first = archspec.summary(nn.LSTM(4, 8, batch_first=True), input_size=(3, 5, 4))
    assert batch_first.module is not None and batch_first.module.memory.batch == 3
    assert "Memory of a training step at batch 3:" in batch_first.to_text(width=100)

    class Pair(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            return a.sum() + b.sum()

    two = archspec.summary(Pair(), input_size=[(6, 3), (7, 4)]).module
    assert two is not None and two.memory.batch is None  # inputs of two first sizes
