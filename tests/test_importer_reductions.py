"""Reductions a forward writes another way than a kind states them (importer/reductions.py):
`torch.max(x, dim)[0]` as `amax`, a pool whose window is read off the pooled tensor's whole
spatial size as `global_avgpool2d` (an average, torch's window kernel) or an adaptive max
pool to 1, and `F.normalize` as the `normalize` kind. Plain torch
models; each round-trips exactly (keys, outputs, emitted source) and, where the reading
claims "for every input", at a second, non-square size too."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer_timm25 import round_trip_and_emit


def _kinds(text: str) -> list[str]:
    return [v["type"] for v in yaml.safe_load(text)["layers"]]


def _same_at(model: nn.Module, text: str, shape: tuple[int, ...]) -> None:
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.randn(shape, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=1e-5, atol=1e-6)


class PointNetHead(nn.Module):
    """PointNet's global feature: the max over the points, written four ways."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 16, 1)
        self.fc = nn.Linear(16, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        a = torch.max(y, 2, keepdim=True)[0].squeeze(2)
        b = y.max(dim=2).values
        low, _ = torch.min(y, 2)
        c = y.min(2)[0]
        return self.fc(a + b - low + c)


def test_max_and_min_over_a_dim_are_amax_and_amin() -> None:
    model = PointNetHead().eval()
    text = round_trip_and_emit(model, (2, 3, 20))
    kinds = _kinds(text)
    assert kinds.count("amax") == 2 and kinds.count("amin") == 2
    _same_at(model, text, (3, 3, 7))  # another number of points


class ArgMax(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        values, where = torch.max(x, 1)
        return values + where.float()


def test_read_indices_are_refused_at_the_line() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(ArgMax(), torch.rand(2, 4))
    first = err.value.diagnostics[0]
    assert first.code == "E903"
    assert "torch.max(x, dim) is read for its indices" in first.message
    assert "amax" in (first.hint or "")


class GlobalPools(nn.Module):
    """Pools over the whole map the way code before adaptive pools wrote them."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.fc = nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.conv(x))
        a = F.avg_pool2d(y, y.size()[2:]).flatten(1)
        h, w = y.shape[-2:]
        b = F.max_pool2d(y, kernel_size=(h, w), stride=(h, w)).flatten(1)
        c = F.avg_pool2d(y, kernel_size=y.shape[-2:], ceil_mode=True).flatten(1)
        return self.fc(a + b + c)


class GlobalPool1d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv1d(3, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return F.avg_pool1d(y, y.size(2)).squeeze(-1) + F.max_pool1d(y, y.shape[-1:]).squeeze(-1)


def test_windows_of_the_whole_map_are_global_and_adaptive_pools() -> None:
    model = GlobalPools().eval()
    text = round_trip_and_emit(model, (2, 3, 16, 12))
    kinds = _kinds(text)
    assert kinds.count("global_avgpool2d") == 2 and kinds.count("adaptive_maxpool2d") == 1
    _same_at(model, text, (1, 3, 9, 23))  # the windows follow the input: any size works
    flat = GlobalPool1d().eval()
    text = round_trip_and_emit(flat, (2, 3, 10))
    assert {"global_avgpool1d", "adaptive_maxpool1d"} <= set(_kinds(text))
    _same_at(flat, text, (1, 3, 17))


class SquareOnly(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, x.size(3))  # (W, W): the whole map of a square input only


class Padded(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, x.shape[2:], padding=1)


class OtherTensors(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.max_pool2d(x, 2)
        return F.avg_pool2d(y, x.shape[2:], ceil_mode=True)  # x's size, not y's


@pytest.mark.parametrize(
    ("model", "said"),
    [
        (SquareOnly(), "covers a square input only"),
        (OtherTensors(), "window read off the size of `x`, not of `max_pool2d`, the tensor"),
    ],
)
def test_windows_read_off_sizes_that_are_not_the_whole_map_are_refused(
    model: nn.Module, said: str
) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.rand(1, 3, 8, 8))
    first = err.value.diagnostics[0]
    assert first.code == "E903"
    assert said in first.message
    assert "adaptive_avg_pool2d" in (first.hint or "")


def test_a_padded_window_of_the_whole_map_is_no_adaptive_pool() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(Padded(), torch.rand(1, 3, 8, 8))
    assert err.value.diagnostics[0].code == "E903"


class Embedding(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        return F.normalize(y, dim=1) + F.normalize(y, p=1.0, dim=-1, eps=1e-6)


def test_normalize_round_trips() -> None:
    model = Embedding().eval()
    text = round_trip_and_emit(model, (3, 8))
    layers = [v for v in yaml.safe_load(text)["layers"] if v["type"] == "normalize"]
    assert len(layers) == 2 and layers[1]["p"] == 1.0 and layers[1]["eps"] == 1e-6
    assert "F.normalize(" in archspec.emit(text)


def test_the_new_kinds_check_their_dims() -> None:
    spec = """
archspec: 1
name: bad
input: [N, 8]
layers:
  - {type: linear, out_features: 4}
  - {type: normalize, dim: 2}
"""
    result = archspec.check(spec)
    assert [d.code for d in result.errors] == ["E401"]
    assert "normalize dim=2 is out of range" in result.errors[0].message
    fine = archspec.check(spec.replace("{type: normalize, dim: 2}", "{type: amin, dim: [1]}"))
    assert fine.ok and fine.outputs[0][1:] == ()


class Maths(nn.Module):
    """A VAE's scale, a Box-Muller term, a hand-written norm's root: each fn, both forms."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.fc(x)
        a = torch.exp(0.5 * y) + y.exp() + torch.log(abs(y) + 1) + (y.abs() + 1).log()
        b = torch.sqrt(y * y + 1) + (y * y + 1).rsqrt() + torch.reciprocal(y * y + 2)
        return a + b + torch.sin(y) * y.cos() + (y * y + 1).reciprocal()


def test_math_functions_are_elementwise_of_that_fn_to_the_last_bit() -> None:
    model = Maths().eval()
    text = round_trip_and_emit(model, (3, 8))
    fns = [v["fn"] for v in yaml.safe_load(text)["layers"] if v["type"] == "elementwise"]
    assert sorted(set(fns)) == ["abs", "cos", "exp", "log", "reciprocal", "rsqrt", "sin", "sqrt"]
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.randn(4, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        assert torch.equal(twin(x), model(x))


def test_an_unknown_fn_is_refused_with_the_list() -> None:
    spec = "archspec: 1\nname: e\ninput: [N, 4]\nlayers:\n  - {type: elementwise, fn: tan}\n"
    (d,) = archspec.check(spec).diagnostics
    assert d.code == "E204" and "'exp'" in d.message and d.span is not None and d.span.line == 5
