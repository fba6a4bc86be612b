"""Modules and functions `archspec import` refused though the language computes them:
torch.maximum and torch.minimum (the joins of those kinds), nn.ChannelShuffle, nn.Softmax2d,
the dropouts torch has beside nn.Dropout and nn.Dropout2d; and those it still refuses, each
with a message that names the setting and what to do."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.api import build_graph
from archspec.errors import ArchSpecError
from tests.emit_helpers import matches_compile
from tests.test_importer import roundtrip

EXTREMA = """\
archspec: 1
name: extrema
input: [N, 4, H, W]
layers:
  - {name: a, type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  - {name: gate, type: adaptive_avgpool2d, output_size: 1, from: input}
  - {name: hi, type: maximum, from: [a, gate]}
  - {name: lo, type: minimum, from: [gate, input]}
  - {name: out, type: concat, from: [hi, lo]}
"""


def test_maximum_and_minimum_broadcast_as_torch_computes_them() -> None:
    model = archspec.compile(EXTREMA).eval()
    x = torch.randn(2, 4, 5, 6, generator=torch.Generator().manual_seed(0))
    x[0, 0, 0, 0] = float("nan")  # torch's maximum gives NaN where either side is one
    with torch.no_grad():
        a, gate = model.a(x), x.mean((2, 3), keepdim=True)
        want = torch.cat([torch.maximum(a, gate), torch.minimum(gate, x)], 1)
        torch.testing.assert_close(model(x), want, equal_nan=True, rtol=0, atol=0)
    source = matches_compile(EXTREMA, (2, 4, 5, 6))
    assert "hi = torch.maximum(a, gate)" in source and "torch.minimum(gate, x)" in source
    assert archspec.check(EXTREMA).outputs[0][1:2] == (8,)


def test_maximum_of_shapes_that_do_not_broadcast_is_located() -> None:
    text = EXTREMA.replace("from: [gate, input]", "from: [gate, a]").replace(
        "out_channels: 4, kernel_size: 3", "out_channels: 3, kernel_size: 3"
    )
    with pytest.raises(ArchSpecError) as exc:
        build_graph(text)
    assert exc.value.error_code == "E402" and "maximum joins inputs" in exc.value.render()
    assert exc.value.span is not None and exc.value.span.line == 7


class Extrema(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 6, 3, padding=1)
        self.b = nn.Conv2d(3, 6, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.a(x), self.b(x)
        return torch.maximum(a, b) + a.minimum(b) + torch.max(a, b) * b.min(a)


def test_maximum_and_minimum_import() -> None:
    text = roundtrip(Extrema(), (2, 3, 8, 8))
    assert "type: maximum, from: [a, b]" in text and "type: minimum, from: [a, b]" in text
    assert text.count("type: maximum") == 2 and "type: minimum, from: [b, a]" in text


class Called(nn.Module):
    """Stateless modules called in forward, each a kind's call or layer."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.shuffle = nn.ChannelShuffle(3)
        self.drop = nn.AlphaDropout(0.2)
        self.feature_drop = nn.FeatureAlphaDropout(0.1)
        self.softmax = nn.Softmax2d()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.feature_drop(self.drop(self.shuffle(self.conv(x))))
        return self.softmax(x)


def test_channel_shuffle_softmax2d_and_alpha_dropouts_import() -> None:
    text = roundtrip(Called(), (2, 3, 8, 8))
    assert "{name: shuffle, type: channel_shuffle, groups: 3}" in text
    assert "{name: softmax, type: softmax, dim: -3}" in text
    assert "{name: drop, type: alpha_dropout, p: 0.2}" in text
    assert "{name: feature_drop, type: feature_alpha_dropout, p: 0.1}" in text


def test_dropout1d_imports_and_trains_as_torchs() -> None:
    model = nn.Sequential(nn.Conv1d(3, 6, 3), nn.Dropout1d(0.3), nn.Conv1d(6, 2, 1))
    text = roundtrip(model, (2, 3, 10))
    assert "type: dropout1d, p: 0.3" in text
    twin = archspec.compile(text)
    twin.load_state_dict(model.state_dict())
    twin.train(), model.train()
    x = torch.rand(4, 3, 10)
    torch.manual_seed(5)
    want = model(x)
    torch.manual_seed(5)
    torch.testing.assert_close(twin(x), want)  # the same channels dropped


@pytest.mark.parametrize(
    ("layer", "shape", "needle"),
    [
        ("dropout1d", "[N, 3, 4, 4]", "dropout1d needs an (N, C, L) or (C, L) input"),
        ("feature_alpha_dropout", "[5]", "feature_alpha_dropout drops channels, and (5)"),
    ],
)
def test_a_dropout_torch_refuses_for_the_rank_is_located(
    layer: str, shape: str, needle: str
) -> None:
    text = f"archspec: 1\nname: bad\ninput: {shape}\nlayers:\n  - {{type: {layer}}}\n"
    with pytest.raises(ArchSpecError) as exc:
        build_graph(text)
    assert exc.value.error_code == "E401" and needle in exc.value.render()
    assert exc.value.span is not None and exc.value.span.line == 5


class Shuffled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 6, 1), nn.ChannelShuffle(2), nn.Conv2d(6, 4, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Renormed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(10, 4, max_norm=1.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x)


def test_what_stays_refused_says_why_and_what_to_do() -> None:
    with pytest.raises(ArchSpecError) as exc:
        archspec.from_module(Shuffled(), torch.rand(1, 3, 4, 4))
    text = exc.value.render()
    assert "it computes a `channel_shuffle`, which a spec computes in forward" in text
    assert "call it in a module's forward (`x = self.m(x)`)" in text
    assert "test_importer_module_gaps.py" in text  # the class that holds it
    with pytest.raises(ArchSpecError) as exc:
        archspec.from_module(Renormed(), torch.randint(0, 10, (2, 5)))
    text = exc.value.render()
    assert "max_norm=1.0 renormalises the rows it looks up, in the weight itself" in text
    assert "drop max_norm" in text and "test_importer_module_gaps.py" in text


BOX = """\
archspec: 1
name: box
input: [N, 4, H, W]
layers:
  - {type: avgpool2d, kernel_size: 3, stride: 1, padding: 1, divisor_override: 1}
  - {type: avgpool3d, kernel_size: [1, 2, 2], divisor_override: 3}
"""


def test_divisor_override_divides_as_torch() -> None:
    x = torch.randn(2, 4, 7, 6, generator=torch.Generator().manual_seed(3))
    summed = torch.nn.functional.avg_pool2d(x, 3, 1, 1, divisor_override=1)
    want = torch.nn.functional.avg_pool3d(summed, (1, 2, 2), divisor_override=3)
    torch.testing.assert_close(archspec.compile(BOX)(x), want, rtol=0, atol=0)
    source = matches_compile(BOX, (2, 4, 7, 6))
    assert "nn.AvgPool2d(3, stride=1, padding=1, divisor_override=1)" in source
    same = BOX.replace("padding: 1, divisor", "padding: same, divisor")
    with pytest.raises(ArchSpecError) as exc:
        build_graph(same)
    assert exc.value.error_code == "E409" and "takes no divisor_override" in exc.value.render()
    assert exc.value.span is not None and exc.value.span.line == 5


class Divided(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)
        self.pool = nn.AvgPool2d(2, divisor_override=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.conv(x))
        return torch.nn.functional.avg_pool2d(x, 2, divisor_override=5)


def test_divisor_override_imports() -> None:
    text = roundtrip(Divided(), (2, 3, 8, 8))
    assert "{name: pool, type: avgpool2d, kernel_size: 2, stride: 2, divisor_override: 3}" in text
    assert "{name: avg_pool2d, type: avgpool2d, kernel_size: 2, divisor_override: 5}" in text


def test_a_channel_dropout_of_a_sequence_is_pointed_at_dropout1d() -> None:
    text = "archspec: 1\nname: seq\ninput: [N, 8, 50]\nlayers:\n  - {type: dropout2d, p: 0.1}\n"
    (found,) = [d for d in archspec.check(text).diagnostics if d.code == "W407"]
    assert "use `dropout1d` (of (N, C, L) sequences)" in (found.hint or "")
    fixed = text.replace("dropout2d", "dropout1d")
    assert not archspec.check(fixed).diagnostics
