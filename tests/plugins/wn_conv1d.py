"""A Conv1d under torch's weight_norm parametrization as a plugin kind, written from docs/plugins.md
(docs/porting.md: weight normalisation has no built-in form): locuslab's TCN with its weight
norm, tests/test_newuser38_hints.py."""

from __future__ import annotations

from typing import Literal

import archspec


class WnConv1dSpec(archspec.LayerSpec):
    """wn_conv1d: nn.utils.parametrizations.weight_norm(nn.Conv1d(...))."""

    type: Literal["wn_conv1d"]
    out_channels: archspec.Int(ge=1)  # type: ignore[valid-type]
    kernel_size: archspec.Int(ge=1)  # type: ignore[valid-type]
    padding: archspec.Int(ge=0) = 0  # type: ignore[valid-type]
    dilation: archspec.Int(ge=1) = 1  # type: ignore[valid-type]


class WnConv1dOp(archspec.Op):
    kind = "wn_conv1d"
    spec = WnConv1dSpec
    inferred = ("in_channels",)
    torch_name = "Conv1d"
    summary = "a weight-normalised Conv1d"
    category = "conv"

    def infer(self, attrs, inputs, ctx):
        (x,) = inputs
        if len(x) != 3 or not x[1].is_const:
            raise archspec.ShapeFailure("E401", "wn_conv1d needs an (N, C, L) input with known C")
        k, p, d = attrs["kernel_size"], attrs["padding"], attrs["dilation"]
        length = x[2] + 2 * p - d * (k - 1)
        ctx.require_positive(length, "E405", "wn_conv1d makes the length {d}")
        return archspec.Inferred(
            dict(attrs, in_channels=x[1].value), (x[0], attrs["out_channels"], length)
        )

    def params(self, a):
        return a["out_channels"] * a["in_channels"] * a["kernel_size"] + 2 * a["out_channels"]

    def build(self, a):
        from torch import nn

        conv = nn.Conv1d(
            a["in_channels"],
            a["out_channels"],
            a["kernel_size"],
            padding=a["padding"],
            dilation=a["dilation"],
        )
        return nn.utils.parametrizations.weight_norm(conv)

    def emit(self, a, lit):
        return (
            f"nn.utils.parametrizations.weight_norm(nn.Conv1d({lit(a['in_channels'])}, "
            f"{lit(a['out_channels'])}, {lit(a['kernel_size'])}, padding={lit(a['padding'])}, "
            f"dilation={lit(a['dilation'])}))"
        )
