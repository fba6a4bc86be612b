"""The benchmark runner's CI quick mode runs end to end and writes every table.

Quick mode takes a few repeats at small sizes; targets are reported, never asserted here,
so that this test guards the runner against rot, not the machine against noise.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from . import early

ROOT = Path(__file__).resolve().parent.parent


def _quick_run(out: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return early.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--out", str(out)],
        cwd=ROOT,
        timeout=300,
        env=env,
    )


def start_early(items: list[pytest.Item], root: Path) -> None:
    """tests/early.py: the quick run, a child process, starts with the session."""
    out, env = root / "results.md", dict(os.environ)  # as it is now: tests may change it
    early.submit("benchmarks-quick", lambda: (out, _quick_run(out, env)))


@pytest.mark.slow
@pytest.mark.early
def test_quick_mode_writes_every_table(tmp_path: Path) -> None:
    started = early.take("benchmarks-quick")
    if started is not None:
        out, proc = started.result()
    else:
        out = tmp_path / "results.md"
        proc = _quick_run(out)
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = out.read_text()
    for heading in (
        "## Targets at a glance",
        "## 1. Forward overhead",
        "## 2. Startup and check latency",
        "## 3. Compile latency",
        "## 4. Scaling",
        "## 5. Summary of a 10^10-parameter spec",
        "## 6. Summary of a plain PyTorch module against torchinfo",
    ):
        assert heading in text
    for row in (
        "| lenet5 b1 | archspec.compile |",
        "| lenet5 b1 | compiled / hand-written",
        "| cold process | python -c 'import torch' |",
        "| vgg16 (meta) | archspec.compile(device='meta') (CPU ",
        "| resnet depth 100 ",
        "| inception branches 2 ",
        "| peak RSS | archspec summary |",
        "| peak RSS | archspec.summary(module on meta) b1 |",
    ):
        assert row in text, row
    for field in ("| machine |", "| torch |", "| archspec |", "| date |"):
        assert field in text
    assert "ERROR" not in text


def test_runner_refuses_an_interpreter_without_the_project(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Run under a venv that lacks pydantic, the runner says so at once instead of timing errors."""
    import importlib.util

    monkeypatch.syspath_prepend(str(ROOT))
    monkeypatch.chdir(ROOT)
    from benchmarks.__main__ import main

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "pydantic" else real(name, *a)
    )
    out = tmp_path / "results.md"
    assert main(["--quick", "--out", str(out)]) == 2
    assert "cannot import pydantic" in capsys.readouterr().err
    assert not out.exists()
