"""Quantizable models in float mode, written as torchvision's quantization models are (no
torchvision here): `QuantStub`/`DeQuantStub` around the network, joins through a
`FloatFunctional` (`self.skip_add.add(out, identity)`), and a library function reached
through its module (`shufflenetv2.channel_shuffle(out, 2)`). Before `prepare` the stubs
return their input and the FloatFunctional's `activation_post_process` is an nn.Identity, so
each imports exactly; a prepared model (observers, hooks) stays refused."""

from __future__ import annotations

import sys
import types
import warnings

import pytest
import torch
from torch import nn
from torch.ao.nn.quantized import FloatFunctional
from torch.ao.quantization import DeQuantStub, QuantStub

import archspec
from archspec.errors import ImportFailure
from archspec.importer import functions
from tests.test_importer import roundtrip


class QBlock(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(c)
        self.skip_add = FloatFunctional()
        self.gate = FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.bn(self.conv(x))
        out = self.gate.mul(out, torch.sigmoid(out))
        return self.skip_add.add_relu(out, x)


class QNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.quant = QuantStub()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.Sequential(QBlock(8), QBlock(8))
        self.cat = FloatFunctional()
        self.head = nn.Conv2d(16, 4, 1)
        self.dequant = DeQuantStub()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(self.quant(x))
        x = self.cat.cat([x, self.blocks(x)], dim=1)
        return self.dequant(self.head(x))


def test_a_quantizable_model_in_float_mode_round_trips() -> None:
    text = roundtrip(QNet(), (2, 3, 8, 8))
    assert "{name: quant, type: identity}" in text
    assert "type: concat" in text and "type: add" in text and "type: mul" in text


def test_a_model_prepared_for_quantization_stays_refused() -> None:
    model = QNet().eval()
    model.qconfig = torch.ao.quantization.default_qconfig
    with warnings.catch_warnings():  # torch's notice that eager quantization moved to torchao
        warnings.simplefilter("ignore")
        torch.ao.quantization.prepare(model, inplace=True)
    with pytest.raises(ImportFailure):
        archspec.from_module(model, torch.zeros(1, 3, 8, 8))


#: torchvision's shufflenetv2.channel_shuffle, defined in a module of its own below
_SHUFFLE = """
import torch


def channel_shuffle(x, groups):
    batchsize, num_channels, height, width = x.size()
    channels_per_group = num_channels // groups
    x = x.view(batchsize, groups, channels_per_group, height, width)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(batchsize, num_channels, height, width)
"""


def test_a_library_function_reached_through_its_module_is_one_call(monkeypatch) -> None:
    library = types.ModuleType("archspec_test_library")
    exec(compile(_SHUFFLE, "<archspec_test_library>", "exec"), library.__dict__)
    monkeypatch.setitem(sys.modules, library.__name__, library)
    monkeypatch.setitem(
        functions.LIBRARY_FUNCTIONS,
        f"{library.__name__}.channel_shuffle",
        functions.LIBRARY_FUNCTIONS["torchvision.models.shufflenetv2.channel_shuffle"],
    )

    class Shuffled(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(4, 8, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return library.channel_shuffle(self.conv(x), 2)  # through the module object

    text = roundtrip(nn.Sequential(Shuffled()), (2, 4, 5, 5))
    assert "{name: channel_shuffle, type: channel_shuffle, groups: 2}" in text


class QuantAdd(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.skip_add = FloatFunctional()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.skip_add.add(self.conv(x), x)


def test_a_float_functional_join_is_the_join() -> None:
    text = roundtrip(QuantAdd(), (2, 3, 4, 4))
    assert "{name: add, type: add, from: [conv, input]}" in text
    assert "skip_add" not in text  # it holds nothing; its Identity is left out
