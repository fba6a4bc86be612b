"""interpolate_as against F.interpolate(x, size=like.shape[2:]): every mode at many sizes,
the symbolic output shape, emitted source, located errors, and DeepLabV3's head (ASPP with
its image-pooling branch upsampled back to the input's size) against the torch network."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec

from .ops_cases import assert_located, param_count, same_as_emitted, symbolic_out

CASES: list[tuple[dict[str, Any], tuple[str, ...]]] = [
    ({"mode": "nearest"}, ("H", "W")),
    ({"mode": "bilinear", "align_corners": False}, ("H", "W")),
    ({"mode": "bilinear", "align_corners": True}, ("H", "W")),
    ({"mode": "bicubic"}, ("H", "W")),
    ({"mode": "area"}, ("H", "W")),
    ({"mode": "linear"}, ("L",)),
    ({"mode": "trilinear", "align_corners": False}, ("D", "H", "W")),
]


def _resize_spec(fields: dict[str, Any], dims: tuple[str, ...]) -> str:
    """A 1x1 pooled branch resized back to the spec's input (any spatial size)."""
    pool = f"adaptive_avgpool{len(dims)}d"
    body = ", ".join(f"{k}: {str(v).lower()}" for k, v in fields.items())
    return (
        f"archspec: 1\nname: resize_back\ninput: [N, 3, {', '.join(dims)}]\nlayers:\n"
        f"  - {{name: pooled, type: {pool}, output_size: 2}}\n"
        f"  - {{name: up, type: interpolate_as, from: [pooled, input], {body}}}\n"
    )


@pytest.mark.parametrize(("fields", "dims"), CASES)
def test_interpolate_as_is_torchs(fields: dict[str, Any], dims: tuple[str, ...]) -> None:
    text = _resize_spec(fields, dims)
    model = archspec.compile(text)
    pool = getattr(F, f"adaptive_avg_pool{len(dims)}d")
    checked = 0
    for sizes in itertools.product([1, 2, 5, 9], repeat=len(dims)):
        x = torch.randn(2, 3, *sizes)
        want = F.interpolate(pool(x, 2), size=x.shape[2:], **fields)
        got = model(x)
        assert tuple(got.shape) == symbolic_out(text, {"N": 2, **dict(zip(dims, sizes))})
        torch.testing.assert_close(got, want, rtol=0, atol=0)
        checked += 1
    assert checked >= 4
    assert param_count(text) == (0, 0)
    assert archspec.check(text).ok
    same_as_emitted(text, torch.randn(2, 3, *([5] * len(dims))))


def test_interpolate_as_emits_torchvisions_call() -> None:
    source = archspec.emit(_resize_spec({"mode": "bilinear", "align_corners": False}, ("H", "W")))
    assert 'F.interpolate(pooled, size=x.shape[2:], mode="bilinear", align_corners=False)' in (
        source
    )


def test_interpolate_as_errors_are_located() -> None:
    wrong_rank = _resize_spec({"mode": "nearest"}, ("H", "W")).replace(
        "from: [pooled, input]", "from: [pooled, flat]"
    )
    wrong_rank = wrong_rank.replace(
        "  - {name: up", "  - {name: flat, type: flatten, from: input}\n  - {name: up"
    )
    assert_located(wrong_rank, "E401")
    corners = _resize_spec({"mode": "nearest", "align_corners": True}, ("H", "W"))
    assert_located(corners, "E409", "true")
    one_input = _resize_spec({"mode": "nearest"}, ("H", "W")).replace(
        "from: [pooled, input]", "from: pooled"
    )
    assert_located(one_input, "E305")


DEEPLAB_HEAD = """\
archspec: 1
name: deeplab_head
input: [N, 16, H, W]
blocks:
  ASPPConv:
    params: {out: int, dilation: int}
    layers:
      - {type: conv2d, out_channels: out, kernel_size: 3, padding: dilation, dilation: dilation,
         bias: false}
      - {type: batchnorm2d}
      - {type: relu}
  ASPPPooling:
    params: {out: int}
    layers:
      - {type: adaptive_avgpool2d, output_size: 1}
      - {type: conv2d, out_channels: out, kernel_size: 1, bias: false}
      - {type: batchnorm2d}
      - {key: "3", type: relu}
      - {name: up, type: interpolate_as, from: ["3", input], mode: bilinear, align_corners: false}
  ASPP:
    params: {out: int}
    layers:
      - name: convs
        type: sequential
        layers:
          - key: "0"
            type: sequential
            from: input
            layers:
              - {type: conv2d, out_channels: out, kernel_size: 1, bias: false}
              - {type: batchnorm2d}
              - {type: relu}
          - {key: "1", type: ASPPConv, out: out, dilation: 2, from: input}
          - {key: "2", type: ASPPConv, out: out, dilation: 3, from: input}
          - {key: "3", type: ASPPPooling, out: out, from: input}
          - {type: concat, from: ["0", "1", "2", "3"]}
      - name: project
        type: sequential
        layers:
          - {type: conv2d, out_channels: out, kernel_size: 1, bias: false}
          - {type: batchnorm2d}
          - {type: relu}
          - {type: dropout, p: 0.5}
layers:
  - {type: ASPP, out: 8}
  - {type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  - {type: batchnorm2d}
  - {type: relu}
  - {type: conv2d, out_channels: 3, kernel_size: 1}
"""


def _aspp_conv(c_in: int, out: int, dilation: int) -> nn.Sequential:
    conv = nn.Conv2d(c_in, out, 3, padding=dilation, dilation=dilation, bias=False)
    return nn.Sequential(conv, nn.BatchNorm2d(out), nn.ReLU())


class _ASPPPooling(nn.Sequential):
    """torchvision.models.segmentation.deeplabv3.ASPPPooling."""

    def __init__(self, c_in: int, out: int) -> None:
        pool = nn.AdaptiveAvgPool2d(1)
        super().__init__(pool, nn.Conv2d(c_in, out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        for mod in self:
            x = mod(x)
        return F.interpolate(x, size=size, mode="bilinear", align_corners=False)


class _ASPP(nn.Module):
    """torchvision.models.segmentation.deeplabv3.ASPP with rates (2, 3)."""

    def __init__(self, c_in: int, out: int) -> None:
        super().__init__()
        first = nn.Sequential(nn.Conv2d(c_in, out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU())
        rates = [_aspp_conv(c_in, out, 2), _aspp_conv(c_in, out, 3)]
        self.convs = nn.ModuleList([first, *rates, _ASPPPooling(c_in, out)])
        self.project = nn.Sequential(
            nn.Conv2d(4 * out, out, 1, bias=False), nn.BatchNorm2d(out), nn.ReLU(), nn.Dropout(0.5)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.project(torch.cat([conv(x) for conv in self.convs], dim=1))


def test_deeplab_head_is_the_torch_network_at_any_size() -> None:
    reference = nn.Sequential(
        _ASPP(16, 8),
        nn.Conv2d(8, 8, 3, padding=1, bias=False),
        nn.BatchNorm2d(8),
        nn.ReLU(),
        nn.Conv2d(8, 3, 1),
    )
    model = archspec.compile(DEEPLAB_HEAD)
    want = [(k, v.shape) for k, v in reference.state_dict().items()]
    assert [(k, v.shape) for k, v in model.state_dict().items()] == want
    with torch.no_grad():
        for tensor in reference.state_dict().values():
            if tensor.is_floating_point():
                tensor.uniform_(0.5, 1.5)
    model.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(model.state_dict(), strict=True)
    model.eval()
    reference.eval()
    for h, w in [(1, 1), (7, 7), (13, 5), (33, 33)]:
        x = torch.randn(2, 16, h, w)
        with torch.no_grad():
            torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)
    assert archspec.check(DEEPLAB_HEAD).domain_text == (
        "deeplab_head accepts (N, 16, H, W) with H, W >= 1 (in training mode, N >= 2 and H, W >= 1)"
    )
    same_as_emitted(DEEPLAB_HEAD, torch.randn(2, 16, 9, 6))
