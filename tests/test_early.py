"""tests/early.py's background runs start their processes with the Popen of the session's
start: test_hostile's tripwires replace subprocess.Popen in the main thread while a docs page
runs in the background, which made that page fail at random ("a spec ran a command")."""

from __future__ import annotations

import subprocess
import sys

import pytest

from . import early


def test_a_run_meets_the_sessions_popen_whatever_a_test_patched(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def tripped(*args: object, **kwargs: object) -> None:
        raise AssertionError("the patched Popen was used")

    monkeypatch.setattr(subprocess, "Popen", tripped)
    done = early.run([sys.executable, "-c", "import sys; print(6 * 7); sys.exit(3)"], timeout=60)
    assert (done.returncode, done.stdout.strip(), done.stderr) == (3, "42", "")


def test_a_run_past_its_timeout_is_stopped() -> None:
    with pytest.raises(subprocess.TimeoutExpired):
        early.run([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.5)
