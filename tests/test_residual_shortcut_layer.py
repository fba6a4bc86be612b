"""A residual's shortcut as one layer (`shortcut: {layer: ...}`): the layer is the shortcut
module itself, `downsample.weight` rather than `downsample.0.weight`, as locuslab's TCN
(`self.downsample = nn.Conv1d(n_inputs, n_outputs, 1) if n_inputs != n_outputs else None`)
and many hand-written ResNets register it; `layers:` keeps the Sequential."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

import archspec

from .emit_helpers import _load

TCN = textwrap.dedent(
    """
    archspec: 1
    name: tcn
    input: [N, 16, L]
    params:
      channels: [32, 32, 64]
    blocks:
      TemporalBlock:
        params: {out: int, dilation: int}
        layers:
          - type: residual
            body:
              - {name: pad, type: zero_pad1d, padding: ["2 * dilation", 0]}
              - {name: conv1, type: conv1d, out_channels: out, kernel_size: 3, dilation: dilation}
              - {name: relu1, type: relu}
              - {name: pad2, type: reuse, node: pad}
              - {name: conv2, type: conv1d, out_channels: out, kernel_size: 3, dilation: dilation}
              - {name: relu2, type: relu}
            shortcut:
              when: in_channels != out
              layer: {type: conv1d, out_channels: out, kernel_size: 1}
            activation: relu
    layers:
      - name: network
        type: repeat
        count: len(channels)
        layer: {type: TemporalBlock, out: "channels[i]", dilation: 2 ** i}
    """
)


class TemporalBlock(nn.Module):
    """locuslab/TCN's block (without its weight norm and dropout), as written there."""

    def __init__(self, n_in: int, n_out: int, dilation: int) -> None:
        super().__init__()
        self.pad = nn.ZeroPad1d((2 * dilation, 0))
        self.conv1 = nn.Conv1d(n_in, n_out, 3, dilation=dilation)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv1d(n_out, n_out, 3, dilation=dilation)
        self.relu2 = nn.ReLU()
        self.downsample = nn.Conv1d(n_in, n_out, 1) if n_in != n_out else None
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu2(self.conv2(self.pad(self.relu1(self.conv1(self.pad(x))))))
        res = x if self.downsample is None else self.downsample(x)
        return self.relu(out + res)


class Tcn(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        chans = [16, 32, 32, 64]
        self.network = nn.Sequential(
            *(TemporalBlock(chans[i], chans[i + 1], 2**i) for i in range(3))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.network(x)


def test_a_one_layer_shortcut_is_the_module_its_keys_name() -> None:
    torch.manual_seed(0)
    ref = Tcn().eval()
    model = archspec.compile(TCN).eval()
    assert [(k, v.shape) for k, v in model.state_dict().items()] == [
        (k, v.shape) for k, v in ref.state_dict().items()
    ]
    assert "network.0.downsample.weight" in model.state_dict()  # not downsample.0.weight
    assert "network.1.downsample.weight" not in model.state_dict()  # 32 -> 32: the identity
    model.load_state_dict(ref.state_dict(), strict=True)
    emitted = _load(archspec.emit(TCN), "tcn").Tcn().eval()
    emitted.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 16, 37)
    with torch.no_grad():
        want = ref(x)
        torch.testing.assert_close(model(x), want, rtol=0, atol=0)
        torch.testing.assert_close(emitted(x), want, rtol=0, atol=0)
    result = archspec.check(TCN)
    assert result.ok and "L >= 1" in result.domain_text


def test_a_one_layer_shortcut_registered_first() -> None:
    """`first: true` registers the one layer before the body, as `layers:` would."""
    text = textwrap.dedent(
        """
        archspec: 1
        name: t
        input: [N, 8, 16, 16]
        layers:
          - type: residual
            body:
              - {name: conv, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1}
            shortcut:
              {name: proj, first: true, layer: {type: conv2d, out_channels: 16, kernel_size: 1}}
        """
    )
    keys = list(archspec.compile(text).state_dict())
    assert keys == ["proj.weight", "proj.bias", "conv.weight", "conv.bias"]


@pytest.mark.parametrize(
    ("shortcut", "says"),
    [
        (
            "{layers: [{type: conv1d, out_channels: 4, kernel_size: 1}], "
            "layer: {type: conv1d, out_channels: 4, kernel_size: 1}}",
            "give one of the two",
        ),
        ("{when: true}", "give one of the two"),
        ("{layer: {name: proj, type: conv1d, out_channels: 4, kernel_size: 1}}", "no `name`"),
        ("{layer: {type: conv1d, out_channels: 4, kernel_size: 1, from: input}}", "no `from`"),
        ("{layer: {type: conv1d, out_channels: 4, kernel_size: 1, when: true}}", "no `when`"),
    ],
)
def test_a_shortcut_takes_layers_or_one_layer_of_its_own_name(shortcut: str, says: str) -> None:
    text = (
        "archspec: 1\nname: t\ninput: [N, 2, L]\nlayers:\n  - type: residual\n"
        "    body: [{type: conv1d, out_channels: 4, kernel_size: 1}]\n"
        f"    shortcut: {shortcut}\n"
    )
    (err,) = archspec.check(text).errors
    assert err.code == "E204" and says in err.message
    assert err.span is not None and err.span.line == 7
