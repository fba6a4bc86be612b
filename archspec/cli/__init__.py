"""The `archspec` command line. Commands are grouped by module; all go through archspec.api.

Exit status: 0 ok, 1 spec error (or stdout cannot be written: a full device, closed), 2 usage error,
3 internal error; 130 after Ctrl-C (one line on stderr, no traceback, no temporary file
left), 141 (128 + SIGPIPE) when the reader of stdout went away (`archspec list | head -1`):
a quiet stop, as Unix tools do.
"""

from __future__ import annotations

import gc

# The collector is paused while this module's imports run (typer and what it pulls in: tens
# of thousands of objects that live as long as the process, and no garbage, which some
# thirty collections walked, ~5 ms CPU of every run); in the `archspec` console script what
# they made is then frozen, as `_commands` freezes the commands' (`python -m archspec` turns
# the collector off in archspec/__main__.py before any import).
_collecting = gc.isenabled()
gc.disable()

# isort: split
import codecs  # noqa: E402
import contextlib  # noqa: E402
import copy  # noqa: E402
import errno  # noqa: E402
import functools  # noqa: E402
import importlib  # noqa: E402
import io  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import NoReturn  # noqa: E402

from ..files import exit_on_signal  # noqa: E402
from ..framestack import on_own_stack  # noqa: E402
from ..lazymethods import deferring  # noqa: E402

#: Whether this process is the `archspec` console script.
AS_SCRIPT = Path(sys.argv[0] if sys.argv else "").stem == "archspec"


def _install_interrupt_handler() -> None:
    """Ctrl-C: remove temporary files, one line, exit 130 (see archspec.files).

    SIGTERM and SIGHUP get the same (exit 143 and 129) unless something set them otherwise
    (`nohup` ignores SIGHUP).
    """
    if threading.current_thread() is not threading.main_thread():
        return
    signal.signal(signal.SIGINT, exit_on_signal)
    for name in ("SIGTERM", "SIGHUP"):
        signum = getattr(signal, name, None)
        if signum is not None and signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, exit_on_signal)


# Run as the `archspec` console script, Ctrl-C during the imports below is handled already
# (`python -m archspec` installs the handler in archspec/__main__.py).
if AS_SCRIPT:
    _install_interrupt_handler()

# The dataclasses these imports make (typer's, and pydantic's when the commands load) get
# their methods compiled on first call, as archspec's own (archspec.lazymethods): most are
# never called in a run, and compiling them all was ~15 ms CPU of every start.
with deferring():
    import typer
    import typer.main
    import typer.models

    from . import app as _app_module
    from .app import WRITE_FAILURES, cannot_write

if AS_SCRIPT:
    gc.freeze()
if _collecting:
    gc.enable()

# `app` is the Typer app with every command (`from archspec.cli import app`), which
# `__getattr__` gives once the commands are loaded; the submodule of that name stays
# `archspec.cli.app` in sys.modules.
del app  # type: ignore[name-defined]  # noqa: F821

#: The modules of the commands, in the order --help lists them (each registers its own).
COMMAND_MODULES = ("analyse", "build", "diff", "tools", "views", "importer", "weights")

#: The module that registers each command: the one a command line that names it imports
#: (`_app_for`), not the others (tests/test_cli_startup.py holds it to what each
#: module registers).
COMMAND_MODULE_OF = {
    **dict.fromkeys(("check", "summary"), "analyse"),
    **dict.fromkeys(("compile", "emit"), "build"),
    "diff": "diff",
    **dict.fromkeys(("list", "schema", "new"), "tools"),
    **dict.fromkeys(("show", "graph"), "views"),
    "import": "importer",
    "weights": "weights",
}


@functools.cache
def _commands() -> typer.Typer:
    """The app with every command registered: their modules imported, in a fixed order.

    They import the whole API (the layer kinds, the lowering, the passes; a kind's pydantic
    model is made on first use): several hundred thousand objects that live as long as the
    process and no garbage. The collector would walk them again and again while they are
    made, and at every full collection after (~80 ms CPU of a cold `archspec check` of every
    shipped spec), so it is paused until they are made, and then they are moved out of its
    sight (gc.freeze).
    """
    with _app_module.collector_off(), deferring():
        for name in COMMAND_MODULES:
            importlib.import_module(f".{name}", __name__)
    typer_app = _app_module.app
    order = {f"{__name__}.{name}": i for i, name in enumerate(COMMAND_MODULES)}
    typer_app.registered_commands.sort(
        key=lambda c: order.get(getattr(c.callback, "__module__", ""), len(order))
    )
    return typer_app


def _command_module(name: str) -> typer.Typer:
    """The app with the commands of module `name` registered (and of any imported before),
    imported as `_commands` imports them all."""
    with _app_module.collector_off(), deferring():
        importlib.import_module(f".{name}", __name__)
    return _app_module.app


def __getattr__(name: str) -> typer.Typer:
    """`app`: the Typer app, its commands loaded on first use (PEP 562)."""
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()["app"] = _commands()
    return globals()["app"]


#: Exit codes passed on as they are; any other becomes 2 (a usage error) or 1.
_EXIT_CODES = frozenset(
    {0, 1, 2, 3, 128 + signal.SIGINT}
    | {128 + getattr(signal, name, 0) for name in ("SIGPIPE", "SIGTERM", "SIGHUP")}
)

#: Exit status when stdout's reader is gone: 128 + SIGPIPE, what a shell shows for `cat`.
CLOSED_PIPE_EXIT = 141


def main() -> None:
    """Console-script entry point; usage errors exit 2, spec errors 1, internal errors 3."""
    _install_interrupt_handler()
    _hold_closed_streams()
    _escape_what_stdout_cannot_encode()
    try:
        try:
            # the process ends with its one command: see collector_off; the command's frames,
            # its imports, reading and printing included, stay on one chunk of the frame
            # stack (archspec.framestack)
            with _app_module.collector_off():
                on_own_stack(lambda: _app_for(sys.argv[1:])(prog_name="archspec"))
            code: int | str | None = 0
        except KeyError as exc:
            if "_ARCHSPEC_COMPLETE" not in os.environ:
                raise
            code = _completion_failed(exc)
        except SystemExit as exc:
            code = exc.code
        if type(sys.stdout).__name__ == "PacifyFlushWrapper":
            _closed_pipe()  # click (inside typer) met EPIPE on stdout, wrapped it and exited 1
        sys.stdout.flush()
    except BrokenPipeError:
        _closed_pipe()
    except OSError as exc:  # the last of stdout met a full device (`> /dev/full`)
        if exc.errno not in WRITE_FAILURES:
            raise
        _write_failed(exc)
    if code not in _EXIT_CODES and code is not None:
        code = 2 if isinstance(code, int) else 1
    if _app_module.ends_at_once():
        _end_at_once(code or 0)
    sys.exit(code or 0)


def _completion_failed(exc: KeyError) -> int:
    """Shell completion asked for by `_ARCHSPEC_COMPLETE` without the variables the shell
    sets for it (`COMP_WORDS` and `COMP_CWORD` for bash, `_TYPER_COMPLETE_ARGS` for zsh and
    fish): typer read them unchecked and printed its KeyError's traceback."""
    shell = os.environ.get("_ARCHSPEC_COMPLETE", "")
    sys.stderr.write(
        f"archspec: shell completion ({shell}) found no ${exc.args[0]}: the shell sets it when "
        "it asks for completions. Install completion with `archspec --install-completion`, or "
        "unset _ARCHSPEC_COMPLETE\n"
    )
    return 1


class _ClosedStdout(io.TextIOBase):
    """sys.stdout when the command started with its stdout closed (`archspec check x >&-`):
    Python leaves None there, which print ignores and all else fails on (an internal
    error, exit 3). A write fails as `cat >&-` fails: Bad file descriptor, exit 1."""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))


def _hold_closed_streams() -> None:
    """A standard stream closed when the command started gets the null device on its file
    descriptor, so that no file archspec opens (a temporary output, a spec) is given fd 1 or
    2 and written to as stdout. Stdout's is opened for reading only: a write to it, through
    sys.stdout (`_ClosedStdout`) or fd 1 (`-o -`), fails as on a closed one. Stderr's
    diagnostics go nowhere (the exit status still says what happened)."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_WRONLY if fd == 2 else os.O_RDONLY)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
    if sys.stdout is None:
        sys.stdout = _ClosedStdout()
    if sys.stderr is None:
        sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115  (the null device now)


def _escape_what_stdout_cannot_encode() -> None:
    """Text a strict stdout cannot encode (a latin-1 or ASCII locale, PYTHONIOENCODING=ascii:
    a spec's `é` or `→`, a file name's `ü`, a lone surrogate of a name that is not UTF-8) is
    written as its escape, as Python writes stderr; it was an internal error, exit 3. So is
    one whose surrogateescape restores only a file name's bytes, on an encoding that is not
    UTF-8 (the C locale with PYTHONUTF8=0: ASCII). A UTF-8 stdout that already replaces or
    escapes (UTF-8 mode's surrogateescape) is left as it is."""
    errors = getattr(sys.stdout, "errors", None)
    encoding = str(getattr(sys.stdout, "encoding", None) or "ascii")
    with contextlib.suppress(LookupError):
        encoding = codecs.lookup(encoding).name
    escapes = errors == "strict" or (errors == "surrogateescape" and encoding != "utf-8")
    if escapes and hasattr(sys.stdout, "reconfigure"):
        with contextlib.suppress(Exception):
            sys.stdout.reconfigure(errors="backslashreplace")


def _end_at_once(code: int) -> NoReturn:
    """End the process without tearing the interpreter down (see app.ends_at_once): the
    `atexit` handlers run first, as at the usual end; then stdout and stderr are flushed
    again (a handler may have written to them)."""
    _app_module.run_exit_handlers()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def _app_for(args: list[str]) -> typer.Typer:
    """`app` with only the command `args` runs registered on it, when they name one.

    Typer makes a click command of every registered command (reading each function's
    signature and its annotations) before it runs one: ~25 ms CPU of every run, of which the
    one command run needs a tenth. The one command parses, helps and fails exactly as in
    `app`, and only its module is imported (COMMAND_MODULE_OF); anything else (no command,
    a name no command has, a global option other than --debug first: --help, --version,
    completion) gets `app` itself. `--version` alone loads no command at all: it prints
    before any would run.
    """
    i = 0
    while i < len(args) and args[i] == "--debug":
        i += 1
    if args[i:] == ["--version"] and not os.environ.get("_ARCHSPEC_COMPLETE"):
        return _app_module.app
    if i == len(args) or os.environ.get("_ARCHSPEC_COMPLETE") or args[i] not in COMMAND_MODULE_OF:
        return _commands()
    app = _command_module(COMMAND_MODULE_OF[args[i]])
    chosen = [c for c in app.registered_commands if _command_name(c) == args[i]]
    if len(chosen) != 1:
        return _commands()
    narrow = copy.copy(app)
    narrow.registered_commands = chosen
    return narrow


def _command_name(info: typer.models.CommandInfo) -> str | None:
    if info.name is not None:
        return info.name
    return typer.main.get_command_name(info.callback.__name__) if info.callback else None


def _write_failed(exc: OSError) -> NoReturn:
    """Say why stdout could not be written, then exit 1 without flushing it again."""
    with contextlib.suppress(OSError):
        os.write(2, (cannot_write(exc) + "\n").encode())
    os._exit(1)


def _closed_pipe() -> NoReturn:
    """Stop quietly: nothing is left to say to a reader that went away."""
    try:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)  # what is still buffered goes nowhere instead of failing again
        os.dup2(null, 2)
    except OSError:
        pass
    os._exit(CLOSED_PIPE_EXIT)


__all__ = ["CLOSED_PIPE_EXIT", "app", "main"]
