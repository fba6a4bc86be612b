"""The shared Typer app, option parsing and error reporting for every CLI command.

Commands live in sibling modules (build, analyse, tools) and use only `archspec.api`; this
module imports the API only where a function here needs it, so that `archspec --version`
(which loads no command: see archspec.cli) imports no more than typer.
Exit codes: 0 ok, 1 spec error (an ArchSpecError), 2 usage error, 3 internal error.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import functools
import gc
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:  # rich is imported when a command prints through it (`check` does not)
    from rich.console import Console
    from rich.table import Table

app = typer.Typer(
    name="archspec",
    help=(
        "Declarative architecture specs for PyTorch: check a YAML spec's shapes, summarise it, "
        "compile it to an nn.Module or emit readable source.\n\n"
        "A SPEC is a path to a .yaml file or the name of a built-in spec (see `archspec list`)."
    ),
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

#: Set by the global --debug option: show tracebacks of internal errors.
STATE: dict[str, Any] = {"debug": False}

F = TypeVar("F", bound=Callable[..., Any])


def use_color(stream: Any = None) -> bool:
    """Colour only on a TTY, never when NO_COLOR is set (https://no-color.org) nor on a
    terminal that says it cannot show it (TERM=dumb: Emacs' shell, some CI logs)."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


@functools.cache
def _console_class() -> type[Console]:
    from rich.console import Console

    class _Console(Console):
        """rich's Console, except that a closed pipe is left to archspec.cli.main (exit 141)."""

        def on_broken_pipe(self) -> None:
            # rich's own handler exits 1, which would read as "a spec has an error".
            self.quiet = True
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return _Console


def console(stderr: bool = False) -> Console:
    """A Console that prints text as it is: no markup, no emoji codes, no highlighting.

    Paths, names and descriptions come from users and specs; `[/x]` or `:smile:` in them is
    text, never an instruction to rich.
    """
    stream = sys.stderr if stderr else sys.stdout
    color = use_color(stream)
    return _console_class()(
        file=stream,
        no_color=not color,
        color_system="auto" if color else None,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,
        width=_columns_or_none(),
    )


def _columns_or_none() -> int | None:
    """None (rich reads COLUMNS, else the terminal's width, else 80), or the terminal's width
    (else 80) when COLUMNS is 0: rich took that as a width of 0 and printed nothing, or
    failed (textwrap refuses width 0); a shell or CI that sets COLUMNS=0 means no width."""
    columns = os.environ.get("COLUMNS", "")
    if not (columns.isdigit() and int(columns) == 0):
        return None
    import shutil

    return shutil.get_terminal_size((80, 24)).columns


@contextmanager
def progress(message: str, delay: float = 1.0) -> Iterator[None]:
    """A spinner with `message` on stderr while work that may take seconds runs (building a
    large model, compile's self-check). It shows only on a terminal and only once the work
    has run for `delay` seconds, and is erased when the work ends: piped or redirected
    stderr gets nothing from it."""
    if not _is_terminal(sys.stderr):
        yield
        return
    status = console(stderr=True).status(message)
    timer = threading.Timer(delay, status.start)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        status.stop()


@contextmanager
def collector_off() -> Iterator[None]:
    """Pause CPython's cyclic collector for the rest of a command: commands make many
    long-lived objects (the IR, parsed expressions, a module) and little cyclic garbage.
    `main` runs every command inside; `check` opens its own too, for a caller of `app`
    without `main`. At the end they are moved out of its sight (gc.freeze, as after the
    imports): the process ends with the command, so a last walk of them all at exit would be
    spent for nothing.

    Each resumption between two checks walked what the checks before had kept (~10% of a
    check of every shipped spec); on a 1 MiB spec, `graph` took 14 s CPU (3 s paused) and
    `summary` 20 s (4 s); `compile efficientnet_b7` 3.7 -> 2.5 s and `import` of
    torchvision's vit_h_14 4.9 -> 3.2 s, each for ~4% more peak memory."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if collecting:
            gc.enable()


#: Peak resident memory (bytes) up to which a command keeps what it no longer reads until the
#: process ends (`kept_until_exit`); past it, that is freed as it goes, as in a library call.
KEEP_UNTIL_EXIT_BYTES = 512 * 2**20

#: What the command keeps until the process ends (`kept_until_exit`).
_KEPT: list[Any] = []


def runs_archspec() -> bool:
    """Whether this interpreter was started to run archspec's command line (the `archspec`
    script or `python -m archspec`), not a program that calls it in its own process (a
    profiler or debugger run as `python -m cProfile -m archspec ...` must get its end)."""
    kind, target = interpreter_target(list(getattr(sys, "orig_argv", ())))
    if kind == "script":
        return os.path.splitext(os.path.basename(target))[0] == "archspec"
    return kind == "module" and target == "archspec"


#: The interpreter's own options that take a value (`-X importtime`, `-W error`).
_VALUED_OPTIONS = frozenset("XW")


def interpreter_target(argv: Sequence[str]) -> tuple[str, str]:
    """What an interpreter's command line (`sys.orig_argv`) runs: ("module", name) for `-m`,
    ("command", text) for `-c`, ("script", path), or ("stdin", "") with none of them. The
    interpreter's options before it are skipped, grouped (`-Im`) or with their values
    (`-X importtime`, `-Wignore`); whatever follows the target is the program's own."""
    i = 1
    while i < len(argv):
        arg = argv[i]
        if arg == "-" or not arg.startswith("-"):
            return ("stdin", "") if arg == "-" else ("script", arg)
        if arg.startswith("--"):  # --check-hash-based-pycs MODE; other long options are flags
            i += 2 if arg == "--check-hash-based-pycs" else 1
            continue
        for at, flag in enumerate(arg[1:], start=2):
            value = arg[at:]
            if flag in "mc":
                target = value or (argv[i + 1] if i + 1 < len(argv) else "")
                return ("module" if flag == "m" else "command", target)
            if flag in _VALUED_OPTIONS:
                i += 0 if value else 1  # the value is the rest of this word or the next word
                break
        i += 1
    return ("stdin", "")


def ends_at_once() -> bool:
    """Whether the process may end without tearing the interpreter down (`end_at_once`:
    the `atexit` handlers run, then `os._exit` once stdout and stderr are flushed): it runs
    archspec's command line and no other thread runs. Freeing what a command made, object by
    object, is spent for nothing then: with `kept_until_exit`, ~3% of the CPU of a check of
    every shipped spec (for ~30 MB more peak memory)."""
    return (
        hasattr(atexit, "_run_exitfuncs")  # CPython's; elsewhere, the usual exit
        and threading.active_count() == 1
        and runs_archspec()
    )


def run_exit_handlers() -> None:
    """Run what is registered with `atexit` (a plugin's clean-up; `logging`'s flush, which an
    older typing_extensions imports with pydantic), as the interpreter's own end would, before
    the process ends at once."""
    atexit._run_exitfuncs()


def kept_until_exit() -> list[Any] | None:
    """Where a command puts what it no longer reads (a checked family's reading, see
    `compose.one_reading`) for the process's end to drop with the rest (`ends_at_once`)
    rather than freeing it now: when this process is archspec's command line and its peak
    memory is under KEEP_UNTIL_EXIT_BYTES; else None (freed as it goes)."""
    if not runs_archspec():
        return None
    peak = _peak_memory()
    return _KEPT if peak is not None and peak < KEEP_UNTIL_EXIT_BYTES else None


def _peak_memory() -> int | None:
    """The process's peak resident memory in bytes (None where it cannot be read)."""
    try:
        import resource
    except ImportError:  # Windows
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # bytes on macOS, KiB elsewhere


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def print_table(out: Console, table: Table, droppable: Sequence[str] = ()) -> None:
    """Print a table within the console's width (the terminal's, COLUMNS, or 80 when piped),
    leaving out the `droppable` columns while it cannot fit (`archspec.api.fit_table`)."""
    from ..api import fit_table  # the summaries' text module: not for `check`

    fit_table(out, table, droppable)


def parse_sets(items: list[str] | None, option: str = "--set") -> dict[str, str]:
    """`--set key=value` pairs (`option` names the flag in a usage error); values stay text
    and are parsed by the param's declared type. A key given twice with two values is a usage
    error, not the last one silently (the same value twice is harmless)."""
    out: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise typer.BadParameter(
                f"{item!r} is not key=value (e.g. {option} num_classes=10)", param_hint=option
            )
        if key in out and out[key] != value:  # which one was meant is a guess: ask
            raise typer.BadParameter(
                f"{key} is given twice ({out[key]!r} and {value!r}): give it once",
                param_hint=option,
            )
        out[key] = value
    return out


#: What `-o -` writes to: this process's standard output, whatever it is connected to.
STDOUT = "/dev/stdout"


def output_path(text: str) -> str:
    """An -o/--output value, kept as written (`out/`, a trailing separator, names a folder:
    see `api.output_file`). An empty one names no file (Path("") would be ".", the current
    directory, and the error would say so), so it is a usage error naming -o."""
    if not text:
        raise typer.BadParameter("an empty path names no file: give a file name")
    if text == "-":  # the usual name of standard output, written through as /dev/stdout is
        if not os.path.exists(STDOUT):
            raise typer.BadParameter(f"-o - writes to {STDOUT}, which this system has not")
        return STDOUT
    return text


def output_or_print(text: str) -> str | None:
    """`output_path` for a command that prints without -o: `-o -` prints, as no -o does."""
    return None if text == "-" else output_path(text)


def output_given(text: str | None) -> str | None:
    """`output_path` as a callback, for an -o that may be left out."""
    return text if text is None else output_path(text)


def parse_input(text: str | None) -> tuple[int, ...] | None:
    """`--input 1,3,224,224` (also `1x3x224x224`)."""
    from ..api import ShapeTextError, empty_dim_words, parse_shape_text

    if text is None:
        return None
    shown = _clipped(text)
    try:
        dims = parse_shape_text(text)  # the API's reader of shapes; the words are the CLI's
    except ShapeTextError as exc:
        if exc.problem != "too large":
            what = (
                empty_dim_words(text)
                if exc.problem == "empty"
                else f"{_clipped(exc.part)} is not a positive integer"
            )
            raise typer.BadParameter(
                f"{shown} is not a shape like 1,3,224,224 ({what})", param_hint="--input"
            ) from None
        dims = (2**62,)  # past the limit: the message below
    if len(dims) > 8 or any(d >= 2**62 for d in dims):
        raise typer.BadParameter(f"{shown}: at most 8 dims, each below 2**62", param_hint="--input")
    if any(d < 1 for d in dims):
        raise typer.BadParameter(f"{shown}: every dim must be >= 1", param_hint="--input")
    return dims


def _clipped(text: str, limit: int = 60) -> str:
    """repr() of user text for a message (escapes included), cut short when long."""
    return (
        repr(text) if len(text) <= limit else repr(text[:limit]) + f"... ({len(text)} characters)"
    )


def report_errors(fn: F) -> F:
    """Run a command, turning ArchSpecError into compiler-style output and exit 1."""

    command = fn.__name__.strip("_")  # `compile_` is the command `compile`

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from ..api import ArchSpecError, recording_reads

        try:
            with recording_reads():  # no output replaces a spec the command reads
                return fn(*args, **kwargs)
        except ArchSpecError as exc:
            print(exc.render(color=use_color(sys.stderr)), file=sys.stderr)
            n = len([d for d in exc.diagnostics if d.severity.value == "error"])
            if n > 1:
                print(f"{n} errors", file=sys.stderr)
            raise typer.Exit(1) from None
        except (typer.Exit, typer.Abort, typer.BadParameter, KeyboardInterrupt):
            raise
        except BrokenPipeError:
            raise  # stdout's reader went away: a quiet exit (see archspec.cli.main)
        except OSError as exc:
            if exc.errno not in WRITE_FAILURES:
                _internal_error(command)
            write_failed(exc)
        except Exception:
            _internal_error(command)

    return wrapper  # type: ignore[return-value]


#: What a write to stdout or stderr meets on a full or failing device (`> /dev/full`), or
#: closed (`>&-`): no bug of archspec's, so no "internal error"; files archspec writes
#: report these as E60x.
WRITE_FAILURES = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EIO", "EFBIG", "EDQUOT", "EBADF")
    if hasattr(errno, name)
)


def cannot_write(exc: OSError) -> str:
    """The line that says why the output could not be written."""
    return f"archspec: cannot write the output: {exc.strerror or exc}"


def write_failed(exc: OSError) -> NoReturn:
    """The output could not be written: say why on stderr (if it can be written) and exit 1,
    as `cat` and other tools do."""
    with contextlib.suppress(OSError):
        print(cannot_write(exc), file=sys.stderr)
    raise typer.Exit(1) from None


def _internal_error(command: str | None = None) -> NoReturn:
    """An exception no command expected: one line (the traceback with --debug), exit 3."""
    if STATE["debug"]:
        traceback.print_exc()
    else:
        exc_type = sys.exc_info()[0]
        name = exc_type.__name__ if exc_type else "error"
        # --debug is the program's option, before the command (`archspec compile --debug`
        # is a usage error), so the line says where it goes
        again = f"archspec --debug {command} ..." if command else "archspec --debug ..."
        print(
            f"archspec: internal error ({name}); please report it with the spec that "
            f"caused it. Run again as `{again}` to see the traceback.",
            file=sys.stderr,
        )
    raise typer.Exit(3) from None


def version_callback(value: bool) -> None:
    if value:
        from .. import __version__

        print(f"archspec {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=version_callback, is_eager=True, help="Show the version."
    ),
    debug: bool = typer.Option(False, "--debug", help="Show tracebacks of internal errors."),
) -> None:
    STATE["debug"] = debug


SET_HELP = "Set a spec param, e.g. --set num_classes=10 (repeatable)."
SET_METAVAR = "KEY=VALUE"
INPUT_HELP = (
    "Concrete input shape, e.g. 1,3,224,224 (default: the spec's input); once per input "
    "for a network of several (`inputs:`)."
)


def parse_inputs(texts: list[str] | None) -> Any:
    """`--input` given once (one shape), once per input of a network of several (a list of
    shapes, as `check` and `summary` take them), or not at all (None)."""
    shapes = [parse_input(text) for text in texts or []]
    if not shapes:
        return None
    return shapes[0] if len(shapes) == 1 else shapes


def complete_spec(incomplete: str) -> list[str]:
    """Shell completion of a SPEC: the built-in names (variants included) that start with what
    is typed. Nothing for a path (`specs/`, `net.yaml`), so the shell completes file names."""
    from ..api import builtin_index

    if "/" in incomplete or incomplete.startswith(".") or incomplete.endswith((".yaml", ".yml")):
        return []
    try:
        return [n for n in builtin_index() if n.startswith(incomplete)]
    except Exception:  # a broken spec folder plugin: completion stays quiet, commands report it
        return []


def complete_variant(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of --variant: the variants of the family file the command names."""
    from ..api import family_variants

    spec = ctx.params.get("spec") or ctx.params.get("specs")
    if isinstance(spec, (list, tuple)):
        spec = spec[0] if spec else None
    if spec is None:  # completion leaves a variadic SPEC... in ctx.args
        spec = next((a for a in ctx.args if not a.startswith("-")), None)
    try:
        names = family_variants(spec) if isinstance(spec, str) else []
    except Exception:
        return []
    return [n for n in names if n.startswith(incomplete)]


#: The SPEC that stands for standard input (`cat net.yaml | archspec check -`).
STDIN = "-"


def spec_source(spec: str) -> Any:
    """What the API reads for a SPEC argument: the spec piped in for `-` (its errors at
    `<stdin>`; a terminal is refused, not waited on), else the argument as given. A file
    named `-` is `./-`, as for other Unix tools."""
    from ..api import stdin_spec

    return stdin_spec(waiting=_say_waiting) if spec == STDIN else spec


def _say_waiting() -> None:
    """One line on stderr while a spec piped in neither comes nor ends."""
    from ..api import STDIN_IDLE_SECONDS as IDLE_SECONDS
    from ..api import STDIN_NOTICE_SECONDS as NOTICE_SECONDS

    if sys.stderr is not None:
        print(
            f"archspec: waiting for the spec on standard input (nothing came in "
            f"{NOTICE_SECONDS:g} s); it is read until the pipe closes, and refused after "
            f"{IDLE_SECONDS:g} s without a byte",
            file=sys.stderr,
            flush=True,
        )


def one_stdin(specs: Sequence[str], param_hint: str = "SPEC") -> None:
    """Standard input holds one spec: `-` given twice is a usage error, not an empty spec."""
    if list(specs).count(STDIN) > 1:
        raise typer.BadParameter(
            "`-` (standard input) is given twice: it holds one spec", param_hint=param_hint
        )


#: The SPEC argument of every command that reads one spec.
SpecArg = Annotated[
    str,
    typer.Argument(
        metavar="SPEC",
        help="A spec file, the name of a built-in spec, or - for a spec piped in.",
        autocompletion=complete_spec,
    ),
]
#: `--set KEY=VALUE`, as every command that builds a spec takes it
Sets = Annotated[list[str] | None, typer.Option("--set", metavar=SET_METAVAR, help=SET_HELP)]
#: --variant, on every command that reads a spec.
Variant = Annotated[
    str | None,
    typer.Option(
        "--variant",
        metavar="NAME",
        help="Which variant of a family spec (one with `variants:`) to use.",
        autocompletion=complete_variant,
    ),
]
#: --max-layers, on every command that expands a spec.
MaxLayers = Annotated[
    int,
    typer.Option(
        "--max-layers",
        metavar="N",
        min=1,
        help="Refuse a spec that expands to more than N layer items (E310); raise it for "
        "a network that really is that large.",
    ),
]

#: --json, on the commands that also take --format (check takes --json alone): one spelling
#: of JSON output works everywhere.
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON: the same as --format json.")]


def with_json(fmt: Any, as_json: bool, json_format: Any, default: Any) -> Any:
    """The format asked for: `json_format` with --json (a usage error beside another
    --format), else `fmt`."""
    if not as_json:
        return fmt
    if fmt not in (default, json_format):
        raise typer.BadParameter(f"--json asks for JSON and --format for {fmt}: give one")
    return json_format


#: --force, on every command that writes a file it may find there already.
Force = Annotated[
    bool,
    typer.Option("--force", help="Overwrite the output even if archspec did not write it."),
]

#: --plugins, on every command: Python files of layer kinds, loaded before the spec is read.
Plugins = Annotated[
    list[str] | None,
    typer.Option(
        "--plugins",
        metavar="FILE",
        help="A Python file of your own layer kinds, loaded first (repeatable; also "
        "ARCHSPEC_PLUGINS, a list of files like PATH). It runs as Python: name only files "
        "you trust. See docs/plugins.md.",
    ),
]


def use_plugins(files: list[str] | None) -> None:
    """Import the plugin files of ARCHSPEC_PLUGINS, then those of --plugins.

    The person running the command names them; nothing in a spec can add one. Without any,
    nothing is loaded here (installed entry points still load when a spec is read).
    """
    from ..api import env_plugin_files, load_plugin_files

    paths = [*env_plugin_files(), *(files or [])]
    if paths:
        load_plugin_files(paths)
