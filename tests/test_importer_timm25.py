"""Layouts of timm's models that `archspec import` refused, written here in plain torch as
timm writes them (timm is no dependency): ResMLP's and gMLP's transposes of a tensor whose
rank no step states. Each imports to a spec that compiles back exactly (state_dict keys,
shapes and order, eval outputs) and whose emitted source computes the same."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.emit_helpers import _load
from tests.test_importer import roundtrip


def round_trip_and_emit(model: nn.Module, shape: tuple[int, ...]) -> str:
    """tests/test_importer.py's `roundtrip`, and the emitted source's module beside it: the
    same state_dict (strict) and the same outputs. Returns the spec."""
    text = roundtrip(model, shape)
    source = archspec.emit(text)
    emitted = getattr(_load(source, "timm25"), type(model).__name__)().eval()
    emitted.load_state_dict(model.state_dict(), strict=True)
    assert list(emitted.state_dict()) == list(model.state_dict())
    x = torch.randn(shape, generator=torch.Generator().manual_seed(4))
    with torch.no_grad():
        torch.testing.assert_close(emitted(x), model(x), rtol=1e-5, atol=1e-6)
    return text


# 1. a transpose of a tensor whose rank no step before it states (timm's mlp_mixer.py)


class Affine(nn.Module):
    """ResMLP's norm: a learned scale and shift of the channels (last dim)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones((1, 1, dim)))
        self.beta = nn.Parameter(torch.zeros((1, 1, dim)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.addcmul(self.beta, self.alpha, x)


class ResBlock(nn.Module):
    """ResMLP's block: the tokens mixed by a Linear over the transposed sequence."""

    def __init__(self, dim: int, seq_len: int) -> None:
        super().__init__()
        self.norm1 = Affine(dim)
        self.linear_tokens = nn.Linear(seq_len, seq_len)
        self.norm2 = Affine(dim)
        self.mlp_channels = nn.Sequential(
            nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim)
        )
        self.ls1 = nn.Parameter(0.1 * torch.ones(dim))
        self.ls2 = nn.Parameter(0.1 * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1 * self.linear_tokens(self.norm1(x).transpose(1, 2)).transpose(1, 2)
        x = x + self.ls2 * self.mlp_channels(self.norm2(x))
        return x


class SpatialGatingUnit(nn.Module):
    """gMLP's gate: negative dims, `v.transpose(-1, -2)`, after a chunk."""

    def __init__(self, dim: int, seq_len: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim // 2)
        self.proj = nn.Linear(seq_len, seq_len)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        u, v = x.chunk(2, dim=-1)
        v = self.norm(v)
        v = self.proj(v.transpose(-1, -2))
        return u * v.transpose(-1, -2)


class ResMLP(nn.Module):
    def __init__(self, dim: int = 8, patch: int = 4, size: int = 16) -> None:
        super().__init__()
        seq_len = (size // patch) ** 2
        self.stem = nn.Conv2d(3, dim, patch, stride=patch)
        self.blocks = nn.Sequential(ResBlock(dim, seq_len), ResBlock(dim, seq_len))
        self.gate = SpatialGatingUnit(dim, seq_len)
        self.norm = Affine(dim // 2)
        self.head = nn.Linear(dim // 2, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x).flatten(2).transpose(1, 2)
        x = self.gate(self.blocks(x))
        return self.head(self.norm(x).mean(1))


def test_a_transpose_of_a_block_output_takes_its_rank_from_the_example_input() -> None:
    text = round_trip_and_emit(ResMLP(), (2, 3, 16, 16))
    # the stem's (after a flatten), and two in each block (ResBlock written once)
    assert text.count("type: permute, dims: [0, 2, 1]") == 5
    assert "{name: permute, type: permute, dims: [0, 2, 1]}\n      - {name: proj," in text
    assert text.count("ResBlock:") == 1


class Swapped(nn.Module):
    """A transpose of the input of a module: the rank is the tensor's on the example."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, -2)


@pytest.mark.parametrize(
    ("shape", "dims"),
    [((2, 3, 4, 5), [0, 2, 1, 3]), ((2, 3, 4), [0, 1, 2]), ((2, 3, 4, 5, 6), [0, 3, 2, 1, 4])],
)
def test_a_transpose_is_a_permute_of_the_rank_the_example_input_gives(
    shape: tuple[int, ...], dims: list[int]
) -> None:
    model = nn.Sequential(nn.Identity(), Swapped())
    text = archspec.from_module(model, torch.zeros(shape))
    assert f"type: permute, dims: {dims}" in text.replace("'", "")
    twin = archspec.compile(text).eval()
    x = torch.randn(shape)
    torch.testing.assert_close(twin(x), model(x))


class SwappedOutOfRange(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.transpose(1, 5)


def test_a_transpose_of_a_dim_the_tensor_lacks_is_refused_at_its_statement() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(
            nn.Sequential(nn.Identity(), SwappedOutOfRange()), torch.zeros(1, 3, 4, 4)
        )
    diag = err.value.diagnostics[0]
    assert diag.code in ("E902", "E903")
    assert diag.span is not None and diag.span.file.endswith("test_importer_timm25.py")
