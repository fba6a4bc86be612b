"""Position ids cut to the input's length and looked up in a table (passes/positions.py):
the domain holds the lookup's requirement, so `check` refuses exactly the lengths torch
refuses. Before, a 16-long `arange` buffer cut to T and looked up in a 12-row table gave
`1 <= T <= 16`, and `check --input 2,13` said ok where every forward raised IndexError."""

from __future__ import annotations

import pytest
import torch

import archspec

SPEC = """\
archspec: 1
name: positions
input: [N, T]
input_dtype: int64
params: {{buffer: 16, rows: 12, start: 0}}
layers:
  - {{name: tok, type: embedding, num_embeddings: 50, embedding_dim: 8}}
  - {{name: positions, type: buffer, shape: [buffer], fill: arange, dtype: int64}}
{cut}
  - {{name: pos, type: embedding, num_embeddings: rows, embedding_dim: 8}}
  - {{name: summed, type: add, from: [tok, pos]}}
"""
#: the positions 0 to T - 1, as `torch.arange(0, t)` cut from a buffer
FROM_ZERO = "  - {name: cut, type: slice_as, dim: 0, like_dim: 1, from: [positions, input]}"
#: the positions `start` to T + start - 1, through a leading dim added and a permute back
SHIFTED = """\
  - {name: row, type: unsqueeze, dim: 0, from: positions}
  - {name: later, type: slice, dim: 1, start: start}
  - {name: column, type: permute, dims: [1, 0]}
  - {name: back, type: permute, dims: [1, 0]}
  - {name: cut, type: slice_as, dim: 1, like_dim: 1, from: [back, input]}"""


def _spec(cut: str) -> str:
    return SPEC.format(cut=cut)


def _forward_ok(text: str, length: int, **params: int) -> bool:
    model = archspec.compile(text, **params).eval()
    try:
        with torch.no_grad():
            model(torch.zeros(2, length, dtype=torch.int64))
    except (IndexError, RuntimeError):
        return False
    return True


@pytest.mark.parametrize(
    ("cut", "params", "most"),
    [
        (FROM_ZERO, {}, 12),  # the table, smaller than the buffer, decides
        (FROM_ZERO, {"rows": 20}, 16),  # the buffer decides (the cut's own requirement)
        (SHIFTED, {"start": 4}, 8),  # positions 4 .. T + 3 in 12 rows
        (SHIFTED, {"start": 4, "rows": 30}, 12),  # the 12 left after the first 4
    ],
)
def test_the_domain_is_the_lengths_torch_takes(cut: str, params: dict, most: int) -> None:
    text = _spec(cut)
    report = archspec.check(text, **params)
    assert report.ok, report.diagnostics
    assert report.domain_text.endswith(f"with 1 <= T <= {most}"), report.domain_text
    # at the edge, and one past it: check and torch agree
    assert archspec.check(text, input=[2, most], **params).ok
    past = archspec.check(text, input=[2, most + 1], **params)
    assert not past.ok
    assert _forward_ok(text, most, **params)
    assert not _forward_ok(text, most + 1, **params)


def test_a_length_past_the_table_is_e409_at_the_lookup() -> None:
    text = _spec(FROM_ZERO)
    report = archspec.check(text, input=[2, 13])
    (diagnostic,) = report.diagnostics
    assert diagnostic.code == "E409"
    assert diagnostic.span.line == 10  # the `pos` embedding
    assert "12 rows" in diagnostic.message
    assert "`cut` holds the positions 0 to 12" in diagnostic.message
    assert "num_embeddings" in (diagnostic.hint or "")


def test_positions_a_layer_changes_add_no_requirement() -> None:
    """A layer that does not keep each value's index (here a `mul` by the input-sized ids)
    ends the view: the lookup adds nothing the walk cannot state exactly, as before."""
    cut = FROM_ZERO + "\n  - {name: twice, type: add, from: [cut, cut]}"
    text = _spec(cut).replace(
        "{name: pos, type: embedding", "{name: pos, type: embedding, from: twice"
    )
    report = archspec.check(text, rows=40)
    assert report.ok, report.diagnostics
    assert report.domain_text.endswith("with 1 <= T <= 16"), report.domain_text
