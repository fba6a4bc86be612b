"""Gaps an acceptance tester found in `archspec import`: a residual add per item of an
nn.ModuleList, a branch on the input's rank, a spatial crop, and a forward that returns its
input. Each model imports to a spec that checks, compiles, has the model's state_dict keys
(strict loads both ways) and computes its outputs."""

from __future__ import annotations

import warnings

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure


def exact(model: nn.Module, shape: tuple[int, ...]) -> str:
    """Import `model`, and compare the compiled spec with it: check, keys and shapes, strict
    loads both ways, eval outputs. Returns the spec."""
    torch.manual_seed(0)
    model.eval()
    for p in model.parameters():
        nn.init.normal_(p, std=0.3)
    x = torch.rand(shape, generator=torch.Generator().manual_seed(1))
    text = archspec.from_module(model, x)
    assert archspec.check(text).ok
    twin = archspec.compile(text).eval()
    ours, theirs = twin.state_dict(), model.state_dict()
    assert [(k, v.shape) for k, v in ours.items()] == [(k, v.shape) for k, v in theirs.items()]
    twin.load_state_dict(theirs, strict=True)
    model.load_state_dict(twin.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=1e-5, atol=1e-6)
    return text


# 1. a residual add per item of a ModuleList


class Unit(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.bn = nn.BatchNorm2d(c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


class ResidualList(nn.Module):
    """`for blk in self.blocks: x = x + blk(x)`."""

    def __init__(self, units: list[nn.Module] | None = None) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 1)
        self.blocks = nn.ModuleList(units if units is not None else [Unit(8) for _ in range(3)])
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for blk in self.blocks:
            x = x + blk(x)
        return self.head(x)


class ResidualListAfter(ResidualList):
    """`x = blk(x) + x`, the output of the last item the network's own output."""

    def __init__(self) -> None:
        super().__init__()
        del self.head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for blk in self.blocks:
            x = blk(x) + x
        return x


def test_a_residual_add_per_module_list_item_is_a_repeat_of_residuals() -> None:
    text = exact(ResidualList(), (2, 3, 8, 8))
    assert "type: repeat" in text and "type: residual" in text
    assert text.count("Unit:") == 1


def test_the_item_on_the_left_of_the_add_imports_too() -> None:
    text = exact(ResidualListAfter(), (2, 3, 8, 8))
    assert "type: residual" in text


def test_items_that_differ_are_residuals_of_their_own() -> None:
    """A layer, a block and a block of another width: one residual each, in a list."""
    units = [nn.Conv2d(8, 8, 3, padding=1), Unit(8), nn.Sequential(nn.Conv2d(8, 8, 1), nn.ReLU())]
    text = exact(ResidualList(units), (2, 3, 8, 8))
    assert text.count("type: residual") == 3


class Stage(nn.Module):
    """A block class holding a residual list, its instances of other widths and lengths."""

    def __init__(self, cin: int, c: int, n: int) -> None:
        super().__init__()
        self.down = nn.Conv2d(cin, c, 3, stride=2, padding=1)
        self.units = nn.ModuleList([Unit(c) for _ in range(n)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.down(x)
        for unit in self.units:
            x = x + unit(x)
        return x


def test_residual_lists_in_instances_of_one_class_merge() -> None:
    model = nn.Sequential(Stage(3, 8, 2), Stage(8, 16, 2), Stage(16, 16, 3))
    text = exact(model, (2, 3, 16, 16))
    assert "type: residual" in text


class ResidualThenRelu(ResidualList):
    """An activation after each sum, and a ModuleList of plain layers."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for blk in self.blocks:
            x = F.relu(x + blk(x))
        return self.head(x)


def test_steps_after_each_residual_join_the_list() -> None:
    model = ResidualThenRelu([nn.Conv2d(8, 8, 3, padding=1) for _ in range(3)])
    text = exact(model, (2, 3, 8, 8))
    assert text.count("type: residual") == 3


class ResidualReadElsewhere(ResidualList):
    """The sum after item 0 is read by the head too: not one sequence."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        first = x = x + self.blocks[0](x)
        for blk in self.blocks[1:]:
            x = x + blk(x)
        return self.head(x) + first


def test_a_sum_read_outside_the_list_is_still_refused() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(ResidualReadElsewhere(), torch.rand(1, 3, 8, 8))
    assert err.value.diagnostics[0].code == "E904"


class ResidualThroughSteps(ResidualList):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = x + F.relu(blk(x))
        return x


def test_a_sum_of_an_output_gone_through_steps_is_read_entry_by_entry() -> None:
    """It was E904 'reaches its sum with its input through `relu`': no `residual` states
    it, but entries keyed `blocks.0`, `blocks.1` with their steps and sums between do."""
    model = ResidualThroughSteps([nn.Conv2d(3, 3, 1) for _ in range(2)])
    del model.stem, model.head  # its forward calls the list alone
    text = exact(model, (1, 3, 8, 8))
    assert "key: blocks.0" in text and "key: blocks.1" in text and "type: residual" not in text


# 2. a branch on the input's rank, which the example input decides


class RankBranch(nn.Module):
    def __init__(self, how: str = "dim") -> None:
        super().__init__()
        self.how = how
        self.conv = nn.Conv2d(3, 4, 1)
        self.fc = nn.Linear(3, 4)

    def rank(self, x: torch.Tensor) -> object:
        if self.how == "ndim":
            return x.ndim
        if self.how == "len":
            return len(x.shape)
        if self.how == "size":
            return len(x.size())
        return x.dim()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rank(x) == 4:
            x = self.conv(x)
        else:
            x = self.fc(x)
        return x


@pytest.mark.parametrize("how", ["dim", "ndim", "len", "size"])
def test_a_branch_on_the_rank_takes_the_example_inputs_branch(how: str) -> None:
    """Both children are kept (they hold tensors the state_dict lists), the branch the
    example input takes is the forward; the spec says where the rank was fixed."""

    class Both(RankBranch):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = super().forward(x)
            return self.fc(y.permute(0, 2, 3, 1)[..., :3]) if y.dim() == 4 else y

    model = Both(how)
    text = exact(model, (2, 3, 8, 8))
    assert "rank" in text and "example input" in text
    assert "test_importer_gaps.py" in text  # the line that read it


class RankOfInner(nn.Module):
    """The rank of a tensor computed in forward, read twice."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).flatten(2)
        if y.dim() == 3:
            y = y.transpose(1, 2)
        if len(y.shape) == 4 or y.ndim < 2:
            return y
        return y.flatten(1)


def test_the_rank_of_a_tensor_computed_in_forward_is_known_too() -> None:
    exact(RankOfInner(), (2, 3, 4, 4))


class ValueBranch(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 4 and x.sum() > 0:
            return self.conv(x)
        return x


class SizeBranch(ValueBranch):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] > 4:
            return self.conv(x)
        return x


@pytest.mark.parametrize("model", [ValueBranch(), SizeBranch()], ids=["value", "size"])
def test_a_branch_on_values_or_sizes_is_still_refused(model: nn.Module) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.rand(1, 3, 8, 8))
    assert err.value.diagnostics[0].code == "E902"


# 3. a spatial crop


class Crop(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return y[:, :, 1:-1, 1:-1]


def test_a_spatial_crop_imports_as_slices_that_fit_any_size() -> None:
    """A crop of dims whose size follows the input's keeps its bounds as written (`1:-1`):
    the spec takes any size, as the model does, and says nothing of the example's."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        text = exact(Crop(), (2, 3, 8, 8))
    assert text.count("type: slice") == 2 and "type: split" not in text
    assert "dim: 2, start: 1, end: -1}" in text and "dim: 3, start: 1, end: -1}" in text
    assert not [w for w in caught if "example input" in str(w.message)]
    model = Crop().eval()
    built = archspec.compile(text).eval()
    built.load_state_dict(model.state_dict())
    for size in (12, 5):  # other sizes than the example's, as the model takes them
        x = torch.randn(1, 3, size, size)
        assert archspec.check(text, input=tuple(x.shape)).ok
        assert torch.equal(built(x), model(x))


class ChannelCrop(Crop):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)[:, 1:3]


def test_a_channel_slice_is_a_split_of_stated_sizes() -> None:
    text = exact(ChannelCrop(), (2, 3, 8, 8))
    assert "split_size: [1, 2, 1]" in text and "type: slice" not in text


# 4. a forward that returns its input


class Passthrough(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class IdentityHolder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.skip = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip(x)


@pytest.mark.parametrize(
    "model", [Passthrough(), nn.Sequential(), nn.Sequential(nn.Identity()), IdentityHolder()]
)
def test_a_model_that_returns_its_input_is_an_identity(model: nn.Module) -> None:
    text = exact(model, (2, 3, 4, 4))
    assert "type: identity" in text


class UnusedWeights(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def test_a_model_that_returns_its_input_past_its_weights_is_refused_with_a_hint() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(UnusedWeights(), torch.rand(1, 3, 4, 4))
    diag = err.value.diagnostics[0]
    assert diag.code == "E904" and diag.hint
    assert "expected a list" not in str(err.value)
