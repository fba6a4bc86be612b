"""archspec import of a forward that branches on its input's device: pytorch/examples'
DCGAN writes `if input.is_cuda and self.ngpu > 1:` around `nn.parallel.data_parallel`.
It was E902 'symbolically traced variables cannot be used as inputs to control flow' with a
hint about tensor values; the branch now imports when it takes the same steps on a CPU and
a CUDA device, and is refused at the read, naming it, when it does not."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure

nz, ngf, nc = 8, 4, 3


class Generator(nn.Module):
    """DCGAN's generator as pytorch/examples writes it (smaller)."""

    def __init__(self, ngpu: int, test: str = "is_cuda") -> None:
        super().__init__()
        self.ngpu, self.test = ngpu, test
        self.main = nn.Sequential(
            nn.ConvTranspose2d(nz, ngf * 2, 4, 1, 0, bias=False),
            nn.BatchNorm2d(ngf * 2),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf * 2, ngf, 4, 2, 1, bias=False),
            nn.BatchNorm2d(ngf),
            nn.ReLU(True),
            nn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False),
            nn.Tanh(),
        )

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (as DCGAN)
        if self.test == "type":
            on_gpu = input.device.type == "cuda"
        elif self.test == "not cpu":
            on_gpu = input.device.type != "cpu"
        else:
            on_gpu = input.is_cuda
        if on_gpu and self.ngpu > 1:
            output = nn.parallel.data_parallel(self.main, input, range(self.ngpu))
        else:
            output = self.main(input)
        return output


@pytest.mark.parametrize("test", ["is_cuda", "type", "not cpu"])
def test_dcgans_device_branch_imports_when_it_takes_the_same_steps_on_each_device(
    test: str,
) -> None:
    model = Generator(ngpu=1, test=test).eval()
    x = torch.rand(2, nz, 1, 1)
    text = archspec.from_module(model, x)
    steps = text.split("layers:", 1)[1]  # the description names this file, `devices`
    assert "is_cuda" not in steps and "getattr" not in steps and "device" not in steps
    twin = archspec.compile(text).eval()
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x))


@pytest.mark.parametrize("test", ["is_cuda", "type", "not cpu"])
def test_a_device_branch_taking_other_steps_on_cuda_is_refused_at_the_read(test: str) -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(Generator(ngpu=2, test=test), torch.rand(2, nz, 1, 1))
    (diag,) = info.value.diagnostics
    assert diag.code == "E902"
    assert "computes another graph on a CUDA device" in diag.message
    assert "branches on a tensor's device" in diag.message
    assert diag.span is not None and diag.span.file == __file__
    line = Path(__file__).read_text().splitlines()[diag.span.line - 1]
    assert "on_gpu" in line  # the test itself, or the branch on it
    assert "nn.DataParallel" in diag.hint


class Moved(nn.Module):
    """A step taken only on the CPU (a cast kept for a CPU kernel)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.fc(x)
        if not x.is_cuda:
            x = torch.relu(x)
        return x


def test_a_step_taken_on_the_cpu_alone_is_refused_not_imported_as_the_cpus_graph() -> None:
    with pytest.raises(ImportFailure, match="another graph on a CUDA device"):
        archspec.from_module(Moved(), torch.rand(2, 4))
