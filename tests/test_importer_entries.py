"""`archspec import` of an nn.ModuleList called entry by entry (an entry called twice, two
lists walked together, an entry reading a join: nodes keyed `convs.0` and `reuse`s of them),
of a split whose pieces a loop indexes (Res2Net's `spx[i]`, `spx[-1]`), and of an index
mixing ints, slices and `None` (`x[:, 0, 1:]`). Each model imports to a spec that checks,
compiles, has the model's state_dict keys (strict loads both ways) and computes its outputs;
what stays refused is located, a child key no spec takes where the child is registered."""

from __future__ import annotations

import re

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure

from .test_importer_gaps import exact


def _conv() -> nn.Conv2d:
    return nn.Conv2d(8, 8, 3, padding=1)


# 1. an entry of an nn.ModuleList called twice


class FirstTwice(nn.Module):
    """`self.blocks[0]` called twice, then `self.blocks[1]`."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([_conv(), _conv()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks[0](x)
        x = self.blocks[0](x)
        return self.blocks[1](x)


class LoopAgain(nn.Module):
    """A loop over indices that comes back to entry 0, an activation after each call."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 1)
        self.convs = nn.ModuleList([_conv(), _conv()])
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for i in (0, 1, 0):
            x = F.relu(self.convs[i](x))
        return self.head(x)


class Tower(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = _conv()
        self.bn = nn.BatchNorm2d(8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class SharedEntryBlock(nn.Module):
    """An entry that is a block of its own, run on two tensors and summed."""

    def __init__(self) -> None:
        super().__init__()
        self.towers = nn.ModuleList([Tower(), Tower()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.towers[0](x)
        b = self.towers[0](F.avg_pool2d(x, 3, 1, 1))
        return self.towers[1](a + b)


def test_an_entry_called_twice_is_its_keyed_node_and_a_reuse() -> None:
    """It was E904 'calls item `0` of `self.blocks` a second time'."""
    text = exact(FirstTwice(), (1, 8, 6, 6))
    assert "{key: blocks.0, type: conv2d" in text
    assert re.search(r"type: reuse, node: blocks\.0\}", text)
    assert "{key: blocks.1, type: conv2d" in text


@pytest.mark.parametrize(
    ("model", "reused"), [(LoopAgain(), "convs.0"), (SharedEntryBlock(), "towers.0")]
)
def test_an_entry_called_again_in_a_loop_or_as_a_block_round_trips(
    model: nn.Module, reused: str
) -> None:
    shape = (1, 3, 6, 6) if isinstance(model, LoopAgain) else (1, 8, 6, 6)
    text = exact(model, shape)
    assert text.count("type: reuse") == 1 and f"node: {reused}" in text


class OutOfTurn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([_conv(), _conv()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks[0](self.blocks[1](self.blocks[1](x)))


class LeftOut(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([_conv(), _conv()])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks[0](self.blocks[0](x))


@pytest.mark.parametrize(
    ("model", "said", "line"),
    [
        (OutOfTurn(), "calls item `1` of `self.blocks` before item `0`", "self.blocks[0](self"),
        (LeftOut(), "never calls item `1` of `self.blocks`, which holds", "self.blocks[0](x)"),
    ],
)
def test_entries_called_out_of_turn_or_left_out_are_located(
    model: nn.Module, said: str, line: str
) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.zeros(1, 8, 6, 6))
    (diag,) = err.value.diagnostics
    assert diag.code == "E904" and said in diag.message
    assert diag.span is not None and diag.span.file == __file__
    with open(__file__, encoding="utf-8") as fh:
        assert line in fh.read().splitlines()[diag.span.line - 1]


# 2. a split whose pieces a loop indexes, two lists walked together: timm's Res2Net


class Bottle2neck(nn.Module):
    """timm's res2net.Bottle2neck as it writes its forward (stride 1, not the first)."""

    def __init__(self, planes: int = 8, width: int = 4, scale: int = 4) -> None:
        super().__init__()
        self.width, self.scale = width, scale
        self.conv1 = nn.Conv2d(planes, width * scale, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width * scale)
        self.convs = nn.ModuleList(
            [nn.Conv2d(width, width, 3, padding=1, bias=False) for _ in range(scale - 1)]
        )
        self.bns = nn.ModuleList([nn.BatchNorm2d(width) for _ in range(scale - 1)])
        self.conv3 = nn.Conv2d(width * scale, planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        out = self.relu(self.bn1(self.conv1(x)))
        spx = torch.split(out, self.width, 1)
        spo = []
        sp = spx[0]
        for i, (conv, bn) in enumerate(zip(self.convs, self.bns, strict=True)):
            sp = spx[i] if i == 0 else sp + spx[i]
            sp = self.relu(bn(conv(sp)))
            spo.append(sp)
        spo.append(spx[-1])
        out = self.bn3(self.conv3(torch.cat(spo, 1)))
        return self.relu(out + shortcut)


class Res2Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layer = nn.Sequential(Bottle2neck(), Bottle2neck())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.stem(x))


def test_res2nets_split_and_lists_walked_together_import_whole() -> None:
    """It was E903 at the split ('read other than by unpacking or indexing its pieces':
    `spx[-1]`), then E904 ('walks `self.convs` and `self.bns` together')."""
    text = exact(Res2Net(), (1, 3, 8, 8))
    assert "split_size: 4" in text and "names: [split_0, split_1, split_2, split_3]" in text
    keys = re.findall(r"key: ((?:convs|bns)\.\d)", text)
    assert keys == ["convs.0", "bns.0", "convs.1", "bns.1", "convs.2", "bns.2"]
    assert text.count("Bottle2neck") >= 2  # one block, called twice
    emitted = archspec.emit(text)
    assert "self.convs = nn.ModuleList()" in emitted and "self.convs[0](" in emitted


class SplitByIndex(nn.Module):
    """`x.split(4, 1)` indexed from the end, the last piece of another size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 10, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = self.conv(x).split(4, 1)
        return torch.cat([parts[-1], parts[0] * parts[1]], 1)


def test_a_split_indexed_from_the_end_takes_its_count_from_the_size() -> None:
    text = exact(SplitByIndex(), (1, 3, 5, 5))
    assert re.search(r"names: \[\w+, \w+, \w+\], split_size: 4\}", text)


# 3. an index mixing ints, slices and None


class Indexed(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if self.how == "int then slice":
            return y[:, 0, 1:]
        if self.how == "slices around an int":
            return y[:, 1:5, 2, -3:]
        if self.how == "ellipsis":
            return y[..., -1] + y[:, :, 0]
        return y[:, None, 2, :3]  # a new dim, an int, a slice


@pytest.mark.parametrize(
    ("how", "kinds"),
    [
        ("int then slice", ["slice", "select"]),
        ("slices around an int", ["split", "slice", "select"]),
        ("ellipsis", ["select", "select", "add"]),
        ("none", ["slice", "select", "unsqueeze"]),
    ],
)
def test_an_index_of_ints_slices_and_none_is_a_select_slice_and_unsqueeze(
    how: str, kinds: list[str]
) -> None:
    """`x[:, 0, 1:]` was E903 'indexes with other than slices (an int, None or several...)'."""
    text = exact(Indexed(how), (1, 3, 7, 7))
    assert re.findall(r"type: (\w+)", text)[1:] == kinds


class BatchIndex(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)[0, 1:]


def test_an_int_index_of_the_batch_dim_is_a_select_of_dim_0() -> None:
    """It was E903 'takes one position of the batch dim': `select` takes dim 0 now."""
    text = exact(BatchIndex(), (1, 3, 4, 4))
    assert "{name: getitem, type: select, dim: 0}" in text


class BatchSliced(BatchIndex):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)[1:, 1:]


def test_a_range_of_the_batch_dim_says_why_at_its_statement() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(BatchSliced(), torch.zeros(2, 3, 4, 4))
    (diag,) = err.value.diagnostics
    assert diag.code == "E903" and "slices the batch dim" in diag.message
    assert "a `select` per int" in (diag.hint or "")
    assert diag.span is not None and diag.span.file == __file__


# 4. a child key no spec takes is located where it is registered


class Inner(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class SpacedKey(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 1)
        self.add_module("a b", Inner())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return getattr(self, "a b")(self.stem(x))


class SpacedKeyInSequential(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential()
        self.body.add_module("x{y}", nn.Conv2d(3, 8, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


@pytest.mark.parametrize(
    ("model", "key"), [(SpacedKey(), '"a b"'), (SpacedKeyInSequential(), '"x{y}"')]
)
def test_a_key_no_spec_takes_is_located_at_its_registration(model: nn.Module, key: str) -> None:
    """The caret stood at column 1 of the child's class (`class Inner`) or of the statement
    calling the Sequential."""
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.zeros(1, 3, 4, 4))
    (diag,) = err.value.diagnostics
    assert diag.code == "E903" and diag.span is not None and diag.span.file == __file__
    with open(__file__, encoding="utf-8") as fh:
        line = fh.read().splitlines()[diag.span.line - 1]
    assert "add_module(" in line and line[diag.span.col - 1 :].startswith(key)
