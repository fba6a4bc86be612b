"""archspec import of a forward that moves or casts a tensor to its input's device or dtype
(`self.mean.to(x.device)`, `.to(x.dtype)`, `.type_as(x)`, `.to(x)`): the tensor itself in
a spec, whose module moves and casts its tensors with it (importer/casts.py). A cast to a
dtype written out, and `x.device` read by anything else, stay refused at their statement."""

from __future__ import annotations

import inspect
from collections.abc import Callable

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer import roundtrip

Conversion = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]

CONVERSIONS: dict[str, Conversion] = {
    "device": lambda g, x: g.to(x.device),
    "dtype": lambda g, x: g.to(x.dtype),
    "device_dtype": lambda g, x: g.to(x.device, x.dtype),
    "keywords": lambda g, x: g.to(device=x.device, dtype=x.dtype, non_blocking=True),
    "tensor": lambda g, x: g.to(x),
    "copy": lambda g, x: g.to(x.dtype, copy=True),
    "type_as": lambda g, x: g.type_as(x),
}

REFUSED: dict[str, Conversion] = {
    "half": lambda g, x: g.to(torch.float16).float(),  # the statement
    "rand": lambda g, x: g + torch.rand(4, device=x.device),  # the statement (random values)
}


class Scaled(nn.Module):
    """A conv's output times a buffer converted to the input's device or dtype."""

    def __init__(self, convert: Conversion) -> None:
        super().__init__()
        self.convert = convert
        self.conv = nn.Conv2d(3, 4, 1)
        self.register_buffer("gain", torch.full((4,), 0.5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.convert(self.gain, x).reshape(1, -1, 1, 1)


@pytest.mark.parametrize("how", sorted(CONVERSIONS))
def test_a_conversion_to_the_inputs_device_or_dtype_is_the_tensor_itself(how: str) -> None:
    text = roundtrip(Scaled(CONVERSIONS[how]), (2, 3, 6, 5))
    assert "{name: gain, type: buffer, shape: [4]}" in text
    assert "from: gain, shape: [1, -1, 1, 1]}" in text  # the reshape reads the buffer itself


class Recast(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x).to(x.dtype).relu()


def test_an_activation_converted_to_its_own_dtype_is_itself() -> None:
    text = roundtrip(Recast(), (2, 3, 6, 5))
    layers = text.split("layers:")[1].strip().splitlines()
    assert len(layers) == 2 and "conv2d" in layers[0] and "relu" in layers[1]  # no step between


@pytest.mark.parametrize("how", sorted(REFUSED))
def test_a_cast_to_a_written_dtype_or_another_read_of_the_device_is_refused(how: str) -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(Scaled(REFUSED[how]), torch.zeros(1, 3, 6, 5))
    first = info.value.diagnostics[0]
    assert first.code == "E903"
    lines, _ = inspect.getsourcelines(inspect.getmodule(Scaled))  # type: ignore[arg-type]
    assert first.span is not None and f'"{how}": lambda' in lines[first.span.line - 1]
