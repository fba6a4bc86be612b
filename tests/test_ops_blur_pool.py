"""`blur_pool2d`, anti-aliased downsampling (timm's BlurPool2d), against the blur written out
here from its definition (binomial coefficients, padding, a depthwise strided conv): outputs
bit for bit (compiled and emitted) at every input size, the domain `check` states against
the sizes torch takes, the errors, and the import of timm's class."""

from __future__ import annotations

import math
import types

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import archspec
from tests.cpu import GUARD, cpu_seconds

SPEC = """\
archspec: 1
name: aa_down
input: [N, 4, H, W]
layers:
  - {name: blur, type: blur_pool2d}
  - {name: wide, type: blur_pool2d, filt_size: 5, pad_mode: replicate}
  - {name: even, type: blur_pool2d, filt_size: 4, stride: 1, pad_mode: constant}
  - {name: wrap, type: blur_pool2d, filt_size: 2, stride: 3, pad_mode: circular}
"""


def blur(x: torch.Tensor, k: int, s: int, mode: str) -> torch.Tensor:
    """Zhang (2019): pad, then each channel convolved with the binomial filter of k taps."""
    taps = torch.tensor([math.comb(k - 1, i) for i in range(k)], dtype=torch.float32)
    taps = taps / taps.sum()
    filt = torch.outer(taps, taps).expand(x.shape[1], 1, k, k)
    p = (s - 1 + k - 1) // 2
    return F.conv2d(F.pad(x, [p] * 4, mode=mode), filt, stride=s, groups=x.shape[1])


def _reference(x: torch.Tensor) -> torch.Tensor:
    layers = ((3, 2, "reflect"), (5, 2, "replicate"), (4, 1, "constant"), (2, 3, "circular"))
    for k, s, mode in layers:
        x = blur(x, k, s, mode)
    return x


def _emitted() -> nn.Module:
    module = types.ModuleType("emitted_aa_down")
    exec(compile(archspec.emit(SPEC), "<emitted>", "exec"), module.__dict__)
    return module.AaDown()


@pytest.mark.parametrize("build", [lambda: archspec.compile(SPEC), _emitted])
def test_blur_pool_is_the_binomial_blur_at_every_size_the_domain_states(build: object) -> None:
    model = build().eval()  # type: ignore[operator]
    assert list(model.state_dict()) == []  # the filter is no weight
    assert [(n, tuple(b.shape)) for n, b in model.named_buffers()] == [
        ("blur.filt", (4, 1, 3, 3)), ("wide.filt", (4, 1, 5, 5)), ("even.filt", (4, 1, 4, 4)),
        ("wrap.filt", (4, 1, 2, 2)),
    ]  # fmt: skip
    result = archspec.check(SPEC)
    assert result.domain_text == "aa_down accepts (N, 4, H, W) with H, W >= 5"
    with torch.no_grad():
        for h in range(1, 14):
            x = torch.randn(2, 4, h, h + 3, generator=torch.Generator().manual_seed(h))
            try:
                want = _reference(x)
            except RuntimeError:
                with pytest.raises(RuntimeError):
                    model(x)
                assert h < 5  # torch refuses exactly the sizes check leaves out
                continue
            assert h >= 5
            assert torch.equal(model(x), want), h
            (expect,) = archspec.check(SPEC, input=[2, 4, h, h + 3]).outputs
            assert list(want.shape) == [int(d) for d in expect], h


@pytest.mark.parametrize(
    ("layer", "code", "field"),
    [
        ("{type: blur_pool2d, channels: 3}", "E402", "channels: "),
        ("{type: blur_pool2d, filt_size: 1}", "E", "filt_size: "),
        ("{type: blur_pool2d, pad_mode: zeros}", "E", "pad_mode: "),
    ],
)
def test_refused_at_the_field(layer: str, code: str, field: str) -> None:
    text = f"archspec: 1\nname: bad\ninput: [N, 4, 8, 8]\nlayers:\n  - {layer}\n"
    (d,) = archspec.check(text).diagnostics
    assert d.code.startswith(code) and d.span is not None and d.span.line == 5
    assert text.splitlines()[4][: d.span.col - 1].endswith(field)


def test_a_reflected_input_too_small_is_e405() -> None:
    text = SPEC.replace("[N, 4, H, W]", "[N, 4, 1, 9]")
    (d,) = archspec.check(text).diagnostics
    assert d.code == "E405" and "the H extent by 1 with pad_mode 'reflect'" in d.message
    assert "an extent of at least 2" in d.message


class BlurPool2d(nn.Module):
    """timm.layers.blur_pool's class as timm writes it (its module set to timm's below)."""

    def __init__(self, channels: int | None = None, filt_size: int = 3, stride: int = 2,
                 pad_mode: str = "reflect") -> None:  # fmt: skip
        super().__init__()
        self.channels = channels
        self.filt_size = filt_size
        self.stride = stride
        self.pad_mode = pad_mode
        self.padding = [(stride - 1 + filt_size - 1) // 2] * 4
        coeffs = torch.tensor(
            [math.comb(filt_size - 1, k) for k in range(filt_size)], dtype=torch.float32
        ) / (2 ** (filt_size - 1))
        filt = (coeffs[:, None] * coeffs[None, :])[None, None, :, :]
        if channels is not None:
            filt = filt.repeat(channels, 1, 1, 1)
        self.register_buffer("filt", filt, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.padding, mode=self.pad_mode)
        if self.channels is None:
            channels = x.shape[1]
            weight = self.filt.expand(channels, 1, self.filt_size, self.filt_size)
        else:
            channels = self.channels
            weight = self.filt
        return F.conv2d(x, weight, stride=self.stride, groups=channels)


BlurPool2d.__module__ = "timm.layers.blur_pool"


class AaBlock(nn.Module):
    def __init__(self, channels: int | None = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.aa = BlurPool2d(channels, stride=2)
        self.act = nn.ReLU()
        self.down = BlurPool2d(channels, filt_size=5, pad_mode="replicate")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.aa(self.conv(x))))


def test_timms_blur_pool_imports_as_blur_pool2d() -> None:
    model = AaBlock().eval()
    x = torch.randn(2, 3, 17, 22, generator=torch.Generator().manual_seed(1))
    text = archspec.from_module(model, x)
    layers = yaml.safe_load(text)["layers"]
    assert [v for v in layers if v["type"] == "blur_pool2d"] == [
        {"name": "aa", "type": "blur_pool2d"},
        {"name": "down", "type": "blur_pool2d", "filt_size": 5, "pad_mode": "replicate"},
    ]
    module = types.ModuleType("emitted_aa_block")
    exec(compile(archspec.emit(text), "<emitted>", "exec"), module.__dict__)
    for ours in (archspec.compile(text).eval(), module.AaBlock().eval()):
        ours.load_state_dict(model.state_dict(), strict=True)
        for h, w in ((17, 22), (16, 16), (9, 31)):
            x = torch.randn(1, 3, h, w)
            with torch.no_grad():
                assert torch.equal(ours(x), model(x))


def test_a_filter_of_other_values_is_refused_where_forward_reads_it() -> None:
    """Not the kind: its filter (in no state_dict, so in no weights a spec loads) is not the
    binomial one, and the import says so at the buffer rather than at the outputs."""
    model = AaBlock().eval()
    with torch.no_grad():
        model.down.filt.mul_(2.0)
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.from_module(model, torch.randn(1, 3, 16, 16))
    (d, *_) = info.value.diagnostics
    assert d.code == "E904" and "non-persistent buffer `self.filt`" in d.message
    assert "please report" not in (d.hint or "")


def test_one_built_without_channels_is_not_read_as_the_kind() -> None:
    """Its filter is one channel's, expanded in forward: not the kind's buffer."""
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.from_module(AaBlock(channels=None).eval(), torch.randn(1, 3, 16, 16))
    assert all(d.code.startswith("E90") for d in info.value.diagnostics)


def test_a_wide_filter_is_built_exactly_and_fast() -> None:
    """The coefficients are C(n, k) / 2**n computed as exact integers divided once: a filter of
    more than ~130 taps overflowed float32 (an OverflowError traceback from compile), and
    Pascal's triangle row by row took minutes at 20,000 taps (check accepts both)."""
    text = "archspec: 1\nname: wide\ninput: [N, 1, 8, 8]\nlayers:\n  - {name: aa, type: blur_pool2d, filt_size: K, pad_mode: constant}\n"  # noqa: E501
    wide = text.replace("K", "200")
    taps = torch.tensor([math.comb(199, k) / 2**199 for k in range(200)], dtype=torch.float32)
    module = types.ModuleType("emitted_wide")
    exec(compile(archspec.emit(wide), "<emitted>", "exec"), module.__dict__)
    for model in (archspec.compile(wide), module.Wide()):
        assert torch.equal(model.aa.filt[0, 0], torch.outer(taps, taps))
        assert model(torch.ones(1, 1, 8, 8)).isfinite().all()
    built, seconds = cpu_seconds(
        lambda: archspec.compile(text.replace("K", "20000"), device="meta")
    )
    assert built.aa.filt.shape == (1, 1, 20000, 20000) and seconds < GUARD
