"""PointNet's T-Net adds an identity it makes in forward to its output: fxia22's port writes
`iden = torch.from_numpy(np.array([1, 0, 0, 0, 1, 0, 0, 0, 1]).astype(np.float32)).view(1,
9).repeat(batchsize, 1)` then `if x.is_cuda: iden = iden.cuda()`; others write
`torch.eye(3).flatten().repeat(batch, 1)`. Each was refused: the tensor torch.fx holds as a
constant (E903 'whose values no spec states'), the repeat of a 1-d tensor (E903), the branch
on the device (E902 'another graph on a CUDA device'), and `archspec import` on the meta
device could not run a forward that makes CPU tensors. A tensor made in forward whose values
a buffer's fill makes (a constant, 0, 1, 2, ... or an identity, flattened too: an `eye` then
a `reshape`) is now a non-persistent `buffer`; `.repeat(n, 1)` of one dim gives each sample a
row (`unsqueeze`, `expand`); its `.cuda()` where the input is on a GPU is the buffer itself,
which moves with its module; and a factory whose forward makes CPU tensors is built on the
CPU."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec


class STN3d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(3, 16, 1)
        self.fc = nn.Linear(16, 9)
        self.bn1 = nn.BatchNorm1d(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batchsize = x.size()[0]
        x = F.relu(self.bn1(self.conv1(x)))
        x = torch.max(x, 2, keepdim=True)[0].view(-1, 16)
        x = self.fc(x)
        iden = (
            torch.from_numpy(np.array([1, 0, 0, 0, 1, 0, 0, 0, 1]).astype(np.float32))
            .view(1, 9)
            .repeat(batchsize, 1)
        )
        if x.is_cuda:
            iden = iden.cuda()
        x = x + iden
        return x.view(-1, 3, 3)


class Eye(nn.Module):
    def __init__(self, made: str = "eye") -> None:
        super().__init__()
        self.made = made
        self.fc = nn.Linear(24, 9)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch = x.size(0)
        x = self.fc(x.flatten(1))
        if self.made == "eye":
            iden = torch.eye(3).flatten().repeat(batch, 1)
        else:  # values no fill makes
            iden = torch.arange(9.0).flip(0).repeat(batch, 1)
        return (x + iden).view(-1, 3, 3)


def _same(model: nn.Module, text: str, shape: tuple[int, ...]) -> None:
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    assert list(twin.state_dict()) == list(model.state_dict())
    x = torch.randn(*shape)
    with torch.no_grad():
        assert torch.allclose(twin(x), model(x), atol=1e-6)


def test_the_tnet_identity_made_from_numpy_and_moved_to_cuda_imports() -> None:
    model = STN3d().eval()
    text = archspec.from_module(model, torch.zeros(2, 3, 20))
    assert "type: buffer, shape: [3, 3], persistent: false, fill: eye}" in text
    assert "type: reshape, from: tensor_constant0, shape: [1, 9]}" in text
    assert "cuda" not in text
    _same(model, text, (4, 3, 31))


def test_an_identity_flattened_and_repeated_over_the_batch_imports() -> None:
    model = Eye().eval()
    text = archspec.from_module(model, torch.zeros(2, 3, 8))
    assert "{name: unsqueeze, type: unsqueeze, dim: 0}" in text
    _same(model, text, (5, 3, 8))


def test_import_builds_a_model_making_cpu_tensors_on_the_cpu() -> None:
    text = archspec.import_factory(
        "tests.test_import_round40_pointnet:Eye", input=(2, 3, 8), name="eye"
    )
    assert "fill: eye" in text
    _same(Eye().eval(), text, (3, 3, 8))


def test_values_no_fill_makes_stay_refused() -> None:
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.from_module(Eye("other").eval(), torch.zeros(2, 3, 8))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903" and "whose values no spec states" in diag.message
