"""Two unquoted expressions cut alike at their commas in one `{...}` mapping give the same
key twice (`4)`): E102's hint says what cut them, not to remove one (a new user's GhostNet
block call, `{mid: make_divisible(t, 4), out: make_divisible(c, 4)}`)."""

from __future__ import annotations

import archspec

SPEC = """archspec: 1
name: cut
input: [N, 3, 8, 8]
params: {{c: 6}}
layers:
  - {layer}
"""


def _only(layer: str) -> archspec.CheckReport:
    return archspec.check(SPEC.format(layer=layer))


def test_the_same_tail_twice_is_a_cut_expression() -> None:
    (error,) = _only(
        "{name: a, type: conv2d, out_channels: max(c, 4), kernel_size: min(c, 4)}"
    ).diagnostics
    assert error.code == "E102" and "duplicate key '4)'" in error.message
    assert error.span is not None and (error.span.line, error.span.col) == (6, 74)
    assert "cut at its comma" in (error.hint or "") and "quote" in (error.hint or "")


def test_a_plain_duplicate_keeps_its_hint() -> None:
    (error,) = _only("{name: a, type: conv2d, out_channels: 4, out_channels: 5}").diagnostics
    assert error.code == "E102" and "remove one of them" in (error.hint or "")


def test_a_block_style_duplicate_ending_in_a_bracket_keeps_its_hint() -> None:
    spec = SPEC.format(layer="{name: a, type: conv2d, out_channels: 4, kernel_size: 1}")
    spec += "meta:\n  k4): x\n  k4): y\n"
    (error,) = archspec.check(spec).diagnostics
    assert error.code == "E102" and "remove one of them" in (error.hint or "")


def test_a_quoted_duplicate_ending_in_a_bracket_keeps_its_hint() -> None:
    (error,) = _only('{name: a, type: conv2d, "k)": 4, "k)": 5}').diagnostics
    assert error.code == "E102" and "remove one of them" in (error.hint or "")
