"""A buffer's `fill: sinusoid` and `fill: sinusoid_halves`: the Transformer's fixed position
table, as PyTorch's tutorial and Whisper build it.

Before: no fill computed sines, so a spec's `pe` table held zeros until a checkpoint was
loaded (docs/spec-language.md said so), and a network trained from scratch on that spec had
no position information at all. The references below are the two sources' code, as written.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import archspec
from tests.emit_helpers import emitted


def tutorial_pe(max_len: int, d_model: int) -> torch.Tensor:
    """PyTorch's "Language Modeling with nn.Transformer" PositionalEncoding.pe."""
    position = torch.arange(max_len).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
    pe = torch.zeros(max_len, 1, d_model)
    pe[:, 0, 0::2] = torch.sin(position * div_term)
    pe[:, 0, 1::2] = torch.cos(position * div_term)
    return pe


def whisper_sinusoids(length: int, channels: int, max_timescale: int = 10000) -> torch.Tensor:
    """openai/whisper's model.sinusoids."""
    assert channels % 2 == 0
    log_timescale_increment = np.log(max_timescale) / (channels // 2 - 1)
    inv_timescales = torch.exp(-log_timescale_increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length)[:, np.newaxis] * inv_timescales[np.newaxis, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


def _spec(shape: list[int], fill: str) -> str:
    """The table added to the input: sequence first for a 3-d table ([L, 1, D], the
    tutorial's), batch first for a 2-d one ([L, D], cut to the tokens' length)."""
    first = len(shape) == 3
    return (
        f"archspec: 1\nname: pos\ninput: {'[L, N, 32]' if first else '[N, L, 32]'}\nlayers:\n"
        f"  - {{name: pe, type: buffer, shape: {shape}, fill: {fill}}}\n"
        "  - {name: cut, type: slice_as, from: [pe, input], dim: 0, "
        f"like_dim: {0 if first else 1}}}\n"
        "  - {name: out, type: add, from: [input, cut]}\n"
    )


@pytest.mark.parametrize(
    ("shape", "fill", "reference"),
    [
        ([64, 1, 32], "sinusoid", lambda: tutorial_pe(64, 32)),
        ([64, 32], "sinusoid", lambda: tutorial_pe(64, 32)[:, 0]),
        ([64, 32], "sinusoid_halves", lambda: whisper_sinusoids(64, 32)),
        ([64, 1, 32], "sinusoid_halves", lambda: whisper_sinusoids(64, 32)[:, None]),
    ],
)
def test_the_table_is_the_sources_bit_for_bit(shape: list[int], fill: str, reference) -> None:
    text = _spec(shape, fill)
    model = archspec.compile(text)
    expected = reference()
    assert torch.equal(model.state_dict()["pe"], expected)
    module, _, source = emitted(text)
    again = module.Pos()
    assert torch.equal(again.state_dict()["pe"], expected)
    x = torch.randn(10, 2, 32) if len(shape) == 3 else torch.randn(2, 10, 32)
    out = model(x)
    assert torch.equal(out, x + expected[:10])
    assert torch.equal(again(x), out)
    assert "torch.sin(" in source  # the table's function is in the file, not imported


@pytest.mark.parametrize(
    ("shape", "extra", "words"),
    [
        ([64, 31], "", "an even number of features, 2 at least, not 31"),
        ([64, 2], "", None),  # two features make one sine and one cosine
        ([1, 64, 2], "", None),
        ([8, 64, 32], "", "positions along one dim, the others 1"),
        ([64, 32], ", dtype: int64", "makes float32 values"),
    ],
)
def test_a_table_it_cannot_make_is_located(shape: list[int], extra: str, words: str | None) -> None:
    result = archspec.check(
        "archspec: 1\nname: t\ninput: [N, 3]\nlayers:\n"
        f"  - {{name: pe, type: buffer, shape: {shape}, fill: sinusoid{extra}}}\n"
    )
    if words is None:
        assert result.ok, result.errors
        table = archspec.compile(
            f"archspec: 1\nname: t\ninput: [N, 3]\nlayers:\n"
            f"  - {{name: pe, type: buffer, shape: {shape}, fill: sinusoid}}\n"
        ).state_dict()["pe"]
        assert torch.equal(table.reshape(64, 2), tutorial_pe(64, 2)[:, 0])
    else:
        assert [e.code for e in result.errors] == ["E409"], result.errors
        assert words in result.errors[0].message
        assert result.errors[0].span is not None and result.errors[0].span.line == 5


def test_halves_need_four_features() -> None:
    """Whisper's frequencies step by 1 / (channels / 2 - 1): two features divide by zero."""
    result = archspec.check(
        "archspec: 1\nname: t\ninput: [N, 3]\nlayers:\n"
        "  - {name: pe, type: buffer, shape: [8, 2], fill: sinusoid_halves}\n"
    )
    assert [e.code for e in result.errors] == ["E409"]
    assert "4 at least, not 2" in result.errors[0].message


class TutorialEncoding(torch.nn.Module):
    """PyTorch's tutorial's PositionalEncoding (dropout left out: eval), then a linear."""

    def __init__(self, d_model: int = 32, max_len: int = 64, persistent: bool = True) -> None:
        super().__init__()
        self.register_buffer("pe", tutorial_pe(max_len, d_model), persistent=persistent)
        self.proj = torch.nn.Linear(d_model, d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x + self.pe[: x.size(0)])


class WhisperTable(torch.nn.Module):
    """Whisper's AudioEncoder's table added to (N, 16, 32) features."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("positional_embedding", whisper_sinusoids(16, 32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.positional_embedding


@pytest.mark.parametrize(
    ("model", "example", "fill"),
    [
        (TutorialEncoding(), torch.randn(10, 2, 32), "fill: sinusoid"),
        (TutorialEncoding(persistent=False), torch.randn(10, 2, 32), "fill: sinusoid"),
        (WhisperTable(), torch.randn(2, 16, 32), "fill: sinusoid_halves"),
    ],
)
def test_an_imported_table_is_written_as_its_fill(
    model: torch.nn.Module, example: torch.Tensor, fill: str
) -> None:
    """The importer writes the fill that makes a buffer's values: a spec built afresh holds
    the table (a non-persistent one was refused: no fill made its values)."""
    text = archspec.from_module(model.eval(), example)
    assert fill in text, text
    ours = archspec.compile(text).eval()
    assert [k for k in ours.state_dict()] == [k for k in model.state_dict()]
    ours.load_state_dict(model.state_dict(), strict=True)
    fresh = archspec.compile(text)  # the table without any checkpoint
    buffers = dict(fresh.named_buffers())
    for name, tensor in model.named_buffers():
        assert torch.equal(buffers[name], tensor)
    assert torch.equal(ours(example), model(example))
