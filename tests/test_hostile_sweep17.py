"""Hostile inputs found by the session-17 acceptance sweep, beyond the corpus of tests/hostile/.

Each test names what the input did before it was fixed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec

NUMBER = (
    "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\n"
    "params:\n  n: {{type: {kind}, default: {value}}}\nlayers:\n  - {{type: flatten}}\n"
)


@pytest.mark.parametrize("value", ["1" * 5000, "-" + "9" * 4301, "1_" * 3000 + "1"])
def test_an_integer_of_thousands_of_digits_is_out_of_range(value: str) -> None:
    """A decimal integer of 4,301 digits or more was E101 `cannot read scalar '111...'` with
    Python's own words ('Exceeds the limit (4300 digits) for integer string conversion') and
    no hint, where a hexadecimal one of the same size was E104 out of range."""
    errors = archspec.check(NUMBER.format(kind="int", value=value)).errors
    assert [(d.code, d.span.line, d.span.col) for d in errors] == [("E104", 5, 27)], errors
    assert "out of range (|n| <= 10^15)" in errors[0].message
    assert len(errors[0].message) < 120 and "4300" not in errors[0].message
    assert "write a smaller number" in (errors[0].hint or "")


@pytest.mark.parametrize(
    "value", ["0b11100011010111111010100100110001101000000000000000", "1_000_000_000_000_000"]
)
def test_the_largest_integer_in_any_form_is_still_read(value: str) -> None:
    assert archspec.check(NUMBER.format(kind="int", value=value)).ok


@pytest.mark.parametrize(("kind", "value"), [("int", "1:20"), ("float", "1:20.5")])
def test_a_base_60_number_is_refused_not_read_as_another_number(kind: str, value: str) -> None:
    """YAML 1.1 reads `1:20` as the integer 80 (and `1:20.5` as 80.5): a spec's value became
    a number it never showed, silently."""
    text = NUMBER.format(kind=kind, value=value)
    errors = archspec.check(text).errors
    col = text.splitlines()[4].index(value) + 1
    assert [(d.code, d.span.line, d.span.col) for d in errors] == [("E101", 5, col)], errors
    assert "base 60" in errors[0].message and "quote it" in (errors[0].hint or "")
    quoted = NUMBER.format(kind="str", value=f"'{value}'")
    assert archspec.check(quoted).ok


SET_SPEC = (
    "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\n"
    "params:\n  n: {type: int, default: 4}\n  p: {type: float, default: 0.5}\n"
    "layers:\n  - {type: conv2d, out_channels: n, kernel_size: 3}\n  - {type: dropout, p: p}\n"
)


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("n=\uff14", "expected an integer, got '\uff14'"),
        ("n=\u0663", "expected an integer, got '\u0663'"),
        ("p=\uff11.\uff15", "expected a number, got '\uff11.\uff15'"),
        ("n=" + "[n=" * 20, "expected an integer, got '[n=[n="),
        ("p=" + "x" * 50, "expected a number, got 'xxx"),
        ("n=" + "9" * 50, "out of range (|n| <= 10^15)"),
    ],
)
def test_set_reads_numbers_as_a_spec_writes_them(setting: str, words: str, tmp_path: Path) -> None:
    """`--set n=` a fullwidth 4 (U+FF14) built a network of 4 channels, as Python's int() reads
    any script's digits while a spec's YAML and expressions take ASCII only; and a long value
    that is no number at all (`--set n=[n=[n=...`) was called out of range (|n| <= 10^15)."""
    from typer.testing import CliRunner

    from archspec.cli import app

    path = tmp_path / "t.yaml"
    path.write_text(SET_SPEC)
    result = CliRunner().invoke(app, ["check", str(path), "--set", setting])
    assert result.exit_code == 1, result.output
    assert "error[E309]" in result.output and words in result.output, result.output


@pytest.mark.parametrize(("setting", "value"), [("n=1_000", 1000), ("n= -0 ", 0), ("p=.25", 0.25)])
def test_set_still_reads_python_and_yaml_number_forms(setting: str, value: float) -> None:
    from archspec.lowering.values import parse_text

    name, text = setting.split("=")
    assert parse_text(text, "int" if name == "n" else "float") == value


def test_a_key_with_backticks_stays_one_code_span_in_markdown(tmp_path: Path) -> None:
    """`summary -f markdown` wrote a key as `` `a`b` ``, which Markdown reads as the code
    `a` and the text b`: the key was cut, and a key of backticks could open a span that
    swallowed the rest of the row."""
    from markdown_it import MarkdownIt

    from archspec.summary_text import _md_cell

    for key in ["a`b", "``x", "a|b`", "`", "plain"]:
        cell = _md_cell(key)
        tokens = MarkdownIt("commonmark").parseInline(cell)[0].children or []
        assert [t.type for t in tokens] == ["code_inline"], (key, cell)
        assert tokens[0].content.replace("\\|", "|") == key, (key, cell)
    spec = tmp_path / "k.yaml"
    spec.write_text(
        "archspec: 1\nname: k\ninput: [N, 3, 8, 8]\n"
        "layers:\n  - {type: conv2d, key: 'a`b', out_channels: 4, kernel_size: 3}\n"
    )
    summary = archspec.summary(str(spec))
    from archspec.summary_text import markdown

    assert "| ``a`b`` | Conv2d |" in markdown(summary)


@pytest.mark.parametrize("name", ["true", "null", "yes", "f", "none", "exception", "mynet"])
@pytest.mark.parametrize("source", [None, pytest.param("resnet18", marks=pytest.mark.heavy)])
def test_new_writes_a_spec_that_checks_whatever_its_name(
    name: str, source: str | None, tmp_path: Path
) -> None:
    """`archspec new true` wrote `name: true`, a boolean (E202 at its own first check), and
    `archspec new f` (or `none`, `exception`) a spec whose class F shadows torch's functional
    module (E602): the name is quoted where YAML reads it otherwise, and a class_name is
    written where the one made from the name is taken."""
    from typer.testing import CliRunner

    from archspec.cli import app

    out = tmp_path / f"{name}.yaml"
    made = CliRunner().invoke(
        app, ["new", name, "-o", str(out), *(["--from", source] * bool(source))]
    )
    assert made.exit_code == 0, made.output
    result = archspec.check(str(out))
    assert result.ok, result.errors
    assert result.name == name


@pytest.mark.parametrize(("field", "word"), [("name", "yes"), ("layer", "off"), ("name", "null")])
def test_a_bare_yaml_word_in_a_text_field_is_told_to_be_quoted(field: str, word: str) -> None:
    """`name: yes` or `{name: off, ...}` is a boolean to YAML: the hint said 'write a value of
    that type, or an expression in quotes ("2 * c")', which does not say why `yes` is no text."""
    spec = (
        f"archspec: 1\nname: {word if field == 'name' else 'x'}\ninput: [N, 3, 8, 8]\n"
        f"layers:\n  - {{name: {word if field == 'layer' else 'a'}, type: relu}}\n"
    )
    errors = archspec.check(spec).errors
    assert [d.code for d in errors] == ["E202"], errors
    assert "quote the word" in (errors[0].hint or ""), errors[0]
    quoted = spec.replace(f" {word}", f" '{word}'")
    assert archspec.check(quoted).ok
