"""`tile`: torch.Tensor.repeat as a kind (the construct `repeat` has that name): shapes,
leading dims, int64 values followed, errors, compiled and emitted against torch, import."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from tests.ops_cases import emitted, same_as_emitted, spec, symbolic_out


def test_counts_multiply_dims_and_add_leading_ones() -> None:
    text = spec([{"type": "tile", "repeats": [1, 2, 3]}], ("N", 4, "L"))
    assert archspec.check(text).ok
    assert symbolic_out(text, {"N": 2, "L": 5}) == (2, 8, 15)
    x = torch.randn(2, 4, 5)
    torch.testing.assert_close(archspec.compile(text)(x), x.repeat(1, 2, 3))
    assert "x.repeat(1, 2, 3)" in archspec.emit(text)
    same_as_emitted(text, x)
    lead = spec([{"type": "tile", "repeats": [3, 1, 2]}], ("N", 4))
    assert symbolic_out(lead, {"N": 2}) == (3, 2, 8)
    torch.testing.assert_close(emitted(lead)(x[:, :, 0]), x[:, :, 0].repeat(3, 1, 2))


def test_int64_values_pass_through_to_a_lookup() -> None:
    text = """archspec: 1
name: ids
input: [N, 6, 6]
layers:
  - {name: pos, type: buffer, shape: [3], fill: arange, dtype: int64, persistent: false}
  - {name: pos2, type: tile, repeats: [2], from: pos}
  - {name: table, type: embedding, num_embeddings: NUM, embedding_dim: 6, from: pos2}
  - {name: out, type: add, from: [input, table]}
"""
    assert archspec.check(text.replace("NUM", "3")).ok
    (err,) = archspec.check(text.replace("NUM", "2")).errors  # index 2 of a table of 2
    assert err.code == "E409"


@pytest.mark.parametrize(("repeats", "code"), [([2, 1], "E409"), ([1, 0, 1], "E309"), ([], "E409")])
def test_bad_counts_are_located(repeats: list[int], code: str) -> None:
    (err,) = archspec.check(spec([{"type": "tile", "repeats": repeats}], ("N", 4, 5))).errors
    assert err.code == code and err.span is not None and err.span.line == 5 and err.hint


class _Tiled(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat(1, 2, 1) + x.repeat([1, 2, 1])


def test_import_reads_repeat_calls() -> None:
    text = archspec.from_module(_Tiled(), torch.randn(2, 3, 4))
    assert text.count("type: tile") == 2, text
    x = torch.randn(1, 3, 5)
    torch.testing.assert_close(archspec.compile(text)(x), _Tiled()(x))
