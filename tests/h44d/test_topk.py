"""`topk`: two outputs, the k largest values along a dim and their int64 indices, named by
`names` as a chunk's pieces; shapes, domain, errors, compiled and emitted against torch."""

from __future__ import annotations

import pytest
import torch

import archspec
from tests.ops_cases import emitted, same_as_emitted, spec, symbolic_out


def _router(k: int) -> str:
    """A mixture-of-experts router: logits, their top k (values and int64 indices), the
    values' softmax weighting the rows an embedding looks up at the indices."""
    return spec(
        [
            {"name": "logits", "type": "linear", "out_features": 8},
            {"type": "topk", "k": k, "names": ["top", "ids"]},
            {"name": "weights", "type": "softmax", "dim": -1, "from": "top"},
            {"name": "w", "type": "unsqueeze", "dim": -1},
            {
                "name": "experts",
                "type": "embedding",
                "num_embeddings": 8,
                "embedding_dim": 2,
                "from": "ids",
            },
            {"name": "out", "type": "mul", "from": ["experts", "w"]},
        ],
        ("N", "T", 16),
    )


def test_values_and_indices_are_torchs() -> None:
    text = _router(3)
    result = archspec.check(text)
    assert result.ok and not result.warnings, (result.errors, result.warnings)
    assert symbolic_out(text, {"N": 2, "T": 5}) == (2, 5, 3, 2)
    model = archspec.compile(text).eval()
    x = torch.randn(2, 5, 16)
    values, indices = torch.topk(model.logits(x), 3)
    want = model.experts.weight[indices] * values.softmax(-1).unsqueeze(-1)
    torch.testing.assert_close(model(x), want)
    assert "top, ids = logits.topk(3)" in archspec.emit(text)
    same_as_emitted(text, x)


def test_dim_and_smallest_and_the_size_requirement() -> None:
    text = spec([{"type": "topk", "k": 2, "dim": 2, "largest": False, "names": ["v", "i"]}])
    assert symbolic_out(text, {"N": 1, "W": 7}) == (1, 4, 2, 7)
    result = archspec.check(text)
    assert result.ok and "H >= 2" in result.domain.describe()
    (err,) = archspec.check(text, input=(1, 4, 1, 7)).errors
    assert err.code == "E405" and err.span is not None and err.span.line == 5
    x = torch.randn(1, 4, 5, 3)
    torch.testing.assert_close(archspec.compile(text)(x), x.topk(2, 2, largest=False).values)
    assert "x.topk(2, 2, largest=False)" in archspec.emit(text)
    torch.testing.assert_close(emitted(text)(x), x.topk(2, 2, largest=False).values)


@pytest.mark.parametrize(
    ("layer", "code"),
    [
        ({"type": "topk", "k": 5, "names": ["v", "i"]}, "E405"),  # the last dim holds 4
        ({"type": "topk", "k": 2, "dim": 4, "names": ["v", "i"]}, "E401"),
        ({"type": "topk", "k": 2, "names": ["v", "i", "j"]}, "E204"),
        ({"type": "topk", "k": 0, "names": ["v", "i"]}, "E309"),
        ({"name": "t", "type": "topk", "k": 2, "names": ["v", "i"]}, "E204"),
    ],
)
def test_bad_topks_are_located(layer: dict, code: str) -> None:
    errors = archspec.check(spec([layer], ("N", "C", 4))).errors
    assert [e.code for e in errors] == [code], errors
    assert errors[0].span is not None and errors[0].span.line == 5 and errors[0].hint
