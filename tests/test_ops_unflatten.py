"""unflatten against torch's nn.Unflatten and Tensor.unflatten: symbolic shapes at many sizes,
a -1 whose divisibility joins the input domain, both forms (a module in a list, a call in
forward where named), emitted source, located errors, ResNeSt's split attention written
with it against the same block in torch, and the import round trip of both forms."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec

from .ops_cases import assert_located, param_count, same_as_emitted, spec, symbolic_out
from .test_importer import roundtrip


@pytest.mark.parametrize(
    ("dim", "sizes"),
    [(1, [2, 6]), (1, [3, -1]), (-1, [-1, 2]), (2, [1, -1, 1]), (0, [-1]), (-3, [2, 2, 3])],
)
def test_unflatten_is_torchs(dim: int, sizes: list[int]) -> None:
    text = spec([{"type": "unflatten", "dim": dim, "unflattened_size": sizes}], ("N", 12, "H", "W"))
    reference = nn.Unflatten(dim, tuple(sizes))
    model = archspec.compile(text)
    for n, h, w in itertools.product([1, 2], [2, 4], [2, 6]):
        x = torch.randn(n, 12, h, w)
        out = model(x)
        assert tuple(out.shape) == symbolic_out(text, {"N": n, "H": h, "W": w})
        assert torch.equal(out, reference(x))
    assert param_count(text) == (0, 0)
    same_as_emitted(text, torch.randn(2, 12, 4, 6))
    # named, it is a call in forward: no module, the same values
    layer = {"name": "u", "type": "unflatten", "dim": dim, "unflattened_size": sizes}
    named = spec([layer], ("N", 12, "H", "W"))
    assert f"x = x.unflatten({dim}, {tuple(sizes)!r})" in archspec.emit(named)
    call = archspec.compile(named)
    assert dict(call.named_children()) == {}
    x = torch.randn(2, 12, 4, 6)
    assert torch.equal(call(x), reference(x))
    same_as_emitted(named, x)


def test_a_minus_one_of_a_symbolic_dim_is_a_domain_requirement() -> None:
    text = spec([{"type": "unflatten", "dim": -1, "unflattened_size": [-1, 4]}])
    assert archspec.check(text).domain_text.endswith("with H >= 1 and W % 4 == 0")
    for w in range(1, 10):
        report = archspec.check(text, input=(1, 4, 3, w))
        try:
            torch.randn(1, 4, 3, w).unflatten(-1, (-1, 4))
            runs = True
        except RuntimeError:
            runs = False
        assert report.ok == runs, w


def test_unflatten_errors_are_located() -> None:
    base = ("N", 12, 5)
    assert_located(
        spec([{"type": "unflatten", "dim": 1, "unflattened_size": [5, 2]}], base), "E404"
    )
    assert_located(
        spec([{"type": "unflatten", "dim": 1, "unflattened_size": [5, -1]}], base), "E404"
    )
    assert_located(spec([{"type": "unflatten", "dim": 3, "unflattened_size": [1]}], base), "E401")
    both = [{"type": "unflatten", "dim": 1, "unflattened_size": [-1, 3, -1]}]
    assert_located(spec(both, base), "E409")
    zero = [{"type": "unflatten", "dim": 1, "unflattened_size": [0, 12]}]
    assert_located(spec(zero, base), "E409")


SPLIT_ATTENTION = """\
archspec: 1
name: split_attention
input: [N, 16, H, W]
blocks:
  SplitAttn:
    params: {out: int, radix: int, attn: int}
    layers:
      - {name: conv, type: conv2d, out_channels: out * radix, kernel_size: 3, padding: 1,
         groups: radix, bias: false}
      - {name: bn0, type: batchnorm2d}
      - {name: act0, type: relu, inplace: true}
      - {name: paths, type: unflatten, dim: 1, unflattened_size: [radix, out]}
      - {name: gap, type: sum, dim: [1]}
      - {name: pooled, type: mean, dim: [2, 3], keepdim: true}
      - {name: fc1, type: conv2d, out_channels: attn, kernel_size: 1}
      - {name: bn1, type: batchnorm2d}
      - {name: act1, type: relu, inplace: true}
      - {name: fc2, type: conv2d, out_channels: out * radix, kernel_size: 1}
      - {name: by_radix, type: unflatten, dim: 1, unflattened_size: [radix, out]}
      - {name: weights, type: softmax, dim: 1}
      - {name: weighted, type: mul, from: [paths, weights]}
      - {name: out, type: sum, dim: [1]}
layers:
  - {name: attn, type: SplitAttn, out: 8, radix: 2, attn: 4}
"""


class _SplitAttn(nn.Module):
    """timm's SplitAttn (ResNeSt) with one group of cardinality, its forward as timm writes it."""

    def __init__(self, cin: int, out: int, radix: int, attn: int) -> None:
        super().__init__()
        self.radix = radix
        self.conv = nn.Conv2d(cin, out * radix, 3, padding=1, groups=radix, bias=False)
        self.bn0 = nn.BatchNorm2d(out * radix)
        self.act0 = nn.ReLU(inplace=True)
        self.fc1 = nn.Conv2d(out, attn, 1)
        self.bn1 = nn.BatchNorm2d(attn)
        self.act1 = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(attn, out * radix, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act0(self.bn0(self.conv(x)))
        b, rc, h, w = x.shape
        x = x.reshape((b, self.radix, rc // self.radix, h, w))
        x_gap = x.sum(dim=1).mean((2, 3), keepdim=True)
        x_attn = self.fc2(self.act1(self.bn1(self.fc1(x_gap))))
        x_attn = F.softmax(x_attn.reshape(b, self.radix, rc // self.radix, 1, 1), dim=1)
        return (x * x_attn).sum(dim=1)


def test_resnest_split_attention_is_timms_at_any_size() -> None:
    reference = _SplitAttn(16, 8, 2, 4).eval()
    model = archspec.compile(SPLIT_ATTENTION).eval()
    state = {f"attn.{k}": v for k, v in reference.state_dict().items()}
    assert [(k, v.shape) for k, v in model.state_dict().items()] == [
        (k, v.shape) for k, v in state.items()
    ]
    with torch.no_grad():
        for t in state.values():
            if t.is_floating_point():
                t.uniform_(0.5, 1.5)
    model.load_state_dict(state)
    reference.load_state_dict({k[len("attn.") :]: v for k, v in state.items()})
    for h, w in ((5, 7), (8, 8), (1, 3)):
        x = torch.randn(2, 16, h, w)
        with torch.no_grad():
            torch.testing.assert_close(model(x), reference(x), rtol=1e-5, atol=1e-6)
    # the batch norm after its global pool sees one value per sample: training needs 2
    assert archspec.check(SPLIT_ATTENTION).domain_text.endswith(
        "with H, W >= 1 (in training mode, N >= 2 and H, W >= 1)"
    )
    source = archspec.emit(SPLIT_ATTENTION)
    # one class for any radix, as timm's: what forward reads is stored by __init__
    assert "        self.radix = radix\n" in source, source
    assert "paths = x.unflatten(1, (self.radix, self.out))  # (N, radix, out, H, W)" in source
    same_as_emitted(SPLIT_ATTENTION, torch.randn(2, 16, 6, 5))


class _Unflattening(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 1)
        self.split = nn.Unflatten(1, (2, 4))
        self.merge = nn.Flatten(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.merge(self.split(self.conv(x)))
        return y.unflatten(1, (4, -1)).sum(1)


def test_unflatten_module_and_call_import_and_round_trip() -> None:
    text = roundtrip(_Unflattening(), (2, 3, 5, 6))
    assert "{name: split, type: unflatten, dim: 1, unflattened_size: [2, 4]}" in text, text
    assert "type: unflatten, dim: 1, unflattened_size: [4, -1]" in text, text
