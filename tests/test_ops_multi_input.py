"""Plugin layer kinds that take several inputs (`arity` n, or "many"): `from: [a, b]` in
order, the shape rule gets every input shape, compile and emitted source call the module
with several tensors, and a wrong number of inputs is a located E305."""

from __future__ import annotations

import inspect
import textwrap
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import pytest
import torch
from torch import nn

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module
from archspec.dims import Dim, Shape

from .emit_helpers import _load


class CrossGate(nn.Module):
    """x * sigmoid(conv1x1(g)): a gate computed from a second tensor (attention U-Net)."""

    def __init__(self, channels: int, gate_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(gate_channels, channels, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.proj(g))


class WeightedSum(nn.Module):
    """BiFPN's fast normalised fusion of n inputs: sum(w_i x_i) / (sum(w_i) + eps)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(n))

    def forward(self, *xs: torch.Tensor) -> torch.Tensor:
        w = torch.relu(self.weight)
        return sum(wi * xi for wi, xi in zip(w, xs)) / (w.sum() + 1e-4)


class CrossGateSpec(archspec.LayerSpec):
    type: Literal["test_cross_gate"]


class CrossGateOp(archspec.Op):
    kind = "test_cross_gate"
    spec = CrossGateSpec
    arity = 2
    inferred = ("channels", "gate_channels")

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: Any) -> Any:
        x, g = inputs
        for i in (2, 3):
            ctx.require_equal(g[i], x[i], "E402", "the gate's size {a} differs from {b}")
        return archspec.Inferred(
            dict(attrs, channels=x[1].value, gate_channels=g[1].value), tuple(x)
        )

    def params(self, a: Mapping[str, Any]) -> int:
        return a["gate_channels"] * a["channels"] + a["channels"]

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        n, _, h, w = out
        return n * h * w * (a["gate_channels"] * a["channels"])

    def build(self, a: Mapping[str, Any]) -> nn.Module:
        return CrossGate(a["channels"], a["gate_channels"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"CrossGate({lit(a['channels'])}, {lit(a['gate_channels'])})"

    def emit_support(self) -> str:
        return inspect.getsource(CrossGate) + "\n\n" + inspect.getsource(WeightedSum)


class WeightedSumSpec(archspec.LayerSpec):
    type: Literal["test_weighted_sum"]


class WeightedSumOp(archspec.Op):
    kind = "test_weighted_sum"
    spec = WeightedSumSpec
    arity = "many"
    inferred = ("n",)

    def infer(self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: Any) -> Any:
        first = inputs[0]
        for other in inputs[1:]:
            for a, b in zip(first, other):
                ctx.require_equal(b, a, "E402", "fused inputs differ: {a} vs {b}")
        return archspec.Inferred(dict(attrs, n=len(inputs)), tuple(first))

    def params(self, a: Mapping[str, Any]) -> int:
        return a["n"]

    def build(self, a: Mapping[str, Any]) -> nn.Module:
        return WeightedSum(a["n"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"WeightedSum({lit(a['n'])})"

    def emit_support(self) -> str:
        return inspect.getsource(CrossGate) + "\n\n" + inspect.getsource(WeightedSum)


@pytest.fixture
def multi_ops() -> Iterator[None]:
    archspec.register(CrossGateOp)
    archspec.register(WeightedSumOp)
    yield
    archspec.unregister("test_cross_gate")
    archspec.unregister("test_weighted_sum")


SPEC = """\
archspec: 1
name: fused
input: [N, 8, H, W]
blocks:
  Gated:
    params: {c: int}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
      - {name: side, type: conv2d, out_channels: 4, kernel_size: 1, from: input}
      - {name: gate, type: test_cross_gate, from: [conv, side]}
layers:
  - {name: a, type: Gated, c: 8}
  - {name: b, type: Gated, c: 8, from: input}
  - {name: fuse, type: test_weighted_sum, from: [a, b, input]}
  - {name: g2, type: test_cross_gate, from: [fuse, b]}
"""


@pytest.mark.usefixtures("multi_ops")
def test_a_multi_input_plugin_runs_end_to_end() -> None:
    torch.manual_seed(0)
    model = archspec.compile(SPEC).eval()
    with torch.no_grad():
        model.fuse.weight.copy_(torch.tensor([0.5, 2.0, 1.0]))
    graph = build_graph(SPEC)
    source = render_module(graph)
    assert "fuse = self.fuse(a, b, x)" in source
    assert "x = self.gate(conv, side)" in source
    assert "x = self.g2(fuse, b)" in source
    emitted = _load(source, "fused").Fused().eval()
    emitted.load_state_dict(model.state_dict())
    summary = archspec.summary(SPEC)
    assert summary.params == sum(p.numel() for p in model.parameters())
    assert summary.params == 2 * (8 * 8 * 9 + 8 + 8 * 4 + 4 + 4 * 8 + 8) + 3 + (8 * 8 + 8)
    for h, w in [(5, 7), (1, 1), (6, 3)]:
        x = torch.randn(2, 8, h, w)
        with torch.no_grad():
            blocks = [mod.gate(mod.conv(x), mod.side(x)) for mod in (model.a, model.b)]
            w_ = torch.relu(model.fuse.weight)
            fused = (w_[0] * blocks[0] + w_[1] * blocks[1] + w_[2] * x) / (w_.sum() + 1e-4)
            expected = model.g2(fused, blocks[1])
            torch.testing.assert_close(model(x), expected)
            torch.testing.assert_close(emitted(x), model(x), rtol=0, atol=0)


def _line(text: str, needle: str) -> int:
    return next(i for i, ln in enumerate(text.splitlines(), 1) if needle in ln)


@pytest.mark.usefixtures("multi_ops")
@pytest.mark.parametrize(
    ("layer", "message"),
    [
        (
            "{name: bad, type: test_cross_gate, from: [input, input, c]}",
            "takes 2 inputs, `from` names 3",
        ),
        ("{name: bad, type: test_cross_gate, from: c}", "takes 2 inputs, `from` names 1"),
        ("{name: bad, type: test_cross_gate}", "takes 2 inputs, `from` names 1"),
        ("{name: bad, type: test_weighted_sum}", "joins several inputs"),
    ],
)
def test_a_wrong_number_of_inputs_is_e305_at_the_layer(layer: str, message: str) -> None:
    text = textwrap.dedent(
        f"""\
        archspec: 1
        name: t
        input: [N, 8, 4, 4]
        layers:
          - {{name: c, type: conv2d, out_channels: 8, kernel_size: 1}}
          - {layer}
        """
    )
    (err,) = archspec.check(text).errors
    assert err.code == "E305" and err.span is not None
    assert err.span.line == _line(text, "name: bad")
    assert message in err.message and err.hint


@pytest.mark.usefixtures("multi_ops")
def test_the_shape_rule_sees_every_input() -> None:
    text = textwrap.dedent(
        """\
        archspec: 1
        name: t
        input: [N, 8, 8, 8]
        layers:
          - {name: small, type: maxpool2d, kernel_size: 2}
          - {name: bad, type: test_cross_gate, from: [input, small]}
        """
    )
    (err,) = archspec.check(text).errors
    assert err.code == "E402" and "the gate's size 4 differs from 8" in err.message


def test_arity_is_checked_at_registration() -> None:
    for bad in (0, -1, True, "two", 2.0):

        class Bad(CrossGateOp):
            arity = bad  # type: ignore[assignment]

        with pytest.raises(TypeError, match="arity"):
            archspec.register(Bad)
        assert "test_cross_gate" not in archspec.ops.REGISTRY
