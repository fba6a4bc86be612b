"""ENet, written by hand in the style of its public port, stays refused, but each refusal
now says what it is: its upsampling calls `self.transposed_conv(x, output_size=input_size)`
with sizes read in forward ('calls it with other than one tensor', as if a tensor were
missing), and where the model does not run on the example input (a tensor made in forward
on the CPU, `torch.zeros(n, c, h, w)`, beside a model on the meta device, as `archspec import`
builds it) the caller's `x, indices = self.down(x)` was 'no layer kind computes the operator
`getitem`', a second error that named no cause."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec


class Down(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2, return_indices=True)
        self.conv = nn.Conv2d(4, 6, 2, 2)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        main, indices = self.pool(x)
        ext = self.conv(x)
        n, c, h, w = ext.size()
        main = torch.cat((main, torch.zeros(n, c - main.size(1), h, w)), 1)
        return main + ext, indices


class ENetish(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = Down()
        self.up = nn.ConvTranspose2d(6, 3, 3, 2, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        size = x.size()
        x, indices = self.down(x)
        return self.up(x, output_size=size), indices


def _diagnostics(model: nn.Module, x: torch.Tensor) -> list[archspec.Diagnostic]:
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.from_module(model, x)
    return list(info.value.diagnostics)


def test_sizes_given_to_a_layer_are_named_in_its_refusal() -> None:
    found = _diagnostics(ENetish().eval(), torch.zeros(1, 4, 8, 8))
    by_code = {d.code: d.message for d in found}
    assert "with output_size=size, sizes read in forward besides its tensor" in by_code["E904"]
    assert "zeros() takes 1 positional argument" in by_code["E902"]  # torch.fx's own words
    assert sorted(by_code) == ["E902", "E904"]  # the unpacking is counted: no other error


def test_an_unpacking_the_run_cannot_count_says_why() -> None:
    model = ENetish().eval().to("meta")
    found = _diagnostics(model, torch.zeros(1, 4, 8, 8, device="meta"))
    (unpack,) = [d for d in found if d.code == "E903"]
    assert "forward unpacks what `self.down` returns" in unpack.message
    assert "the model does not run on (1, 4, 8, 8)" in unpack.message
    assert "device=x.device" in (unpack.hint or "")
    assert len(found) == 3


class Head(nn.Module):
    """A Detectron-style RPN head: one conv shared by the levels, its maps in lists."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.cls_logits = nn.Conv2d(4, 3, 1)

    def forward(self, p3: torch.Tensor, p4: torch.Tensor) -> tuple[list[torch.Tensor], ...]:
        logits, feats = [], []
        for feature in (p3, p4):
            t = torch.relu(self.conv(feature))
            logits.append(self.cls_logits(t))
            feats.append(t)
        return logits, feats


class Detector(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(4, 4, 3, 2, 1)
        self.rpn = Head()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, _feats = self.rpn(x, self.down(x))
        return logits[0], logits[1]


def test_an_unpacking_of_lists_a_child_returns_says_so() -> None:
    # was E903 'no layer kind computes the operator `getitem`', naming no cause
    found = _diagnostics(Detector().eval(), torch.zeros(1, 4, 8, 8))
    unpack = next(d for d in found if "unpacks what `self.rpn` returns" in d.message)
    assert unpack.code == "E903" and "(list, list) on the example input" in unpack.message
    assert not any("operator `getitem`" in d.message for d in found)
