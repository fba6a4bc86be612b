"""Writing output files: whole or not at all, and never over something archspec did not write.

Every file archspec writes (emitted modules, the JSON Schema, new specs, pictures) goes
through `write_atomic`, which first looks at what the target is (`os.lstat`, then `os.stat`
through a symbolic link), before anything is opened, read or renamed:

- nothing there: the data goes to a temporary file beside it, is flushed to disk, checked,
  and renamed into place (atomic on POSIX and Windows: an interrupted or failed run leaves
  the old file or the new one, never a mix, and no temporary file behind);
- a regular file: replaced the same way, but only if archspec wrote it (its first bytes carry
  the mark of that kind of output, see `OutputKind`) and someone may write it (a mode with no
  write bit, `chmod a-w`, is a file not to be changed, which a rename would replace all the
  same), or `force` is given; else E603. The file
  is opened only after lstat says it is a regular file, and at most HEAD_BYTES + TAIL_BYTES of
  it are read. The new file keeps the old one's mode;
- a symbolic link to a regular file: written through. The same rules apply to the file it
  names, which is replaced in its own directory; the link is left as it is. A link to
  nothing (or a loop) is E604;
- this process's own stdout or stderr (`-o /dev/stdout`, whatever it is connected to), a
  FIFO that a process reads, or the null device: written through, that is opened for writing
  (never renamed over, never read), by `check_target` when a command checks it before its
  work (so a FIFO with no reader is refused then);
- anything else (a directory, a block device, a socket, any other character device): E604,
  and nothing is changed;
- a file the command reads (specbytes.recording_reads: a spec, the files it imports and
  extends, a plugin, a model's source), by any name or link: E604, even with `force`;
- a path inside archspec's own package (the folder of this module, by any name or link),
  a file there or not: E604, even with `force`. Nothing archspec writes belongs there, and a
  module written over one of archspec's own (`-o .../archspec/api.py --force`) would run as
  archspec the next time it is imported.

The temporary file is `.archspec-XXXXXXXX.tmp` in the target's directory, a short name of
fixed length, so any legal target name works. It stays mode 0600 until the check passed; the
final mode is set just before the rename. While it exists, SIGTERM and SIGHUP remove it and
exit with 128 + the signal number (SIGINT raises KeyboardInterrupt, which removes it too; the
CLI's own SIGINT handler calls `remove_pending`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .errors import EmitError, escape_text
from .lazymethods import dataclass
from .outputkinds import ANY as ANY
from .outputkinds import DOT as DOT
from .outputkinds import MERMAID as MERMAID
from .outputkinds import MODULE as MODULE
from .outputkinds import ONNX as ONNX
from .outputkinds import PICTURE as PICTURE
from .outputkinds import SCHEMA as SCHEMA
from .outputkinds import SPEC as SPEC
from .outputkinds import TAIL_BYTES as TAIL_BYTES
from .outputkinds import OutputKind as OutputKind
from .outputkinds import misnamed, shadowing
from .pathkinds import broken_link, own_stream, what_it_is, writable_through
from .specbytes import read_input
from .stopsignals import PENDING, remove_temporary, rename_pending, while_writing
from .stopsignals import exit_on_signal as exit_on_signal
from .stopsignals import remove_pending as remove_pending

T = TypeVar("T")

#: How much of an existing file is read, at most, to see whether archspec wrote it (and
#: TAIL_BYTES of its end: outputkinds.py).
HEAD_BYTES = 4096

TMP_PREFIX = ".archspec-"
TMP_SUFFIX = ".tmp"

#: The hint of an E603 refusal, and of an E604 for an input of the command.
FORCE_HINT = "pass --force to replace it, or choose another path with -o"
_INPUT_HINT = "write the output to another path (--force never replaces an input)"


def display_path(path: str | os.PathLike[str]) -> str:
    """A path as a message may show it: characters that are not printable are escaped."""
    return escape_text(os.fspath(path))


def write_atomic(
    target: str | os.PathLike[str],
    data: str | bytes,
    check: Callable[[], T] | None = None,
    *,
    kind: OutputKind = ANY,
    force: bool = False,
) -> T | None:
    """Write `data` to `target` by the rules in this module's docstring; returns `check()`.

    `check` (a callable of no arguments) runs once the data is safely in the temporary file
    (or, for a target written through, before it is opened); raising refuses the write.
    Refusals are E603 (a file archspec did not write, without `force`) and E604 (anything
    that is not a place for a file, or an OSError: a missing or read-only directory, a full
    disk, a name too long); nothing is changed then.
    """
    target = Path(target)
    try:
        plan = _plan(target, kind, force)
        if not plan.through:
            return _replace(target, plan, _encode(data), check, kind, force)
        result = check() if check is not None else None
        try:
            _write_through(plan, _encode(data))
        except BrokenPipeError:
            if plan.fd is not None:
                raise  # our own stdout's reader went away: the CLI stops quietly
            raise _cannot_write(target, "the process reading it went away") from None
        return result
    except BrokenPipeError:
        raise
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise _failed(target, exc) from None


def check_target(
    target: str | os.PathLike[str], *, kind: OutputKind = ANY, force: bool = False
) -> bool:
    """Refuse `target` now as `write_atomic` would refuse it (E603, E604), writing nothing, so
    that a command refuses before the work that makes its data. True when it is written
    through (this process's stdout or stderr, a FIFO, the null device). A new file's nearest
    existing folder must be a folder."""
    target = Path(target)
    folder = target.parent
    while not os.path.lexists(folder) and folder != folder.parent:
        folder = folder.parent
    if os.path.lexists(folder) and not os.path.isdir(folder):
        link = broken_link(folder)
        if link is not None:
            raise _cannot_write(target, f"{display_path(folder)} {link}", hint=_LINK_HINT)
        raise _cannot_write(target, f"{display_path(folder)} is not a directory")
    try:
        plan = _plan(target, kind, force)
        if plan.through and plan.fd is None:
            _hold(plan.path)
        return plan.through
    except (OSError, ValueError) as exc:  # ValueError: a NUL byte in the path
        raise _failed(target, exc) from None


def output_file(target: str, name: str, *, into: bool = False) -> Path:
    """The file an -o names: a folder (one there, or any path ending in a separator or `/.`,
    which Path drops) holds `name` when `into` (compile's `<name>.py`), and is E604 otherwise,
    the hint naming that file: `-o out/` or `out/.` never writes a file called `out`."""
    folder = target.endswith(("/", os.sep)) or os.path.basename(target) in (".", "..")
    if not (folder or os.path.isdir(target)):
        return Path(target)
    if into:
        return Path(target) / name
    raise EmitError(
        f"cannot write {display_path(target)}: it "
        + ("is a directory" if os.path.isdir(target) else "names a directory")
        + "; archspec writes no file there",
        code="E604",
        hint=f"name the file: -o {display_path(Path(target) / name)}; nothing was changed",
    )


# -- what the target is -------------------------------------------------------------------


@dataclass(frozen=True)
class _Plan:
    """How one output file is written: what `_plan` found the target to be."""

    path: Path  # the file to replace or open: the target, or where its symlink leads
    through: bool = False  # open for writing instead of renaming over it
    fd: int | None = None  # through this process's stdout (1) or stderr (2)
    mode: int | None = None  # the mode of the file replaced
    owner: tuple[int, int] | None = None  # its user and group


def _plan(target: Path, kind: OutputKind, force: bool) -> _Plan:
    """Decide how to write `target` from what lstat/stat say it is; refuse what is not ours."""
    if (shadows := shadowing(kind, target.name)) is not None:
        raise _cannot_write(target, *shadows)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        _refuse_own_package(target, kind)
        return _Plan(target)
    path = target
    if stat.S_ISLNK(st.st_mode):
        link = broken_link(target)
        if link is not None:
            raise _cannot_write(target, f"it {link}", hint=_LINK_HINT)
        st = os.stat(target)
        path = Path(os.path.realpath(target))
    fd = own_stream(st)
    if fd is not None:
        return _Plan(target, through=True, fd=fd)
    _refuse_own_package(path, None)
    mode = st.st_mode
    if stat.S_ISREG(mode):
        if (read := read_input(st)) is not None:  # an input: --force is for other files
            same = os.path.abspath(read) == os.path.abspath(target)
            what = f"{'' if same else display_path(read) + ', '}a file this command reads"
            raise _cannot_write(target, f"it is {what}", hint=_INPUT_HINT)
        if (why := misnamed(kind, target.name)) is not None:  # the name the user gave
            raise _cannot_write(target, *why)
        if not force and not mode & 0o222:  # `chmod a-w`: said before its bytes are read
            raise EmitError(
                f"refusing to overwrite {display_path(target)}: it is read-only (mode "
                f"{stat.filemode(mode)}), which says it is not to be changed",
                code="E603",
                hint="pass --force to replace it (the new file keeps its mode), or make it "
                "writable first (chmod u+w)",
            )
        if not force and not _written_by_archspec(path, kind):
            shown = display_path(target)
            if path != target:
                shown += f" (-> {display_path(path)})"
            # a kind with no mark (a spec) is never known for archspec's, even just written
            known = kind.head is not None or kind.tail is not None
            why = (
                "archspec did not generate it"
                if known
                else f"archspec replaces no {kind.name} unasked"
            )
            raise EmitError(
                f"refusing to overwrite {shown}: {why} ({kind.mark})",
                code="E603",
                hint=FORCE_HINT,
            )
        return _Plan(path, mode=mode & 0o777, owner=(st.st_uid, st.st_gid))
    if stat.S_ISFIFO(mode) and own_stream(st, (0,)) == 0:  # it would fill, then hang
        raise _cannot_write(target, "it is this command's standard input", hint=_STDIN_HINT)
    if writable_through(st):
        # Opened by the name given: /dev/fd/N names a pipe that has no path of its own.
        return _Plan(target, through=True)
    raise _cannot_write(target, f"it is {what_it_is(st)}; archspec writes no file there")


#: archspec's own package: its modules, built-in specs and templates (no output goes there)
_PACKAGE = Path(__file__).resolve().parent


def _refuse_own_package(target: Path, kind: OutputKind | None) -> None:
    """E604 for a path inside archspec's package, whatever links lead there, or for a new
    file of `kind` under a name it is not read back by (outputkinds.misnamed)."""
    if kind is not None and (why := misnamed(kind, target.name)) is not None:
        raise _cannot_write(target, *why)
    real = Path(os.path.realpath(target))
    if real == _PACKAGE or _PACKAGE in real.parents:
        raise _cannot_write(
            target,
            f"it is inside archspec's own package ({display_path(_PACKAGE)})",
            hint="write the output outside the installed archspec (--force never replaces "
            "archspec's own files)",
        )


def is_stdout(path: str | os.PathLike[str]) -> bool:
    """Whether `path` is this process's standard output (`-o -`, `-o /dev/stdout`, or the
    file stdout is redirected to): a command then says what it wrote on stderr, if at all."""
    try:
        return own_stream(os.stat(path)) == 1
    except OSError:
        return False


def _written_by_archspec(path: Path, kind: OutputKind) -> bool:
    """Read the head and tail of a regular file (checked again on the open descriptor)."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    except PermissionError:
        return False  # unreadable: nothing says archspec wrote it
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise _cannot_write(path, "it changed while archspec was looking at it")
        head = os.pread(fd, HEAD_BYTES, 0) if hasattr(os, "pread") else os.read(fd, HEAD_BYTES)
        tail = b""
        if kind.tail is not None and st.st_size > 0:
            os.lseek(fd, max(0, st.st_size - TAIL_BYTES), os.SEEK_SET)
            tail = os.read(fd, TAIL_BYTES)
    finally:
        os.close(fd)
    return kind.written_by_archspec(head, tail)


# -- writing ------------------------------------------------------------------------------


def _encode(data: str | bytes) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data


def _replace(
    target: Path,
    plan: _Plan,
    raw: bytes,
    check: Callable[[], T] | None,
    kind: OutputKind,
    force: bool,
) -> T | None:
    """Temporary file, fsync, check, the target's rules again, final mode, rename."""
    directory = plan.path.parent
    if plan.mode is None:
        directory.mkdir(parents=True, exist_ok=True)

    def write() -> T | None:
        fd, name = _new_temporary(directory)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(raw)
                f.flush()
                os.fsync(f.fileno())
            result = check() if check is not None else None
            # The target may have changed during the check: its rules hold at the rename.
            now = _plan(target, kind, force)
            if now.through or now.path != plan.path:
                raise _cannot_write(target, "it changed while archspec was writing it")
            _keep_owner(name, now.owner)
            os.chmod(name, now.mode if now.mode is not None else _new_file_mode())
            rename_pending(name, plan.path)
        except BaseException:
            remove_temporary(name)
            raise
        return result

    return while_writing(write)


def _keep_owner(name: str, owner: tuple[int, int] | None) -> None:
    """The replacement keeps the replaced file's user and group where this process may set
    them (root may; a user may set a group of its own): `sudo archspec compile --force` over
    a user's file must not leave it owned by root."""
    if owner is None or not hasattr(os, "chown"):
        return
    st = os.stat(name)
    if (st.st_uid, st.st_gid) != owner:
        with contextlib.suppress(OSError):
            os.chown(name, *owner)


def _new_temporary(directory: Path) -> tuple[int, str]:
    """Create a temporary file (mode 0600) whose name is in PENDING before it exists.

    A signal's Python handler runs in the main thread between any two bytecodes, whatever
    the signal mask (another thread, one of torch's, may take the signal), so the name is
    registered first and the file created by one system call: a handler that runs at any
    point either finds the file listed or finds no file.
    """
    for _ in range(100):
        name = os.path.join(directory, f"{TMP_PREFIX}{_random_stem()}{TMP_SUFFIX}")
        PENDING.add(name)
        try:
            fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_NOFOLLOW, 0o600)
        except FileExistsError:
            PENDING.discard(name)
            continue
        except BaseException:
            PENDING.discard(name)
            raise
        return fd, name
    raise FileExistsError(f"no free temporary name in {directory}")


_O_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_STEM_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789_"


def _random_stem() -> str:
    """Eight characters, as tempfile names its files."""
    import secrets  # with hashlib and OpenSSL behind it: only for a command that writes

    return "".join(secrets.choice(_STEM_CHARS) for _ in range(8))


def _write_through(plan: _Plan, raw: bytes) -> None:
    """Write to a stream that is not renamed over: our own stdout/stderr, a FIFO, null."""
    if plan.fd is not None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        _write_all(plan.fd, raw)
        return
    fd = _take_held(plan.path)
    if fd is None:
        fd, _ = _open_through(plan.path)
    try:
        os.set_blocking(fd, True)
        _write_all(fd, raw)
    finally:
        os.close(fd)


#: What `check_target` opened of a target written through (a FIFO, the null device), by its
#: device and inode, for the write to use: a FIFO with no reader is refused before the work,
#: and opening it once only (a close between the check and the write would be the end of the
#: output for its reader). A command that fails in between leaves it to the process's end:
#: the reader then reads nothing and ends.
_HELD: dict[tuple[int, int], int] = {}


def _open_through(path: Path) -> tuple[int, os.stat_result]:
    """Open a target written through without waiting (a FIFO's reader must be there already)
    and check that what was opened is one, or raise E604 with nothing opened; the descriptor
    and what it is."""
    flags = os.O_WRONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if exc.errno == errno.ENXIO:
            raise _cannot_write(path, "it is a FIFO that no process is reading") from None
        raise
    try:
        st = os.fstat(fd)  # what was opened is what lstat saw, or nothing is written
    except OSError:
        os.close(fd)
        raise
    if not writable_through(st):
        os.close(fd)
        raise _cannot_write(path, f"it is {what_it_is(st)}; archspec writes no file there")
    return fd, st


def _hold(path: Path) -> None:
    """Open `path` (written through) now and keep it for the write (see _HELD)."""
    fd, st = _open_through(path)
    key = (st.st_dev, st.st_ino)
    if key in _HELD:  # checked twice (graph's format, then its kind): the first stays
        os.close(fd)
    else:
        _HELD[key] = fd


def _take_held(path: Path) -> int | None:
    """The descriptor `check_target` holds for what `path` names now, if any."""
    if not _HELD:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return _HELD.pop((st.st_dev, st.st_ino), None)


def _write_all(fd: int, raw: bytes) -> None:
    view = memoryview(raw)
    while view:
        view = view[os.write(fd, view) :]


def _new_file_mode() -> int:
    """The mode a new file gets: 0o666 minus the umask."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


#: `-o /dev/stdin` of a command whose stdin is a pipe wrote into that pipe, which only the
#: command itself reads, and hung once the pipe was full.
_STDIN_HINT = "write to a file, or to standard output with -o -"


def _cannot_write(
    target: Path, reason: str, hint: str = "check the path and its permissions"
) -> EmitError:
    return EmitError(
        f"cannot write {display_path(target)}: {reason}",
        code="E604",
        hint=f"{hint}; nothing was changed",
    )


def _failed(target: Path, exc: OSError | ValueError) -> EmitError:
    """E604 for what the OS (or a NUL byte in the path) refused; a link on the path that leads
    nowhere is named, since the OS's words for it do not say which link."""
    if isinstance(exc, OSError) and exc.errno in (errno.ELOOP, errno.ENOENT, errno.ENOTDIR):
        for path in (target, *target.parents):
            link = broken_link(path)
            if link is not None:
                where = "it" if path == target else display_path(path)
                return _cannot_write(target, f"{where} {link}", hint=_LINK_HINT)
    reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
    if isinstance(exc, OSError) and exc.errno == errno.ENOENT and target.parent.is_dir():
        # the folder is there, but making the temporary file beside the target failed:
        # /proc, /sys and the like take no new files ("No such file or directory" misled)
        folder = display_path(target.parent)
        return _cannot_write(target, f"{folder} takes no new files", hint=_NO_FILES_HINT)
    if isinstance(exc, OSError) and exc.errno in _FULL:
        return _cannot_write(target, reason, hint=_FULL[exc.errno])
    return _cannot_write(target, reason)


#: Errors of a full disk or a size limit, each with its fix (the old file is kept whole).
_FULL = {
    getattr(errno, name): hint
    for name, hint in (
        ("ENOSPC", "free space on that disk, or write the file elsewhere"),
        ("EDQUOT", "free space within your disk quota, or write the file elsewhere"),
        (
            "EFBIG",
            "the file is larger than this process may write (ulimit -f) or the file system holds",
        ),
    )
    if hasattr(errno, name)
}


#: A folder that exists but refuses a new file (a kernel's /proc or /sys)
_NO_FILES_HINT = "write the file to a folder on disk"

_LINK_HINT = "point the link at a file or folder that exists, or remove it"


__all__ = [
    "ANY",
    "DOT",
    "HEAD_BYTES",
    "MERMAID",
    "MODULE",
    "PICTURE",
    "SCHEMA",
    "SPEC",
    "TAIL_BYTES",
    "OutputKind",
    "check_target",
    "display_path",
    "exit_on_signal",
    "output_file",
    "remove_pending",
    "write_atomic",
]
