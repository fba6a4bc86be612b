"""A module layer plugin whose `emit_support` class uses a name its file imports (`comb`),
as a first BlurPool2d port did: archspec.compile builds it, the emitted file (which imports
torch alone) cannot."""

from __future__ import annotations

import inspect
from math import comb
from typing import Any, Literal

import torch
from torch import nn

import archspec


class Binomial(nn.Module):
    """Scales its input by C(2, 1) / 4 = 0.5."""

    def __init__(self) -> None:
        super().__init__()
        self.factor = comb(2, 1) / 4

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.factor


class BinomialSpec(archspec.LayerSpec):
    """binomial: halves its input (test plugin)."""

    type: Literal["binomial"]


class BinomialOp(archspec.Op):
    kind = "binomial"
    spec = BinomialSpec
    summary = "x * 0.5 (test plugin whose emitted support needs an import)"

    def infer(self, attrs: dict[str, Any], inputs: Any, ctx: Any) -> archspec.Inferred:
        return archspec.Inferred(attrs, tuple(inputs[0]))

    def build(self, a: Any) -> nn.Module:
        return Binomial()

    def emit(self, a: Any, lit: Any) -> str:
        return "Binomial()"

    def emit_support(self) -> str:
        return inspect.getsource(Binomial)
