"""A forward and the model's state: its own buffers read through a step (`self.g.reshape`),
buffers changed or assigned in forward, tensors made in forward, `F.dropout` left at its
default `training=True`, and a block that returns one piece of a chunk. Each either
round-trips or is refused at its statement, and the import leaves the model as it was."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


def _statement(diag, text: str) -> bool:
    with open(diag.span.file, encoding="utf-8") as fh:
        return text in fh.read().splitlines()[diag.span.line - 1]


class Scaled(nn.Module):
    """A per-channel scale held as a buffer and shaped in forward (as FrozenBatchNorm2d
    shapes its buffers): torch.fx must record the reshape, not run it once."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.register_buffer("gain", torch.linspace(0.5, 2.0, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.gain.reshape(1, -1, 1, 1)


def test_a_buffer_shaped_in_forward_is_a_buffer_node() -> None:
    text = roundtrip(Scaled(), (2, 3, 6, 6))
    assert "{name: gain, type: buffer, shape: [4]}" in text
    assert "type: reshape, from: gain" in text


class Counting(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.register_buffer("count", torch.zeros(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.count.add_(1)  # a counter training keeps
        return self.conv(x)


class Assigning(Counting):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.count += 1  # a counter assigned
        return self.conv(x)


class Ran(Counting):
    """A child block whose input is read again: the import runs the model to see whether
    the block changes it, and that run counts too (the import left `count` at 1)."""

    def __init__(self) -> None:
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.count.mul_(2).add_(1)  # counted on every run
        y = self.conv(x)
        return y + self.block(y)


@pytest.mark.parametrize(
    ("model", "statement", "words"),
    [
        (Counting(), "self.count.add_(1)", "changes the tensor `self.count` in place"),
        (Assigning(), "self.count += 1", "assigns the tensor `self.count`"),
        (Ran(), "self.count.mul_(2).add_(1)", "changes the tensor `self.count` in place"),
    ],
)
def test_a_forward_that_changes_its_own_buffer_is_refused_and_the_model_kept(
    model, statement, words
) -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model, torch.zeros(1, 3, 4, 4))
    first = info.value.diagnostics[0]
    assert first.code == "E904" and words in first.message
    assert _statement(first, statement)
    assert type(model.count) is torch.Tensor and model.count.item() == 0  # not traced into


class MadeInForward(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * torch.tensor([1.0, 2.0, 3.0, 4.0]).view(1, 4, 1, 1)


def test_a_tensor_made_in_forward_is_refused_at_it_not_as_a_training_difference() -> None:
    model = MadeInForward()
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model, torch.zeros(1, 3, 4, 4))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903" and "makes a tensor of its own" in diag.message
    assert "register_buffer" in (diag.hint or "")
    assert _statement(diag, "torch.tensor([1.0, 2.0, 3.0, 4.0])")
    assert not [k for k in vars(model) if k.startswith("_tensor_constant")]


class AlwaysDrops(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.dropout(self.fc(x), 0.3)  # training=True: drops in eval too


def test_dropout_at_its_default_training_flag_is_refused_on_the_meta_device_too() -> None:
    """On the meta device no outputs are compared: the statement itself must tell."""
    for device in ("cpu", "meta"):
        model = AlwaysDrops().to(device)
        with pytest.raises(ImportFailure) as info:
            archspec.from_module(model, torch.zeros(2, 8, device=device))
        (diag,) = info.value.diagnostics
        assert diag.code == "E903" and "drops in eval mode" in diag.message
        assert _statement(diag, "F.dropout(self.fc(x), 0.3)")


class Half(nn.Module):
    """Returns one piece of a chunk; which one differs between instances."""

    def __init__(self, first: bool) -> None:
        super().__init__()
        self.first = first
        self.conv = nn.Conv2d(4, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.conv(x).chunk(2, dim=1)
        return a if self.first else b


def test_a_block_returning_a_piece_of_a_chunk_round_trips() -> None:
    model = nn.Sequential(Half(True), Half(False), copy.deepcopy(Half(False)))
    text = roundtrip(model, (2, 4, 5, 5))
    assert "outputs: [chunk_0]" in text and "outputs: [chunk_1]" in text


class ReluFirst(nn.Module):
    """Changes the tensor it is given in place; nothing in its own forward reads it again."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x, inplace=True)
        return self.conv(x)


class ReadsItsInputAfter(nn.Module):
    def __init__(self, child: nn.Module) -> None:
        super().__init__()
        self.pre = nn.Conv2d(4, 4, 1)
        self.child = child

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pre(x)
        return self.child(x) + x  # x as the child left it


@pytest.mark.parametrize(
    "child", [ReluFirst(), nn.Sequential(nn.ReLU(inplace=True), nn.Conv2d(4, 4, 1))]
)
def test_a_child_changing_its_input_read_again_by_the_caller_is_refused(child) -> None:
    """The caller's graph shows no in-place step; the model, run on the example input, does
    (on the meta device too, where no outputs are compared)."""
    for device in ("cpu", "meta"):
        model = ReadsItsInputAfter(copy.deepcopy(child)).to(device)
        with pytest.raises(ImportFailure) as info:
            archspec.from_module(model, torch.zeros(1, 4, 4, 4, device=device))
        (diag,) = info.value.diagnostics
        assert diag.code == "E904" and "changes `pre` in place (`child`" in diag.message
        assert _statement(diag, "return self.child(x) + x")
    # read by nothing after it, the same child imports (its own step computed out of place)
    roundtrip(nn.Sequential(nn.Conv2d(4, 4, 1), copy.deepcopy(child)), (2, 4, 4, 4))
