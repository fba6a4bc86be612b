"""archspec import on patterns met in a sweep of timm's and torchvision's models (one small
model per family): each pattern is written here in plain torch, as the model wrote it, and
either round-trips exactly (tests/test_importer.py's `roundtrip`) or is refused at its place
in the source."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class ScaledBlock(nn.Module):
    """A learned scale reshaped where it is used (timm's MetaNeXt block: `gamma.reshape`)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)
        self.gamma = nn.Parameter(torch.ones(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y = y.mul(self.gamma.reshape(1, -1, 1, 1))
        return y + x


def test_a_step_reading_a_learned_tensor_names_it_not_the_flow() -> None:
    """A `parameter` is not in a spec's flow: the step after it reads the step before it
    unless `from:` says otherwise, so a reshape of the parameter must name it."""
    model = nn.Sequential(nn.Conv2d(3, 8, 1), ScaledBlock(8), ScaledBlock(8))
    text = roundtrip(model, (2, 3, 6, 5))
    assert "from: gamma" in text


class TakesList(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, xs: list[torch.Tensor]) -> torch.Tensor:
        return self.conv(xs[0])


class PassesList(nn.Module):
    """timm's SelecSls and PiT hand a child a list it does not start by concatenating."""

    def __init__(self) -> None:
        super().__init__()
        self.features = TakesList()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features([x])


def test_a_list_given_to_a_child_is_an_input_per_item() -> None:
    # refused until session 40 (E904 'passes `self.features` a list'); since session 41
    # the child is traced with a Python list of one input per item
    text = roundtrip(PassesList(), (1, 3, 4, 4))
    assert "{name: features, type: TakesList}" in text


class PassesLayerList(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv([x])


def test_a_list_given_to_a_layer_is_refused_naming_the_layer_as_the_source_does() -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(PassesLayerList(), torch.zeros(1, 3, 4, 4))
    (first,) = [d for d in info.value.diagnostics if "a list" in d.message]
    assert first.code == "E904"
    assert "forward passes `self.conv` a list" in first.message
    assert "a module of your own whose forward takes the list" in (first.hint or "")
    assert first.span is not None and first.span.file == __file__
    with open(__file__, encoding="utf-8") as fh:
        assert "self.conv([x])" in fh.read().splitlines()[first.span.line - 1]


class LayerNorm2d(nn.LayerNorm):
    """timm's LayerNorm2d: a LayerNorm subclass whose forward tests a flag set at construction
    before computing what torchvision's LayerNorm2d computes (its source is not that code)."""

    def __init__(self, c: int) -> None:
        super().__init__(c, eps=1e-6)
        self._fast = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        if self._fast:
            x = F.layer_norm(x.float(), self.normalized_shape, self.weight, self.bias, 1e-3)
        else:
            x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        return x.permute(0, 3, 1, 2)


class LayerNorm(nn.LayerNorm):
    """timm's LayerNorm: nn.LayerNorm's computation behind a flag."""

    def __init__(self, c: int, fast: bool = False) -> None:
        super().__init__(c)
        self._fast = fast

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._fast:
            return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, 1e-3)
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)


def test_a_layer_subclass_whose_forward_traces_to_the_kinds_graph_is_read_as_the_kind() -> None:
    model = nn.Sequential(nn.Conv2d(3, 8, 1), LayerNorm2d(8), nn.Flatten(2), nn.Conv1d(8, 4, 1))
    text = roundtrip(model, (2, 3, 5, 4))
    assert "{type: layer_norm2d, eps: 1.0e-06}" in text
    text = roundtrip(nn.Sequential(nn.Linear(4, 6), LayerNorm(6)), (2, 3, 4))
    assert "{type: layer_norm}" in text


def test_a_layer_subclass_whose_forward_computes_otherwise_is_not_read_as_the_kind() -> None:
    """The same class taking the other branch (another eps) traces to another graph."""
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(nn.Sequential(LayerNorm(6, fast=True)), torch.zeros(1, 6))
    assert all("layer_norm" in d.message for d in info.value.diagnostics)


class Stage(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.bn = nn.BatchNorm2d(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class WalksSequential(nn.Module):
    """timm's FastVit walks its nn.Sequential of stages item by item in forward_features."""

    def __init__(self, between: bool) -> None:
        super().__init__()
        self.between = between
        self.stages = nn.Sequential(Stage(3, 4), Stage(4, 4), Stage(4, 6))
        self.head = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for stage in self.stages:
            x = stage(x)
            if self.between:
                x = F.relu(x)
        return self.head(x.mean((2, 3)))


@pytest.mark.parametrize("between", [False, True])
def test_a_sequential_walked_item_by_item_round_trips(between: bool) -> None:
    text = roundtrip(WalksSequential(between), (2, 3, 6, 5))
    assert "name: stages" in text


class AssertsRank(nn.Module):
    """timm's norm layers start with `_assert(x.ndim == 4, ...)`, as others with x.dim()."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        torch._assert(x.ndim == 4, "expected an NCHW tensor")
        return self.conv(x)


def test_an_assertion_of_the_rank_read_as_ndim_is_left_to_the_shape_rules() -> None:
    text = roundtrip(nn.Sequential(AssertsRank(), nn.ReLU()), (2, 3, 4, 4))
    assert "check_size" not in text


class AssertsPaths(nn.Module):
    """timm's SelectiveKernelAttn: `_assert(x.shape[1] == self.num_paths)` on (N, paths, C,
    H, W), then its channels (`x.shape[-3] == c`), sizes no input of a spec changes."""

    def __init__(self, c: int = 4, paths: int = 2) -> None:
        super().__init__()
        self.num_paths, self.c = paths, c
        self.paths = nn.Conv2d(c, c * paths, 3, padding=1)
        self.fc = nn.Conv2d(c, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.paths(x).unflatten(1, (self.num_paths, self.c))
        torch._assert(y.shape[1] == self.num_paths, "")
        torch._assert(y.shape[-3] == self.c, "")
        return self.fc(y.sum(1)) + x


class AssertsTokens(nn.Module):
    """A token count asserted: it follows the input's size, so no spec states it."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(3, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(2).transpose(1, 2)
        torch._assert(x.shape[1] == 16, "expected 16 tokens")
        return self.proj(x)


def test_an_assertion_of_a_size_no_input_changes_is_no_step() -> None:
    """It was E903 'no layer kind computes `torch._assert`' (timm's SKNets): a size the
    example input and one of doubled sizes agree on holds for every input of the spec."""
    text = roundtrip(nn.Sequential(nn.Conv2d(3, 4, 1), AssertsPaths()), (2, 3, 5, 6))
    assert "check_size" not in text and "assert" not in text
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(AssertsTokens(), torch.randn(1, 3, 4, 4))
    first = err.value.diagnostics[0]
    assert first.code == "E903" and "torch._assert" in first.message
    with open(__file__, encoding="utf-8") as fh:
        assert "16 tokens" in fh.read().splitlines()[first.span.line - 1]


class PoolMixer(nn.Module):
    """PoolFormer's token mixer (timm's metaformer `Pooling`): `self.pool(x) - x`."""

    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pool(x)
        return y - x


class SubMethods(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.sub(self.conv(x), x)
        y = y.sub(x)
        y -= x  # in place on a tensor nothing reads again
        return y


def test_a_difference_in_forward_is_a_sub() -> None:
    text = roundtrip(nn.Sequential(nn.Conv2d(3, 4, 1), PoolMixer(), SubMethods()), (2, 3, 5, 6))
    assert text.count("type: sub") == 4


class Scale(nn.Module):
    """timm's metaformer `Scale`: a learned per-channel scale viewed as (dim, 1, 1)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.shape = (dim, 1, 1)
        self.scale = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale.view(self.shape)


def test_a_reshape_whose_sizes_differ_between_instances_gets_a_param_per_size() -> None:
    """`reshape`'s `shape` is a list of expressions, not one: the size that varies is a param."""
    model = nn.Sequential(nn.Conv2d(3, 4, 1), Scale(4), nn.Conv2d(4, 6, 1), Scale(6))
    text = roundtrip(model, (2, 3, 5, 4))
    assert "shape: [shape_0, 1, 1]" in text


class CallsHeadByName(nn.Module):
    """timm's MetaFormer calls its head's children one by one: `self.head.global_pool(x)`."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 4, 1)
        self.head = nn.Sequential(
            OrderedDict(pool=nn.AdaptiveAvgPool2d(1), flatten=nn.Flatten(), fc=nn.Linear(4, 2))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.body(x)
        x = self.head.pool(x)
        x = self.head.flatten(x)
        return self.head.fc(x)


def test_a_sequential_whose_named_children_are_called_in_turn_round_trips() -> None:
    text = roundtrip(CallsHeadByName(), (2, 3, 5, 4))
    assert "name: fc" in text


class PreAct(nn.Module):
    """timm's PreActBottleneck: `downsample`, registered first, only where the shape changes,
    called after `norm1`, which it reads."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.downsample = nn.Conv2d(cin, cout, 1, stride) if stride != 1 or cin != cout else None
        self.norm1 = nn.BatchNorm2d(cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1)
        self.norm2 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pre = F.relu(self.norm1(x))
        shortcut = x if self.downsample is None else self.downsample(pre)
        x = self.conv2(F.relu(self.norm2(self.conv1(pre))))
        return x + shortcut


def test_instances_registering_a_child_only_some_hold_first_share_one_register_order() -> None:
    model = nn.Sequential(PreAct(3, 8, 2), PreAct(8, 8, 1), PreAct(8, 16, 2))
    text = roundtrip(model, (2, 3, 16, 16))
    assert "register_order: [downsample, norm1, conv1, norm2, conv2]" in text
    assert text.count("PreAct:") == 1


class Eca(nn.Module):
    """timm's ECA gate: `x * y.expand_as(x)`, which broadcasting computes as `x * y`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(1, 1, 3, padding=1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean((2, 3)).view(x.shape[0], 1, -1)
        y = torch.sigmoid(self.conv(y)).view(x.shape[0], -1, 1, 1)
        return x * y.expand_as(x)


class ExpandedElsewhere(nn.Module):
    """`y.expand_as(x)` read by a join with another tensor than x: not the same."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.mean((2, 3), keepdim=True)
        return torch.flatten(y.expand_as(x), 1) + 1


def test_expand_as_read_only_by_joins_with_its_target_is_the_tensor_itself() -> None:
    text = roundtrip(nn.Sequential(nn.Conv2d(3, 8, 1), Eca()), (2, 3, 5, 4))
    assert "expand" not in text and "type: mul" in text
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(nn.Sequential(ExpandedElsewhere()), torch.randn(1, 3, 4, 4))
    assert "expand_as" in err.value.diagnostics[0].message


class SumFromZero(nn.Module):
    """timm's MobileOne: a sum started at 0 where a branch is absent, `x * 1` alike."""

    def __init__(self, branch: bool) -> None:
        super().__init__()
        self.branch = nn.Conv2d(4, 4, 1) if branch else None
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = 0
        if self.branch is not None:
            out = self.branch(x)
        out = out + self.conv(x)
        return (out - 0) * 1


def test_a_join_with_its_neutral_number_is_its_other_input() -> None:
    text = roundtrip(nn.Sequential(SumFromZero(False), SumFromZero(True)), (2, 4, 5, 5))
    assert text.count("type: add") == 1  # only where the branch is present
    assert "type: sub" not in text and "type: mul" not in text
    text = archspec.from_module(nn.Sequential(Plus1()), torch.randn(1, 3, 4, 4))
    assert "{name: add, type: scale, offset: 1}" in text  # `x + 1` changes the values


class Plus1(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + 1


class Down(nn.Module):
    def __init__(self, cin: int, cout: int, pool: bool) -> None:
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1) if pool else nn.Identity()
        self.conv = nn.Conv2d(cin, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.pool(x))


class DownBlock(nn.Module):
    def __init__(self, cin: int, cout: int, pool: bool | None) -> None:
        super().__init__()
        self.down = Down(cin, cout, pool) if pool is not None else None
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.down is None else self.down(x)
        return self.conv(x) + shortcut


class PoolStage(nn.Module):
    """timm's ResNetV2 stage: the first block's downsample pools in some stages only."""

    def __init__(self, cin: int, cout: int, pool: bool) -> None:
        super().__init__()
        self.blocks = nn.Sequential(
            DownBlock(cin, cout, pool), DownBlock(cout, cout, None), DownBlock(cout, cout, None)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(x)


def test_a_flag_a_repeat_passes_on_to_its_first_copy_only_is_an_expression() -> None:
    """`pool_v1: pool_v1 if i == 0 else True`: YAML's `true` is no name in an expression."""
    text = roundtrip(nn.Sequential(PoolStage(3, 8, False), PoolStage(8, 16, True)), (2, 3, 6, 6))
    assert "pool_v1: pool_v1 if i == 0 else True" in text
