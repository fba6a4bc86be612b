"""E202's words for the type a field takes: a text field is "a string", a field that takes
a number or an expression keeps "(an expression)"."""

from __future__ import annotations

import archspec


def _error(body: str) -> str:
    text = f"archspec: 1\nname: x\ninput: [N, 3, 8, 8]\n{body}"
    (err,) = archspec.check(text).errors
    assert err.code == "E202"
    return err.message


def test_a_text_field_is_a_string_not_an_expression() -> None:
    message = _error("description: [a]\nlayers:\n  - {type: relu}\n")
    assert message == "description: expected a string, got list ['a']"


def test_a_number_field_still_takes_an_expression() -> None:
    message = _error("layers:\n  - {type: conv2d, out_channels: [a], kernel_size: 1}\n")
    assert "expected an integer or a string (an expression)" in message
