"""Parameters keyed `kernels.0` or `scales.cls`: entries of an nn.ParameterList or
nn.ParameterDict of the module, as torchrec's CrossNet holds its `kernels` and `bias`, in
compiled modules and emitted source alike, their keys checked against every other."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from tests.ops_cases import same_as_emitted

HEAD = "archspec: 1\nname: net\ninput: [N, 4, 1]\nlayers:\n"

#: torchrec's CrossNet: x_{l+1} = x_0 * (W_l x_l + b_l) + x_l, W_l `kernels.l`, b_l `bias.l`
CROSS = (
    HEAD
    + """\
  - {name: x_0, type: identity}
  - type: repeat
    count: 2
    flat: true
    names: [null, null, "xl_w{i}", "biased{i}", "crossed{i}", "x_{i + 1}"]
    layers:
      - {type: parameter, key: "kernels.{i}", shape: [4, 4], init: normal}
      - {type: parameter, key: "bias.{i}", shape: [4, 1], init: normal}
      - {type: matmul, from: ["kernels.{i}", "x_{i}"]}
      - {type: add, from: ["xl_w{i}", "bias.{i}"]}
      - {type: mul, from: [x_0, "biased{i}"]}
      - {type: add, from: ["crossed{i}", "x_{i}"]}
  - {key: scales.out, type: parameter, shape: [4, 1], value: 2.0}
  - {name: scaled, type: mul, from: [x_2, scales.out]}
"""
)


def test_keys_make_parameter_lists_and_dicts_compiled_and_emitted() -> None:
    assert archspec.check(CROSS).ok, archspec.check(CROSS).errors
    model = archspec.compile(CROSS)
    keys = ["kernels.0", "bias.0", "kernels.1", "bias.1", "scales.out"]
    assert sorted(model.state_dict()) == sorted(keys)
    assert isinstance(model.kernels, nn.ParameterList) and len(model.kernels) == 2
    assert isinstance(model.scales, nn.ParameterDict)
    assert sum(p.numel() for p in model.parameters()) == 2 * (16 + 4) + 4
    x = torch.randn(3, 4, 1)
    sd = model.state_dict()
    want = x
    for i in range(2):
        want = x * (sd[f"kernels.{i}"] @ want + sd[f"bias.{i}"]) + want
    torch.testing.assert_close(model(x), want * sd["scales.out"])
    source = archspec.emit(CROSS)
    assert "nn.ParameterList()" in source and "nn.ParameterDict()" in source
    assert "self.kernels[0]" in source or "self.kernels[i]" in source
    same_as_emitted(CROSS, x)


BAD = [
    # a node named as the container its entries make
    (
        "  - {name: kernels, type: identity}\n  - {key: kernels.0, type: parameter, shape: [1]}\n",
        "E304",
    ),
    # the same entry twice
    (
        "  - {key: w.0, type: parameter, shape: [1]}\n"
        "  - {key: w.0, type: parameter, shape: [1]}\n",
        "E304",
    ),
    # a container of modules given a parameter, and one of parameters given a module
    (
        "  - {key: convs.0, type: linear, out_features: 1}\n"
        "  - {key: convs.1, type: parameter, shape: [1]}\n",
        "E304",
    ),
    (
        "  - {key: ws.0, type: parameter, shape: [1]}\n"
        "  - {key: ws.1, type: linear, out_features: 1}\n",
        "E304",
    ),
    # an index skipped: a ParameterList has nothing to put there
    ("  - {key: ws.1, type: parameter, shape: [1]}\n", "E204"),
    # a method of nn.ParameterDict
    ("  - {key: ws.get, type: parameter, shape: [1]}\n", "E204"),
    # a buffer: torch has no list of buffers
    ("  - {key: bs.0, type: buffer, shape: [1]}\n", "E204"),
]


@pytest.mark.parametrize(("layers", "code"), BAD)
def test_key_collisions_are_located(layers: str, code: str) -> None:
    errors = archspec.check(HEAD + layers).errors
    assert [e.code for e in errors] == [code], errors
    (err,) = errors
    assert err.span is not None and err.span.line == 4 + layers.count("\n")
    assert err.hint


class _TorchrecCrossNet(nn.Module):
    """torchrec.modules.crossnet.CrossNet as torchrec writes it (torchrec is no dependency)."""

    def __init__(self, in_features: int, num_layers: int) -> None:
        super().__init__()
        self._num_layers = num_layers
        self.kernels = nn.ParameterList(
            [nn.Parameter(torch.randn(in_features, in_features)) for _ in range(num_layers)]
        )
        self.bias = nn.ParameterList(
            [nn.Parameter(torch.randn(in_features, 1)) for _ in range(num_layers)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_0 = x.unsqueeze(2)
        x_l = x_0
        for layer in range(self._num_layers):
            xl_w = torch.matmul(self.kernels[layer], x_l)
            x_l = x_0 * (xl_w + self.bias[layer]) + x_l
        return torch.squeeze(x_l, dim=2)


def test_torchrec_crossnet_loads_strictly_both_ways() -> None:
    text = CROSS.replace("input: [N, 4, 1]", "input: [N, 4]").replace(
        "  - {name: x_0, type: identity}", "  - {name: x_0, type: unsqueeze, dim: 2}"
    )
    text = text.split("  - {key: scales.out")[0] + "  - {name: out, type: squeeze, dim: 2}\n"
    model, ref = archspec.compile(text), _TorchrecCrossNet(4, 2)
    assert list(model.state_dict()) == list(ref.state_dict())
    model.load_state_dict(ref.state_dict(), strict=True)
    ref.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(3, 4)
    torch.testing.assert_close(model(x), ref(x))
