"""archspec import of a module held under two names: locuslab's TCN keeps each conv as an
attribute and again in the nn.Sequential its forward calls (`self.conv1 = ...;
self.net = nn.Sequential(self.conv1, ...)`). The refusal said the weights were tied and told
to untie them, which leaves `self.conv1` a copy no forward calls; it now names the module
and its two names, once, and says to hold it under one. The TCN's old `weight_norm` hook
is located at the class holding the layer, not in torch's source."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure


class Chomp1d(nn.Module):
    def __init__(self, chomp_size: int) -> None:
        super().__init__()
        self.chomp_size = chomp_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, :, : -self.chomp_size].contiguous()


class TemporalBlock(nn.Module):
    def __init__(self, n_in: int, n_out: int, k: int, dilation: int) -> None:
        super().__init__()
        padding = (k - 1) * dilation
        self.conv1 = nn.Conv1d(n_in, n_out, k, padding=padding, dilation=dilation)
        self.chomp1 = Chomp1d(padding)
        self.relu1 = nn.ReLU()
        self.net = nn.Sequential(self.conv1, self.chomp1, self.relu1)
        self.downsample = nn.Conv1d(n_in, n_out, 1) if n_in != n_out else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.net(x)
        res = x if self.downsample is None else self.downsample(x)
        return torch.relu(out + res)


def test_a_module_kept_under_two_names_is_named_once_as_one_module() -> None:
    model = nn.Sequential(TemporalBlock(3, 8, 3, 1), TemporalBlock(8, 8, 3, 2))
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model, torch.rand(2, 3, 16))
    diags = info.value.diagnostics
    assert [d.message.split(" held")[0] for d in diags] == [
        "`0.conv1` and `0.net.0` are one module (a Conv1d)",
        "`1.conv1` and `1.net.0` are one module (a Conv1d)",
    ]  # one per module: not one per tensor (weight, bias)
    assert all(d.code == "E904" and "set up in tests." in d.message for d in diags)
    assert "untie" not in diags[0].hint and "under one name" in diags[0].hint
    assert diags[0].span is not None and diags[0].span.file == __file__


class Once(TemporalBlock):
    """The same block holding each module once, as the hint says: it imports."""

    def __init__(self, n_in: int, n_out: int, k: int, dilation: int) -> None:
        super().__init__(n_in, n_out, k, dilation)
        del self.conv1, self.chomp1, self.relu1


def test_the_block_holding_each_module_once_round_trips() -> None:
    model = nn.Sequential(Once(3, 8, 3, 1), Once(8, 8, 3, 2)).eval()
    text = archspec.from_module(model, torch.rand(2, 3, 16))
    twin = archspec.compile(text).eval()
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict(model.state_dict())
    x = torch.rand(1, 3, 21)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x))


class NormedBlock(nn.Module):
    """locuslab's TCN wraps its convs in the old `weight_norm`, a hook object of torch's."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.utils.weight_norm(nn.Conv1d(3, 8, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv1(x))


@pytest.mark.filterwarnings("ignore:.*weight_norm.*:FutureWarning")
def test_torchs_own_hook_on_a_layer_is_located_at_the_class_that_holds_the_layer() -> None:
    """It was located at `class Conv1d` in torch's own source, which says nothing of where
    the model put the hook."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(nn.Sequential(NormedBlock()), torch.rand(2, 3, 16))
    (diag,) = info.value.diagnostics
    assert "`0.conv1`" in diag.message and "WeightNorm" in diag.message
    assert diag.span is not None and diag.span.file == __file__
    line = Path(__file__).read_text().splitlines()[diag.span.line - 1]
    assert line.startswith("class NormedBlock")
