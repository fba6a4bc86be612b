"""The hint of a value a field refuses (E309): what the field takes, the reason for its bound
where the field has one (`slice`'s `step`: every step-th position), and the word on `//`
only where an expression computed the value."""

from __future__ import annotations

import textwrap

import archspec

SPEC = textwrap.dedent(
    """\
    archspec: 1
    name: hints
    input: [N, 6, 4]
    params: {c: 5}
    layers:
      - {name: first, type: slice, dim: 1, end: 1, step: 0}
      - {name: conv, type: conv1d, out_channels: c / 2, kernel_size: 1, from: input}
    """
)


def _hints() -> dict[str, str]:
    result = archspec.check(SPEC)
    return {d.message.split(":")[0]: d.hint or "" for d in result.errors}


def test_a_bound_with_a_reason_says_the_reason() -> None:
    hint = _hints()["first"]
    assert (
        hint
        == "this field takes an integer, at least 1 (keep every step-th position of the range, "
        "from its start)"
    )


def test_the_word_on_integer_division_stays_where_an_expression_computed_the_value() -> None:
    hint = _hints()["conv"]
    assert hint.startswith("this field takes an integer (// divides whole numbers), at least 1")
