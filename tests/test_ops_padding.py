"""The padding families beside zero padding: constant, reflection and replication of 1, 2 or 3
dims against torch's modules (values at many sizes, batched and unbatched), the symbolic
shape, emitted source, the sizes reflection accepts (check's domain says exactly where
torch's forward starts to fail), counts, located errors and the import round trip."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure

from .ops_cases import assert_located, param_count, same_as_emitted, spec, symbolic_out
from .test_importer import roundtrip

_LAYOUT = {1: ("N", 3, "L"), 2: ("N", 3, "H", "W"), 3: ("N", 2, "D", "H", "W")}
_SYMBOLS = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
_TORCH = {"constant": "ConstantPad", "reflection": "ReflectionPad", "replication": "ReplicationPad"}


def _tup(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _layer(family: str, nd: int, padding: Any, value: float = 0.25) -> dict[str, Any]:
    layer: dict[str, Any] = {"type": f"{family}_pad{nd}d", "padding": padding}
    if family == "constant":
        layer["value"] = value
    return layer


def _reference(family: str, nd: int, padding: Any, value: float = 0.25) -> nn.Module:
    cls = getattr(nn, f"{_TORCH[family]}{nd}d")
    return cls(_tup(padding), value) if family == "constant" else cls(_tup(padding))


CASES = [
    (1, 2),
    (1, [3, 0]),
    (1, [0, 1]),
    (2, 1),
    (2, [1, 0, 2, 3]),
    (3, [1, 0, 0, 2, 1, 1]),
    (3, 1),
]


@pytest.mark.parametrize("family", ["constant", "reflection", "replication"])
@pytest.mark.parametrize(("nd", "padding"), CASES)
def test_padding_is_torchs(family: str, nd: int, padding: Any) -> None:
    text = spec([_layer(family, nd, padding)], _LAYOUT[nd])
    reference = _reference(family, nd, padding)
    model = archspec.compile(text)
    channels = _LAYOUT[nd][1]
    for n, *sizes in itertools.product([1, 2], *[[4, 5]] * nd):
        x = torch.randn(n, channels, *sizes)
        out = model(x)
        env = {"N": n, **dict(zip(_SYMBOLS[nd], sizes))}
        assert tuple(out.shape) == symbolic_out(text, env)
        assert torch.equal(out, reference(x))
    assert param_count(text) == (0, 0)
    summary = archspec.summary(text, input=(2, channels, *[5] * nd))
    assert (summary.params, summary.macs) == (0, 0)
    same_as_emitted(text, torch.randn(2, channels, *[4] * nd))
    unbatched = spec([_layer(family, nd, padding)], _LAYOUT[nd][1:])
    x = torch.randn(channels, *[6] * nd)
    assert torch.equal(archspec.compile(unbatched)(x), reference(x))


def test_constant_pad_fills_with_its_value() -> None:
    text = spec([_layer("constant", 2, [1, 0, 0, 2], value=-3.5)], ("N", 1, 2, 2))
    out = archspec.compile(text)(torch.zeros(1, 1, 2, 2))
    assert out.shape == (1, 1, 4, 3)
    assert out[0, 0, :, 0].tolist() == [-3.5] * 4 and out[0, 0, 2:, :].eq(-3.5).all()
    assert out[0, 0, :2, 1:].eq(0).all()
    assert "nn.ConstantPad2d((1, 0, 0, 2), -3.5)" in archspec.emit(text)


def _forward_fails(module: nn.Module, shape: tuple[int, ...]) -> bool:
    try:
        module(torch.randn(shape))
    except RuntimeError:
        return True
    return False


@pytest.mark.parametrize(
    ("nd", "padding", "need"),
    [(1, 3, (4,)), (1, [3, 0], (4,)), (1, [0, 2], (3,)), (2, [1, 3, 2, 0], (3, 4)),
     (3, [2, 0, 0, 0, 1, 1], (2, 1, 3))],
)  # fmt: skip
def test_reflection_domain_is_where_torch_runs(nd: int, padding: Any, need: tuple) -> None:
    """`check` states each extent's least size (pad + 1 of its wider side); at every size
    around that edge, the spec checks exactly when torch's forward runs, and a failing size
    is E405 at the layer."""
    text = spec([_layer("reflection", nd, padding)], _LAYOUT[nd])
    domain = archspec.check(text).domain_text
    for symbol, least in zip(_SYMBOLS[nd], need):
        assert least == 1 or f"{symbol} >= {least}" in domain, domain
    reference = _reference("reflection", nd, padding)
    channels = _LAYOUT[nd][1]
    for sizes in itertools.product(*[range(max(1, k - 1), k + 2) for k in need]):
        shape = (1, channels, *sizes)
        report = archspec.check(text, input=shape)
        assert report.ok == (not _forward_fails(reference, shape)), (shape, report)
        if not report.ok:
            assert [d.code for d in report.diagnostics] == ["E405"]


def test_reflection_too_small_is_located_with_its_hint() -> None:
    text = spec([_layer("reflection", 2, 3)], ("N", 3, 3, 8))
    exc = assert_located(text, "E405")
    diag = exc.diagnostics[0]
    assert "pads the H extent by 3, which needs an extent of at least 4" in diag.message
    assert "replication_pad2d" in (diag.hint or "")
    # replication and constant padding take the same small input
    for family in ("replication", "constant"):
        assert archspec.check(spec([_layer(family, 2, 3)], ("N", 3, 1, 1))).ok


def test_padding_bad_values_are_located() -> None:
    assert_located(spec([_layer("reflection", 1, [1, 2, 3])], ("N", 4, 8)), "E409")
    assert_located(spec([_layer("replication", 1, -1)], ("N", 4, 8)), "E309", "-1")
    assert_located(spec([_layer("constant", 2, 1)], ("N",)), "E401")
    assert_located(spec([_layer("reflection", 2, 1)], ("N", 8)), "E401")
    assert_located(spec([_layer("replication", 3, [1, 1])], ("N", 2, 3, 3, 3)), "E409")
    assert_located(spec([{"type": "constant_pad2d", "padding": 1}], ("N", 4, 8, 8)), "E203")


def _torch_pads(family: str, nd: int, shape: tuple[int, ...]) -> torch.Tensor | None:
    """What torch's module of `family` gives on an input of `shape` (None: it refuses)."""
    pads = [1, 0, 2, 1, 0, 1][: 2 * nd]
    zero = family == "zero"
    module = getattr(nn, f"ZeroPad{nd}d")(tuple(pads)) if zero else _reference(family, nd, pads)
    try:
        return module(torch.arange(float(math.prod(shape))).reshape(shape))
    except RuntimeError:
        return None


@pytest.mark.parametrize("family", ["zero", "constant", "reflection", "replication"])
@pytest.mark.parametrize("nd", [1, 2, 3])
def test_the_ranks_each_kind_takes_are_torchs(family: str, nd: int) -> None:
    """Zero and constant padding take any rank from the dims they pad up (torch's constant
    pad: ZeroPad2d runs on (H, W) and on 5-d volumes, ZeroPad3d on (N, C, L), padding N);
    reflection and replication only (C, ...) or (N, C, ...). At every rank from 1 to 6 the
    spec checks exactly when torch's module runs, computes its output, or is E401 located."""
    pads = [1, 0, 2, 1, 0, 1][: 2 * nd]
    layer = {"type": f"{family}_pad{nd}d", "padding": pads}
    if family == "constant":
        layer["value"] = 0.25
    for rank in range(1, 7):
        shape = (2, 3, 4, 5, 3, 4)[:rank]
        text = spec([layer], shape)
        want = _torch_pads(family, nd, shape)
        assert archspec.check(text).ok == (want is not None), (rank, family, nd)
        if want is None:
            said = "input of at least" if family in ("zero", "constant") else "or (N, C, "
            assert said in str(assert_located(text, "E401")), (rank, family, nd)
            continue
        x = torch.arange(float(math.prod(shape))).reshape(shape)
        assert torch.equal(archspec.compile(text)(x), want)
        assert tuple(want.shape) == symbolic_out(text, {})


def test_zero_pad3d_pads_every_dim_of_a_three_dim_input() -> None:
    """`F.pad(x, (0, 1, 1, 0, 0, 1))` on (N, C, L) pads N, C and L, as torch does."""
    text = spec([{"type": "zero_pad3d", "padding": [0, 1, 1, 0, 0, 1]}], ("N", 3, "L"))
    reference = nn.ZeroPad3d((0, 1, 1, 0, 0, 1))
    for n, length in itertools.product([1, 2], [1, 5]):
        x = torch.randn(n, 3, length)
        assert tuple(reference(x).shape) == symbolic_out(text, {"N": n, "L": length})
        assert torch.equal(archspec.compile(text)(x), reference(x))
    same_as_emitted(text, torch.randn(2, 3, 4))
    assert archspec.check(text).ok


class _Generator(nn.Module):
    """The head of a pix2pix / CycleGAN ResNet generator, and the padding of its other modes."""

    def __init__(self) -> None:
        super().__init__()
        self.pad = nn.ReflectionPad2d(3)
        self.conv = nn.Conv2d(3, 8, 7)
        self.pad2 = nn.ReplicationPad2d((1, 0, 2, 1))
        self.pad3 = nn.ConstantPad2d(1, 0.5)
        self.pad4 = nn.ZeroPad2d((1, 2, 0, 0))
        self.pad1d = nn.ReflectionPad1d((2, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pad4(self.pad3(self.pad2(self.conv(self.pad(x)))))
        return self.pad1d(x.flatten(2))


def test_padding_modules_import_and_round_trip() -> None:
    text = roundtrip(_Generator(), (2, 3, 9, 9))
    for line in (
        "{name: pad, type: reflection_pad2d, padding: 3}",
        "{name: pad2, type: replication_pad2d, padding: [1, 0, 2, 1]}",
        "{name: pad3, type: constant_pad2d, padding: 1, value: 0.5}",
        "{name: pad4, type: zero_pad2d, padding: [1, 2, 0, 0]}",
        "{name: pad1d, type: reflection_pad1d, padding: [2, 0]}",
    ):
        assert line in text, text
    volume = nn.Sequential(nn.Conv3d(2, 4, 1), nn.ReflectionPad3d(1), nn.ReplicationPad3d(2))
    text = roundtrip(volume, (1, 2, 3, 3, 3))
    assert "- {type: reflection_pad3d, padding: 1}" in text
    assert "- {type: replication_pad3d, padding: 2}" in text


class _Padded(nn.Module):
    """Padding written as F.pad calls in forward, as timm's same-padding convolutions do."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.pad(x, (1, 1, 1, 1), mode="reflect"))
        x = F.pad(F.pad(x, [0, 1, 2, 0]), (1, 0, 0, 0), value=0.5)
        x = F.pad(x, (0, 1, 1, 0, 0, 1))
        return F.pad(x.flatten(2), (2, 1), mode="replicate")


class _PadsEveryDim(nn.Module):
    """Constant pads of more dims than a kind's batched layout: of N, C and L, and of the
    last two dims of a volume."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 4, 1)
        self.mix = nn.Conv2d(1, 2, 1)
        self.pad = nn.ZeroPad2d((1, 0, 0, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(self.conv(x), (0, 1, 1, 0, 0, 1), value=0.5)  # (N + 1, 5, L + 1)
        x = self.mix(x.unflatten(1, (1, 5)))  # (N + 1, 2, 5, L + 1)
        return self.pad(x.unflatten(1, (1, 2)))  # (N + 1, 1, 2, 7, L + 2)


def test_constant_pads_of_any_rank_import() -> None:
    text = roundtrip(_PadsEveryDim(), (2, 3, 6))
    assert "type: constant_pad3d, padding: [0, 1, 1, 0, 0, 1], value: 0.5}" in text, text
    assert "{name: pad, type: zero_pad2d, padding: [1, 0, 0, 2]}" in text, text


def test_pad_calls_import_as_padding_kinds() -> None:
    text = roundtrip(_Padded(), (2, 3, 6, 7))
    for line in (
        "type: reflection_pad2d, padding: 1}",
        "type: zero_pad2d, padding: [0, 1, 2, 0]}",
        "type: constant_pad2d, padding: [1, 0, 0, 0], value: 0.5}",
        "type: replication_pad1d, padding: [2, 1]}",
        "type: zero_pad3d, padding: [0, 1, 1, 0, 0, 1]}",
    ):
        assert line in text, text


class _Circular(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (1, 1), mode="circular") * 2


def test_circular_and_cropping_pads_are_refused_at_their_line() -> None:
    for model in (_Circular(), _Cropping()):
        with pytest.raises(ImportFailure) as info:
            archspec.from_module(model, torch.randn(1, 2, 5))
        diag = info.value.diagnostics[0]
        assert diag.code == "E903" and "pad" in diag.message, diag.message
        assert diag.span is not None and diag.span.file.endswith("test_ops_padding.py")


class _Cropping(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.pad(x, (-1, 0)) * 2
