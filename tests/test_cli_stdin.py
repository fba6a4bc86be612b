"""`-` as a SPEC: the spec piped in (docs/cli.md), its errors at `<stdin>:line:col`, read
within the size limit, a terminal refused rather than waited on."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
ENV = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT), "COLUMNS": "100"}
LENET = (ROOT / "specs" / "lenet5.yaml").read_bytes()


class Ran:
    """What a command printed and its exit status."""

    def __init__(self, done: subprocess.CompletedProcess[bytes]) -> None:
        self.returncode = done.returncode
        self.stdout = done.stdout.decode("utf-8", "replace")
        self.stderr = done.stderr.decode("utf-8", "replace")


def _run(*argv: str, stdin: bytes | Any = b"", cwd: Path = ROOT) -> Ran:
    """`archspec ARGV` with `stdin` (bytes piped in, or a file or descriptor as its stdin)."""
    piped = isinstance(stdin, bytes)
    done = subprocess.run(
        [sys.executable, "-m", "archspec", *argv],
        input=stdin if piped else None,
        stdin=None if piped else stdin,
        capture_output=True,
        env=ENV,
        cwd=cwd,
        timeout=120,
        check=False,
    )
    return Ran(done)


def test_check_reads_a_spec_piped_in_and_locates_its_errors() -> None:
    done = _run("check", "-", stdin=LENET)
    assert done.returncode == 0 and done.stdout.startswith("lenet5 (<stdin>): ok"), done.stderr
    bad = _run(
        "check", "-", stdin=LENET.replace(b"type: linear, out_features: 84", b"type: lineer")
    )
    assert bad.returncode == 1, bad.stderr
    assert "<stdin>:28:26: error[E205]" in bad.stderr, bad.stderr


def test_a_family_piped_in_is_checked_variant_by_variant() -> None:
    done = _run("check", "-", "lenet5", stdin=(ROOT / "specs" / "vgg.yaml").read_bytes())
    assert done.returncode == 0, done.stderr
    assert (
        "vgg16_bn (<stdin>): ok" in done.stdout and "lenet5 (specs/lenet5.yaml): ok" in done.stdout
    )
    assert "checked 9 specs: 9 ok" in done.stdout


@pytest.mark.parametrize(
    ("data", "where"),
    [
        (b"archspec: 1\nname: x\x00\n", "<stdin>:2:8: error[E105]"),
        (b"archspec: 1\n\xff\xfe\n", "<stdin>:2:1: error[E105]: standard input is not valid"),
        (b"#" * (1 << 20) + b"\n" * 10, "<stdin>:1:1: error[E104]"),
        (b"", "<stdin>"),
    ],
)
def test_hostile_input_on_stdin_is_a_located_error(data: bytes, where: str) -> None:
    done = _run("check", "-", stdin=data)
    assert done.returncode == 1 and where in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr


def test_a_terminal_on_stdin_is_refused_not_waited_on() -> None:
    leader, follower = pty.openpty()
    try:
        done = _run("check", "-", stdin=follower)
    finally:
        os.close(leader)
        os.close(follower)
    assert done.returncode == 1, done.stderr
    assert "<stdin>:1:1: error[E100]: standard input is a terminal" in done.stderr


def test_stdin_is_one_spec_and_every_reader_takes_it(tmp_path: Path) -> None:
    twice = _run("diff", "-", "-", stdin=LENET)
    assert twice.returncode == 2 and "given twice" in twice.stderr, twice.stderr
    diff = _run("diff", "lenet5", "-", stdin=LENET)
    assert diff.returncode == 0 and "b: lenet5 (<stdin>)" in diff.stdout, diff.stderr
    emitted = _run("emit", "-", stdin=LENET)
    assert emitted.returncode == 0 and "class LeNet5(nn.Module):" in emitted.stdout
    assert "archspec compile SPEC" in emitted.stdout  # no `<stdin>` to run again
    summary = _run("summary", "-", stdin=LENET)
    assert summary.returncode == 0 and summary.stdout.startswith("lenet5  input"), summary.stderr
    shown = _run("show", "-", stdin=LENET)
    assert shown.returncode == 0 and "name: lenet5" in shown.stdout
    compiled = _run("compile", "-", "-o", "-", stdin=LENET)
    assert compiled.returncode == 0 and "class LeNet5(nn.Module):" in compiled.stdout


def test_a_spec_redirected_from_a_file_is_never_replaced(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_bytes(LENET)
    with spec.open("rb") as f:
        done = _run("compile", "-", "-o", "net.yaml", "--force", stdin=f, cwd=tmp_path)
    assert done.returncode == 1 and "error[E604]" in done.stderr, done.stderr
    assert spec.read_bytes() == LENET


def test_new_copies_a_spec_piped_in(tmp_path: Path) -> None:
    done = _run("new", "mine", "--from", "-", "-o", "mine.yaml", stdin=LENET, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    text = (tmp_path / "mine.yaml").read_text()
    assert "# mine: a copy of the `lenet5` spec" in text and "name: mine\n" in text
    assert _run("check", "mine.yaml", cwd=tmp_path).returncode == 0


@pytest.mark.parametrize("command", ["check", "compile", "emit", "summary"])
def test_a_closed_stdin_is_refused_not_read_as_an_empty_spec(command: str) -> None:
    # `archspec check - <&-`: Python starts without fd 0, which a file opened since may hold
    # (often /dev/null): reading that gave "E107: the spec is empty", which is no spec of the
    # user's. sh closes the descriptor as a user's shell does.
    done = subprocess.run(
        ["sh", "-c", f'"$0" -m archspec {command} - <&-', sys.executable],
        capture_output=True,
        env=ENV,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    err = done.stderr.decode("utf-8", "replace")
    assert done.returncode == 1, err
    assert "<stdin>:1:1: error[E100]: standard input is closed" in err, err
    assert "E107" not in err and "Traceback" not in err, err
