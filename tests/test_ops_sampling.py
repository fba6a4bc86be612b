"""affine_grid and grid_sample (ops/sampling.py), the spatial transformer: shapes, the errors
at check time, compile and emit against torch's functions, and PyTorch's STN tutorial through
`archspec import` (importer/sampling.py)."""

from __future__ import annotations

import types

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer_timm25 import round_trip_and_emit

SPEC = """\
archspec: 1
name: stn
input: [N, 1, 28, 28]
layers:
  - {name: loc, type: conv2d, out_channels: 8, kernel_size: 7}
  - {type: maxpool2d, kernel_size: 2}
  - {type: relu}
  - {type: flatten}
  - {name: fc_loc, type: linear, out_features: 6}
  - {name: theta, type: reshape, shape: [-1, 2, 3]}
  - {name: grid, type: affine_grid, from: [theta, input]}
  - {name: out, type: grid_sample, from: [input, grid], padding_mode: border}
"""


def _emitted() -> nn.Module:
    module = types.ModuleType("emitted_stn")
    exec(compile(archspec.emit(SPEC), "<emitted>", "exec"), module.__dict__)
    return module.Stn()


def test_compile_and_emit_sample_as_torch_does() -> None:
    result = archspec.check(SPEC)
    assert result.ok and [str(d) for d in result.outputs[0]] == ["N", "1", "28", "28"]
    ours, emitted = archspec.compile(SPEC).eval(), _emitted().eval()
    emitted.load_state_dict(ours.state_dict())
    x = torch.randn(3, 1, 28, 28)
    theta = ours.fc_loc(F.relu(F.max_pool2d(ours.loc(x), 2)).flatten(1)).view(-1, 2, 3)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    want = F.grid_sample(x, grid, padding_mode="border", align_corners=False)
    with torch.no_grad():
        assert torch.equal(ours(x), want.detach()) and torch.equal(emitted(x), ours(x))


BICUBIC_5D = """\
archspec: 1
name: bad
input: [N, 1, 4, 4, 4]
layers:
  - {type: flatten}
  - {type: linear, out_features: 12}
  - {name: r, type: reshape, shape: [-1, 3, 4]}
  - {name: g, type: affine_grid, from: [r, input]}
  - {type: grid_sample, from: [input, g], mode: bicubic}
"""


@pytest.mark.parametrize(
    ("text", "code", "words"),
    [
        (SPEC.replace("from: [theta, input]", "from: [input, input]"), "E401", "theta (N, 2, 3)"),
        (SPEC.replace("from: [input, grid]", "from: [input, input]"), "E401", "(N, Ho, Wo, 2)"),
        (BICUBIC_5D, "E409", "4-d maps only"),
    ],
)
def test_refused_at_check_time(text: str, code: str, words: str) -> None:
    errors = archspec.check(text).errors
    assert [d.code for d in errors] == [code] and words in errors[0].message
    assert errors[0].span is not None


class Net(nn.Module):
    """PyTorch's spatial transformer tutorial, its localisation net made smaller."""

    def __init__(self) -> None:
        super().__init__()
        self.localization = nn.Sequential(nn.Conv2d(1, 8, 7), nn.MaxPool2d(2, 2), nn.ReLU(True))
        self.fc_loc = nn.Sequential(nn.Linear(8 * 11 * 11, 32), nn.ReLU(True), nn.Linear(32, 6))
        self.conv = nn.Conv2d(1, 4, 5)
        self.fc = nn.Linear(4 * 12 * 12, 10)

    def stn(self, x: torch.Tensor) -> torch.Tensor:
        xs = self.localization(x).view(-1, 8 * 11 * 11)
        theta = self.fc_loc(xs).view(-1, 2, 3)
        grid = F.affine_grid(theta, x.size(), align_corners=False)
        return F.grid_sample(x, grid, align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv(self.stn(x))), 2)
        return F.log_softmax(self.fc(x.view(-1, 4 * 12 * 12)), dim=1)


def test_the_stn_tutorial_imports_exactly() -> None:
    text = round_trip_and_emit(Net().eval(), (2, 1, 28, 28))
    kinds = [v["type"] for v in yaml.safe_load(text)["layers"]]
    assert {"affine_grid", "grid_sample"} <= set(kinds)


class WrittenSize(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        theta = self.fc(x.flatten(1)).view(-1, 2, 3)
        return F.affine_grid(theta, [1, 1, 2, 2], align_corners=False)  # sizes as numbers


def test_a_grid_over_sizes_written_out_stays_refused() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(WrittenSize(), torch.rand(1, 1, 2, 2))
    assert err.value.diagnostics[0].code == "E903"
    assert "affine_grid" in err.value.diagnostics[0].message
