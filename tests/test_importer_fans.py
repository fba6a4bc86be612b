"""A ModuleList whose items all read one tensor and whose outputs one torch.cat joins (a
fan: torchvision's DeepLabV3 ASPP, a text CNN's convolutions of several widths) imports as
the list's `sequential` of branches keyed by position, each reading its `input`, and the
`concat`; any other use of the branches is refused at the statement (fans.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.emit_helpers import _load
from tests.test_importer import roundtrip


class Pooled(nn.Sequential):
    """ASPP's image pooling branch: pool, 1x1 conv, then back to the input's size."""

    def __init__(self, c: int, out: int) -> None:
        super().__init__(nn.AdaptiveAvgPool2d(1), nn.Conv2d(c, out, 1, bias=False), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        for mod in self:
            x = mod(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class Atrous(nn.Sequential):
    def __init__(self, c: int, out: int, rate: int) -> None:
        super().__init__(nn.Conv2d(c, out, 3, padding=rate, dilation=rate, bias=False), nn.ReLU())


class ASPP(nn.Module):
    """torchvision's DeepLabV3 ASPP, written as it writes it."""

    def __init__(self, c: int, rates: tuple[int, ...]) -> None:
        super().__init__()
        mods = [nn.Sequential(nn.Conv2d(c, 4, 1, bias=False), nn.ReLU())]
        mods += [Atrous(c, 4, r) for r in rates]
        self.convs = nn.ModuleList([*mods, Pooled(c, 4)])
        self.project = nn.Sequential(nn.Conv2d(4 * len(self.convs), 4, 1), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _res = []
        for conv in self.convs:
            _res.append(conv(x))
        res = torch.cat(_res, dim=1)
        return self.project(res)


class Branches(nn.Module):
    """Branches, each through an activation, concatenated; then a chain walked in turn."""

    def __init__(self) -> None:
        super().__init__()
        self.branches = nn.ModuleList([nn.Conv2d(8, 4, k, padding=k // 2) for k in (1, 3, 5)])
        self.chain = nn.ModuleList([nn.Conv2d(12, 12, 1), nn.Conv2d(12, 6, 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([F.relu(b(x)) for b in self.branches], 1)
        for layer in self.chain:
            x = layer(x)
        return x


def test_aspp_imports_as_a_sequential_of_keyed_branches_and_their_concat() -> None:
    model = nn.Sequential(ASPP(8, (1, 2)), ASPP(4, (3,)))
    text = roundtrip(model, (2, 8, 9, 11))
    assert "- {type: concat, from: ['0', '1', '2', '3']}" in text
    assert "- {type: concat, from: ['0', '1', '2']}" in text
    assert "- {key: '2', type: Atrous, from: input, padding: 2}" in text
    assert list(archspec.compile(text).state_dict())[:2] == [
        "0.convs.0.0.weight",
        "0.convs.1.0.weight",
    ]
    emitted = _load(archspec.emit(text), "fan").Sequential().eval()
    emitted.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 8, 9, 11)
    with torch.no_grad():
        torch.testing.assert_close(emitted(x), model(x))


def test_branches_through_activations_import_beside_a_list_walked_in_turn() -> None:
    text = roundtrip(Branches(), (2, 8, 6, 6))
    assert "- {type: concat, from: [relu, relu_1, relu_2]}" in text
    assert "- {name: relu_1, type: activation, from: '1', fn: relu}" in text


class PPM(nn.Module):
    """PSPNet's pyramid pooling (hszhao/semseg): the input itself and each branch resized
    back to the input's size (`x_size[2:]`, read before the loop), concatenated."""

    def __init__(self, c: int, bins: tuple[int, ...]) -> None:
        super().__init__()
        self.features = nn.ModuleList(
            [nn.Sequential(nn.AdaptiveAvgPool2d(b), nn.Conv2d(c, 2, 1), nn.ReLU()) for b in bins]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_size = x.size()
        out = [x]
        for f in self.features:
            out.append(F.interpolate(f(x), x_size[2:], mode="bilinear", align_corners=True))
        return torch.cat(out, 1)


def test_pspnet_pyramid_pooling_reads_the_input_in_its_concat_and_its_resizes() -> None:
    text = roundtrip(nn.Sequential(nn.Conv2d(3, 4, 1), PPM(4, (1, 2, 3))), (2, 3, 9, 7))
    assert (
        "- {type: concat, from: [input, interpolate_as, interpolate_as_1, interpolate_as_2]}"
        in text
    )
    assert "from: ['0', input]" in text  # the first branch resized to the input
    twin = archspec.compile(text).eval()
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), PPM(4, (1, 2, 3))).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 12, 16)  # another size: the resizes follow the input
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x))


class Reversed(Branches):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([b(x) for b in self.branches][::-1], 1)


class Pooling(Branches):
    """A step that is a module in a spec (adaptive pooling) would take a position."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([F.adaptive_max_pool2d(b(x), 1) for b in self.branches], 1)


class OtherTensor(Branches):
    """A step that reads a tensor other than the one the branches read."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = x.mean(1, keepdim=True)
        return torch.cat([b(x) * m for b in self.branches], 1)


@pytest.mark.parametrize("cls", [Reversed, Pooling, OtherTensor])
def test_branches_used_otherwise_are_refused_at_the_calls(cls) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(cls(), torch.randn(1, 8, 6, 6))
    first = err.value.diagnostics[0]
    assert first.code == "E904" and first.span is not None and first.span.file == __file__
    with open(__file__, encoding="utf-8") as fh:
        assert "b(x)" in fh.read().splitlines()[first.span.line - 1]
    assert "each on the same tensor" in first.message
    assert "self.branch1" in (first.hint or "")


class ReadTwice(Branches):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [b(x) for b in self.branches]
        x = torch.cat(outs, 1)
        for layer in self.chain:
            x = layer(x)
        return x + F.relu(outs[0]).mean(1, keepdim=True)


class Summed(Branches):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = sum(b(x) for b in self.branches)
        x = torch.cat([s, s * 2, s], 1)
        for layer in self.chain:
            x = layer(x)
        return x


@pytest.mark.parametrize("cls", [ReadTwice, Summed])
def test_branches_read_otherwise_than_by_one_concat_are_entries(cls) -> None:
    """Branches on one tensor summed (MobileOne's `out += conv(x)`) or read besides their
    concat were E904 'each on the same tensor...': they are entries keyed `branches.0`, ...
    each reading the input, with the joins as written."""
    text = roundtrip(cls(), (1, 8, 6, 6))
    assert [f"key: branches.{i}," in text for i in range(3)] == [True] * 3


class TwoArgs(nn.Module):
    """CaiT's class-attention blocks: `for blk in self.blocks: cls = blk(x, cls)`."""

    class Blk(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
            return self.fc(x) + c

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([self.Blk(), self.Blk()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c = x
        for blk in self.blocks:
            c = blk(x, c)
        return c


def test_a_list_item_called_with_two_tensors_is_an_entry_of_two_inputs() -> None:
    """It said `calls item 0 of self.blocks before item 0, registered first`, then (E904)
    `calls item 0 of self.blocks with other than one tensor`: each item is an entry, a
    block of the two inputs its forward takes."""
    text = roundtrip(TwoArgs(), (2, 4))
    assert "inputs: [x, c]" in text
    assert "{key: blocks.1, type: Blk, from: [input, blocks.0]}" in text


class ScaledArgs(TwoArgs):
    class Blk(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor, scale: float = 1.0) -> torch.Tensor:
            return self.fc(x) * scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x, 2.0)
        return x


def test_a_list_item_called_with_a_value_other_than_its_default_is_refused_as_that() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(ScaledArgs(), torch.randn(1, 4))
    first = err.value.diagnostics[0]
    assert first.message.endswith(
        "calls item `0` of `self.blocks` with scale=2.0 (its default: 1.0) besides its tensor"
    )
    assert "read one tensor" in (first.hint or "")


class CalledTwice(Branches):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.cat([b(x) + b(x) for b in self.branches], 1)
        for layer in self.chain:
            x = layer(x)
        return x


def test_branches_each_called_twice_are_entries_and_reuses() -> None:
    """It said `item 0 reads x, not item 2's output`: the item before item 0 wrapped round;
    then E904 'calls item `0` of `self.branches` a second time'. Each branch is now a node
    keyed `branches.0` and a `reuse` of it; the chain, walked in turn, is a sequence."""
    text = roundtrip(CalledTwice(), (1, 8, 6, 6))
    assert [f"node: branches.{i}" in text for i in range(3)] == [True] * 3
    assert "{name: chain, type: sequential" in text or "name: chain" in text


class Heads(nn.Module):
    """A multi-task net: a trunk held in an nn.ModuleDict walked in turn, then heads held
    by name, each on the pooled features, their outputs concatenated."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.ModuleDict({"conv": nn.Conv2d(3, 8, 3), "act": nn.ReLU()})
        self.heads = nn.ModuleDict({"age": nn.Linear(8, 1), "sex": nn.Linear(8, 2)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.trunk.values():
            x = layer(x)
        x = x.mean((2, 3))
        return torch.cat([self.heads["age"](x), F.relu(self.heads["sex"](x))], 1)


def test_a_module_dict_of_branches_is_a_fan_named_by_its_keys() -> None:
    """It was E904 'walks `self.heads` and `self.trunk` together': a fan was a ModuleList's
    only; a dict's branches keep their keys as names (`heads.age.weight`)."""
    text = roundtrip(Heads(), (2, 3, 8, 8))
    assert "- {name: sex, type: linear, from: input, out_features: 2}" in text
    assert "- {type: concat, from: [age, relu]}" in text


class HeadsApart(Heads):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in self.trunk.values():
            x = layer(x)
        x = x.mean((2, 3))
        return self.heads["age"](x), self.heads["sex"](x * 2)


class HeadsTuple(Heads):
    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        for layer in self.trunk.values():
            x = layer(x)
        x = x.mean((2, 3))
        return self.heads["age"](x), self.heads["sex"](x)


@pytest.mark.parametrize("cls", [HeadsApart, HeadsTuple])
def test_a_module_dict_walked_after_another_is_not_walked_together(cls) -> None:
    """A list walked whole before another is not walked with it: the message said `walks
    `self.heads` and `self.trunk` together`. Heads whose outputs no torch.cat joins are the
    dict's entries (it was E904 until dicts were read entry by entry as lists are)."""
    text = roundtrip(cls(), (2, 3, 8, 8))
    assert "- {key: heads.age, type: linear, out_features: 1}" in text
    assert "outputs: [heads.age, heads.sex]" in text
