"""Session 36's independent hostile sweep: output paths, standard input, `--set` values, YAML
text and terminal widths that a user or a script hands archspec, each refused with a located
error or done, never failing as archspec's own fault and never replacing what is not ours."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.errors import ArchSpecError
from archspec.files import check_target

from .conftest import SPECS

PACKAGE = Path(archspec.__file__).resolve().parent
LENET = str(SPECS / "lenet5.yaml")


def test_force_never_writes_over_archspec_s_own_modules() -> None:
    """`archspec compile net.yaml -o .../archspec/api.py --force` replaced archspec's own
    module with the emitted one (the next `import archspec` ran it)."""
    for own in (PACKAGE / "api.py", PACKAGE / "specs", PACKAGE / "ops" / "new_module.py"):
        with pytest.raises(ArchSpecError) as caught:
            check_target(own, force=True)
        assert caught.value.error_code == "E604"
        assert "inside archspec's own package" in str(caught.value)


def test_no_output_lands_in_the_package_by_a_link(tmp_path: Path) -> None:
    """A new file in the package (through a link to one of its folders) was written."""
    (tmp_path / "ops").symlink_to(PACKAGE / "ops", target_is_directory=True)
    target = tmp_path / "ops" / "h36_written.py"
    try:
        result = CliRunner().invoke(app, ["compile", LENET, "-o", str(target), "--force"])
        assert result.exit_code == 1, result.output
        assert "error[E604]" in result.stderr and "own package" in result.stderr
        assert not (PACKAGE / "ops" / "h36_written.py").exists()
    finally:
        (PACKAGE / "ops" / "h36_written.py").unlink(missing_ok=True)


def _pipe_writing(chunks: list[tuple[float, bytes]]) -> tuple[int, threading.Thread]:
    """A pipe's read end, and the thread that writes each chunk after its pause (the write
    end closes after the last one)."""
    read_end, write_end = os.pipe()

    def write() -> None:
        with os.fdopen(write_end, "wb", buffering=0) as out:
            for pause, data in chunks:
                time.sleep(pause)
                out.write(data)

    thread = threading.Thread(target=write, daemon=True)
    thread.start()
    return read_end, thread


def test_a_pipe_that_never_closes_is_e100_not_a_hang(monkeypatch: pytest.MonkeyPatch) -> None:
    """`sleep 100 | archspec check -` waited until sleep ended (for ever, for a pipe whose
    writer neither writes nor closes): now E100 after the idle bound, the notice said once."""
    monkeypatch.setattr("archspec.specbytes.NOTICE_SECONDS", 0.2)
    read_end, write_end = os.pipe()
    said: list[str] = []
    try:
        started = time.monotonic()
        with pytest.raises(ArchSpecError) as caught:
            archspec.api.stdin_spec(read_end, idle=0.6, waiting=lambda: said.append("waiting"))
        assert time.monotonic() - started < 5
    finally:
        os.close(read_end)
        os.close(write_end)
    assert caught.value.error_code == "E100"
    assert "sent nothing for 0.6 s and is still open" in str(caught.value)
    assert said == ["waiting"]


def test_a_slow_pipe_is_read_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pauses shorter than the bound (each, not in sum) are waited out; the notice comes once."""
    monkeypatch.setattr("archspec.specbytes.NOTICE_SECONDS", 0.1)
    text = Path(LENET).read_bytes()
    half = len(text) // 2
    read_end, thread = _pipe_writing([(0.3, text[:half]), (0.3, b""), (0.3, text[half:])])
    said: list[str] = []
    try:
        spec = archspec.api.stdin_spec(read_end, idle=5.0, waiting=lambda: said.append("w"))
    finally:
        os.close(read_end)
        thread.join()
    assert spec.text.encode() == text and said == ["w"]
    assert archspec.check(spec).ok


def test_the_cli_says_it_waits_for_a_spec_piped_in(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`archspec check -` says on stderr what it waits for, and for how long at most."""
    from archspec.cli.app import spec_source

    asked: dict[str, object] = {}

    def fake(**kwargs: object) -> str:
        asked.update(kwargs)
        waiting = kwargs["waiting"]
        assert callable(waiting)
        waiting()
        return "read"

    monkeypatch.setattr(archspec.api, "stdin_spec", fake)
    assert spec_source("-") == "read"
    said = capsys.readouterr().err
    assert "waiting for the spec on standard input" in said and "30 s" in said


LIST_PARAM = """archspec: 1
name: widths
input: [N, 3, 8, 8]
params:
  widths: {type: list, default: [4, 8]}
layers:
  - {name: c1, type: conv2d, out_channels: "widths[0]", kernel_size: 3}
"""


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("[" + "1" * 41 + "]", "out of range (|n| <= 10^15) (at character 2)"),
        ("[4, *a]", "undefined alias (at character 5)"),
        ("[4, 2019-01-01]", "tag:yaml.org,2002:timestamp' is not allowed"),
        ("[4, .nan]", ".nan is not a finite number"),
        ("[4, 8", "did not find expected ',' or ']' (at its end)"),
        ("[4, !!python/object/apply:os.system [ls]]", "is not allowed in a spec"),
    ],
)
def test_a_set_list_says_why_it_is_refused(tmp_path: Path, value: str, reason: str) -> None:
    """`--set widths=[4, *a]` said only "expected a YAML list like [64, 64, M], got ..." of
    a value that is one, the loader's reason dropped."""
    spec = tmp_path / "widths.yaml"
    spec.write_text(LIST_PARAM)
    result = CliRunner().invoke(app, ["check", str(spec), "--set", f"widths={value}"])
    assert result.exit_code == 1, result.output
    assert "widths.yaml:5:3: error[E309]" in result.stderr
    assert reason in result.stderr.replace("\n", " "), result.stderr


@pytest.mark.parametrize(
    ("layers", "where"),
    [
        ("layers:\n\t- {name: c1, type: relu}\n", "5:1"),
        ("layers:\n  - name: c1\n\ttype: relu\n", "6:1"),
        ("layers:\n  -\t{name: c1, type: relu}\n", "5:4"),
    ],
)
def test_a_tab_in_the_indentation_is_named(layers: str, where: str) -> None:
    """A tab where YAML wants spaces was "found character that cannot start any token" with
    the hint to check indentation, colons and brackets, and the quoted line shows a tab as
    a space: nothing said what was wrong."""
    text = "archspec: 1\nname: tabs\ninput: [N, 3, 8, 8]\n" + layers
    result = CliRunner().invoke(app, ["check", text], env={"NO_COLOR": "1"})
    assert result.exit_code == 1
    said = result.stderr.replace("\n", " ")
    assert f"<string>:{where}: error[E101]: invalid YAML: a tab character" in said, said
    assert "YAML indents with spaces, never tabs" in said


@pytest.mark.parametrize("columns", ["1", "12", "20", "40"])
def test_a_narrow_terminal_loses_no_cell(columns: str) -> None:
    """`COLUMNS=20 archspec summary lenet5` printed the table with its Type, Output shape,
    Params and MACs cells empty (rich squeezed their columns to nothing), `archspec list`
    at 40 cut `alexnet_torchvision` to `alexnet_torchvis`, and at 1 the footer was one
    letter a line. A table is printed no narrower than its columns' floor (its lines then
    longer than the width), and the text under it wraps between words only."""
    env = {"COLUMNS": columns, "NO_COLOR": "1"}
    summary = CliRunner().invoke(app, ["summary", "lenet5"], env=env)
    assert summary.exit_code == 0, summary.output
    for word in (
        "c1",
        "Conv2d",
        "Tanh",
        "Total",
        "156",
        "61,706",
        "C_out*H_out*W_out*C_in/groups*k_h*k_w,",
    ):
        assert word in summary.stdout, (columns, word, summary.stdout)
    listed = CliRunner().invoke(app, ["list", "alexnet*"], env=env)
    assert listed.exit_code == 0, listed.output
    for word in ("alexnet_torchvision", "params", "MACs/sample", "61.10"):
        assert word in listed.stdout, (columns, word, listed.stdout)


def test_print_of_a_summary_at_a_narrow_width_keeps_its_cells() -> None:
    """`archspec.summary(...).to_text(12)` wrote `Tota` for Total and empty cells."""
    text = archspec.summary("lenet5").to_text(12)
    for word in ("Conv2d", "Linear", "Total", "61,706", "2,416"):
        assert word in text, (word, text)


BIDI_BASE = (
    "archspec: 1\nname: bidi\ninput: [N, 3, 8, 8]\n{extra}layers:\n  - {{name: c1, type: relu}}\n"
)


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ('params:\n  w: {type: int, doc: "x\u202e", default: 4}\n', "5:25"),
        ("description: plain \u2067 text\n", "4:20"),
        ("description: |\n  block\n  te\u202ext\n", "6:5"),
        ('description: "two\n  li\u2066nes"\n', "5:5"),
        ('params:\n  "w\u2069": {type: int, default: 4}\n', "5:5"),
    ],
)
def test_a_raw_bidi_control_in_a_key_or_value_is_e105_at_it(
    tmp_path: Path, extra: str, where: str
) -> None:
    """Trojan Source: `w: {type: int, doc: "x<RLO>", default: 4}` displays as
    `doc: "x}4 :tluafed ,"` in an editor, a diff or a review, and archspec read default 4;
    a raw override or isolate in a value was taken (and one in a key or a name refused only
    as a bad name, after the file had been read as the reader never saw it)."""
    spec = tmp_path / "bidi.yaml"
    spec.write_text(BIDI_BASE.format(extra=extra), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(spec)], env={"NO_COLOR": "1"})
    assert result.exit_code == 1, result.output
    assert f"bidi.yaml:{where}: error[E105]: the text holds U+" in result.stderr
    assert "a bidi control" in result.stderr and "\u202e" not in result.stderr


@pytest.mark.parametrize(
    "extra",
    [
        "# a comment \u202e may hold one: it reorders only itself\n",
        'description: "escaped \\u202e: the file shows ASCII"\n',
        "description: \u0627\u0644\u0639\u0631\u0628\u064a\u0629 \u200f marks reorder nothing\n",
    ],
)
def test_bidi_in_comments_escapes_and_marks_is_read(extra: str) -> None:
    """What the file shows is what it holds: a comment's control, an escaped one and the
    implicit marks pass; emitted code shows none of them raw."""
    text = BIDI_BASE.format(extra=extra)
    assert archspec.check(text).ok
    source = archspec.emit(text)
    assert not any(ch in source for ch in "\u202e\u200f")


def _many_blocks_spec(blocks: int, padding_lines: int) -> str:
    """A spec defining `blocks` blocks that nothing calls, grown to about 1 MiB by comments."""
    defined = "".join(f"  B{i}: {{layers: [{{type: relu}}]}}\n" for i in range(blocks))
    pad = "".join("# " + "x" * 90 + "\n" for _ in range(padding_lines))
    head = "archspec: 1\nname: many\ninput: [N, 3, 8, 8]\nblocks:\n"
    return head + defined + "layers:\n  - {type: relu}\n" + pad


def test_a_spec_of_thousands_of_blocks_checks_in_linear_time() -> None:
    """`archspec check` of a 1 MiB spec of 2,800 blocks took 34 s of CPU (56 s on a busy
    machine): W408 (a block never called) searched the whole text with a regex once per
    block, and each of the 2,800 warnings split the whole text into lines to quote one."""
    text = _many_blocks_spec(2_800, 9_500)
    assert 0.9 * 2**20 < len(text) < 2**20
    started = time.process_time()
    result = archspec.check(text)
    rendered = result.render()
    spent = time.process_time() - started
    assert result.ok and len(result.warnings) == 2_800
    assert rendered.count("warning[W408]") == 2_800
    assert spent < 8, spent


def test_quoting_many_diagnostics_of_one_source_splits_it_once() -> None:
    """Each diagnostic split its whole source into lines to quote one of them."""
    from archspec.errors import Diagnostic, SourceSpan

    text = "x: 1\n" * 200_000
    started = time.process_time()
    for line in range(1, 10_001):
        quoted = Diagnostic("W408", "m", SourceSpan("<s>", line, 1, line, 2)).render({"<s>": text})
        assert f"{line:>5} | x: 1" in quoted
    assert time.process_time() - started < 3


@pytest.mark.parametrize("through_link", [False, True])
def test_a_read_only_output_is_replaced_only_with_force(tmp_path: Path, through_link: bool) -> None:
    """`chmod a-w out.py; archspec compile net.yaml -o out.py` replaced the read-only file
    (a rename needs no permission on the file itself) because archspec had written it."""
    out = tmp_path / "out.py"
    first = CliRunner().invoke(app, ["compile", LENET, "-o", str(out)])
    assert first.exit_code == 0, first.output
    out.write_text(out.read_text() + "# kept\n")
    out.chmod(0o444)
    target = out
    if through_link:
        target = tmp_path / "link.py"
        target.symlink_to(out)
    refused = CliRunner().invoke(app, ["compile", LENET, "-o", str(target)])
    assert refused.exit_code == 1, refused.output
    assert "error[E603]" in refused.stderr and "read-only" in refused.stderr
    assert out.read_text().endswith("# kept\n")
    forced = CliRunner().invoke(app, ["compile", LENET, "-o", str(target), "--force"])
    assert forced.exit_code == 0, forced.output
    assert not out.read_text().endswith("# kept\n")
    assert out.stat().st_mode & 0o777 == 0o444
