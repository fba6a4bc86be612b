"""How the command line behaves on a terminal and in a pipe: tables fit the width (80 columns
when piped, COLUMNS when set), no cell is cut to `...`, and the progress spinner on stderr
shows only on a terminal."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

import archspec
from archspec.cli import app as _app  # noqa: F401  (registers the commands)
from archspec.cli.app import progress

ROOT = Path(__file__).resolve().parent.parent


def piped(*args: str, columns: int | None = None, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """`archspec ARGS | cat` with NO_COLOR set, as `| less` would see it: stdout and stderr
    are pipes, stdin is no terminal."""
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env.update(NO_COLOR="1", PYTHONPATH=str(ROOT))
    if columns is not None:
        env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "archspec", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


def rows(text: str) -> list[list[str]]:
    """The cells of each line of a table's body."""
    return [[c.strip() for c in line.split("│")[1:-1]] for line in text.splitlines() if "│" in line]


def test_summary_fits_80_columns_in_a_pipe() -> None:
    proc = piped("summary", "resnet50")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in proc.stdout
    header = next(line for line in lines if line.startswith("┃"))
    # the least important column goes first; the others stay, whole
    assert [c.strip() for c in header.split("┃")[1:-1]] == [
        "Layer",
        "Type",
        "Output shape",
        "Params",
        "MACs",
    ]
    first = [r for r in rows(proc.stdout) if r[0]][:3]
    assert [r[:2] for r in first] == [["conv1", "Conv2d"], ["bn1", "BatchNorm2d"], ["relu", "ReLU"]]
    assert "25,557,032 parameters" in proc.stdout
    assert proc.stderr == ""  # no progress drawn on a pipe


def test_a_wide_terminal_keeps_every_column() -> None:
    proc = piped("summary", "resnet50", "--input", "1,3,224,224", columns=160)
    assert proc.returncode == 0, proc.stderr
    assert "Connections" in proc.stdout and "4,089,184,256" in proc.stdout
    assert max(len(line) for line in proc.stdout.splitlines()) <= 160


def test_list_fits_80_columns_and_keeps_names_whole() -> None:
    proc = piped("list")
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    assert "…" not in proc.stdout and "--set defaults" not in proc.stdout
    names = [r[0] for r in rows(proc.stdout) if r[0]]
    assert names == archspec.list_models()
    assert proc.stderr == ""


def test_layer_kinds_fit_80_columns() -> None:
    proc = piped("list", "--layers")
    assert proc.returncode == 0, proc.stderr
    assert max(len(line) for line in proc.stdout.splitlines()) <= 80
    assert "…" not in proc.stdout
    assert {"conv2d", "batchnorm2d", "residual"} <= {r[0] for r in rows(proc.stdout)}


def test_compile_in_a_pipe_prints_no_progress(tmp_path: Path) -> None:
    proc = piped("compile", "resnet18", "-o", str(tmp_path / "r18.py"), cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("wrote ") and "\r" not in proc.stdout + proc.stderr


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_shows_on_a_terminal_after_the_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _Terminal()
    monkeypatch.setattr(sys, "stderr", fake)
    with progress("checking the emitted module", delay=0.05):
        time.sleep(0.6)
    assert "checking the emitted module" in fake.getvalue()


def test_progress_stays_silent_for_quick_work_and_off_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = _Terminal()
    monkeypatch.setattr(sys, "stderr", fake)
    with progress("quick", delay=5.0):
        pass
    assert fake.getvalue() == ""
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    with progress("slow", delay=0.0):
        time.sleep(0.3)
    assert pipe.getvalue() == ""


@pytest.mark.parametrize(
    ("env", "expected"),
    [({}, True), ({"NO_COLOR": "1"}, False), ({"TERM": "dumb"}, False), ({"TERM": "xterm"}, True)],
)
def test_colour_on_a_terminal_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch, env: dict[str, str], expected: bool
) -> None:
    from archspec.cli.app import use_color

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    assert use_color(_Terminal()) is expected
    assert use_color(io.StringIO()) is False  # never in a pipe
