"""`check_size` with `dims:`: the dims it checks named (a token tensor's length, dim 1 of
`(N, T, C)`), with the default, every dim after the first two, unchanged."""

from __future__ import annotations

import pytest
import torch

import archspec
from tests.ops_cases import emitted, same_as_emitted, spec, symbolic_out

TOKENS = spec([{"name": "check", "type": "check_size", "dims": [1], "size": [16]}], ("N", "T", 8))


def test_dims_checks_the_token_length_not_the_features() -> None:
    result = archspec.check(TOKENS)
    assert result.ok, result.errors
    assert "T = 16" in result.domain.describe()
    assert symbolic_out(TOKENS, {"N": 2, "T": 16}) == (2, 16, 8)
    (err,) = archspec.check(TOKENS, input=(2, 15, 8)).errors
    assert err.code == "E413" and err.span is not None and err.span.line == 5
    model = archspec.compile(TOKENS).eval()
    assert model(torch.ones(2, 16, 8)).shape == (2, 16, 8)
    with pytest.raises(Exception, match="size"):
        model(torch.ones(2, 15, 8))
    same_as_emitted(TOKENS, torch.randn(2, 16, 8))
    with pytest.raises(Exception, match="size"):
        emitted(TOKENS)(torch.randn(2, 15, 8))


def test_negative_and_several_dims_and_the_default_is_unchanged() -> None:
    text = spec(
        [{"name": "check", "type": "check_size", "dims": [-1, 1], "size": [7, 4]}],
        ("N", 4, "H", "W"),
    )
    result = archspec.check(text)
    assert result.ok, result.errors
    assert result.domain.describe() == "H >= 1 and W = 7"  # H free, C 4 checked as written
    assert symbolic_out(text, {"N": 1, "H": 5}) == (1, 4, 5, 7)
    assert archspec.check(text, input=(1, 4, 3, 7)).ok
    (err,) = archspec.check(text, input=(1, 4, 3, 6)).errors
    assert err.code == "E413"
    same_as_emitted(text, torch.randn(1, 4, 3, 7))
    with pytest.raises(Exception, match="size"):
        emitted(text)(torch.randn(1, 4, 3, 6))
    default = spec([{"name": "check", "type": "check_size", "size": [6, 7]}])
    assert "check_size(x, [6, 7])" in archspec.emit(default)


@pytest.mark.parametrize(
    ("dims", "size", "code", "words"),
    [
        ([3], [16], "E401", "out of range"),
        ([1, -2], [16, 16], "E409", "repeat"),
        ([1], [16, 8], "E401", "one size per dim"),
        ([], [], "E401", "empty"),
    ],
)
def test_bad_dims_are_located(dims: list[int], size: list[int], code: str, words: str) -> None:
    text = spec(
        [{"name": "check", "type": "check_size", "dims": dims, "size": size}], ("N", "T", 8)
    )
    (err,) = archspec.check(text).errors
    assert err.code == code and err.span is not None and err.span.line == 5
    assert words in err.message + (err.hint or "")
