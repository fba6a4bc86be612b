"""A worked archspec extension: a squeeze-and-excitation layer (Hu et al., 2018).

One file holds everything archspec needs to know about a new layer kind:

- `SqueezeExciteSpec`, the fields a spec may write (a Pydantic model; `type` names the kind);
- `SqueezeExcite`, the torch module it compiles to;
- `SqueezeExciteOp`, the registry entry: shape rule, parameter and MAC counts, torch
  constructor, and the emitted-code snippet with the class definition it needs.

Use it from the command line (every command takes `--plugins`):

    archspec check --plugins se_layer.py se_resnet18.yaml

from Python:

    import archspec

    archspec.load_plugin_files(["se_layer.py"])  # or: archspec.register(SqueezeExciteOp)
    model = archspec.compile("se_resnet18.yaml")

or ship it in a package and declare it as a plugin, which archspec loads by itself:

    [project.entry-points."archspec.layers"]
    squeeze_excite = "se_layer:SqueezeExciteOp"

A spec then writes `{type: squeeze_excite, reduction: 16}` like any built-in layer. The whole
plugin API is docs/plugins.md.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import torch
from torch import nn

import archspec
from archspec.dims import Dim, Shape


class SqueezeExciteSpec(archspec.LayerSpec):
    """squeeze_excite: rescales each channel by a gate computed from its global average."""

    type: Literal["squeeze_excite"]
    reduction: archspec.Int(ge=1) = 16  # type: ignore[valid-type]
    min_channels: archspec.Int(ge=1) = 8  # type: ignore[valid-type]


class SqueezeExcite(nn.Module):
    """x * sigmoid(fc2(relu(fc1(mean over H, W of x)))), per channel, as in the paper."""

    def __init__(self, channels: int, squeeze_channels: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(channels, squeeze_channels)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Linear(squeeze_channels, channels)
        self.gate = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = self.gate(self.fc2(self.relu(self.fc1(x.mean(dim=(2, 3))))))
        return x * scale[:, :, None, None]


class SqueezeExciteOp(archspec.Op):
    """The registry entry for `type: squeeze_excite`."""

    kind = "squeeze_excite"
    spec = SqueezeExciteSpec
    inferred = ("channels", "squeeze_channels")
    torch_name = "SqueezeExcite"
    summary = "squeeze-and-excitation channel gate (example plugin)"

    def infer(
        self, attrs: dict[str, Any], inputs: Sequence[Shape], ctx: archspec.ShapeContext
    ) -> archspec.Inferred:
        """Same shape out as in; the channel count must be known to size the two fcs."""
        (x,) = inputs
        if len(x) != 4:
            raise archspec.ShapeFailure(
                "E401",
                f"squeeze_excite needs an (N, C, H, W) input, got rank {len(x)}",
                "put it after a conv2d, before any flatten",
            )
        if not x[1].is_const:
            raise archspec.ShapeFailure(
                "E406",
                f"squeeze_excite needs a known number of channels, got {x[1]}",
                "give the input's channel dimension as a number",
            )
        channels = x[1].value
        squeeze = max(attrs["min_channels"], channels // attrs["reduction"])
        return archspec.Inferred(dict(attrs, channels=channels, squeeze_channels=squeeze), tuple(x))

    def params(self, a: Mapping[str, Any]) -> int:
        c, s = a["channels"], a["squeeze_channels"]
        return (c * s + s) + (s * c + c)

    def macs(self, a: Mapping[str, Any], inputs: Sequence[Shape], out: Shape) -> Dim:
        """The two fully connected layers per sample; pooling and rescaling add none."""
        return out[0] * (2 * a["channels"] * a["squeeze_channels"])

    def build(self, a: Mapping[str, Any]) -> nn.Module:
        return SqueezeExcite(a["channels"], a["squeeze_channels"])

    def emit(self, a: Mapping[str, Any], lit: Any) -> str:
        """The constructor call in emitted source; `lit` renders literals safely."""
        return f"SqueezeExcite({lit(a['channels'])}, {lit(a['squeeze_channels'])})"

    def emit_support(self) -> str:
        """The class the call needs, written once into emitted files (they import torch only)."""
        return inspect.getsource(SqueezeExcite)
