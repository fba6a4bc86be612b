"""The stop signals while a file is written (archspec.stopsignals): an exception a Python
signal handler raises at any moment (a KeyboardInterrupt, a caller's alarm) never leaves
SIGINT, SIGTERM or SIGHUP blocked, nor archspec's handler installed.

A CI run once failed on this: an earlier test's alarm had raised right after archspec blocked
the stop signals, the mask stayed, and a process started later ignored SIGTERM for 120 s.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from archspec import stopsignals
from archspec.files import write_atomic

pytestmark = pytest.mark.skipif(
    not hasattr(signal, "pthread_sigmask") or not hasattr(signal, "setitimer"),
    reason="POSIX signal masks and interval timers",
)

STOP = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}


def mask() -> set[int]:
    return set(signal.pthread_sigmask(signal.SIG_BLOCK, ()))


class _Raised(Exception):
    """What the handler raises: an exception archspec knows nothing about."""


def _raising_once(
    real: Callable[..., Any], when: Callable[[int, Any], bool]
) -> tuple[Callable[..., Any], list[bool]]:
    """`pthread_sigmask` that does its work, then raises once when `when(how, signals)`: what
    CPython does when a pending handler raises as the call returns; and the list that says
    whether it raised."""
    raised: list[bool] = []

    def sigmask(how: int, signals: Any) -> Any:
        old = real(how, signals)
        if not raised and when(how, signals):
            raised.append(True)
            raise _Raised
        return old

    return sigmask, raised


@pytest.mark.parametrize(
    "when",
    [
        pytest.param(lambda how, s: how == signal.SIG_BLOCK and set(s) >= STOP, id="at-the-block"),
        pytest.param(lambda how, s: how == signal.SIG_SETMASK, id="at-the-restore"),
    ],
)
def test_a_handler_raising_at_the_rename_leaves_no_signal_blocked_and_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, when: Callable[[int, Any], bool]
) -> None:
    before = mask()
    assert not STOP & before  # conftest restores the mask a test leaves
    sigmask, raised = _raising_once(stopsignals._sigmask, when)
    monkeypatch.setattr(stopsignals, "_sigmask", sigmask)
    with pytest.raises(_Raised):
        write_atomic(tmp_path / "out.json", "data")
    assert raised == [True]
    assert mask() == before
    # Raised at the block, nothing was renamed; raised at the restore, the rename was done.
    assert sorted(os.listdir(tmp_path)) in ([], ["out.json"])
    assert not stopsignals.PENDING


def test_an_alarm_raising_at_any_moment_never_leaves_the_stop_signals_blocked() -> None:
    """A real timer, every 0.2 ms, whose handler raises while archspec renames or removes a
    temporary file; the mask is looked at after each one. Before the fix the mask stayed
    blocked within the first ten interruptions."""
    armed = [False]

    def interrupt(signum: int, frame: Any) -> None:
        if armed[0]:
            armed[0] = False
            raise _Raised

    previous = signal.signal(signal.SIGALRM, interrupt)
    interrupted = runs = 0
    leaked: set[int] = set()
    deadline = time.monotonic() + 2.0
    signal.setitimer(signal.ITIMER_REAL, 0.0002, 0.0002)
    try:
        while interrupted < 300 and time.monotonic() < deadline and not leaked:
            runs += 1
            try:
                armed[0] = True
                stopsignals.remove_temporary("/nonexistent/.archspec-x.tmp")
                armed[0] = False
            except _Raised:
                interrupted += 1
            leaked = STOP & mask()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        armed[0] = False
        signal.signal(signal.SIGALRM, previous)
    assert not leaked, f"blocked after {interrupted} interruptions"
    assert interrupted >= 30, (interrupted, runs)  # the test did interrupt archspec's block


@pytest.fixture
def default_handlers() -> Iterator[None]:
    """SIGTERM and SIGHUP at their defaults for the test (a test that imported archspec.cli
    in this process installed archspec's own), as they were after it."""
    saved = {signum: signal.signal(signum, signal.SIG_DFL) for signum in _TAKEN}
    yield
    for signum, handler in saved.items():
        signal.signal(signum, handler)


_TAKEN = (signal.SIGTERM, signal.SIGHUP)


def test_a_handler_raising_as_archspec_takes_sigterm_over_gives_it_back(
    default_handlers: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`while_writing` records SIGTERM's default before installing its own handler: raised
    just after the install, the default is still what comes back."""
    real = stopsignals._signal.signal
    calls: list[int] = []

    def install(signum: int, handler: Any) -> Any:
        old = real(signum, handler)
        calls.append(signum)
        if len(calls) == 1:
            raise _Raised
        return old

    monkeypatch.setattr(stopsignals._signal, "signal", install)
    with pytest.raises(_Raised):
        stopsignals.while_writing(lambda: None)
    assert calls[0] in _TAKEN and len(calls) == 2
    assert [signal.getsignal(signum) for signum in _TAKEN] == [signal.SIG_DFL] * 2
