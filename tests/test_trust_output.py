"""Output paths and process behaviour, tried as an attacker (or an unlucky user) would.

Every writer (schema -o, graph -o, compile, new) follows archspec.files' rule: a device, FIFO
or socket is written through or refused, never renamed over or read; a directory is E604;
a regular file archspec did not write is E603 without --force. Names at the file system's
limit work or are E604; signals and closed pipes end the process cleanly.

/dev/null is never at risk here: every in-process test runs with a guard that fails the test
if anything is renamed outside its temporary directory, and the type and identity of
/dev/null are compared before and after.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import archspec
from archspec import files, stopsignals
from archspec.backends.pysource import render_module
from archspec.cli import app
from archspec.errors import EmitError
from archspec.files import MODULE, check_target, write_atomic
from archspec.graph import render
from archspec.schema import json_schema_text

from .conftest import ROOT

runner = CliRunner()

IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0

#: Each writer, as the argv that writes to a path, and the suffix its output takes.
WRITERS: dict[str, tuple[Callable[[str], list[str]], str]] = {
    "schema": (lambda p: ["schema", "-o", p], ".json"),
    "graph": (lambda p: ["graph", "lenet5", "-o", p], ".mmd"),
    "compile": (lambda p: ["compile", "lenet5", "-o", p], ".py"),
    "new": (lambda p: ["new", "mynet", "-o", p], ".yaml"),
}

TMP_NAME = re.compile(r"\.archspec-[a-z0-9_]{8}\.tmp")


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"NO_COLOR": "1"})


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


def identity(path: str | Path) -> tuple[int, int, int, int]:
    st = os.lstat(path)
    return st.st_mode, st.st_rdev, st.st_dev, st.st_ino


@pytest.fixture(autouse=True)
def renames_stay_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test, instead of replacing anything, if a rename leaves tmp_path."""
    real_replace = os.replace
    root = tmp_path.resolve()

    def guarded(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        where = Path(os.path.realpath(os.path.dirname(os.fspath(dst)) or "."))
        assert where == root or root in where.parents, f"rename over {dst} outside the test"
        real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", guarded)
    monkeypatch.setattr(os, "rename", guarded)


def _mknod_or_skip(path: Path, mode: int, device: int) -> None:
    if not IS_ROOT:
        pytest.skip("creating a device node needs root")
    os.mknod(path, mode | 0o600, device)


#: Every writer into every kind of null device (graph writes DOT to /dev/null, which has no
#: picture suffix, as it prints DOT without -o).
NULL_CASES = [
    (writer, where)
    for where in ("dev-null", "link-to-dev-null", "own-null", "link-to-own-null")
    for writer in sorted(WRITERS)
]


@pytest.mark.parametrize(("writer", "where"), NULL_CASES)
def test_a_null_device_is_written_through_and_stays_a_device(
    tmp_path: Path, writer: str, where: str
) -> None:
    argv, suffix = WRITERS[writer]
    device = Path(os.devnull)
    if where.endswith("own-null"):  # a null device of our own: what a bug would replace
        device = tmp_path / f"null{suffix}"
        _mknod_or_skip(device, stat.S_IFCHR, os.stat(os.devnull).st_rdev)
    target = device
    if where.startswith("link"):
        target = tmp_path / f"link{suffix}"
        target.symlink_to(device)
    before = identity(device), listing(tmp_path), os.path.lexists("/dev/archspec.schema.json")
    result = cli(*argv(str(target)))
    assert result.exit_code == 0, result.output
    assert f"wrote {target}" in result.output
    after = identity(device), listing(tmp_path), os.path.lexists("/dev/archspec.schema.json")
    assert after == before  # still the same device; nothing else written beside it
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    if where.startswith("link"):
        assert target.is_symlink() and os.readlink(target) == str(device)


#: Every writer at every kind of node, but compile at a link to a directory: `compile -o DIR`
#: writes DIR/<name>.py, as documented.
NODE_CASES = [
    (writer, what)
    for what in ("socket", "block-device", "other-char-device", "dir-link")
    for writer in sorted(WRITERS)
    if not (what == "dir-link" and writer == "compile")
]


@pytest.mark.parametrize(("writer", "what"), NODE_CASES)
def test_a_socket_device_or_directory_is_refused_with_e604(
    tmp_path: Path, writer: str, what: str
) -> None:
    argv, suffix = WRITERS[writer]
    node = tmp_path / f"n{suffix}"
    sock = None
    if what == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(node))
    elif what == "block-device":
        _mknod_or_skip(node, stat.S_IFBLK, os.makedev(7, 250))  # a loop device, never opened
    elif what == "other-char-device":
        _mknod_or_skip(node, stat.S_IFCHR, os.makedev(1, 7))  # /dev/full's numbers
    else:
        (tmp_path / "d").mkdir()
        node.symlink_to(tmp_path / "d")
    before = identity(node), listing(tmp_path)
    try:
        result = cli(*argv(str(node)))
    finally:
        if sock is not None:
            sock.close()
    assert result.exit_code == 1, result.output
    assert "error[E604]" in result.output and "archspec writes no file there" in result.output
    assert (identity(node), listing(tmp_path)) == before
    if what == "dir-link":
        assert listing(tmp_path / "d") == []


def _read_fifo(fifo: Path, proc: subprocess.Popen[bytes], timeout: float = 120) -> bytes:
    """Everything written to `fifo` until `proc` ends (the read end is open from the start)."""
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            try:
                chunk = os.read(fd, 1 << 16)
            except BlockingIOError:
                time.sleep(0.005)
                continue
            if chunk:
                chunks.append(chunk)
            elif proc.poll() is not None:
                break
            else:
                time.sleep(0.005)
    finally:
        os.close(fd)
    return b"".join(chunks)


@pytest.mark.parametrize("writer", ["schema", "compile"])
def test_a_fifo_is_written_through_to_its_reader_or_refused_at_once(
    tmp_path: Path, writer: str
) -> None:
    argv, _ = WRITERS[writer]
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    cmd = [sys.executable, "-m", "archspec", *argv(str(fifo))]
    env = {**os.environ, "NO_COLOR": "1"}
    # Nobody reads it: refused at once (the old code hung reading it, or opening it).
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1 and "error[E604]" in done.stderr
    assert "no process is reading" in done.stderr and "Traceback" not in done.stderr
    # With a reader, the whole output reaches it; the FIFO stays a FIFO.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    got = _read_fifo(fifo, proc)
    assert proc.wait(timeout=120) == 0, proc.stderr.read() if proc.stderr else ""
    if writer == "schema":
        assert got.decode() == json_schema_text()
    else:
        assert got.decode() == render_module(archspec.build_graph("lenet5"))
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and listing(tmp_path) == ["fifo"]


def test_dev_stdout_is_this_process_stdout_whatever_it_is(tmp_path: Path) -> None:
    """`-o /dev/stdout` with stdout a pipe, or a regular file: written through, not renamed."""
    cmd = [sys.executable, "-m", "archspec", "schema", "-o", "/dev/stdout"]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout == json_schema_text()
    out = tmp_path / "out.json"
    out.write_text("")  # what a shell's `>` leaves: not ours, but it is our stdout
    before = identity(out)
    with out.open("ab") as f:
        done = subprocess.run(cmd, stdout=f, stderr=subprocess.PIPE, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert identity(out)[2:] == before[2:]  # the same file, written in place
    assert out.read_text() == json_schema_text()


def test_a_pipe_named_by_dev_fd_is_written_through(tmp_path: Path) -> None:
    """`-o /dev/fd/N` (a shell's `>(...)`): a pipe with no path of its own, opened by name."""
    read_end, write_end = os.pipe()
    proc = subprocess.Popen(
        _archspec("schema", "-o", f"/dev/fd/{write_end}"),
        pass_fds=(write_end,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    assert proc.wait(timeout=120) == 0
    assert data.decode() == json_schema_text()


# -- files archspec did not write ---------------------------------------------------------

FOREIGN = "hand-written, not archspec's\n"


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_a_file_archspec_did_not_write_needs_force(tmp_path: Path, writer: str) -> None:
    argv, suffix = WRITERS[writer]
    target = tmp_path / f"mine{suffix}"
    target.write_text(FOREIGN)
    result = cli(*argv(str(target)))
    assert result.exit_code == 1, result.output
    assert "error[E603]" in result.output and "--force" in result.output
    assert target.read_text() == FOREIGN and listing(tmp_path) == [target.name]
    forced = cli(*argv(str(target)), "--force")
    assert forced.exit_code == 0, forced.output
    assert target.read_text() != FOREIGN


@pytest.mark.parametrize("writer", ["schema", "graph", "graph-dot", "compile"])
def test_a_file_archspec_wrote_is_replaced_without_force(tmp_path: Path, writer: str) -> None:
    argv, suffix = WRITERS[writer.split("-")[0]]
    target = tmp_path / ("g.dot" if writer == "graph-dot" else f"out{suffix}")
    for attempt in range(2):
        result = cli(*argv(str(target)))
        assert result.exit_code == 0, (attempt, result.output)
    assert listing(tmp_path) == [target.name]


def test_the_docs_schema_is_taken_for_archspec_s_own(tmp_path: Path) -> None:
    target = tmp_path / "archspec.schema.json"
    target.write_bytes((ROOT / "docs" / "archspec.schema.json").read_bytes())
    result = cli("schema", "-o", str(target))
    assert result.exit_code == 0, result.output


def test_each_kind_knows_its_own_output_and_only_that() -> None:
    graph = archspec.build_graph("lenet5")
    outputs = {
        files.MODULE: render_module(graph).encode(),
        files.SCHEMA: json_schema_text().encode(),
        files.DOT: render(graph, "dot"),
        files.MERMAID: render(graph, "mermaid"),
    }
    for kind in (*outputs, files.SPEC, files.PICTURE, files.ANY):
        for made_as, data in outputs.items():
            head, tail = data[: files.HEAD_BYTES], data[-files.TAIL_BYTES :]
            expected = kind in (made_as, files.ANY)
            assert kind.written_by_archspec(head, tail) is expected, (kind.name, made_as.name)
        assert not kind.written_by_archspec(FOREIGN.encode(), FOREIGN.encode())


# -- symbolic links ---------------------------------------------------------------------------


def test_a_link_to_a_file_is_written_through_and_stays_a_link(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert cli("schema", "-o", str(link)).exit_code == 1  # a link to nothing: E604
    assert not real.exists() and link.is_symlink()
    real.write_text(FOREIGN)
    result = cli("schema", "-o", str(link))
    assert result.exit_code == 1 and "error[E603]" in result.output
    assert real.read_text() == FOREIGN
    assert cli("schema", "-o", str(link), "--force").exit_code == 0
    assert link.is_symlink() and real.read_text() == json_schema_text()
    assert cli("schema", "-o", str(link)).exit_code == 0  # ours now
    assert listing(tmp_path) == ["link.json", "real.json"]


def test_a_dangling_link_or_a_loop_is_e604_and_creates_nothing(tmp_path: Path) -> None:
    (tmp_path / "loop.py").symlink_to(tmp_path / "loop.py")
    (tmp_path / "dangling.py").symlink_to(tmp_path / "missing" / "x.py")
    for name in ("loop.py", "dangling.py"):
        result = cli("compile", "lenet5", "-o", str(tmp_path / name))
        assert result.exit_code == 1 and "error[E604]" in result.output, result.output
    assert listing(tmp_path) == ["dangling.py", "loop.py"]


# -- names at the file system's limit ----------------------------------------------------------


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_any_legal_name_works_and_a_longer_one_is_e604(tmp_path: Path, writer: str) -> None:
    if os.pathconf(tmp_path, "PC_NAME_MAX") != 255:
        pytest.skip("the test assumes a 255-byte NAME_MAX")
    argv, suffix = WRITERS[writer]
    longest = tmp_path / ("a" * (255 - len(suffix)) + suffix)
    result = cli(*argv(str(longest)))
    assert result.exit_code == 0, result.output
    assert longest.is_file()
    too_long = tmp_path / ("b" * 300 + suffix)
    result = cli(*argv(str(too_long)))
    assert result.exit_code == 1, result.output
    assert "error[E604]" in result.output and "File name too long" in result.output
    assert not [n for n in listing(tmp_path) if TMP_NAME.fullmatch(n)]


def test_the_temporary_file_is_short_private_until_checked_then_takes_its_mode(
    tmp_path: Path,
) -> None:
    target = tmp_path / ("c" * 250 + ".py")
    target.write_text("# Generated by archspec, an old version\n")
    target.chmod(0o640)
    seen: list[tuple[str, int, str]] = []

    def check() -> str:
        (tmp,) = [p for p in tmp_path.iterdir() if p != target]
        seen.append((tmp.name, stat.S_IMODE(tmp.stat().st_mode), target.read_text()))
        return "checked"

    assert write_atomic(target, "# Generated by archspec\nnew\n", check, kind=files.MODULE) == (
        "checked"
    )
    ((name, mode, during),) = seen
    assert TMP_NAME.fullmatch(name) and mode == 0o600
    assert during.endswith("an old version\n")  # not replaced before the check passed
    assert stat.S_IMODE(target.stat().st_mode) == 0o640 and target.read_text().endswith("new\n")
    old_umask = os.umask(0o027)
    try:
        write_atomic(tmp_path / "fresh.json", "{}")
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE((tmp_path / "fresh.json").stat().st_mode) == 0o640


def test_a_refused_check_leaves_nothing(tmp_path: Path) -> None:
    def refuse() -> None:
        raise EmitError("no")

    with pytest.raises(EmitError):
        write_atomic(tmp_path / "x.py", "data", refuse)
    assert listing(tmp_path) == []


def test_compile_checks_the_string_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The self-check runs the rendered source itself, while the file is private (0600)."""
    import importlib.machinery

    from archspec.backends import selfcheck

    real = selfcheck.check_emitted_source
    calls: list[tuple[str, int]] = []

    def spy(source: str, graph: Any) -> tuple[int, int]:
        (tmp,) = [p for p in tmp_path.iterdir() if TMP_NAME.fullmatch(p.name)]
        calls.append((source, stat.S_IMODE(tmp.stat().st_mode)))
        return real(source, graph)

    def no_file_loading(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the check must not load a module from a file")

    monkeypatch.setattr(selfcheck, "check_emitted_source", spy)
    monkeypatch.setattr(importlib.machinery, "SourceFileLoader", no_file_loading)
    target = tmp_path / "net.py"
    result = cli("compile", "lenet5", "-o", str(target))
    assert result.exit_code == 0, result.output
    ((source, mode),) = calls
    assert mode == 0o600 and source == target.read_text()


# -- what is printed ---------------------------------------------------------------------------


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_markup_and_control_characters_in_a_path_are_printed_as_text(
    tmp_path: Path, writer: str
) -> None:
    argv, suffix = WRITERS[writer]
    target = tmp_path / f"o[/x][bold]:smile:{suffix}"
    result = cli(*argv(str(target)))
    assert result.exit_code == 0, result.output
    assert f"wrote {target}" in result.output and target.is_file()
    odd = tmp_path / f"t\x1b]0;owned\x07\x1b[2J{suffix}"
    result = cli(*argv(str(odd)))
    assert result.exit_code == 0, result.output
    assert odd.is_file() and "\x1b" not in result.output and "\x07" not in result.output
    assert "t\\x1b]0;owned\\x07\\x1b[2J" in result.output


@pytest.mark.parametrize("command", ["check", "summary"])
def test_an_input_of_thousands_of_digits_is_a_usage_error(command: str) -> None:
    result = cli(command, "lenet5", "--input", f"1,1,{'9' * 5000},32")
    assert result.exit_code == 2, result.output
    assert "each below 2**62" in result.output and len(result.output) < 2000
    padded = cli(command, "lenet5", "--input", f"1,1,{'0' * 5000}32,32")
    assert padded.exit_code == 0, padded.output


# -- signals and pipes, in real processes -------------------------------------------------------


def _archspec(*args: str) -> list[str]:
    return [sys.executable, "-m", "archspec", *args]


def _default_stop_signals() -> None:
    """In the child: SIGINT, SIGTERM and SIGHUP at their default actions, whatever the test
    run inherited (`nohup` ignores SIGHUP, a shell's `&` ignores SIGINT), and not blocked:
    archspec rightly leaves an ignored SIGHUP ignored, which is not what these tests are
    about."""
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, (signal.SIGINT, signal.SIGTERM, signal.SIGHUP))


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGHUP", "SIGINT"])
def test_a_signal_while_compile_writes_leaves_the_old_file_and_no_temporary(
    tmp_path: Path, signame: str
) -> None:
    """The signal lands while the temporary file is checked (the self-check builds the
    emitted resnet152). On a busy machine this test process may first see the temporary
    file after the child has finished: that attempt proves nothing and is run again."""
    signum = getattr(signal, signame)
    target = tmp_path / "net.py"
    old = "# Generated by archspec, by an earlier run\n"
    for _attempt in range(3):
        target.write_text(old)
        proc = subprocess.Popen(
            _archspec("compile", "resnet152", "-o", str(target)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=_default_stop_signals,
        )
        deadline = time.monotonic() + 120
        while not any(TMP_NAME.fullmatch(n) for n in listing(tmp_path)):
            assert proc.poll() is None and time.monotonic() < deadline, "no temporary file seen"
            time.sleep(0.001)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
        if proc.returncode == 0 and target.read_text() != old:
            continue  # the child had renamed and exited before the signal was sent
        break
    assert proc.returncode == 128 + signum, err
    assert len(err.splitlines()) == 1 and err.startswith("archspec: "), err
    assert target.read_text() == old and listing(tmp_path) == ["net.py"]


def test_a_temporary_is_listed_for_the_signal_handlers_before_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A signal's handler may run between any two bytecodes (another thread may take the
    signal whatever the main thread blocks): the temporary's name must already be in the
    list the handler cleans when the file comes into being, and leave it with the file."""
    from archspec import files

    seen = []
    real_open = os.open

    def watched_open(path: str, flags: int, mode: int = 0o777) -> int:
        if TMP_NAME.fullmatch(os.path.basename(path)):
            seen.append((path in stopsignals.PENDING, os.path.exists(path)))
        return real_open(path, flags, mode)

    monkeypatch.setattr(files.os, "open", watched_open)
    files.write_atomic(tmp_path / "out.json", "data")
    assert seen == [(True, False)]  # listed, and not yet created
    assert not stopsignals.PENDING and listing(tmp_path) == ["out.json"]


_LIBRARY_WRITE = """
import signal, sys, time
from archspec.files import MODULE, check_target, write_atomic
write_atomic(sys.argv[1] + ".first", "data")
print(signal.getsignal(signal.SIGTERM) is signal.SIG_DFL, flush=True)  # restored after a write
write_atomic(sys.argv[1], "data", lambda: time.sleep(120))
"""


def test_sigterm_during_a_library_write_removes_the_temporary(tmp_path: Path) -> None:
    """archspec.files takes SIGTERM over only while a temporary file exists, then gives it back."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _LIBRARY_WRITE, str(tmp_path / "out.json")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        preexec_fn=_default_stop_signals,
    )
    assert proc.stdout is not None and proc.stdout.readline() == "True\n"
    deadline = time.monotonic() + 120
    while not any(TMP_NAME.fullmatch(n) for n in listing(tmp_path)):
        assert proc.poll() is None and time.monotonic() < deadline, "no temporary file seen"
        time.sleep(0.001)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert (proc.returncode, err) == (143, "archspec: stopped by SIGTERM\n")
    assert listing(tmp_path) == ["out.json.first"]


#: Run archspec as `python -m archspec` or as the console script (`from archspec.cli import
#: main`), raising SIGINT the moment module argv[1] starts to import.
_INTERRUPTED_AT_IMPORT = """
import importlib.abc, os, runpy, signal, sys
when, how, args = sys.argv[1], sys.argv[2], sys.argv[3:]
class Interrupt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == when:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None
sys.meta_path.insert(0, Interrupt())
if how == "module":
    sys.argv = ["archspec", *args]
    runpy.run_module("archspec", run_name="__main__", alter_sys=True)
else:
    sys.argv = [os.path.join(os.path.dirname(sys.executable), "archspec"), *args]
    from archspec.cli import main
    sys.exit(main())
"""

#: Modules the start-up imports (rich no longer: it loads when a command prints a table, after
#: its work is done), and torch, which compile imports while a temporary file exists.
#: (`archspec.cli.build`: the module of `compile`, the one command module a compile loads)
_AFTER_THE_PACKAGE = ["archspec.cli", "typer", "pydantic", "archspec.cli.build", "torch"]


#: (how, when) pairs. The console script finds `archspec.cli` before the module's first line
#: (which installs the handler) runs, so that one moment is outside any code of ours.
_START_UP_INTERRUPTS = [
    (how, when)
    for how in ("module", "console-script")
    for when in (*_AFTER_THE_PACKAGE, "archspec.api")
    if (how, when) != ("console-script", "archspec.cli")
]


@pytest.mark.parametrize(("how", "when"), _START_UP_INTERRUPTS)
def test_ctrl_c_during_start_up_is_one_line_and_exit_130(
    tmp_path: Path, how: str, when: str
) -> None:
    """Interrupted while a module loads (torch: during compile's check, a temporary exists)."""
    target = tmp_path / "net.py"
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            _INTERRUPTED_AT_IMPORT,
            when,
            how,
            "compile",
            "lenet5",
            "-o",
            str(target),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 130, done.stderr
    assert done.stderr == "archspec: interrupted\n"
    assert listing(tmp_path) == []


@pytest.mark.parametrize(
    "args",
    [
        ["list"],
        ["summary", "lenet5"],
        ["summary", "lenet5", "-f", "csv"],
        ["emit", "lenet5"],
        ["schema"],
        ["schema", "-o", "/dev/stdout"],
        ["check", "lenet5", "--json"],
        ["check", "lenet5"],
        ["graph", "lenet5"],
        ["--help"],
    ],
    ids=" ".join,
)
def test_a_closed_pipe_is_a_quiet_exit_141(args: list[str]) -> None:
    """`archspec ... | head -1`: the reader is gone before the first write (so the smallest
    spec shows it as well as any: nothing it writes gets through)."""
    proc = subprocess.Popen(_archspec(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert err == ""


def test_head_of_a_real_pipeline_ends_quietly() -> None:
    """The shell's view: `archspec summary resnet50 | head -1`."""
    cmd = f"{sys.executable} -m archspec summary resnet50 | head -1; echo status=${{PIPESTATUS[0]}}"
    done = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines()[-1] in ("status=141", "status=0"), done.stdout
    assert "internal error" not in done.stderr and "Traceback" not in done.stderr
    assert done.stderr == ""


def test_new_from_a_file_that_is_no_spec_is_located_and_writes_nothing(tmp_path: Path) -> None:
    """`archspec new --from` copies a spec; a file of another kind (a password file, a
    scalar) is refused as `check` refuses it, and nothing is written."""
    other = tmp_path / "passwd"
    other.write_text("root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1::/:/bin/false\n")
    result = cli("new", "mine", "--from", str(other), "-o", str(tmp_path / "mine.yaml"))
    assert result.exit_code == 1, result.output
    assert re.search(r"passwd:1:1: error\[E202\]", result.output), result.output
    assert "Traceback" not in result.output
    assert listing(tmp_path) == ["passwd"]


def test_new_from_a_spec_with_a_crafted_name_keeps_it_out_of_the_header(tmp_path: Path) -> None:
    """The copied spec's old name is quoted in a comment: a name with a newline (or escape
    codes) would end the comment and write YAML of its choosing, so only a legal name is."""
    src = tmp_path / "src.yaml"
    src.write_text(
        'archspec: 1\nname: "t\\nextends: evil.yaml\\n\\x1b[31m"\ninput: [N, 3, 8, 8]\n'
        "layers:\n  - {name: stem, type: conv2d, out_channels: 4, kernel_size: 3}\n"
    )
    out = tmp_path / "mine.yaml"
    result = cli("new", "mine", "--from", str(src), "-o", str(out))
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert "\x1b" not in text and "extends" not in text
    assert "# mine: a copy of a spec, to change as you like.\n" in text
    assert "name: mine\n" in text


def test_a_very_long_line_is_quoted_as_a_window_with_the_caret_on_the_span(
    tmp_path: Path,
) -> None:
    """A spec of one megabyte-long line printed that line (and as many spaces before the
    caret) in every diagnostic; the quote is now a window of the line around the span."""
    spec = tmp_path / "long.yaml"
    items = "{type: relu}, " * 70_000
    spec.write_text(f"archspec: 1\nname: t\ninput: [N, 3, 8, 8]\nlayers: [{items}{{type: nope}}]\n")
    result = cli("check", str(spec))
    assert result.exit_code == 1 and "error[E104]" in result.output
    assert len(result.output) < 1_000, len(result.output)
    lines = result.output.splitlines()
    quote = next(i for i, line in enumerate(lines) if line.startswith("    4 | "))
    caret = lines[quote + 1].index("^")
    col = int(re.search(r":4:(\d+): error", result.output).group(1))  # type: ignore[union-attr]
    assert lines[quote][caret] == spec.read_text().splitlines()[3][col - 1]
    assert lines[quote].startswith("    4 | ...") and lines[quote].endswith("...")


def test_a_file_replaced_with_force_keeps_its_owner_and_group(tmp_path: Path) -> None:
    """`sudo archspec compile --force -o theirs.py`: the new file is the user's, as the one
    it replaced was, not root's. Run as root, the replaced file belongs to another user;
    run as a user, to the user (whose own file must stay theirs just the same)."""
    target = tmp_path / "theirs.py"
    target.write_text("a user's own file\n")
    owner = (4321, 4322) if IS_ROOT else (os.getuid(), os.getgid())
    if IS_ROOT:
        os.chown(target, *owner)
    write_atomic(target, "# Generated by archspec\nnew\n", kind=files.MODULE, force=True)
    st = os.stat(target)
    assert (st.st_uid, st.st_gid) == owner
    assert target.read_text().endswith("new\n")


def test_a_fifo_without_a_reader_is_refused_when_checked_before_the_work(tmp_path: Path) -> None:
    """check_target opens a FIFO then and holds it: compile refuses before it emits and
    checks the module (seconds of work), and the write goes through the held descriptor."""
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(archspec.ArchSpecError, match="no process is reading") as refused:
        check_target(fifo, kind=MODULE)
    assert refused.value.error_code == "E604"
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        assert check_target(fifo, kind=MODULE) is True
        assert check_target(fifo, kind=MODULE) is True  # checked twice: one descriptor held
        os.close(reader)  # the reader goes: the held descriptor still takes the write...
        reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)  # ...for the next reader
        write_atomic(fifo, "# held\n", kind=MODULE)
        assert os.read(reader, 100) == b"# held\n"
        assert os.read(reader, 100) == b""  # written once, then closed: the end of it
    finally:
        os.close(reader)
