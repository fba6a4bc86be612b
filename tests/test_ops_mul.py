"""`mul`, the elementwise product beside `add`: torch's broadcasting checked symbolically,
located errors, an SE block written with it equal to a hand-written one, MACs counted 0."""

from __future__ import annotations

import itertools
import textwrap

import pytest
import torch
from torch import nn

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module
from archspec.dims import Dim, format_shape, shape_of
from archspec.ops import REGISTRY, ShapeContext, ShapeFailure

from .emit_helpers import _load


def spec(body: str, header: str = "input: [N, 16, H, W]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body).lstrip("\n")


def _line(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


SIZES = (1, 2, 3, 5, 7)


@pytest.mark.parametrize("kind", ["mul", "add"])
def test_the_shape_rule_is_torch_broadcasting(kind: str) -> None:
    """Every pair of shapes of rank 1..3 from sizes 1, 3, 5: the rule gives torch's result
    shape, or refuses (E402) exactly the pairs torch refuses."""
    op = REGISTRY[kind]
    shapes = [s for r in (1, 2, 3) for s in itertools.product((1, 3, 5), repeat=r)]
    agreed = refused = 0
    for a, b in itertools.product(shapes, repeat=2):
        try:
            expected: tuple[int, ...] | None = tuple(torch.broadcast_shapes(a, b))
        except RuntimeError:
            expected = None
        try:
            got = op.infer({}, [shape_of(a), shape_of(b)], ShapeContext()).shape
        except ShapeFailure as exc:
            assert expected is None, (a, b)
            assert exc.code == "E402" and exc.hint
            refused += 1
            continue
        assert tuple(d.value for d in got) == expected, (a, b)
        fn, _ = op.function({})
        assert tuple(fn(torch.ones(a), torch.ones(b)).shape) == expected
        agreed += 1
    assert agreed > 500 and refused > 200


def test_symbolic_broadcasting_keeps_the_dims_that_must_match() -> None:
    op = REGISTRY["mul"]
    x = shape_of(["N", 16, "H", "W"])
    gate = shape_of(["N", 16, 1, 1])
    ctx = ShapeContext()
    assert format_shape(op.infer({}, [x, gate], ctx).shape) == "(N, 16, H, W)"
    assert format_shape(op.infer({}, [gate, x], ctx).shape) == "(N, 16, H, W)"
    # a per-channel scale of rank 3 aligns from the right: (16, 1, 1) against (N, 16, H, W)
    scale = shape_of([16, 1, 1])
    assert format_shape(op.infer({}, [x, scale], ctx).shape) == "(N, 16, H, W)"
    assert ctx.constraints == []
    # two symbolic sizes that are equal only for some inputs: a constraint, not a guess
    y = (Dim.of("N"), Dim.of(16), Dim.of("H") * 2 + 2, Dim.of("W"))
    op.infer({}, [y, (Dim.of("N"), Dim.of(16), Dim.of("H") * 3, Dim.of("W"))], ctx)
    (c,) = ctx.constraints
    assert c.code == "E402" and c.kind == "eq"


def test_a_gate_with_the_wrong_channels_is_located_with_a_hint() -> None:
    text = spec(
        """
        layers:
          - {name: pool, type: adaptive_avgpool2d, output_size: 1}
          - {name: fc, type: conv2d, out_channels: 8, kernel_size: 1}
          - {name: gate, type: sigmoid}
          - {name: scaled, type: mul, from: [input, gate]}
        """
    )
    result = archspec.check(text)
    (err,) = result.errors
    assert err.code == "E402" and err.span is not None
    assert (err.span.line, err.span.col) == (_line(text, "name: scaled"), 5)
    assert err.message == (
        "scaled: mul joins inputs whose channels differ: 16 vs 8 ((N, 16, H, W) * (N, 8, 1, 1))"
    )
    assert err.hint is not None and "(N, C, 1, 1)" in err.hint


def test_a_size_that_broadcasts_only_sometimes_is_a_case_of_the_domain() -> None:
    """(N, 16, H, W) * (N, 16, H // 2, W // 2): for H = 2 or 3 torch broadcasts, for larger H
    it fails. The domain states both cases of the either-or, "equal, or H // 2 at 1" (here
    only the second holds), and the product is H either way; at another size the error is
    E402 at the mul's line with both shapes named."""
    text = spec(
        """
        layers:
          - {name: pooled, type: maxpool2d, kernel_size: 2}
          - {name: scaled, type: mul, from: [input, pooled]}
        """
    )
    result = archspec.check(text)
    assert result.ok and result.domain_text.endswith("with 2 <= H <= 3 and 2 <= W <= 3")
    assert [str(d) for d in result.symbolic_outputs[0]] == ["N", "16", "H", "W"]
    # a concrete input decides: equal sizes never, so E402 with both shapes named
    concrete = text.replace("[N, 16, H, W]", "[2, 16, 8, 8]")
    (err,) = archspec.check(concrete).errors
    assert err.code == "E402" and err.span is not None
    assert err.span.line == _line(text, "name: scaled")
    assert "dim 2 differ: 8 vs 4 ((2, 16, 8, 8) * (2, 16, 4, 4))" in err.message


def test_add_keeps_its_messages() -> None:
    text = spec(
        """
        layers:
          - {name: a, type: conv2d, out_channels: 8, kernel_size: 1}
          - {name: s, type: add, from: [a, input]}
        """
    )
    (err,) = archspec.check(text).errors
    assert err.message == (
        "s: add joins inputs whose channels differ: 8 vs 16 ((N, 8, H, W) + (N, 16, H, W))"
    )
    assert err.hint is not None and err.hint.startswith("add a projection shortcut")


SE = spec(
    """
    params: {reduction: 4}
    layers:
      - {name: avgpool, type: adaptive_avgpool2d, output_size: 1}
      - {name: fc1, type: conv2d, out_channels: "in_channels // reduction", kernel_size: 1}
      - {name: relu, type: relu}
      - {name: fc2, type: conv2d, out_channels: 16, kernel_size: 1}
      - {name: scale, type: sigmoid}
      - {name: out, type: mul, from: [input, scale]}
    """,
    header="input: [N, 16, 13, 9]",
)


class HandSE(nn.Module):
    """torchvision.ops.SqueezeExcitation, written out (same attribute names as the spec)."""

    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.relu = nn.ReLU()
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.scale = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale(self.fc2(self.relu(self.fc1(self.avgpool(x)))))


def test_an_se_block_written_with_mul_matches_a_hand_written_one() -> None:
    torch.manual_seed(0)
    model = archspec.compile(SE).eval()
    hand = HandSE(16, 4).eval()
    assert list(model.state_dict()) == list(hand.state_dict())
    hand.load_state_dict(model.state_dict())
    emitted = _load(render_module(build_graph(SE)), "se").T().eval()
    emitted.load_state_dict(model.state_dict())
    for shape in [(2, 16, 13, 9), (1, 16, 1, 1), (3, 16, 7, 5)]:
        x = torch.randn(shape)
        with torch.no_grad():
            torch.testing.assert_close(model(x), hand(x), rtol=0, atol=0)
            torch.testing.assert_close(emitted(x), hand(x), rtol=0, atol=0)
    assert "x = x * scale  # (N, 16, H, W)" in render_module(build_graph(SE))


def test_mul_counts_no_macs_and_no_params() -> None:
    """MACs count convolutions and linear layers only, as torchvision's `_ops` figures."""
    s = archspec.summary(SE)
    rows = {r.name: r for r in s.rows}
    assert rows["out"].params == 0
    assert rows["out"].macs is not None and rows["out"].macs.value == 0
    assert s.example_macs == 16 * 4 + 4 * 16  # the two 1x1 convs on (1, C, 1, 1), per sample
    assert s.params == sum(p.numel() for p in HandSE(16, 4).parameters())


def test_mul_of_three_inputs_folds_left_to_right() -> None:
    text = spec(
        """
        layers:
          - {name: a, type: conv2d, out_channels: 16, kernel_size: 1}
          - {name: g, type: adaptive_avgpool2d, output_size: 1, from: input}
          - {name: p, type: mul, from: [a, g, input]}
        """,
        header="input: [N, 16, 6, 5]",
    )
    torch.manual_seed(1)
    model = archspec.compile(text).eval()
    emitted = _load(render_module(build_graph(text)), "mul3").T().eval()
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(2, 16, 6, 5)
    with torch.no_grad():
        expected = model.a(x) * nn.functional.adaptive_avg_pool2d(x, 1) * x
        torch.testing.assert_close(model(x), expected)
        torch.testing.assert_close(emitted(x), expected)


def test_a_join_where_either_side_may_be_1_says_the_shape_depends_on_the_size() -> None:
    """(N, 16, W, H) * (N, 16, H, W): at H = 1 dim 2 is W, at W = 1 it is H."""
    text = spec(
        """
        layers:
          - {name: swapped, type: permute, dims: [0, 1, 3, 2]}
          - {name: scaled, type: mul, from: [input, swapped]}
        """
    )
    (err,) = archspec.check(text).errors
    assert err.code == "E402"
    assert "are H and W: for input sizes where one of them is 1 it broadcasts, so the " in (
        err.message
    )
    assert "result's shape depends on the size" in err.message


def test_an_hrnet_exchange_states_both_cases_of_the_either_or() -> None:
    """HRNet adds a map and its half-size neighbour upsampled: equal for even sizes, and a
    1-row map broadcasts against the 2-row upsampled one. The domain says both, with no
    warning (it was a W403: only the declared input was checked)."""
    text = """archspec: 1
name: hr
input: [N, 8, 64, 64]
layers:
  - {name: lo, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
  - {name: up, type: upsample, scale_factor: 2}
  - {name: fused, type: add, from: [input, up]}
"""
    result = archspec.check(text)
    assert result.ok and not result.warnings
    assert (
        result.domain_text == "hr accepts (N, 8, H, W) with (H = 1 or even H) and (W = 1 or even W)"
    )
    assert archspec.check(text, input=(1, 8, 1, 6)).ok
    assert not archspec.check(text, input=(1, 8, 5, 6)).ok
