"""A `parameter` of `shape: []`: one learned number, a 0-d tensor, as timm's NFNets hold
`skipinit_gain = nn.Parameter(torch.tensor(0.))`. It was E409 ('needs at least one size')
in a spec and E904 in `archspec import`; it checks, compiles and emits with the state_dict
entry of shape () that torch's module has, broadcasts in merges, and imports exactly."""

from __future__ import annotations

import torch
from torch import nn

import archspec
from tests.ops_cases import emitted, param_count, same_as_emitted

SPEC = """\
archspec: 1
name: gains
input: [N, 4, 8, 8]
blocks:
  Gained:
    params: {c: int, g0: 0.25}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
      - {name: skipinit_gain, type: parameter, shape: [], value: g0}
      - {name: noise, type: parameter, shape: [], init: trunc_normal, std: 0.5}
      - {name: w, type: parameter, shape: [], init: normal, mean: 1.0}
      - {name: gained, type: mul, from: [conv, skipinit_gain]}
      - {name: both, type: add, from: [noise, w]}
      - {name: out, type: add, from: [gained, both]}
layers:
  - {name: b0, type: Gained, c: 4}
  - {name: b1, type: Gained, c: 6, g0: 1.0}
  - {name: zero, type: parameter, shape: []}
  - {name: out, type: mul, from: [b1, zero]}
"""


def test_a_0d_parameter_checks_with_the_shape_of_what_it_scales() -> None:
    report = archspec.check(SPEC, input=(2, 4, 8, 8))
    assert report.ok
    assert [tuple(int(d) for d in s) for s in report.outputs] == [(2, 6, 8, 8)]
    assert report.shapes["b0.skipinit_gain"] == () and report.shapes["b0.both"] == ()
    assert tuple(report.shapes["b0.gained"]) == tuple(report.shapes["b0.conv"])


def test_a_0d_parameter_compiles_to_a_0d_state_dict_entry_with_its_value() -> None:
    model = archspec.compile(SPEC)
    state = model.state_dict()
    scalars = {k: v for k, v in state.items() if v.dim() == 0}
    assert list(scalars) == [
        "zero",
        "b0.skipinit_gain",
        "b0.noise",
        "b0.w",
        "b1.skipinit_gain",
        "b1.noise",
        "b1.w",
    ]
    assert float(state["b0.skipinit_gain"]) == 0.25 and float(state["b1.skipinit_gain"]) == 1.0
    assert float(state["zero"]) == 0.0
    assert param_count(SPEC) == (sum(p.numel() for p in model.parameters()),) * 2


def test_a_0d_parameter_is_emitted_as_torch_writes_it_and_computes_the_same() -> None:
    source = archspec.emit(SPEC)
    assert "self.skipinit_gain = nn.Parameter(torch.ones(()) * g0)" in source
    assert "self.zero = nn.Parameter(torch.zeros(()))" in source
    assert "nn.Parameter(torch.empty(()).normal_(mean=1.0))" in source
    other = emitted(SPEC)
    model = archspec.compile(SPEC)
    ours = [(k, v.shape) for k, v in model.state_dict().items()]
    assert [(k, v.shape) for k, v in other.state_dict().items()] == ours
    torch.manual_seed(3)
    same_as_emitted(SPEC, torch.randn(2, 4, 8, 8))


class SkipInit(nn.Module):
    """NFNet's block end without its in-place step: `out * self.skipinit_gain + x`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 3, padding=1)
        self.skipinit_gain = nn.Parameter(torch.tensor(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x) * self.skipinit_gain + x


def test_a_0d_parameter_imports_exactly() -> None:
    model = nn.Sequential(SkipInit(), nn.Conv2d(3, 3, 1), SkipInit()).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_()
    x = torch.randn(2, 3, 8, 8)
    text = archspec.from_module(model, x)
    assert "{name: skipinit_gain, type: parameter, shape: []}" in text
    twin = archspec.compile(text).eval()
    ours = [(k, v.shape) for k, v in twin.state_dict().items()]
    assert ours == [(k, v.shape) for k, v in model.state_dict().items()]
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(twin(x), model(x))
        other = emitted(text)
        other.load_state_dict(model.state_dict(), strict=True)
        assert torch.equal(other.eval()(x), model(x))


def test_a_0d_buffer_is_still_refused_at_its_shape() -> None:
    text = SPEC.replace(
        "{name: zero, type: parameter, shape: []}", "{name: zero, type: buffer, shape: []}"
    )
    report = archspec.check(text)
    assert not report.ok
    assert [d.code for d in report.diagnostics] == ["E409"]
    assert "at least one size" in report.diagnostics[0].message
