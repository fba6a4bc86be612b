"""A derived value written as a param's default (`tokens: (224 // patch) ** 2`) is text, never
computed: the error where arithmetic meets it says to make it a `let:` entry, which a new
user writing DeiT from the docs needed to be told."""

from __future__ import annotations

import pytest

import archspec

SPEC = """archspec: 1
name: tokens
input: [N, 8, 4]
params:
  patch: 2
  tokens: {default}
layers:
  - {{name: pos, type: parameter, shape: [1, 8, tokens + 2]}}
  - {{name: out, type: add, from: [input, pos]}}
"""


def _hint(default: str) -> str:
    (error,) = archspec.check(SPEC.format(default=default)).diagnostics
    assert error.code == "E308" and error.span is not None and error.span.line == 8
    return error.hint or ""


@pytest.mark.parametrize("text", ["(8 // patch) ** 2 // 2", "max(patch, 2)", "-patch"])
def test_arithmetic_text_in_a_param_points_at_let(text: str) -> None:
    hint = _hint(text)
    assert "`let:`" in hint and text in hint


@pytest.mark.parametrize("text", ["fan_in", "'2 + 2 is text'", "patch"])
def test_other_text_keeps_the_comparison_hint(text: str) -> None:
    assert "only compared" in _hint(text)


def test_the_let_the_hint_names_works() -> None:
    spec = (
        SPEC.format(default=1)
        .replace("  tokens: 1\n", "")
        .replace("layers:", "let:\n  tokens: (4 // patch) ** 2 // 2\nlayers:", 1)
    )
    report = archspec.check(spec)
    assert report.diagnostics == () and report.shapes["pos"] == (1, 8, 4)
