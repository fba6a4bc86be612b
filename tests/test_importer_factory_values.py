"""`archspec import MODULE_PATH:FACTORY` of a model whose constructor computes with tensor
values, as torchvision's RegNets derive their widths from a `torch.arange`: on the meta
device such a constructor cannot run, so it runs on the CPU with each parameter moved to
meta as it is registered (all 15 RegNets were E901, "check the factory's arguments")."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn

import archspec
from archspec.importer.factory import build_factory


class Widths(nn.Module):
    """Widths read off a tensor (`.tolist()`), a frozen stem, buffers, an init that writes."""

    def __init__(self) -> None:
        super().__init__()
        widths = (torch.arange(1, 3) * 8).tolist()  # [8, 16]
        self.stem = nn.Conv2d(3, widths[0], 3, padding=1)
        self.stem.requires_grad_(False)
        self.body = nn.Conv2d(widths[0], widths[1], 3, padding=1)
        nn.init.kaiming_normal_(self.body.weight, mode="fan_out")
        self.bn = nn.BatchNorm2d(widths[1])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.body(self.stem(x)))


def broken() -> nn.Module:
    raise NotImplementedError("no model here yet")


def test_a_constructor_that_reads_tensor_values_is_imported() -> None:
    text = archspec.import_factory(f"{__name__}:Widths", input=(1, 3, 8, 8))
    assert "out_channels: 16" in text
    twin = archspec.compile(text)
    assert [(k, v.shape) for k, v in twin.state_dict().items()] == [
        (k, v.shape) for k, v in Widths().state_dict().items()
    ]


def test_its_tensors_are_meta_and_its_parameters_keep_their_kind() -> None:
    model = build_factory(f"{__name__}:Widths", {})
    assert all(t.device.type == "meta" for t in [*model.parameters(), *model.buffers()])
    assert all(type(p) is nn.Parameter for p in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True, True, True]
    # the patch is undone: a module built afterwards has its parameters where it says
    assert nn.Linear(2, 2).weight.device.type == "cpu"


def test_a_factory_that_fails_otherwise_is_still_its_own_error() -> None:
    with pytest.raises(archspec.ArchSpecError, match="no model here yet") as caught:
        build_factory(f"{__name__}:broken", {})
    assert caught.value.error_code == "E901"


class MeanShift(nn.Conv2d):
    """EDSR's: fixed weights written through `.data` from `torch.Tensor(list)`, which is a
    CPU tensor whatever the default device, so the constructor meets meta with CPU tensors."""

    def __init__(self, rgb_range: float = 255.0, sign: int = -1) -> None:
        super().__init__(3, 3, kernel_size=1)
        std = torch.Tensor((1.0, 1.0, 1.0))
        self.weight.data = torch.eye(3).view(3, 3, 1, 1) / std.view(3, 1, 1, 1)
        self.bias.data = sign * rgb_range * torch.Tensor((0.4488, 0.4371, 0.4040)) / std
        for p in self.parameters():
            p.requires_grad = False


class Shifted(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.sub_mean = MeanShift()
        self.head = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.sub_mean(x))


def test_a_constructor_that_writes_cpu_tensors_into_its_parameters_is_imported() -> None:
    model = build_factory(f"{__name__}:Shifted", {})
    assert all(t.device.type == "meta" for t in model.parameters())
    assert [p.requires_grad for p in model.parameters()] == [False, False, True, True]
    text = archspec.import_factory(f"{__name__}:Shifted", input=(1, 3, 8, 8))
    twin, original = archspec.compile(text), Shifted()
    twin.load_state_dict(original.state_dict(), strict=True)
    x = torch.randn(1, 3, 8, 8)
    assert torch.equal(twin(x), original(x))
