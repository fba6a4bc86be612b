"""`stack` and `sum` against torch.stack and torch.sum: the shape rules are torch's, what torch
refuses is a located error, sizes a symbolic input must share join its domain, compile and
emitted source compute what torch does to the last bit, and `archspec import` reads the calls.
A new user writing timm's selective kernel (SKNet: paths stacked, summed, weighted by a softmax
across them) from the docs found neither kind and had to rewrite its arithmetic."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.dims import shape_of
from archspec.ops import REGISTRY, ShapeContext, ShapeFailure

from .ops_cases import assert_located, param_count, same_as_emitted, spec


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dims", [[1], [2, 3], [-1], [0, -2]])
def test_sum_is_torch_sum(dims: list[int], keepdim: bool) -> None:
    for shape in [(2, 3, 5, 7), (1, 4, 1, 2)]:
        out = REGISTRY["sum"].infer(
            {"dim": dims, "keepdim": keepdim}, [shape_of(shape)], ShapeContext()
        )
        x = torch.randn(shape)
        want = x.sum(dims, keepdim=keepdim)
        assert tuple(d.value for d in out.shape) == tuple(want.shape)
        fn, kwargs = REGISTRY["sum"].function({"dim": dims, "keepdim": keepdim})
        assert torch.equal(fn(x, **kwargs), want)


@pytest.mark.parametrize("dim", [0, 1, 2, 4, -1, -3, -5])
def test_stack_shape_is_torchs(dim: int) -> None:
    shape = (2, 3, 5, 7)
    out = REGISTRY["stack"].infer({"dim": dim}, [shape_of(shape)] * 3, ShapeContext())
    parts = [torch.randn(shape) for _ in range(3)]
    want = torch.stack(parts, dim)
    assert tuple(d.value for d in out.shape) == tuple(want.shape)
    fn, kwargs = REGISTRY["stack"].function(dict(out.attrs))
    assert torch.equal(fn(parts, **kwargs), want)


@pytest.mark.parametrize("dim", [5, -6])
def test_a_stack_dim_torch_refuses_is_e401(dim: int) -> None:
    with pytest.raises(IndexError):
        torch.stack([torch.zeros(2, 3, 5, 7)] * 2, dim)
    with pytest.raises(ShapeFailure) as info:
        REGISTRY["stack"].infer({"dim": dim}, [shape_of((2, 3, 5, 7))] * 2, ShapeContext())
    assert info.value.code == "E401"
    text = spec(
        [
            {"name": "a", "type": "conv2d", "out_channels": 4, "kernel_size": 1},
            {"name": "s", "type": "stack", "dim": dim, "from": ["input", "a"]},
        ]
    )
    assert_located(text, "E401")


def test_inputs_of_other_shapes_are_a_located_e403() -> None:
    text = spec(
        [
            {"name": "a", "type": "conv2d", "out_channels": 8, "kernel_size": 1},
            {"name": "s", "type": "stack", "from": ["input", "a"]},
        ]
    )
    assert_located(text, "E403")


def test_sizes_a_symbolic_input_must_share_join_the_domain() -> None:
    text = spec(
        [
            {"name": "a", "type": "maxpool2d", "kernel_size": 2},
            {
                "name": "b",
                "type": "avgpool2d",
                "kernel_size": 3,
                "stride": 2,
                "padding": 1,
                "from": "input",
            },
            {"name": "s", "type": "stack", "from": ["a", "b"]},
        ]
    )
    result = archspec.check(text)
    assert result.ok, result.errors
    assert result.domain_text == "one_case accepts (N, 4, H, W) with even H and even W"
    for h in (6, 7):  # torch runs the stack exactly where the domain says
        x = torch.randn(1, 4, h, 8)
        a, b = nn.MaxPool2d(2)(x), nn.AvgPool2d(3, 2, 1)(x)
        assert (a.shape == b.shape) == (h % 2 == 0)


#: timm's SelectiveKernel with its SelectiveKernelAttn (paths of conv, bn, relu), written in
#: torch as timm writes it.
class SelectiveKernel(nn.Module):
    def __init__(self, cin: int, out: int, attn: int) -> None:
        super().__init__()
        self.paths = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(cin, out, 3, padding=d, dilation=d, bias=False),
                nn.BatchNorm2d(out),
                nn.ReLU(inplace=True),
            )
            for d in (1, 2)
        )
        self.attn = nn.Module()
        self.attn.fc_reduce = nn.Conv2d(out, attn, 1, bias=False)
        self.attn.bn = nn.BatchNorm2d(attn)
        self.attn.act = nn.ReLU(inplace=True)
        self.attn.fc_select = nn.Conv2d(attn, out * 2, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.stack([op(x) for op in self.paths], dim=1)
        a = x.sum(1).mean((2, 3), keepdim=True)
        a = self.attn.fc_select(self.attn.act(self.attn.bn(self.attn.fc_reduce(a))))
        b, c, h, w = a.shape
        a = torch.softmax(a.view(b, 2, c // 2, h, w), dim=1)
        return torch.sum(x * a, dim=1)


SK = """archspec: 1
name: sk
input: [N, 16, H, W]
blocks:
  Path:
    params: {out: int, dilation: int}
    layers:
      - {type: conv2d, out_channels: out, kernel_size: 3, padding: dilation, dilation: dilation,
         bias: false}
      - {type: batchnorm2d}
      - {type: relu, inplace: true}
  SelectiveKernel:
    params: {out: int, attn: int}
    layers:
      - name: paths
        type: sequential
        layers:
          - {type: Path, out: out, dilation: 1, from: input}
          - {type: Path, out: out, dilation: 2, from: input}
          - {name: stacked, type: stack, from: ["0", "1"]}
      - name: attn
        type: sequential
        layers:
          - {name: summed, type: sum, dim: [1]}
          - {name: pooled, type: mean, dim: [2, 3], keepdim: true}
          - {name: fc_reduce, type: conv2d, out_channels: attn, kernel_size: 1, bias: false}
          - {name: bn, type: batchnorm2d}
          - {name: act, type: relu, inplace: true}
          - {name: fc_select, type: conv2d, out_channels: 2 * out, kernel_size: 1, bias: false}
          - {name: by_path, type: reshape, shape: [0, 2, out, 1, 1]}
          - {name: weights, type: softmax, dim: 1}
      - {name: weighted, type: mul, from: [paths, attn]}
      - {name: out, type: sum, dim: [1]}
layers:
  - {name: sk, type: SelectiveKernel, out: 8, attn: 16}
"""


def test_a_selective_kernel_is_timms_to_the_last_bit() -> None:
    model = archspec.compile(SK).eval()
    ref = SelectiveKernel(16, 8, 16).eval()
    with torch.no_grad():
        for t in ref.state_dict().values():
            if t.is_floating_point():
                t.copy_(torch.rand(t.shape) + 0.5)
    model.sk.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 16, 9, 7)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
    source = archspec.emit(SK)
    assert "torch.stack([" in source and ".sum([1])" in source
    same_as_emitted(SK, x)
    counted, built = param_count(SK)
    assert counted == built == sum(p.numel() for p in ref.parameters())
    summary = archspec.summary(SK, input=(1, 16, 9, 7))
    of_ref = archspec.summary(ref, input_size=(1, 16, 9, 7), mode="eval")
    assert int(summary.macs) == int(of_ref.macs)


class Stacked(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(4, 4, 1)
        self.b = nn.Conv2d(4, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.stack([self.a(x), self.b(x)], dim=1)
        return torch.sum(y, 1) + y.sum(dim=[1, 2], keepdim=True)


def test_import_reads_stack_and_sum_calls() -> None:
    model = Stacked().eval()
    x = torch.randn(2, 4, 5, 6)
    text = archspec.from_module(model, x)
    assert "type: stack" in text and text.count("type: sum") == 2
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(twin(x), model(x))
