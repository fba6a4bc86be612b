"""A two-input layer plugin for `--plugins` (tests/test_plugins_cli.py): `x * sigmoid(conv1x1(g))`.

`from: [x, g]` gives the tensor and the gate's source; their channel counts may differ, their
sizes must not. It imports torch at the top, as most plugins will: `archspec check` with this
file loaded imports torch too (tests/plugins/blend.py shows how to avoid that).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

import archspec
from archspec.dims import Dim, Shape


class PairGate(nn.Module):
    """x * sigmoid(proj(g)): a gate computed from a second tensor (attention U-Net)."""

    def __init__(self, channels: int, gate_channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(gate_channels, channels, 1)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.proj(g))


class PairGateSpec(archspec.LayerSpec):
    """pair_gate: gates its first input by a 1x1 projection of its second."""

    type: Literal["pair_gate"]


class PairGateOp(archspec.Op):
    kind = "pair_gate"
    spec = PairGateSpec
    arity = 2
    inferred = ("channels", "gate_channels")
    torch_name = "PairGate"
    summary = "x * sigmoid(conv1x1(g)) (test plugin, two inputs)"

    def infer(
        self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: archspec.ShapeContext
    ) -> archspec.Inferred:
        x, g = inputs
        if len(x) != 4 or len(g) != 4:
            raise archspec.ShapeFailure("E401", "pair_gate needs two (N, C, H, W) inputs")
        for i in (2, 3):
            ctx.require_equal(g[i], x[i], "E402", "the gate's size {a} differs from {b}")
        if not (x[1].is_const and g[1].is_const):
            raise archspec.ShapeFailure("E406", "pair_gate needs known channel counts")
        attrs = dict(attrs, channels=x[1].value, gate_channels=g[1].value)
        return archspec.Inferred(attrs, tuple(x))

    def params(self, a: Mapping[str, Any]) -> int:
        return a["gate_channels"] * a["channels"] + a["channels"]

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        n, _, h, w = out
        return n * h * w * (a["gate_channels"] * a["channels"])

    def build(self, a: Mapping[str, Any]) -> nn.Module:
        return PairGate(a["channels"], a["gate_channels"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        return f"PairGate({lit(a['channels'])}, {lit(a['gate_channels'])})"

    def emit_support(self) -> str:
        return inspect.getsource(PairGate)
