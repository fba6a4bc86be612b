"""Reading a spec from elsewhere: the same verdict on every YAML library, no blocking reads,
and no terminal control characters from the spec in any message.

Three promises of the loader and the error model (issue 12, sections 0, 2 and 5):

- The depth limit (E104) fires where level MAX_DEPTH + 1 opens, with PyYAML's pure-Python
  parser, with libyaml, and with a libyaml that refuses nesting itself (0.2.6 stops at 1,000
  levels, and its lookahead reaches that limit before the event at level 65 is delivered).
- A spec path that is a FIFO, a device, a socket or a directory is refused (E100) before
  anything reads it: `open()` of a FIFO without a writer would wait forever.
- Spec text in a message (a key, a name, a reference, a file name, the quoted source line) is
  escaped: no ESC, OSC 52, bidi override or other invisible character reaches the terminal.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

import archspec
from archspec import api, loader, specbytes
from archspec.cli import app
from archspec.errors import ArchSpecError, Diagnostic, LoadError, SourceSpan, escape_text
from archspec.loader import MAX_DEPTH, load_yaml, read_spec_text

from .conftest import sample_params

runner = CliRunner()

# ----------------------------------------------------------------------------------------
# Section 0: the depth limit does not depend on the YAML library


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's pure-Python loader with a libyaml-0.2.6-like flow nesting limit, lowered to
    100 levels: it fails while scanning ahead, before the events before it are delivered."""

    LIMIT = 100

    def fetch_flow_collection_start(self, token_class: Any) -> None:
        if self.flow_level >= self.LIMIT:
            raise yaml.scanner.ScannerError(
                "while increasing flow level", None, "exceeded maximum nesting depth",
                self.get_mark(),
            )  # fmt: skip
        super().fetch_flow_collection_start(token_class)


PARSERS = ["libyaml", "python", "strict"]


@pytest.fixture(params=PARSERS)
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run the test under each event source the loader may meet."""
    if request.param == "libyaml":
        if getattr(yaml, "CSafeLoader", None) is None:
            pytest.skip("PyYAML was built without libyaml")
        monkeypatch.setattr(loader, "_CLoader", yaml.CSafeLoader)
    elif request.param == "python":
        monkeypatch.setattr(loader, "_CLoader", None)
    else:
        monkeypatch.setattr(loader, "_CLoader", _StrictLoader)
    return str(request.param)


def flow_one_line(n: int) -> tuple[str, int, int]:
    """`layers: [[[...]]]` on one line; level 1 is the root mapping."""
    return "archspec: 1\nlayers: " + "[" * n + "]" * n + "\n", 2, 9 + MAX_DEPTH - 1


def flow_many_lines(n: int) -> tuple[str, int, int]:
    """One `[` per line."""
    return "archspec: 1\nlayers:\n" + "  [\n" * n + "  " + "]" * n + "\n", 2 + MAX_DEPTH, 3


def block_compact(n: int) -> tuple[str, int, int]:
    """`- - - ... x`: each `- ` opens a block sequence one level deeper."""
    return "archspec: 1\nlayers:\n  " + "- " * n + "x\n", 3, 3 + 2 * (MAX_DEPTH - 1)


def block_mappings(n: int) -> tuple[str, int, int]:
    """`k0:` / ` k1:` / `  k2:` ...: the mapping at indent i is level i + 1."""
    lines = ["archspec: 1"] + [" " * i + f"k{i}:" for i in range(n)] + [" " * n + "x"]
    return "\n".join(lines) + "\n", 2 + MAX_DEPTH, MAX_DEPTH + 1


def mixed(n: int) -> tuple[str, int, int]:
    """30 block mappings, then brackets on one line: the levels add up."""
    text, _, _ = block_mappings(30)
    text = text.rsplit("\n", 2)[0] + "\n" + " " * 30 + "v: " + "[" * n + "]" * n + "\n"
    # level 31 is the innermost mapping; its value's k-th `[` opens level 31 + k
    return text, 32, 31 + 3 + (MAX_DEPTH - 31)


SHAPES: dict[str, Callable[[int], tuple[str, int, int]]] = {
    "flow_one_line": flow_one_line,
    "flow_many_lines": flow_many_lines,
    "block_compact": block_compact,
    "block_mappings": block_mappings,
    "mixed": mixed,
}
#: The argument of each shape that nests exactly MAX_DEPTH levels.
AT_LIMIT = {
    "flow_one_line": MAX_DEPTH - 1,
    "flow_many_lines": MAX_DEPTH - 1,
    "block_compact": MAX_DEPTH - 1,
    "block_mappings": MAX_DEPTH,
    "mixed": MAX_DEPTH - 31,
}
DEPTHS = [MAX_DEPTH + 1, 999, 1000, 1001, 5000]


#: Every shape at every depth, but 5,000 indented mapping levels: over the 1 MB size limit.
SHAPE_DEPTHS = [
    (shape, depth)
    for shape in sorted(SHAPES)
    for depth in DEPTHS
    if not (shape == "block_mappings" and depth > 1001)
]


@pytest.mark.parametrize(
    ("shape", "depth"),
    sample_params(
        SHAPE_DEPTHS, family=lambda case: case[0], ids=lambda case: f"{case[0]}-{case[1]}"
    ),
)
def test_depth_limit_fires_where_level_65_opens(parser: str, shape: str, depth: int) -> None:
    """Every shape under every parser in the default run, at the first depth past the limit and
    a sample of the deeper ones (those around Python's recursion limit cost seconds under the
    pure-Python parser); `--all` runs every depth."""
    text, line, col = SHAPES[shape](depth)
    with pytest.raises(LoadError) as info:
        load_yaml(text, "deep.yaml")
    err = info.value
    assert err.codes == ["E104"], err.render()
    assert f"nested deeper than {MAX_DEPTH} levels" in err.diagnostics[0].message
    assert (err.span.line, err.span.col) == (line, col), (parser, err.render())
    assert text.splitlines()[line - 1][col - 1] in "[-k "


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_depth_at_the_limit_is_accepted(parser: str, shape: str) -> None:
    """Exactly MAX_DEPTH levels load: the limit is not off by one."""
    assert load_yaml(SHAPES[shape](AT_LIMIT[shape])[0]).data["archspec"] == 1
    with pytest.raises(LoadError):
        load_yaml(SHAPES[shape](AT_LIMIT[shape] + 1)[0])


def test_the_strict_loader_really_fails_before_level_65() -> None:
    """The simulation is meaningful: without the loader's retry, the 65th level is never seen."""
    text, _, _ = flow_one_line(1000)
    depth = 0
    with pytest.raises(yaml.scanner.ScannerError):
        for event in yaml.parse(text, Loader=_StrictLoader):
            depth += isinstance(event, yaml.CollectionStartEvent)
    assert depth < MAX_DEPTH


def test_installed_libyaml_agrees_with_pure_python(monkeypatch: pytest.MonkeyPatch) -> None:
    """Whatever libyaml is installed: the same code and position as PyYAML's own parser."""
    found = {}
    for name, cls in [("c", getattr(yaml, "CSafeLoader", None)), ("py", None)]:
        monkeypatch.setattr(loader, "_CLoader", cls)
        for shape, build in SHAPES.items():
            text, _, _ = build(1001)
            with pytest.raises(LoadError) as info:
                load_yaml(text)
            found[name, shape] = (info.value.codes, str(info.value.span))
    for shape in SHAPES:
        assert found["c", shape] == found["py", shape], shape


def test_a_yaml_error_before_the_deep_part_is_reported_as_such(parser: str) -> None:
    text = "archspec: 1\nbad: @x\nlayers: " + "[" * 2000 + "]" * 2000 + "\n"
    with pytest.raises(LoadError) as info:
        load_yaml(text)
    assert info.value.codes == ["E101"] and info.value.span.line == 2


def test_a_yaml_error_after_the_deep_part_does_not_hide_it(parser: str) -> None:
    text = "archspec: 1\nlayers: " + "[" * 200 + "]" * 199 + "\nbad: @x\n"
    with pytest.raises(LoadError) as info:
        load_yaml(text)
    assert info.value.codes == ["E104"] and str(info.value.span) == "<string>:2:72"


def test_node_limit_is_the_same_on_every_parser(parser: str) -> None:
    text = "archspec: 1\nlayers: [" + ", ".join(["1"] * (loader.MAX_NODES + 5)) + "]\n"
    with pytest.raises(LoadError) as info:
        load_yaml(text)
    assert info.value.codes == ["E104"]
    assert "YAML nodes" in info.value.diagnostics[0].message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("archspec: 1\nname: 'é漢\x07'\n", (2, 10)),  # columns count characters, not bytes
        ("a: 1\r\nb: 2\r\nc: '\x01'\n", (3, 5)),  # \r\n is one line break
        ("a: 1\rb: 2\rc: '\x01'", (3, 5)),  # and \r in a file of \r breaks (an old Mac's)
        ("a: 1\nb: 2\rc: '\x01'\n", (2, 5)),  # a lone \r among \n breaks is hidden: E105
        ("a: 'é'\nb: '\ud800'\n", (2, 5)),  # a lone surrogate from a Python string
        ("a: 1\u2028b: '\x1b'\n", (1, 5)),  # U+2028, a hidden YAML line break, comes first
    ],
)
def test_a_refused_character_is_located_by_character(
    parser: str, text: str, where: tuple[int, int]
) -> None:
    with pytest.raises(LoadError) as info:
        load_yaml(text)
    assert info.value.codes == ["E105"]
    assert (info.value.span.line, info.value.span.col) == where


# ----------------------------------------------------------------------------------------
# Section 2: reading never blocks


def bounded(fn: Callable[[], Any], release: Path | None = None, seconds: float = 10.0) -> Any:
    """Run `fn` in a thread; fail (and unblock it by opening `release` for writing) if it
    takes longer than `seconds`: a regression must fail the test, not hang the suite."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the test
            box["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        if release is not None:
            fd = os.open(release, os.O_WRONLY | os.O_NONBLOCK)
            os.close(fd)
        pytest.fail(f"reading blocked for more than {seconds} s")
    if "error" in box:
        raise box["error"]
    return box.get("value")


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    path = tmp_path / "spec.yaml"
    os.mkfifo(path)
    return path


@pytest.fixture
def unix_socket() -> Iterator[Path]:
    # AF_UNIX paths are limited to about 100 bytes: a short directory, not tmp_path
    with tempfile.TemporaryDirectory(dir="/tmp" if os.path.isdir("/tmp") else None) as d:
        path = Path(d) / "s.yaml"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(str(path))
            yield path
        finally:
            sock.close()


def assert_refused(err: ArchSpecError, path: Path, kind: str) -> None:
    assert err.codes == ["E100"], err.render()
    assert err.span is not None and (err.span.file, err.span.line) == (str(path), 1)
    assert f"is {kind}, not a spec file" in err.diagnostics[0].message
    assert err.hint and "regular file" in err.hint


def test_fifo_is_refused_by_read_spec_text(fifo: Path) -> None:
    with pytest.raises(LoadError) as info:
        bounded(lambda: read_spec_text(fifo), release=fifo)
    assert_refused(info.value, fifo, "a FIFO (named pipe)")


@pytest.mark.parametrize("as_path", [True, False])
def test_fifo_is_refused_through_the_api(fifo: Path, as_path: bool) -> None:
    source: str | Path = fifo if as_path else str(fifo)
    with pytest.raises(LoadError) as info:
        bounded(lambda: api.read_source(source), release=fifo)
    assert_refused(info.value, fifo, "a FIFO (named pipe)")
    result = bounded(lambda: archspec.check(source), release=fifo)
    assert not result.ok and result.errors[0].code == "E100"


def test_symlink_to_a_fifo_is_refused(fifo: Path, tmp_path: Path) -> None:
    link = tmp_path / "link.yaml"
    link.symlink_to(fifo)
    with pytest.raises(LoadError) as info:
        bounded(lambda: read_spec_text(link), release=fifo)
    assert_refused(info.value, link, "a FIFO (named pipe)")


def test_directory_and_link_to_one_are_refused(tmp_path: Path) -> None:
    (tmp_path / "d.yaml").mkdir()
    (tmp_path / "l.yaml").symlink_to(tmp_path / "d.yaml")
    for path in (tmp_path / "d.yaml", tmp_path / "l.yaml"):
        with pytest.raises(LoadError) as info:
            read_spec_text(path)
        assert_refused(info.value, path, "a directory")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/null", "/dev/urandom", "/dev/tty"])
def test_character_devices_are_refused_before_open(device: str, tmp_path: Path) -> None:
    if not os.path.exists(device):
        pytest.skip(f"no {device}")
    link = tmp_path / "dev.yaml"
    link.symlink_to(device)
    for path in (Path(device), link):
        with pytest.raises(LoadError) as info:
            bounded(lambda p=path: read_spec_text(p))
        assert_refused(info.value, path, "a character device")


def test_socket_is_refused(unix_socket: Path) -> None:
    with pytest.raises(LoadError) as info:
        bounded(lambda: read_spec_text(unix_socket))
    assert_refused(info.value, unix_socket, "a socket")


def test_a_fifo_swapped_in_after_stat_is_refused(
    fifo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The type of what was opened counts (fstat), not what stat saw a moment before."""
    regular = tmp_path / "regular.yaml"
    regular.write_text("archspec: 1\n")
    real_stat = os.stat

    def stale_stat(path: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        return real_stat(regular if Path(path) == fifo else path, *args, **kwargs)

    monkeypatch.setattr(specbytes.os, "stat", stale_stat)
    with pytest.raises(LoadError) as info:
        bounded(lambda: read_spec_text(fifo), release=fifo)
    assert_refused(info.value, fifo, "a FIFO (named pipe)")


def test_a_file_longer_than_stat_said_is_read_only_to_the_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file that grows while it is read (or a /proc file that says 0 bytes): at most one
    byte past the limit is read, whatever st_size said."""
    path = tmp_path / "growing.yaml"
    path.write_bytes(b"# " + b"a" * (loader.MAX_BYTES * 2) + b"\n")
    real_stat, real_read = os.stat, os.read
    got = []

    def small_stat(p: Any, *args: Any, **kwargs: Any) -> os.stat_result:
        info = real_stat(p, *args, **kwargs)
        if Path(p) != path:
            return info
        fields = list(info)
        fields[6] = 10  # st_size
        return os.stat_result(fields)

    def counting_read(fd: int, n: int) -> bytes:
        data = real_read(fd, n)
        got.append(len(data))
        return data

    monkeypatch.setattr(specbytes.os, "stat", small_stat)
    monkeypatch.setattr(specbytes.os, "read", counting_read)
    with pytest.raises(LoadError) as info:
        read_spec_text(path)
    assert info.value.codes == ["E104"] and "larger than" in str(info.value)
    assert sum(got) == loader.MAX_BYTES + 1


def test_proc_files_are_regular_and_read_bounded() -> None:
    """/proc files say 0 bytes; they are regular, read to their end (or to the limit)."""
    if not os.path.exists("/proc/self/status"):
        pytest.skip("no /proc")
    assert "Name:" in read_spec_text("/proc/self/status")


def test_a_regular_file_still_reads(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_bytes(b"\xef\xbb\xbfarchspec: 1\n")
    assert read_spec_text(path) == "archspec: 1\n"
    link = tmp_path / "link.yaml"
    link.symlink_to(path)
    assert read_spec_text(link) == "archspec: 1\n"


def run_cli(args: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """The real `archspec` process: a hang is a timeout, not a stuck test run."""
    return subprocess.run(
        [sys.executable, "-m", "archspec", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        **kwargs,
    )


def test_cli_check_refuses_a_fifo(fifo: Path) -> None:
    result = run_cli(["check", str(fifo)], stdin=subprocess.DEVNULL)
    assert result.returncode == 1, result.stderr
    assert f"{fifo}:1:1: error[E100]: {fifo} is a FIFO (named pipe)" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_check_refuses_dev_stdin_that_is_a_pipe(tmp_path: Path) -> None:
    """`archspec check /dev/stdin` on a pipe that stays open and empty: refused at once."""
    if not os.path.exists("/dev/stdin"):
        pytest.skip("no /dev/stdin")
    with (tmp_path / "err").open("w+") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "archspec", "check", "/dev/stdin"],
            stdin=subprocess.PIPE,  # kept open and never written (communicate would close it)
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        try:
            code = proc.wait(timeout=120)
        finally:
            proc.kill()
            proc.stdin.close()  # type: ignore[union-attr]
        err.seek(0)
        shown = err.read()
    assert code == 1, shown
    assert "error[E100]" in shown and "FIFO" in shown


def test_cli_check_reads_dev_stdin_that_is_a_regular_file(tmp_path: Path) -> None:
    spec = api.builtin_specs()["lenet5"]
    with spec.open("rb") as stdin:
        result = run_cli(["check", "/dev/stdin"], stdin=stdin)
    assert result.returncode == 0, result.stderr


# ----------------------------------------------------------------------------------------
# Section 5: no control characters from a spec in any message

#: What a terminal may act on or reorder: controls, format characters (bidi, zero width),
#: surrogates, private use, unassigned, line and paragraph separators.
_HIDDEN = {"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"}
_OUR_COLOURS = re.compile(r"\x1b\[[0-9;]*m")

ESC_TITLE = "\\e]0;pwned\\a"  # YAML double-quoted escapes: OSC 0 sets the window title
OSC52 = "\\e]52;c;cHduZWQ=\\a"  # writes "pwned" to the clipboard
CLEAR = "\\e[2J\\e[H"
BIDI = "\\u202e\\u2066\\u200b"


def hidden(text: str, colour: bool = False) -> list[str]:
    """The characters of `text` a terminal would not show as themselves (newline allowed)."""
    if colour:
        text = _OUR_COLOURS.sub("", text)
    return [ch for ch in text if ch != "\n" and unicodedata.category(ch) in _HIDDEN]


BASE = """archspec: 1
name: t
input: [N, 3, 8, 8]
blocks:
  B:
    layers: [{type: relu}]
layers:
"""

CASES = {
    "key": f'  - {{type: conv2d, out_channels: 4, kernel_size: 3, "k{OSC52}{BIDI}": 1}}',
    "block": f'  - {{type: "B{CLEAR}{BIDI}"}}',
    "reference": f'  - {{type: relu, name: a}}\n  - {{type: relu, from: "a{ESC_TITLE}{BIDI}"}}',
    "layer_name": f'  - {{type: relu, name: "c{CLEAR}{OSC52}\\u202eevil"}}',
    "param": f'  - {{type: conv2d, out_channels: "w{CLEAR}", kernel_size: 3}}',
    # a raw bidi override and isolate in the file itself (YAML allows them): the quoted line
    "raw_bidi": '  - {type: relu, name: a}\n  - {type: relu, from: "b\u202e", name: c}  # \u2067',
}
CODES = {
    "key": "E201",
    "block": "E205",
    "reference": "E305",
    "layer_name": "E204",
    "param": "E206",
    "raw_bidi": "E105",  # a raw bidi control in a value is refused at it (textdirection.py)
}
EVIL_FILE = "evil\x1b]0;pwned\x07\u202e.yaml"


def write_case(directory: Path, case: str, evil_name: bool) -> Path:
    path = directory / (EVIL_FILE if evil_name else f"{case}.yaml")
    path.write_text(BASE + CASES[case] + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("evil_name", [False, True], ids=["plain_name", "evil_file_name"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_api_messages_hold_no_control_characters(
    case: str, evil_name: bool, tmp_path: Path
) -> None:
    path = write_case(tmp_path, case, evil_name)
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(path, device="meta")
    err = info.value
    assert CODES[case] in err.codes, err.render()
    assert not hidden(err.render())
    assert not hidden(err.render(color=True), colour=True)
    assert "\x1b[1;31m" in err.render(color=True), "our own colours survive"
    assert not hidden(str(err))
    for d in err.diagnostics:
        assert not hidden("".join(str(v) for v in d.to_dict().values()))
        assert not hidden(d.message) and not hidden(d.hint or "")
    result = archspec.check(path)
    assert not hidden(result.render())
    # the spec text is still there to read, as escapes
    shown = err.render()
    assert "\\x1b" in shown or "\\u202e" in shown
    if evil_name:
        assert "evil\\x1b]0;pwned\\x07\\u202e.yaml:" in shown


@pytest.mark.parametrize("evil_name", [False, True], ids=["plain_name", "evil_file_name"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_cli_stderr_holds_no_control_characters(case: str, evil_name: bool, tmp_path: Path) -> None:
    path = write_case(tmp_path, case, evil_name)
    result = runner.invoke(app, ["check", str(path)])
    assert result.exit_code == 1, result.output
    assert f"error[{CODES[case]}]" in result.stderr
    assert not hidden(result.stderr), result.stderr
    assert "Traceback" not in result.stderr


def test_a_spec_named_with_controls_on_the_command_line(tmp_path: Path) -> None:
    """A path that does not exist, with an escape sequence in it: the E100 says so, escaped."""
    result = runner.invoke(app, ["check", str(tmp_path / "no\x1b]52;c;eA==\x07such.yaml")])
    assert result.exit_code == 1 and "error[E100]" in result.stderr
    assert not hidden(result.stderr), result.stderr


def test_printable_unicode_stays_readable() -> None:
    text = BASE + '  - {type: relu, name: "café_漢字"}\n'
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(text, device="meta")
    assert "'café_漢字'" in info.value.render()


def display_width(text: str) -> int:
    """Terminal cells, as a terminal counts them (wide CJK two, combining marks none)."""
    cells = 0
    for ch in text:
        if unicodedata.category(ch) in ("Mn", "Me"):
            continue
        cells += 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
    return cells


def quoted(rendered: str) -> tuple[str, str]:
    """The quoted source line and the caret line of a one-diagnostic render."""
    lines = rendered.splitlines()
    return lines[1], lines[2]


@pytest.mark.parametrize(
    "before",
    ["", "\u200e", "\u200f\u061c\u200b", "漢字", "é\u0301", "\u3000", "\ufeff", "\U000e0001"],
)
def test_caret_stays_under_its_token_after_escaping(before: str) -> None:
    """Escapes widen the quoted line; the caret moves with them (and with wide characters).
    Bidi marks, not overrides: an override or isolate in a value is E105 at itself."""
    text = BASE + f'  - {{type: relu, name: "x{before}", poll: 1}}\n'
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(text, device="meta")
    diag = next(d for d in info.value.diagnostics if "poll" in d.message)
    line, caret = quoted(diag.render(info.value.sources))
    assert not hidden(line)
    token = line.index("poll")
    assert display_width(caret[: caret.index("^")]) == display_width(line[:token])
    assert caret.endswith("^~~~")


# Properties of the escaping itself, over arbitrary text (any code point, surrogates too).
any_text = st.text(st.characters(exclude_categories=()), max_size=40)


@given(any_text)
def test_escape_text_leaves_nothing_hidden_and_is_idempotent(text: str) -> None:
    shown = escape_text(text)
    assert not hidden(shown) and "\n" not in shown
    assert escape_text(shown) == shown
    if text.isprintable():
        assert shown == text


@given(any_text, any_text, any_text, any_text, st.integers(1, 45), st.integers(0, 10))
def test_any_rendered_diagnostic_is_clean_and_aligned(
    message: str, hint: str, file: str, line_text: str, col: int, width: int
) -> None:
    src = line_text.replace("\n", " ").replace("\r", " ")
    src = "".join(" " if ch in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029" else ch for ch in src)
    span = SourceSpan(file, 2, col, 2, col + width)
    diag = Diagnostic("E101", message, span, hint or None)
    rendered = diag.render({file: "first\n" + src + "\nlast\n"})
    assert not hidden(rendered)
    lines = rendered.split("\n")
    assert len(lines) == 3 + (1 if hint else 0)
    shown, caret = lines[1], lines[2]
    assert shown == f"    2 | {escape_text(src.replace(chr(9), ' '))}"
    clamped = min(col, len(src) + 1)
    prefix = escape_text(src.replace("\t", " ")[: clamped - 1])
    assert display_width(caret[: caret.index("^")]) == display_width("    2 | " + prefix)
