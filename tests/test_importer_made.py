"""Tensors a forward makes where its input is (importer/casts.py): `torch.eye(3,
dtype=x.dtype, device=x.device)`, `torch.zeros(...)`, `torch.ones(...)` with sizes as numbers
are buffers no state_dict holds, with that fill; `t.repeat(x.size(0), 1)` of a one-row `t` the
input does not reach is an `expand` over the batch (shapes.py). PointNet's T-Net, which adds
a flattened identity to its output, imports whole."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer_timm25 import round_trip_and_emit


class TNet(nn.Module):
    """PointNet's input transform: a k x k matrix per cloud, the identity added."""

    def __init__(self, k: int = 3) -> None:
        super().__init__()
        self.k = k
        self.conv = nn.Conv1d(k, 32, 1)
        self.bn = nn.BatchNorm1d(32)
        self.fc = nn.Linear(32, k * k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.size(0)
        y = torch.max(F.relu(self.bn(self.conv(x))), 2, keepdim=True)[0].view(-1, 32)
        y = self.fc(y)
        iden = torch.eye(self.k, dtype=y.dtype, device=y.device).flatten().view(1, -1)
        return (y + iden.repeat(b, 1)).view(-1, self.k, self.k)


class PointNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stn = TNet()
        self.conv = nn.Conv1d(3, 16, 1)
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        trans = self.stn(x)
        x = torch.bmm(x.transpose(2, 1), trans).transpose(2, 1)
        return F.log_softmax(self.fc(torch.max(F.relu(self.conv(x)), 2)[0]), dim=1)


def test_pointnet_with_its_t_net_imports_for_any_cloud() -> None:
    model = PointNet().eval()
    text = round_trip_and_emit(model, (2, 3, 24))
    spec = yaml.safe_load(text)
    tnet = spec["blocks"]["TNet"]["layers"]
    (eye,) = [v for v in tnet if v["type"] == "buffer"]
    assert eye["fill"] == "eye" and eye["shape"] == [3, 3] and eye["persistent"] is False
    assert "expand" in [v["type"] for v in tnet]
    assert list(archspec.compile(text).state_dict()) == list(model.state_dict())
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.randn(4, 3, 11, generator=torch.Generator().manual_seed(2))  # other b, points
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=1e-5, atol=1e-6)


class Offsets(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return (
            y
            + torch.ones(1, 6, device=x.device)
            + torch.zeros((6,), dtype=x.dtype, device=x.device)
        )


def test_zeros_and_ones_made_in_forward_are_constant_buffers() -> None:
    text = round_trip_and_emit(Offsets().eval(), (2, 4))
    made = [v for v in yaml.safe_load(text)["layers"] if v["type"] == "buffer"]
    assert [(v["shape"], v.get("value", 0.0)) for v in made] == [([1, 6], 1.0), ([6], 0.0)]


class RepeatsItsInput(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        row = x[:1]  # one row of the input: its size follows the input, not a buffer's
        return row.repeat(x.size(0), 1)


class Doubles(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + torch.eye(4, dtype=torch.float64, device=x.device).float()


@pytest.mark.parametrize("model", [RepeatsItsInput(), Doubles()])
def test_other_repeats_and_dtypes_stay_refused(model: nn.Module) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.rand(1, 4))
    assert err.value.diagnostics[0].code == "E903"
