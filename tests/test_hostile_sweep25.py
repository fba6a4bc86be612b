"""Hostile inputs found by the session-25 sweep, beyond the corpus of tests/hostile/.

Each test names what the input did before it was fixed.
"""

from __future__ import annotations

import pytest

import archspec
from archspec.errors import shown_value
from tests.cpu import GUARD, cpu_seconds

HEAD = "archspec: 1\nname: x\ninput: [N, 3, 8, 8]\n"


def _lets(levels: int, name: str = "l") -> str:
    """Lets `{name}0` .. `{name}{levels}`, each a list of two of the one before: the last
    holds 2**(levels + 2) - 2 items, from a few lines of YAML."""
    return f"  {name}0: '[1, 1]'\n" + "".join(
        f"  {name}{k}: '[{name}{k - 1}, {name}{k - 1}]'\n" for k in range(1, levels + 1)
    )


def test_a_computed_entry_that_names_no_node_is_reported_once_per_reader() -> None:
    # each of 9,000 names of each reader was a located E305 with its close matches:
    # "(in 963,000 instances)", 26 s
    spec = HEAD + (
        "blocks:\n  B:\n    layers:\n"
        "      - {name: c, type: conv2d, out_channels: 4, kernel_size: 1}\n"
        '      - {type: concat, from: [input, {each: "c{j}", for: j, in: 9000}]}\n'
        "layers:\n  - {type: repeat, count: 200, layer: {type: B}}\n"
    )
    report, seconds = cpu_seconds(lambda: archspec.check(spec))
    (missing,) = [d for d in report.diagnostics if d.code == "E305"]
    assert "gives `c0` here" in missing.message
    assert missing.span is not None and (missing.span.line, missing.span.col) == (8, 45)
    readers = int(missing.message.rsplit("(in ", 1)[1].split(" ")[0].replace(",", ""))
    assert readers <= 200  # one per reader, not one per name
    assert seconds < GUARD


def test_a_template_entry_reports_each_entry_it_cannot_find() -> None:
    # one E305 per entry, however many of its names miss: two entries, two errors
    spec = HEAD + (
        "layers:\n  - {name: c0, type: conv2d, out_channels: 4, kernel_size: 1}\n"
        '  - {type: concat, from: [{each: "c{j}", for: j, in: 3}, {each: "d{j}", for: j, in: 2}]}\n'
    )
    codes = [(d.code, d.span.col) for d in archspec.check(spec).diagnostics if d.span]
    assert codes == [("E305", 34), ("E305", 65)]


def test_comparing_two_large_tables_is_e309_not_minutes() -> None:
    # two equal tables of 65,534 items, compared 7 times in each of 9,000 copies: 22 s and
    # no error; more comparisons in a 500-character `when` ran for minutes
    when = " and ".join(["l14 == m14"] * 3)
    spec = (
        HEAD
        + "let:\n"
        + _lets(14)
        + _lets(14, "m")
        + f'layers:\n  - {{type: repeat, count: 9000, layer: {{type: dropout, when: "{when}"}}}}\n'
    )
    report, seconds = cpu_seconds(lambda: archspec.check(spec))
    (diag,) = report.diagnostics
    assert diag.code == "E309" and "compares lists of more than 64 items" in diag.message
    assert diag.span is not None and diag.span.line == spec.count("\n")
    assert seconds < GUARD


@pytest.mark.parametrize(
    ("left", "right", "holds"),
    [("[1, 2]", "[1, 2]", True), ("[[1, 2], [3]]", "[[1, 2], [3]]", True), ("[1]", "[2]", False)],
)
def test_small_lists_still_compare(left: str, right: str, holds: bool) -> None:
    spec = HEAD + f"layers:\n  - {{type: dropout, when: '{left} == {right}'}}\n"
    assert ("nn.Dropout" in archspec.emit(spec)) is holds


@pytest.mark.parametrize(
    "field",
    [
        'dropout, p: "l14 + 1"',  # an expression's E308, its value in the message
        "dropout, p: l14",  # a field's E309 (expected a number, got ...)
        "conv2d, out_channels: 3, kernel_size: l14",
        "flatten, start_dim: l14",
    ],
)
def test_an_error_naming_a_large_table_does_not_write_it_out(field: str) -> None:
    # each of 2,000 copies wrote the 65,534-item table out whole for its message: 15-30 s
    spec = (
        HEAD
        + "let:\n"
        + _lets(14)
        + f"layers:\n  - {{type: repeat, count: 2000, layer: {{type: {field}}}}}\n"
    )
    report, seconds = cpu_seconds(lambda: archspec.check(spec))
    (diag,) = report.diagnostics
    assert diag.code in ("E308", "E309") and "[[[[" in diag.message
    assert len(diag.message) < 400
    assert seconds < GUARD


@pytest.mark.parametrize(
    "entry",
    ['{each: "c", for: j, in: l14}', '"c{l14}"'],
    ids=["in", "template"],
)
def test_a_computed_entry_refusing_a_large_table_does_not_write_it_out(entry: str) -> None:
    # `in: l14` and `"c{l14}"` in a block called 2,000 times: 15 s
    spec = (
        HEAD
        + "let:\n"
        + _lets(14)
        + "blocks:\n  B:\n    layers:\n"
        + "      - {name: c, type: conv2d, out_channels: 4, kernel_size: 1}\n"
        + f"      - {{type: concat, from: [input, {entry}]}}\n"
        + "layers:\n  - {type: repeat, count: 2000, layer: {type: B}}\n"
    )
    report, seconds = cpu_seconds(lambda: archspec.check(spec))
    (diag,) = report.diagnostics
    assert diag.code == "E309"
    assert seconds < GUARD


def test_shown_value_is_the_start_of_repr() -> None:
    values = [1, "a'b", [1, [2, [3]], []], [], [[]], "x" * 300, [1.5, True, None, "q\n"]]
    values += [list(range(100)), [[1, 2]] * 50, {"a": 1}]
    for value in values:
        for width in (40, 200):
            text = repr(value)
            assert shown_value(value, width) == (
                text if len(text) <= width else text[: width - 3] + "..."
            )
    deep: list[object] = [1]
    for _ in range(60):  # 2**60 items as repr would write them
        deep = [deep, deep]
    assert shown_value(deep, 40) == "[" * 37 + "..."


def test_a_from_template_giving_a_huge_text_is_e309() -> None:
    # a template over a text param of 900,000 characters in an entry over `in: 9000` kept
    # 9,000 such names: a MemoryError (exit 3) or 8 GB; here 50 of them, an E305 before
    spec = (
        HEAD
        + f"params:\n  s: {'a' * 900_000}\n"
        + "layers:\n  - {name: c, type: conv2d, out_channels: 4, kernel_size: 1}\n"
        + '  - {type: concat, from: [input, {each: "{s}{j}", for: j, in: 50}]}\n'
    )
    (diag,) = archspec.check(spec).diagnostics
    assert diag.code == "E309" and "900,000 characters" in diag.message
    assert diag.span is not None and (diag.span.line, diag.span.col) == (8, 41)


def test_a_from_template_giving_a_long_name_is_e309() -> None:
    # parts of 40 characters each make a name longer than any node's
    spec = (
        HEAD
        + f"params:\n  s: {'a' * 40}\n"
        + "layers:\n  - {name: c, type: conv2d, out_channels: 4, kernel_size: 1}\n"
        + '  - {type: concat, from: [input, "{s}{s}"]}\n'
    )
    (diag,) = archspec.check(spec).diagnostics
    assert diag.code == "E309" and "the name it gives has 80 characters" in diag.message
