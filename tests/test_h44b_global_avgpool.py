"""`global_avgpool1d/2d/3d`: the average over the whole map as code written before adaptive
pools computes it, `F.avg_pool2d(x, x.shape[2:])` (CBAM's ChannelGate, torchaudio's M5).
torch's window kernel adds in another order than `F.adaptive_avg_pool2d(x, 1)` and
`x.mean([2, 3])`, so those differ from it in the last bit at most sizes: the kind computes
torch's own call, in compiled and emitted code, and `archspec import` reads such a pool as it
(where it read an adaptive pool, close but not equal)."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import archspec
from tests.test_importer_timm25 import round_trip_and_emit

SPEC = """\
archspec: 1
name: whole_pools
inputs:
  a: [N, 4, L]
  b: [N, 4, H, W]
  c: [N, 4, D, H2, W2]
layers:
  - {name: pa, type: global_avgpool1d, from: a}
  - {name: pb, type: global_avgpool2d, from: b}
  - {name: pc, type: global_avgpool3d, from: c}
outputs: [pa, pb, pc]
"""


def _inputs(seed: int = 3) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(seed)
    shapes = [(2, 4, 37), (2, 4, 7, 6), (2, 4, 3, 5, 4)]
    return tuple(torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes)


def _torchs(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> tuple[torch.Tensor, ...]:
    return F.avg_pool1d(a, a.shape[2:]), F.avg_pool2d(b, b.shape[2:]), F.avg_pool3d(c, c.shape[2:])


def test_the_kinds_are_torchs_whole_window_pools_to_the_bit(tmp_path: Path) -> None:
    path = tmp_path / "whole_pools.yaml"
    path.write_text(SPEC, encoding="utf-8")
    report = archspec.check(str(path))
    assert report.ok, report.diagnostics
    outputs = [tuple(str(d) for d in shape) for shape in report.outputs]
    assert outputs == [("N", "4", "1"), ("N", "4", "1", "1"), ("N", "4", "1", "1", "1")]
    model = archspec.compile(str(path)).double()
    source = archspec.emit(str(path))
    assert "F.avg_pool2d(b, b.shape[2:])" in source
    module = types.ModuleType("emitted_whole_pools")
    exec(compile(source, "<emitted>", "exec"), module.__dict__)
    emitted = module.WholePools().double()
    x = _inputs()
    want = _torchs(*x)
    # the adaptive pool rounds otherwise here: the kind is not it under another name
    assert not torch.equal(F.adaptive_avg_pool2d(x[1], 1), want[1])
    for got in (model(*x), emitted(*x)):
        assert all(torch.equal(g, w) for g, w in zip(got, want, strict=True))


def test_an_input_of_another_rank_is_refused_at_the_layer() -> None:
    rank = {"archspec": 1, "name": "r", "input": ["N", 4, 8],
            "layers": [{"type": "global_avgpool2d"}]}  # fmt: skip
    report = archspec.check(rank)
    assert [d.code for d in report.errors] == ["E401"]
    assert "global_avgpool2d needs a rank-4 input" in report.errors[0].message


class ChannelGate(nn.Module):
    """CBAM's channel attention as its authors wrote it: pools whose window is the map."""

    def __init__(self) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(8, 2), nn.ReLU(), nn.Linear(2, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.size(2), x.size(3))
        avg = self.mlp(F.avg_pool2d(x, size, stride=size))
        most = self.mlp(F.max_pool2d(x, size, stride=size))
        return x * torch.sigmoid(avg + most).unsqueeze(2).unsqueeze(3)


class Waveform(nn.Module):
    """torchaudio's M5 tail: `F.avg_pool1d(x, x.shape[-1])`."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(2, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return F.avg_pool1d(y, y.shape[-1]).squeeze(-1)


@pytest.mark.parametrize(
    ("model", "shapes"),
    [(ChannelGate(), [(2, 8, 7, 6), (1, 8, 5, 9)]), (Waveform(), [(2, 2, 40), (1, 2, 23)])],
    ids=["cbam_channel_gate", "m5_tail"],
)
def test_import_reads_a_whole_window_average_as_the_kind_equal_to_the_bit(
    model: nn.Module, shapes: list[tuple[int, ...]]
) -> None:
    model = model.double().eval()
    text = round_trip_and_emit(model.float(), shapes[0])
    kinds = [item["type"] for item in yaml.safe_load(text)["layers"]]
    assert any(k.startswith("global_avgpool") for k in kinds), kinds
    assert not any(k.startswith("adaptive_avgpool") for k in kinds), kinds
    twin = archspec.compile(text).double().eval()
    model.double()
    twin.load_state_dict(model.state_dict())
    gen = torch.Generator().manual_seed(5)
    for shape in shapes:
        x = torch.randn(shape, generator=gen, dtype=torch.float64)
        with torch.no_grad():
            assert torch.equal(twin(x), model(x))
