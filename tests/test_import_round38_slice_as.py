"""A positional table cut to the tokens' length, `x + self.pe[:, : x.size(1)]`, as the
PyTorch tutorial's `PositionalEncoding` writes it: it was E903 'a tensor index `x[...]`
slices with a bound worked out from a size of a tensor'. It is now a `slice_as` reading the
table and the tokens, exact for every length the table holds; a longer input is refused by
the spec's shape rules (E405), as the model fails on it."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError

from .ops_cases import assert_located, param_count, same_as_emitted, symbolic_out

SPEC = """\
archspec: 1
name: cut
input: [N, L, 16]
layers:
  - {name: pe, type: buffer, shape: [1, 64, 16], fill: arange}
  - {name: cut, type: slice_as, from: [pe, input]}
  - {name: add, type: add, from: [input, cut]}
"""


def test_slice_as_is_the_models_index_at_every_length() -> None:
    model = archspec.compile(SPEC)
    (table,) = model.buffers()
    checked = 0
    for length in (1, 5, 64):
        x = torch.randn(2, length, 16)
        torch.testing.assert_close(model(x), x + table[:, :length], rtol=0, atol=0)
        assert symbolic_out(SPEC, {"N": 2, "L": length}) == (2, length, 16)
        checked += 1
    assert checked == 3
    assert param_count(SPEC) == (0, 0)
    same_as_emitted(SPEC, torch.randn(2, 9, 16))
    assert "self.pe[:, : x.shape[1]]" in archspec.emit(SPEC)


def test_slice_as_refuses_a_longer_input_and_a_dim_out_of_range() -> None:
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(SPEC.replace("[N, L, 16]", "[N, 65, 16]"))
    assert info.value.diagnostics[0].code == "E405"
    assert "slice_as cuts dim 1" in info.value.diagnostics[0].message
    last = SPEC.rsplit("  - {name: add", 1)[0]  # slice_as the last layer: located there
    assert_located(last.replace("from: [pe, input]}", "from: [pe, input], dim: 3}"), "E401")


class PositionalEncoding(nn.Module):
    """The PyTorch tutorial's, batch first."""

    def __init__(self, d_model: int, max_len: int = 64) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p=0.1)
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(1, max_len, d_model)
        pe[0, :, 0::2] = torch.sin(position * div_term)
        pe[0, :, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pe[:, : x.size(1)]
        return self.dropout(x)


class Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pos = PositionalEncoding(16)
        self.head = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.pos(x * math.sqrt(16)))


def test_a_positional_table_cut_to_the_tokens_length_imports() -> None:
    model = Tagger().eval()
    text = archspec.from_module(model, torch.rand(2, 7, 16))
    assert "type: slice_as, from: [pe, input]" in text
    twin = archspec.compile(text).eval()
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict(model.state_dict())
    x = torch.rand(3, 7, 16)
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=0, atol=0)
