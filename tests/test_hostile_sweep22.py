"""Hostile inputs found by the session-22 sweep, beyond the corpus of tests/hostile/.

Each test names what the input did before it was fixed.
"""

from __future__ import annotations

import ast

import pytest
from typer.testing import CliRunner

import archspec
from archspec.backends.emit.shapes import MAX_COMMENT
from archspec.cli import app
from archspec.graph import render

runner = CliRunner()

#: A block whose `str` param only decides a `when`: the picture shows its argument.
STR_ARG = """archspec: 1
name: x
input: [N, 3, 8, 8]
params:
  s: {type: str, default: a}
blocks:
  B:
    params: {t: str}
    layers:
      - {type: conv2d, out_channels: 4, kernel_size: 1}
      - {type: relu, when: "t == 'a'"}
layers:
  - {type: B, t: s}
"""


@pytest.mark.parametrize("fmt", ["dot", "mermaid"])
def test_a_picture_shows_a_line_break_or_lone_surrogate_in_an_argument_as_escapes(
    fmt: str,
) -> None:
    """`archspec graph --set s=$'\\xff'` (bytes that are not UTF-8 reach Python as lone
    surrogates) was an internal error, exit 3: the label held the surrogate and the picture
    could not be encoded. A line break split Mermaid's label over two lines."""
    graph = archspec.build_graph(STR_ARG, params={"s": "a\nb\udcff"})
    text = render(graph, fmt).decode("utf-8")
    shown = {"dot": r"t=a\\nb\\udcff", "mermaid": r"t=a\nb\udcff"}[fmt]  # DOT doubles `\`
    assert shown in text
    assert not any(line.rstrip().endswith("(t=a") or "t=a\n" in line for line in text.split("\n"))


def test_graph_of_a_str_argument_that_is_no_text_exits_1_or_0_never_3(tmp_path) -> None:
    spec = tmp_path / "s.yaml"
    spec.write_text(STR_ARG)
    for extra in ([], ["-o", str(tmp_path / "p.mmd")], ["-o", str(tmp_path / "p.dot")]):
        result = runner.invoke(app, ["graph", str(spec), "--set", "s=\udcff\udcfe", *extra])
        assert result.exit_code == 0, result.output
        assert "internal error" not in result.output


def test_a_shape_comment_too_long_to_read_is_left_out() -> None:
    """A concat of hundreds of differently pooled branches makes a size that is a sum of
    hundreds of floors; each of 9,000 layers after it wrote that sum again as its comment,
    escaped and wrapped word by word: `archspec emit` ran past 20 s (398 branches). A comment
    longer than MAX_COMMENT is left out (the statements stay); a short one is kept."""
    branches = "".join(
        f"      b{s}: {{type: maxpool2d, kernel_size: [1, {s}], stride: [1, {s}]}}\n"
        for s in range(2, 80)
    )
    text = (
        "archspec: 1\nname: x\ninput: [N, 3, H, W]\nlayers:\n"
        "  - {name: stem, type: conv2d, out_channels: 3, kernel_size: 1}\n"
        "  - type: parallel\n    join: concat\n    dim: 3\n    branches:\n"
        f"{branches}"
        "  - {type: repeat, count: 40, flat: true, layer: {type: relu}}\n"
    )
    source = archspec.emit(text)
    ast.parse(source)
    notes: list[str] = []  # each statement's comment, its wrapped lines joined
    last = False
    for line in source.splitlines():
        text_of = line.strip()
        if text_of.startswith("# "):
            notes[-1:] = [notes[-1] + " " + text_of[2:]] if last else [*notes[-1:], text_of[2:]]
        last = text_of.startswith("# ")
    assert max(len(n) for n in notes) <= MAX_COMMENT
    stem = next(ln for ln in source.splitlines() if "self.stem(x)" in ln)
    assert "# (N, 3, H, W)" in stem  # a short comment stays
    relus = [ln for ln in source.splitlines() if ln.strip().startswith("x = getattr(self, ")]
    assert len(relus) >= 40


def test_a_count_past_any_float_is_written_in_whole_units() -> None:
    """`archspec summary` of a spec upsampled to sizes of a hundred digits stopped with an
    internal OverflowError (exit 3): `n / 10**12` of a count past 10^308 is no float."""
    from archspec.summary_text import size_text
    from archspec.toolkit import human

    assert human(10**400) == f"{10**388:,} T" and human(1234567) == "1.23 M"
    assert size_text(2**1100) == f"{2**1060:,} TiB" and size_text(3 << 20) == "3.0 MiB"


def test_python_data_with_an_integer_too_long_to_print_is_e104_or_e101() -> None:
    """A mapping holding 10**5000 raised Python's ValueError ('Exceeds the limit (4300
    digits) for integer string conversion') while its E104 message was written."""
    spec = {
        "archspec": 1,
        "name": "x",
        "input": ["N", 3, 8, 8],
        "layers": [{"type": "conv2d", "out_channels": 10**5000, "kernel_size": 3}],
    }
    (err,) = archspec.check(spec).errors
    assert err.code == "E104" and "16610 bits" in err.message
    plain = {**spec, "layers": [{"type": "relu"}]}
    (err,) = archspec.check({**plain, 10**5000: 1}).errors
    assert err.code == "E101" and "16610 bits" in err.message
    with pytest.raises(ValueError, match="16610 bits"):
        archspec.check(plain, input=(1, 3, 10**5000, 8))


@pytest.mark.parametrize("columns", ["0", "1"])
def test_summary_prints_whatever_columns_says(columns: str) -> None:
    """`COLUMNS=0 archspec summary lenet5` was an internal error, exit 3 (textwrap refuses to
    wrap the footer at width 0), and printed no table: rich took the width as it is. 0 now
    means no width was set (80 when piped); 1 prints the table as narrow as it goes without
    emptying a cell (session 36: at 1 rich had printed every cell but the names empty)."""
    result = runner.invoke(app, ["summary", "lenet5"], env={"COLUMNS": columns})
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output
    assert "│   c1       │ Conv2d" in result.output  # 80 columns when 0, as when piped
    if columns == "1":
        assert len(result.output.splitlines()) > 60  # cells folded, the footer a word a line


def test_text_an_ascii_stdout_cannot_encode_is_escaped_not_an_internal_error(tmp_path) -> None:
    """On a stdout that is not UTF-8 (PYTHONIOENCODING=ascii, a latin-1 locale), `emit` of a
    spec described `héllo` and `check` of a file named `ünï.yaml` were internal errors, exit 3
    (UnicodeEncodeError): such text is now written as its escape, as Python writes stderr."""
    import os
    import subprocess
    import sys

    spec = tmp_path / "\u00fcn\u00ef.yaml"
    spec.write_text(STR_ARG.replace("name: x\n", "name: x\ndescription: h\u00e9llo\n"))
    env = {**os.environ, "PYTHONIOENCODING": "ascii", "NO_COLOR": "1"}
    for argv in (
        ["emit", str(spec)],
        ["check", str(spec)],
        ["graph", str(spec), "--set", "s=\u00e9"],
    ):
        done = subprocess.run(
            [sys.executable, "-m", "archspec", *argv], capture_output=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
    emitted = subprocess.run(
        [sys.executable, "-m", "archspec", "emit", str(spec)], capture_output=True, env=env
    ).stdout.decode("ascii")
    assert '"""h\\xe9llo' in emitted  # the docstring's escape: the same text to Python
    ast.parse(emitted)


def test_text_the_c_locale_cannot_encode_is_escaped_not_an_internal_error(tmp_path) -> None:
    """In the C locale without UTF-8 mode (LC_ALL=C PYTHONUTF8=0) stdout is ASCII with
    surrogateescape, which only restores a file name's undecodable bytes: `emit` of a spec
    described `h\u00e9llo` was an internal error, exit 3 (UnicodeEncodeError). It is escaped as
    on a strict ASCII stdout."""
    import os
    import subprocess
    import sys

    spec = tmp_path / "\u00fcn\u00ef.yaml"
    spec.write_text(STR_ARG.replace("name: x\n", "name: x\ndescription: h\u00e9llo\n"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "LANG", "PYTHONIO"))}
    env |= {"LC_ALL": "C", "PYTHONUTF8": "0", "NO_COLOR": "1"}
    for argv in (["emit", str(spec)], ["check", str(spec)], ["summary", str(spec)]):
        done = subprocess.run(
            [sys.executable, "-m", "archspec", *argv], capture_output=True, env=env, timeout=120
        )
        assert done.returncode == 0, done.stderr.decode(errors="replace")
        if argv[0] == "emit":
            emitted = done.stdout.decode("ascii")
            assert '"""h\\xe9llo' in emitted
            ast.parse(emitted)


@pytest.mark.parametrize("spec", ["specs/resnet.yaml", "specs/lenet5.yaml", "resnet50"])
def test_a_variant_name_of_any_length_is_quoted_by_its_start_and_length(spec: str) -> None:
    """`--variant` with a 3,000-character name echoed it whole, in the error and in the
    status line (a 100 KB name printed 200 KB); a name is now quoted up to 60 characters."""
    result = runner.invoke(app, ["check", spec, "--variant", "v" * 3000])
    assert result.exit_code == 1, result.output
    assert "E113" in result.output
    assert "v" * 60 + "... (3,000 characters)" in result.output
    assert "v" * 61 not in result.output
    assert len(result.output) < 1500
