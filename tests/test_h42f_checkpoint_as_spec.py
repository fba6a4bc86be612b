"""A PyTorch checkpoint given where a spec goes (`archspec check best.pth`).

Before: a checkpoint over 1 MiB was "E104: best.pth is 2926489 bytes; specs are limited to
1048576 bytes", hinting to write layers as `repeat` blocks; a smaller one "E105: the file
contains NUL bytes". Now both, and one piped in, say it is a checkpoint torch.save wrote and
name what reads one (`archspec diff`, `archspec.load(weights=...)`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from archspec.cli import app

runner = CliRunner()

SAYS = "is a PyTorch checkpoint (a file torch.save wrote), not a YAML spec"


def _saved(path: Path, numel: int, *, legacy: bool = False) -> Path:
    torch.save({"fc.weight": torch.zeros(numel)}, path, _use_new_zipfile_serialization=not legacy)
    return path


@pytest.mark.parametrize(
    ("numel", "legacy"), [(400_000, False), (10, False), (10, True)], ids=["big", "zip", "pickle"]
)
@pytest.mark.parametrize("command", ["check", "summary"])
def test_a_checkpoint_file_is_said_to_be_one(
    tmp_path: Path, numel: int, legacy: bool, command: str
) -> None:
    ckpt = _saved(tmp_path / "best.pth", numel, legacy=legacy)
    result = runner.invoke(app, [command, str(ckpt)])
    assert result.exit_code == 1
    assert f"{ckpt}:1:1: error[E105]: {ckpt} {SAYS}" in result.stderr
    assert "archspec diff CHECKPOINT SPEC" in result.stderr
    assert "E104" not in result.stderr and "NUL" not in result.stderr


@pytest.mark.parametrize("redirected", [False, True])
def test_a_checkpoint_piped_in_is_said_to_be_one(tmp_path: Path, redirected: bool) -> None:
    ckpt = _saved(tmp_path / "best.pth", 400_000)
    cmd = [sys.executable, "-m", "archspec", "check", "-"]
    env = {**os.environ, "NO_COLOR": "1"}
    with open(ckpt, "rb") as f:
        proc = subprocess.run(
            cmd,
            stdin=f if redirected else None,
            input=None if redirected else ckpt.read_bytes(),
            capture_output=True,
            env=env,
            timeout=120,
            check=False,
        )
    assert proc.returncode == 1
    assert f"<stdin>:1:1: error[E105]: standard input {SAYS}" in proc.stderr.decode()
