"""Stop signals while archspec writes a file: the temporary file goes, the process exits.

archspec.files registers each temporary file here before it exists (`PENDING`), writes it
`while_writing`, and renames or removes it by `rename_pending` and `remove_temporary`, which
hold the stop signals back while the file and the register disagree.
The CLI installs `exit_on_signal` for SIGINT (and SIGTERM, SIGHUP) itself.
"""

from __future__ import annotations

import _signal
import contextlib
import os
import signal
import threading
from collections.abc import Callable
from typing import Any, NoReturn, TypeVar

T = TypeVar("T")

#: The C function behind `signal.pthread_sigmask` (see `_with_stop_signals_blocked`).
_sigmask: Callable[..., Any] | None = getattr(_signal, "pthread_sigmask", None)

#: Temporary files being written now; signal handlers remove them.
PENDING: set[str] = set()

_STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)
#: Those `while_writing` takes over (SIGINT raises KeyboardInterrupt, which removes the file).
_TAKEN_OVER = tuple(signum for signum in _STOP_SIGNALS if signum != signal.SIGINT)


def remove_pending() -> None:
    """Remove the temporary files this process is writing (for signal handlers)."""
    for name in list(PENDING):
        with contextlib.suppress(OSError):
            os.unlink(name)
        PENDING.discard(name)


def exit_on_signal(signum: int, frame: object = None) -> NoReturn:
    """A signal handler: remove temporary files, say so in one line, exit 128 + signum."""
    remove_pending()
    what = {signal.SIGINT: "interrupted"}.get(signum, f"stopped by {_signal_name(signum)}")
    with contextlib.suppress(OSError):
        os.write(2, f"archspec: {what}\n".encode())
    os._exit(128 + signum)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def rename_pending(name: str, target: str | os.PathLike[str]) -> None:
    """Rename the temporary file `name` over `target` and forget it, with the stop signals
    held back: a handler never finds the name listed once the file has its final name."""

    def rename() -> None:
        os.replace(name, target)
        PENDING.discard(name)

    _with_stop_signals_blocked(rename)


def remove_temporary(name: str) -> None:
    """Remove the temporary file `name` (if it is there) and forget it, signals held back."""

    def remove() -> None:
        with contextlib.suppress(OSError):
            os.unlink(name)
        PENDING.discard(name)

    _with_stop_signals_blocked(remove)


def _with_stop_signals_blocked(action: Callable[[], None]) -> None:
    """Run `action` with SIGINT/SIGTERM/SIGHUP blocked in this thread, then restore the mask.

    A Python handler that raises (a KeyboardInterrupt, a caller's alarm) runs at almost any
    bytecode, inside the `signal` module's own Python wrappers too. Raised between the block
    and the `try`, or on entering the wrapper that restores the mask, it would leave the stop
    signals blocked for good, in this thread and in every process it starts (one that then
    ignores SIGTERM). So the C function is called directly, the mask to restore is read
    before anything changes it, and the block is inside the `try`.
    """
    if _sigmask is None:
        action()
        return
    old = _sigmask(signal.SIG_BLOCK, ())  # reads the mask, changes nothing
    try:
        _sigmask(signal.SIG_BLOCK, _STOP_SIGNALS)
        action()
    finally:
        _sigmask(signal.SIG_SETMASK, old)


def while_writing(action: Callable[[], T]) -> T:
    """Run `action` (which writes a temporary file) with SIGTERM/SIGHUP removing the file and
    exiting 128 + n.

    Only signals left at their default action (which would kill the process and leave the
    file) are taken over, and only in the main thread; the previous handlers come back after.
    Each is recorded before it is installed, with `_signal`'s C functions (see
    `_with_stop_signals_blocked`), so that a handler raising just then does not keep it.
    """
    if threading.current_thread() is not threading.main_thread():
        return action()
    previous: dict[int, Any] = {}
    try:
        for signum in _TAKEN_OVER:
            if _signal.getsignal(signum) == _signal.SIG_DFL:
                previous[signum] = _signal.SIG_DFL
                _signal.signal(signum, exit_on_signal)
        return action()
    finally:
        for signum, handler in previous.items():
            _signal.signal(signum, handler)


__all__ = [
    "PENDING",
    "exit_on_signal",
    "remove_pending",
    "remove_temporary",
    "rename_pending",
    "while_writing",
]
