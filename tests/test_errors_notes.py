"""An ArchSpecError raised in Python and not caught shows what the CLI shows: Python prints
its PEP 678 `__notes__` under the traceback, and those are the rendered diagnostics (code,
source line, caret, hint, every error), where `str(err)` is only the first message."""

from __future__ import annotations

import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import archspec
from archspec.errors import ArchSpecError

ROOT = Path(__file__).resolve().parent.parent

TWO_MISTAKES = """\
archspec: 1
name: broken
input: [N, 3, 32, 32]
params:
  width: 16
layers:
  - {name: conv1, type: conv2d, out_channels: widht, kernel_size: 3}
  - {name: pool, type: maxpool2d, kernel_size: 2}
  - {name: fc, type: linear, out_features: 10, from: poll}
"""


def test_an_uncaught_error_prints_its_codes_hints_and_every_error(tmp_path: Path) -> None:
    (tmp_path / "broken.yaml").write_text(TWO_MISTAKES, encoding="utf-8")
    script = textwrap.dedent(
        """
        import archspec
        archspec.build_graph("broken.yaml")
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
        check=False,
    )
    assert proc.returncode == 1
    err = proc.stderr
    assert "broken.yaml:7:47: unknown name 'widht' in expression" in err  # str(err), as before
    assert "error[E302]" in err and "error[E305]" in err  # both errors, with their codes
    assert "= hint: did you mean `pool`?" in err
    assert "^~~~~" in err  # the caret under the value


def test_notes_follow_the_diagnostics_and_keep_notes_added_to_them() -> None:
    with pytest.raises(ArchSpecError) as caught:
        archspec.load("resnet5")
    err = caught.value
    assert str(err) == "archspec.load() takes the name of a built-in spec; 'resnet5' is not one"
    assert err.__notes__ == [err.render()]
    assert "did you mean resnet50" in err.__notes__[0]
    err.add_note("while loading the config of run 7")
    assert err.__notes__ == [err.render(), "while loading the config of run 7"]
    again = pickle.loads(pickle.dumps(err))
    assert again.__notes__[0] == err.render()
