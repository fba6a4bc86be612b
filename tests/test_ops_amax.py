"""`amax` against torch.amax: a new user writing CBAM (timm's `CbamModule`: a channel attention
on the average and the max over H and W, a spatial attention on the mean and the max over the
channels) from the docs found no maximum over dims, and had to move the channels to a spatial
dim and pool them with a `maxpool2d` whose kernel is the channel count. The shape rule is
torch's, what torch refuses is a located error, compile and emitted source compute what torch
does to the last bit, and `archspec import` reads the calls."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.dims import shape_of
from archspec.ops import REGISTRY, ShapeContext

from .ops_cases import assert_located, param_count, same_as_emitted, spec


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dims", [[1], [2, 3], [-1], [0, -2]])
def test_amax_is_torch_amax(dims: list[int], keepdim: bool) -> None:
    for shape in [(2, 3, 5, 7), (1, 4, 1, 2)]:
        out = REGISTRY["amax"].infer(
            {"dim": dims, "keepdim": keepdim}, [shape_of(shape)], ShapeContext()
        )
        x = torch.randn(shape)
        want = x.amax(dims, keepdim=keepdim)
        assert tuple(d.value for d in out.shape) == tuple(want.shape)
        fn, kwargs = REGISTRY["amax"].function({"dim": dims, "keepdim": keepdim})
        assert torch.equal(fn(x, **kwargs), want)


@pytest.mark.parametrize(("dims", "code"), [([4], "E401"), ([-5], "E401"), ([1, -3], "E409")])
def test_dims_torch_refuses_are_located(dims: list[int], code: str) -> None:
    with pytest.raises((IndexError, RuntimeError)):
        torch.zeros(2, 4, 5, 6).amax(dims)
    assert_located(spec([{"name": "m", "type": "amax", "dim": dims}]), code)


class ChannelAttn(nn.Module):
    def __init__(self, c: int, rd: int) -> None:
        super().__init__()
        self.fc1 = nn.Conv2d(c, rd, 1)
        self.act = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(rd, c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # one MLP on both pools: side by side in W (a spec states no weights shared by two
        # calls, and a 1x1 conv treats the two positions apart), then added up
        pooled = torch.cat([x.mean((2, 3), keepdim=True), x.amax((2, 3), keepdim=True)], 3)
        attn = self.fc2(self.act(self.fc1(pooled))).sum(3, keepdim=True)
        return x * attn.sigmoid()


class SpatialAttn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        attn = torch.cat([x.mean(dim=1, keepdim=True), torch.amax(x, 1, keepdim=True)], dim=1)
        return x * self.conv(attn).sigmoid()


class Cbam(nn.Module):
    def __init__(self, c: int, rd: int) -> None:
        super().__init__()
        self.channel = ChannelAttn(c, rd)
        self.spatial = SpatialAttn()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.spatial(self.channel(x))


CBAM = """archspec: 1
name: cbam
input: [N, 16, H, W]
blocks:
  SpatialAttn:
    layers:
      - {name: avg, type: mean, dim: [1], keepdim: true}
      - {name: mx, type: amax, dim: [1], keepdim: true, from: input}
      - {name: both, type: concat, from: [avg, mx]}
      - {name: conv, type: conv2d, out_channels: 1, kernel_size: 7, padding: 3, bias: false}
      - {name: gate, type: activation, fn: sigmoid}
      - {name: out, type: mul, from: [input, gate]}
layers:
  - {name: spatial, type: SpatialAttn}
"""


def test_cbams_spatial_attention_is_timms_to_the_last_bit() -> None:
    text = CBAM
    model = archspec.compile(text).eval()
    ref = SpatialAttn().eval()
    model.spatial.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 16, 9, 7)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
    source = archspec.emit(text)
    assert ".amax([1], keepdim=True)" in source
    same_as_emitted(text, x)
    counted, built = param_count(text)
    assert counted == built == sum(p.numel() for p in ref.parameters())
    assert archspec.check(text).domain_text == "cbam accepts (N, 16, H, W) with H, W >= 1"


def test_import_reads_amax_calls() -> None:
    model = Cbam(16, 8).eval()
    x = torch.randn(2, 16, 9, 7)
    text = archspec.from_module(model, x)
    assert text.count("type: amax") == 2
    twin = archspec.compile(text).eval()
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(twin(x), model(x))
