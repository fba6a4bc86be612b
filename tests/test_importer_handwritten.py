"""archspec import of models written by hand the way users write them (no library): each
imports exactly (tests/test_importer.py's `roundtrip`) or is refused at its statement with a
message that says what to change."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip


class CifarNet(nn.Module):
    """The tutorial CIFAR-10 net: F.* calls, a view by the batch size, dropout by mode."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc1 = nn.Linear(16 * 4 * 4, 32)
        self.fc2 = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = x.view(x.size(0), -1)
        x = F.dropout(x, p=0.25, training=self.training)
        return F.log_softmax(self.fc2(F.relu(self.fc1(x))), dim=1)


class DictNet(nn.Module):
    """Layers held in an nn.ModuleDict, called by key in the order they are registered."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleDict(
            {"conv": nn.Conv2d(3, 8, 3, padding=1), "bn": nn.BatchNorm2d(8), "act": nn.ReLU()}
        )
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layers["act"](self.layers["bn"](self.layers["conv"](x)))
        return self.fc(x.mean(dim=(2, 3)))


class PosNet(nn.Module):
    """A learned position embedding added in forward (`x = x + self.pos`)."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.pos = nn.Parameter(torch.zeros(1, 8, 2, 2))
        self.fc = nn.Linear(8 * 2 * 2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x)
        x = x + self.pos
        return self.fc(x.flatten(1))


class OrderedNet(nn.Module):
    """nn.Sequential(OrderedDict(...)), then `x.flatten(1)` and `self.fc`."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(3, 8, 3, padding=1),
                bn1=nn.BatchNorm2d(8),
                relu1=nn.ReLU(inplace=True),
                pool=nn.AdaptiveAvgPool2d(1),
            )
        )
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.features(x).flatten(1))


@pytest.mark.parametrize(
    ("make", "size"), [(CifarNet, 16), (DictNet, 16), (PosNet, 8), (OrderedNet, 16)]
)
def test_hand_written_models_round_trip(make, size) -> None:
    text = roundtrip(make(), (2, 3, size, size))
    if make is DictNet:  # the dict's keys are the sequence's names: `layers.conv.weight`
        assert "- {name: conv, type: conv2d" in text


class DictOutOfOrder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleDict({"conv": nn.Conv2d(8, 8, 1), "bn": nn.BatchNorm2d(8)})

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers["conv"](self.layers["bn"](x))


class CalledWholeAndItem(nn.Module):
    """An nn.Sequential called whole, then one of its items again on its own."""

    def __init__(self, index: int) -> None:
        super().__init__()
        self.index = index
        self.body = nn.Sequential(nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return y + self.body[self.index](y)


class BranchCat(nn.Module):
    """Branches in a ModuleList, each called on the input, their outputs concatenated."""

    def __init__(self) -> None:
        super().__init__()
        self.branches = nn.ModuleList([nn.Conv2d(8, 4, k, padding=k // 2) for k in (1, 3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for branch in self.branches:
            outs.append(F.relu(branch(x)))
        return torch.cat(outs, dim=1)


def test_branches_in_a_module_list_concatenated_round_trip() -> None:
    """They were refused ("give each item an attribute of its own"): fans.py reads them."""
    text = roundtrip(BranchCat(), (2, 8, 5, 5))
    assert "- {type: concat, from: [relu, relu_1]}" in text


class ChannelsFirstNorm(nn.Module):
    """A layer norm written with mean and var (ConvNeXt's first LayerNorm)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(c))
        self.bias = nn.Parameter(torch.zeros(c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u = x.mean(1, keepdim=True)
        s = (x - u).pow(2).mean(1, keepdim=True)
        x = (x - u) / torch.sqrt(s + 1e-6)
        return self.weight[:, None, None] * x + self.bias[:, None, None]


@pytest.mark.parametrize(
    ("model", "statement", "words"),
    [
        (DictOutOfOrder(), 'return self.layers["conv"]', "before item `conv`, registered first"),
        # both said "calls item `i` of `self.body` before item `0`, registered first", item 0
        # included, where item 0 had run inside `self.body(x)`
        (
            CalledWholeAndItem(0),
            "return y + self.body",
            "of `self.body`, which it also calls whole",
        ),
        (CalledWholeAndItem(1), "return y + self.body", "the item then runs twice"),
    ],
)
def test_hand_written_models_refused_at_the_statement_with_what_to_do(
    model, statement, words
) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.randn(1, 8, 4, 4))
    first = err.value.diagnostics[0]
    assert first.span is not None and first.span.file == __file__
    with open(__file__, encoding="utf-8") as fh:
        assert statement in fh.read().splitlines()[first.span.line - 1]
    assert words in (first.hint or "") + first.message


def test_a_norm_written_with_mean_var_and_sqrt_round_trips() -> None:
    """Refused at its torch.sqrt once; the square is a mul, the root an `elementwise`."""
    text = roundtrip(nn.Sequential(ChannelsFirstNorm(8)), (2, 8, 4, 4))
    assert "type: elementwise, fn: sqrt" in text


class TokenNet(nn.Module):
    """Patches as tokens: `x.flatten(2).transpose(1, 2)`, a LayerNorm, a mean over tokens."""

    def __init__(self) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 8, 4, stride=4)
        self.norm = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)
        return self.fc(self.norm(x).mean(1))


class SizedTokens(TokenNet):
    """Tokens by a reshape whose sizes are read from the shape, as hand-written attention
    does: `x.reshape(b, c, -1)` lists three sizes, so its rank is 3."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x)
        b, c, _, _ = x.shape
        x = x.reshape(b, c, -1).transpose(1, 2)
        return self.fc(self.norm(x).mean(1))


def test_a_transpose_after_a_step_stating_the_rank_is_a_permute() -> None:
    for model in (TokenNet(), SizedTokens()):
        text = roundtrip(model, (2, 3, 8, 12))
        assert "type: permute, dims: [0, 2, 1]" in text
    # a transpose of a tensor whose rank no step states: tests/test_importer_timm25.py


class ScratchLinear(nn.Module):
    """A linear layer written from scratch: `x @ self.weight.t() + self.bias`."""

    def __init__(self, i: int, o: int, method: bool = True) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(o, i))
        self.bias = nn.Parameter(torch.zeros(o))
        self.method = method

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.t() if self.method else torch.t(self.weight)
        return x @ w + self.bias


def test_a_matrix_transposed_by_t_is_a_permute() -> None:
    """It was E903 'no layer kind computes the tensor method `.t()`' (then `matmul`)."""
    model = nn.Sequential(ScratchLinear(8, 16), nn.Tanh(), ScratchLinear(16, 3, method=False))
    text = roundtrip(model, (2, 8))
    assert text.count("type: permute, from: weight, dims: [1, 0]") == 1  # one block


class SquarePooled(nn.Module):
    """The CIFAR ResNet's head (akamaster's resnet20): a pool by the map's width, square
    inputs only (refused), then the usual `out.view(out.size(0), -1)`; or a sort (no kind),
    a mean of it, then the view. Then transposes, whose rank the refused step would tell."""

    def __init__(self, sort: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.linear = nn.Linear(8, 10)
        self.sort = sort

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv(x)
        if self.sort:
            out = torch.sort(out, 1)[0].mean((2, 3), keepdim=True)  # refused: sort
        else:
            out = F.avg_pool2d(out, out.size()[3])  # refused: pool
        out = out.view(out.size(0), -1)
        return self.linear(out.transpose(0, 1).transpose(0, 1))


@pytest.mark.parametrize("sort", [False, True])
def test_a_step_after_a_refused_one_is_not_reported_as_unknown(sort: bool) -> None:
    """The view was reported too, 'no layer kind computes the tensor method `.view()`', and
    so was a transpose, though their kinds are known: they read the refused step, which is
    the one problem."""
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(SquarePooled(sort), torch.randn(1, 3, 8, 8))
    (diag,) = err.value.diagnostics
    assert diag.code == "E903" and diag.span is not None
    with open(__file__, encoding="utf-8") as fh:
        line = fh.read().splitlines()[diag.span.line - 1]
    assert line.endswith("# refused: sort" if sort else "# refused: pool")


class DroppedBetween(nn.Module):
    """F.dropout between a ModuleList's items: a named `dropout` is a module in a spec, which
    would take a position in the sequence and move `blocks.1` to `blocks.2`."""

    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([nn.Conv2d(3, 8, 1), nn.Conv2d(8, 8, 1)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for block in self.blocks:
            x = F.dropout(block(x), 0.1, self.training)
        return x


def test_a_step_that_would_take_a_position_between_list_items_is_refused_at_it() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(DroppedBetween(), torch.randn(1, 3, 4, 4))
    first = err.value.diagnostics[0]
    assert first.code == "E904" and "calls the items of `self.blocks`" in first.message
    with open(__file__, encoding="utf-8") as fh:
        assert "x = F.dropout(block(x)" in fh.read().splitlines()[first.span.line - 1]


class MaybeDrop(nn.Module):
    """timm's `DropPath(0.0)`: a module whose forward returns its input untouched."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.p == 0.0:
            return x
        return F.dropout(x, self.p, self.training)


class Gated(nn.Module):
    """A child used by some instances only; the others pass their input through."""

    def __init__(self, use: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1) if use else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x if self.conv is None else self.conv(x)


def test_a_module_that_returns_its_input_is_an_identity_node() -> None:
    """It was an IndexError (a block of no layers): rdnet keeps `DropPath(0.0)`."""
    model = nn.Sequential(nn.Conv2d(3, 3, 1), MaybeDrop(0.0), Gated(True), Gated(False))
    text = roundtrip(model, (2, 3, 5, 5))
    assert text.count("{type: identity}") == 2 and "MaybeDrop" not in text


class FunctionalShuffle(nn.Module):
    """ShuffleNet's interleaving written with torch's own function, by position or keyword."""

    def __init__(self, keyword: bool) -> None:
        super().__init__()
        self.keyword = keyword
        self.conv = nn.Conv2d(8, 12, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return torch.channel_shuffle(y, groups=3) if self.keyword else F.channel_shuffle(y, 4)


@pytest.mark.parametrize("keyword", [False, True])
def test_torchs_channel_shuffle_function_is_the_channel_shuffle_kind(keyword: bool) -> None:
    """E903 'no layer kind computes `torch.channel_shuffle` as called here', though the kind
    computes exactly that (only torchvision's own `channel_shuffle` was read)."""
    text = roundtrip(FunctionalShuffle(keyword), (2, 8, 5, 6))
    assert f"type: channel_shuffle, groups: {3 if keyword else 4}" in text


class _DictBackbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"out": self.conv(x)}


class _ReadsAKey(nn.Module):
    """torchvision's segmentation models read their backbone's dict by key."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _DictBackbone()
        self.head = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)["out"])


def test_a_childs_dict_read_by_its_key_is_the_blocks_output() -> None:
    # refused before (E903 at the key read, E904 at the backbone returning a dict); the
    # backbone's dict of one tensor is now its block's output, read where the key is
    model = _ReadsAKey().eval()
    x = torch.randn(1, 8, 4, 4)
    ours = archspec.compile(archspec.from_module(model, x)).eval()
    ours.load_state_dict(model.state_dict(), strict=True)
    torch.testing.assert_close(ours(x), model(x))


class _TakesADict(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(8, 4, 1)

    def forward(self, features: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.conv(features["out"])


class _PassesTheDict(nn.Module):
    """LRASPP's head takes its backbone's dict whole and reads its keys."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = _DictBackbone()
        self.head = _TakesADict()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x))


def test_a_dict_given_whole_to_a_child_reading_its_key_is_imported() -> None:
    # refused until session 40 (E903 "reads the key 'out' of `features`, a dict"); since
    # session 41 a child given a dict takes its tensors as inputs, the key read among them
    model = _PassesTheDict().eval()
    x = torch.randn(1, 8, 4, 4)
    text = archspec.from_module(model, x)
    assert "{name: head, type: TakesADict}" in text
    ours = archspec.compile(text).eval()
    ours.load_state_dict(model.state_dict(), strict=True)
    torch.testing.assert_close(ours(x), model(x))
