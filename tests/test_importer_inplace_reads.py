"""An in-place step whose input forward reads again afterwards, with nothing else sharing
that storage (no view, no copy, no tensor of the model): the later reads see the step's
result, and the import makes them read it. timm's NFNet block ends
`out.mul_(self.skipinit_gain); out = out * self.alpha + shortcut`; these were E904 ('changes
`...` in place and reads it again afterwards'). Each model imports and its spec, compiled and
emitted, computes the model's outputs bit for bit."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.ops_cases import emitted


def exact(model: nn.Module, shape: tuple[int, ...]) -> str:
    model.eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(generator=torch.Generator().manual_seed(p.numel()))
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    text = archspec.from_module(model, x)
    assert archspec.check(text).ok
    twin, other = archspec.compile(text).eval(), emitted(text).eval()
    theirs = [(k, v.shape) for k, v in model.state_dict().items()]
    assert [(k, v.shape) for k, v in twin.state_dict().items()] == theirs
    twin.load_state_dict(model.state_dict(), strict=True)
    other.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        want = model(x.clone())
        assert torch.equal(twin(x.clone()), want)
        assert torch.equal(other(x.clone()), want)
    return text


class SkipInitGain(nn.Module):
    """NFNet's block end: a 0-d gain multiplied in place, then `out` read again."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.skipinit_gain = nn.Parameter(torch.tensor(0.0))
        self.alpha = 0.2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        out = self.conv(x)
        out.mul_(self.skipinit_gain)
        out = out * self.alpha + shortcut
        return out


class SkipInitAfterIdentity(nn.Module):
    """dm_nfnet's order: `out = self.drop_path(out)` (an nn.Identity, sharing the storage of
    what it is given) before the in-place gain; only `out` itself is read afterwards."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.drop_path = nn.Identity()
        self.skipinit_gain = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.drop_path(self.conv(x))
        out.mul_(self.skipinit_gain)
        return out * 0.2 + x


class AliasedSum(nn.Module):
    """`y += x` changes the tensor `identity` also names: torch.fx's graph shows `y + x`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        identity = y
        y += x
        return y + identity


class AugmentedOfAProduct(nn.Module):
    """`y += a * 2`: the statement's last step, the add, is the one in place, not `a * 2`,
    so the later read of `a` reads `a` (the import read it as `a * 2`: other outputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        identity = y
        a = self.conv2(x)
        y += a * 2
        return y + a + identity


class AliasedRelu(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = F.relu(y, inplace=True)
        w = self.conv(x)
        self.act(w)
        return z + y + w


class Steps(nn.Module):
    """Several in-place steps on one tensor, each read again (`torch.relu_(y)` as a statement)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        y.mul_(0.5)
        torch.relu_(y)
        y.add_(x)
        return y * 3 - x


@pytest.mark.parametrize(
    "model",
    [SkipInitGain, SkipInitAfterIdentity, AliasedSum, AugmentedOfAProduct, AliasedRelu, Steps],
)
def test_a_tensor_read_after_an_in_place_step_reads_its_result(model) -> None:
    exact(model(), (2, 4, 6, 6))


def test_the_nfnet_gain_reads_as_a_mul_of_the_0d_parameter() -> None:
    text = exact(SkipInitGain(), (2, 4, 6, 6))
    assert "{name: skipinit_gain, type: parameter, shape: []}" in text
    assert "from: [conv, skipinit_gain]" in text


class ThroughView(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        z = y.flatten(1)
        y.mul_(2)
        return z.sum(1, keepdim=True) + y.flatten(1)


class BeforeIdentity(nn.Module):
    """The tensor given to the identity is read after the step changed it through it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)
        self.drop_path = nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        out = self.drop_path(y)
        out.mul_(2)
        return out + y


class ThroughCopy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        kept = y.clone()
        y.mul_(2)
        return kept + y


@pytest.mark.parametrize("model", [ThroughView, BeforeIdentity, ThroughCopy])
def test_a_view_or_a_copy_of_it_read_later_is_still_refused(model) -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model().eval(), torch.randn(2, 4, 6, 6))
    assert [d.code for d in info.value.diagnostics] == ["E904"]
    assert "in place (`mul_`) and reads it again" in info.value.diagnostics[0].message
