"""conv_transpose1d and conv_transpose3d against nn.ConvTranspose1d / nn.ConvTranspose3d: the
symbolic output size at many sizes, state_dict, params, MACs, emitted source and located
errors; and a 1-d decoder (a waveform autoencoder's upsampling path) against torch."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
from torch import nn

import archspec

from .ops_cases import assert_located, same_as_emitted, spec, symbolic_out

ONE_D: list[dict[str, Any]] = [
    {"kernel_size": 3},
    {"kernel_size": 4, "stride": 2, "padding": 1},
    {"kernel_size": 5, "stride": 3, "padding": 2, "output_padding": 1, "groups": 2},
    {"kernel_size": 3, "dilation": 2, "output_padding": 1, "bias": False},
]
THREE_D: list[dict[str, Any]] = [
    {"kernel_size": 2, "stride": 2},
    {
        "kernel_size": [1, 3, 3],
        "stride": [1, 2, 2],
        "padding": [0, 1, 1],
        "output_padding": [0, 1, 1],
    },
]


def _tup(v: Any) -> Any:
    return tuple(v) if isinstance(v, list) else v


def _same_as_torch(
    kind: str, dims: tuple[str, ...], fields: dict[str, Any], sides: list[int]
) -> None:
    text = spec([{"type": kind, "name": "up", "out_channels": 6, **fields}], ("N", 4, *dims))
    reference = getattr(nn, f"ConvTranspose{len(dims)}d")(
        4, 6, **{k: _tup(v) for k, v in fields.items()}
    )
    model = archspec.compile(text)
    want = [(f"up.{k}", v.shape) for k, v in reference.state_dict().items()]
    assert [(k, v.shape) for k, v in model.state_dict().items()] == want
    model.load_state_dict({f"up.{k}": v for k, v in reference.state_dict().items()})
    checked = 0
    for sizes in itertools.product(sides, repeat=len(dims)):
        want_shape = symbolic_out(text, {"N": 2, **dict(zip(dims, sizes))})
        if min(want_shape[2:]) < 1:
            continue
        x = torch.randn(2, 4, *sizes)
        with torch.no_grad():
            out = model(x)
            torch.testing.assert_close(out, reference(x), rtol=0, atol=0)
        assert tuple(out.shape) == want_shape
        table = archspec.summary(text, input=(2, 4, *sizes))
        assert table.params == sum(p.numel() for p in reference.parameters())
        groups = fields.get("groups", 1)
        k = reference.kernel_size
        assert table.macs == x.numel() * (6 // groups) * torch.tensor(k).prod().item()
        checked += 1
    assert checked >= 3
    same_as_emitted(text, torch.randn(1, 4, *([3] * len(dims))))


@pytest.mark.parametrize("fields", ONE_D)
def test_conv_transpose1d_is_torchs(fields: dict[str, Any]) -> None:
    _same_as_torch("conv_transpose1d", ("L",), fields, [1, 2, 5, 16, 31])


@pytest.mark.parametrize("fields", THREE_D)
def test_conv_transpose3d_is_torchs(fields: dict[str, Any]) -> None:
    _same_as_torch("conv_transpose3d", ("D", "H", "W"), fields, [1, 3, 4])


def test_transposed_errors_are_located() -> None:
    base = {"out_channels": 2, "kernel_size": 3}
    assert_located(spec([{"type": "conv_transpose1d", **base}], ("N", 4, 8, 8)), "E401")
    assert_located(spec([{"type": "conv_transpose3d", **base}], ("N", 4, 8)), "E401")
    too_much = {**base, "stride": 2, "output_padding": 2}
    too_much_spec = spec([{"type": "conv_transpose1d", **too_much}], ("N", 4, 8))
    assert_located(too_much_spec, "E409", "2, stride")
    groups = {**base, "groups": 3}
    assert_located(spec([{"type": "conv_transpose3d", **groups}], ("N", 4, 2, 2, 2)), "E409")


DECODER = """\
archspec: 1
name: wave_decoder
input: [N, 32, L]
layers:
  - name: decoder
    type: sequential
    layers:
      - {type: conv_transpose1d, out_channels: 16, kernel_size: 4, stride: 2, padding: 1}
      - {type: batchnorm1d}
      - {type: relu, inplace: true}
      - {type: conv_transpose1d, out_channels: 1, kernel_size: 8, stride: 4, padding: 2}
      - {type: tanh}
"""


def test_waveform_decoder_is_the_torch_network() -> None:
    reference = nn.Sequential(
        nn.ConvTranspose1d(32, 16, 4, stride=2, padding=1),
        nn.BatchNorm1d(16),
        nn.ReLU(inplace=True),
        nn.ConvTranspose1d(16, 1, 8, stride=4, padding=2),
        nn.Tanh(),
    ).eval()
    model = archspec.compile(DECODER).eval()
    model.load_state_dict({f"decoder.{k}": v for k, v in reference.state_dict().items()})
    for length in (1, 7, 50):
        x = torch.randn(3, 32, length)
        with torch.no_grad():
            out = model(x)
            torch.testing.assert_close(out, reference(x), rtol=0, atol=0)
        assert out.shape == (3, 1, 8 * length)
    assert archspec.check(DECODER).domain_text == "wave_decoder accepts (N, 32, L) with L >= 1"


@pytest.mark.parametrize("kind", ["conv_transpose1d", "conv_transpose2d", "conv_transpose3d"])
@pytest.mark.parametrize(("field", "value"), [("stride", 2**31), ("dilation", 2**32 + 1)])
def test_sizes_torch_reads_as_32_bit_ints_are_refused(kind: str, field: str, value: int) -> None:
    """torch truncates: stride 2**31 fails, dilation 2**32 + 1 runs as dilation 1; check,
    which would use the value written, refuses both at the field."""
    nd = int(kind[-2])
    layer = {"type": kind, "out_channels": 2, "kernel_size": 1, field: value}
    error = assert_located(spec([layer], ("N", 4, *([1] * nd))), "E409", str(value))
    assert "32-bit ints" in error.diagnostics[0].message
    reference = getattr(nn, f"ConvTranspose{nd}d")(4, 2, 1, **{field: 2**31})
    with pytest.raises(RuntimeError, match="greater than zero"):
        reference(torch.randn(1, 4, *([1] * nd)))
    ok = {**layer, field: 2**31 - 1}
    assert archspec.check(spec([ok], ("N", 4, *([1] * nd)))).ok
