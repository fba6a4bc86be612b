"""`squeeze` and `unsqueeze` against torch: a new user writing ECA-Net from the docs found no
way to say ECA's `self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)`
(nor GCNet's `x.unsqueeze(1)`). The shape rules are torch's where torch's output has one
rank; a squeeze of a dim that is not 1 (which torch leaves in place) is a located error when
the size is a number and a requirement of the domain when it is a symbol. Compile and the
emitted source compute what torch does to the last bit, and `archspec import` reads the
calls."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.dims import shape_of
from archspec.errors import ArchSpecError
from archspec.ops import REGISTRY, ShapeContext

from .ops_cases import assert_located, param_count, same_as_emitted, spec


@pytest.mark.parametrize("dim", [0, 2, -1, -4, [2, 3], [3, 0], [-1, 1]])
def test_squeeze_is_torch_squeeze(dim: int | list[int]) -> None:
    shape = (1, 1, 1, 1)
    out = REGISTRY["squeeze"].infer({"dim": dim}, [shape_of(shape)], ShapeContext())
    x = torch.randn(shape)
    want = x.squeeze(tuple(dim) if isinstance(dim, list) else dim)
    assert tuple(d.value for d in out.shape) == tuple(want.shape)
    fn, kwargs = REGISTRY["squeeze"].function({"dim": dim})
    assert torch.equal(fn(x, **kwargs), want)


@pytest.mark.parametrize("dim", [0, 2, 4, -1, -5])
def test_unsqueeze_is_torch_unsqueeze(dim: int) -> None:
    shape = (2, 3, 5, 7)
    out = REGISTRY["unsqueeze"].infer({"dim": dim}, [shape_of(shape)], ShapeContext())
    x = torch.randn(shape)
    want = x.unsqueeze(dim)
    assert tuple(d.value for d in out.shape) == tuple(want.shape)
    fn, kwargs = REGISTRY["unsqueeze"].function({"dim": dim})
    assert torch.equal(fn(x, **kwargs), want)


@pytest.mark.parametrize(
    ("kind", "dim", "code"),
    [
        ("squeeze", 4, "E401"),
        ("squeeze", -5, "E401"),
        ("squeeze", [1, -3], "E409"),
        ("unsqueeze", 5, "E401"),
        ("unsqueeze", -6, "E401"),
    ],
)
def test_dims_torch_refuses_are_located(kind: str, dim: int | list[int], code: str) -> None:
    with pytest.raises((IndexError, RuntimeError)):
        getattr(torch.zeros(2, 1, 1, 1), kind)(tuple(dim) if isinstance(dim, list) else dim)
    assert_located(spec([{"name": "m", "type": kind, "dim": dim}], ("N", 1, 1, 1)), code)


def test_a_squeeze_of_no_dims_is_located() -> None:
    # torch squeezes nothing for (); a spec names the dims it drops
    assert_located(spec([{"name": "m", "type": "squeeze", "dim": []}], ("N", 1, 1, 1)), "E401")


def test_a_squeeze_of_a_dim_known_not_to_be_one_is_located() -> None:
    # torch would return the (N, 4, 5, 1) map unchanged: the spec's next node would have
    # the wrong rank for every input
    # at the `dim` that names it, as squeeze's other errors are
    text = spec([{"name": "m", "type": "squeeze", "dim": 2}], ("N", 4, 5, 1))
    exc = assert_located(text, "E409", at="2")
    (d, *_) = exc.diagnostics
    assert "size is 5, not 1" in d.message and "mean, sum or amax" in (d.hint or "")


def test_a_squeeze_of_a_symbolic_dim_asks_it_to_be_one() -> None:
    text = spec([{"name": "m", "type": "squeeze", "dim": [2]}], ("N", 4, "H", "W"))
    report = archspec.check(text)
    assert report.domain_text == "one_case accepts (N, 4, H, W) with H = 1 and W >= 1"
    model = archspec.compile(text)
    assert model(torch.zeros(2, 4, 1, 6)).shape == (2, 4, 6)


def test_the_channel_axis_follows_the_rank() -> None:
    # in_channels after an unsqueeze in front of the channels is the channel count, not 1
    text = spec(
        [
            {"name": "u", "type": "unsqueeze", "dim": 0},
            {"name": "s", "type": "squeeze", "dim": 0},
            {"name": "conv", "type": "conv2d", "out_channels": 2, "kernel_size": 1},
        ]
    )
    model = archspec.compile(text)
    assert model.conv.in_channels == 4


class ECA(nn.Module):
    """ECA-Net's eca_layer, as its authors wrote it."""

    def __init__(self, k_size: int = 3) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv = nn.Conv1d(1, 1, k_size, padding=(k_size - 1) // 2, bias=False)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.avg_pool(x)
        y = self.conv(y.squeeze(-1).transpose(-1, -2)).transpose(-1, -2).unsqueeze(-1)
        return x * self.sigmoid(y)


ECA_SPEC = """archspec: 1
name: eca
input: [N, 16, H, W]
blocks:
  ECA:
    params: {k_size: int}
    layers:
      - {name: avg_pool, type: adaptive_avgpool2d, output_size: 1}
      - {name: seq, type: squeeze, dim: -1}
      - {name: t, type: permute, dims: [0, 2, 1]}
      - {name: conv, type: conv1d, out_channels: 1, kernel_size: k_size,
         padding: "(k_size - 1) // 2", bias: false}
      - {name: back, type: permute, dims: [0, 2, 1]}
      - {name: map, type: unsqueeze, dim: -1}
      - {name: sigmoid, type: activation, fn: sigmoid}
      - {name: out, type: mul, from: [input, sigmoid]}
layers:
  - {name: eca, type: ECA, k_size: 5}
"""


def test_ecas_attention_is_the_papers_to_the_last_bit() -> None:
    model = archspec.compile(ECA_SPEC).eval()
    ref = ECA(5).eval()
    model.eca.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 16, 9, 7)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
    source = archspec.emit(ECA_SPEC)
    assert ".squeeze(-1)" in source and ".unsqueeze(-1)" in source
    same_as_emitted(ECA_SPEC, x)
    counted, built = param_count(ECA_SPEC)
    assert counted == built == 5
    assert archspec.check(ECA_SPEC).domain_text == "eca accepts (N, 16, H, W) with H, W >= 1"


def test_a_list_of_dims_is_emitted_as_torch_takes_it() -> None:
    text = spec([{"name": "m", "type": "squeeze", "dim": [2, -1]}], ("N", 4, 1, 1))
    assert ".squeeze([2, -1])" in archspec.emit(text)
    same_as_emitted(text, torch.randn(3, 4, 1, 1))


def test_import_reads_squeeze_and_unsqueeze_calls() -> None:
    class Calls(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.eca = ECA(3)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y = torch.unsqueeze(self.eca(x), 1)  # GCNet's context: (N, 1, C, H, W)
            return torch.squeeze(y, dim=(1,)).mean((2, 3))

    model = Calls().eval()
    x = torch.randn(2, 16, 9, 7)
    text = archspec.from_module(model, x)
    assert text.count("type: squeeze") == 2 and text.count("type: unsqueeze") == 2
    twin = archspec.compile(text).eval()
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(twin(x), model(x))


def test_import_refuses_a_squeeze_without_a_dim() -> None:
    class Bare(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.mean((2, 3), keepdim=True).squeeze()

    with pytest.raises(ArchSpecError) as info:
        archspec.from_module(Bare(), torch.randn(2, 4, 3, 3))
    (d, *_) = info.value.diagnostics
    assert d.code == "E903" and "`.squeeze()`" in d.message and "of a dim given" in (d.hint or "")


def test_a_block_named_like_the_new_kind_is_refused_at_its_name() -> None:
    """A spec of before this kind with a block `squeeze` (an SE's squeeze step) now calls the
    kind: validation refused the call for the kind's missing `dim`, and never said why (lowering,
    which reports a block named like a kind, was not reached). E304 at the block's name too."""
    text = (
        "archspec: 1\nname: shadow\ninput: [N, 8, 4, 4]\nblocks:\n  squeeze:\n    layers:\n"
        "      - {type: adaptive_avgpool2d, output_size: 1}\nlayers:\n  - {type: squeeze}\n"
    )
    report = archspec.check(text)
    found = [(d.code, d.span.line if d.span else None) for d in report.diagnostics]
    assert found == [("E304", 5), ("E203", 9)]
    assert "`type: squeeze` calls the layer kind" in report.diagnostics[0].message
