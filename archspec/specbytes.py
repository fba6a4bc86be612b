"""Spec file bytes -> text: a regular file read without blocking and within the size limit,
UTF-8 with an optional BOM; NUL bytes and undecodable input are located errors (E105), by
line and column, before YAML sees anything (archspec.loader re-exports `read_spec_text`)."""

from __future__ import annotations

import errno
import os
import select
import stat
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path

from .errors import LoadError, SourceSpan

#: The size limit of a spec file (and of a composed spec, with the files it imports).
MAX_BYTES = 1 << 20

#: How long a spec piped in may keep archspec waiting for its next byte, and after how long
#: the CLI says that it is waiting (a pipe that neither sends nor closes).
IDLE_SECONDS = 30.0
NOTICE_SECONDS = 3.0

#: The files read inside `recording_reads`, by (device, inode): the path each was read by.
_READ: ContextVar[dict[tuple[int, int], str] | None] = ContextVar("_READ", default=None)


@contextmanager
def recording_reads() -> Iterator[None]:
    """Remember every input file read inside (a spec and the files it imports and extends,
    the Python file `archspec import` imports a model from), so that a command never
    writes its output over one of them (files.py asks `read_input`): every command of the
    CLI runs inside one."""
    token = _READ.set({})
    try:
        yield
    finally:
        _READ.reset(token)


def note_read(path: str | os.PathLike[str], info: os.stat_result | None = None) -> None:
    """Remember `path` (stat'ed as `info`, or now) as an input, inside `recording_reads`."""
    read = _READ.get()
    if read is None:
        return
    try:
        info = os.stat(path) if info is None else info
    except (OSError, ValueError):
        return
    read.setdefault((info.st_dev, info.st_ino), os.fspath(path))


def note_imported(before: Iterable[str]) -> None:
    """Remember as inputs the files of the modules imported since `before` (the names
    sys.modules held then): a model's file or a plugin may import a module beside it, which
    `import -o helper.py --force` replaced as if it were no input of the command."""
    if _READ.get() is None:
        return
    known = set(before)
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None) if name not in known else None
        if isinstance(file, str):
            note_read(file)


def read_input(info: os.stat_result) -> str | None:
    """The path an input was read by, inside `recording_reads`, when `info` (a stat of a
    regular file) is that file, by any name or link; else None."""
    read = _READ.get()
    return None if read is None else read.get((info.st_dev, info.st_ino))


#: How a spec read from standard input is named in its errors (`<stdin>:3:5`).
STDIN_NAME = "<stdin>"


#: How a file torch.save wrote starts: a zip (torch >= 1.6) or a pickle (older); neither is
#: text a spec can start with (a control character, a byte UTF-8 never starts with).
CHECKPOINT_MAGIC = (b"PK\x03\x04", b"\x80")


def checkpoint_kind(head: bytes) -> str | None:
    """What checkpoint a file is by its first 10 bytes: "torch.save" (a zip or a pickle),
    "safetensors" (an 8-byte little-endian header size, then the header's JSON `{`: timm's
    and Hugging Face's files), or None (a spec, or anything else)."""
    if head.startswith(CHECKPOINT_MAGIC):
        return "torch.save"
    # the size's high bytes are NULs (a header under 4 GiB), which no text holds: a spec
    # starting `params: {"` is no safetensors file
    if len(head) >= 10 and head[4:8] == bytes(4) and head[8:10] in (b'{"', b"{}") and any(head[:4]):
        return "safetensors"
    return None


def _checkpoint_error(file: str, kind: str = "torch.save") -> LoadError:
    """E105 for a PyTorch checkpoint given where a spec goes (`archspec check best.pth`),
    saying what it is and what reads one, rather than that it is binary or too large."""
    what = "standard input" if file == STDIN_NAME else file
    wrote = "a file torch.save wrote" if kind == "torch.save" else "a safetensors file"
    return LoadError(
        f"{what} is a PyTorch checkpoint ({wrote}), not a YAML spec",
        span=SourceSpan(file, 1, 1),
        code="E105",
        hint="`archspec diff CHECKPOINT SPEC` says which of its tensors load into a spec's "
        "model, and archspec.load(SPEC, weights=CHECKPOINT) loads it; `archspec import` "
        "writes a spec of the model class it was saved from",
    )


def decode_spec_bytes(raw: bytes, file: str) -> str:
    """UTF-8 (with optional BOM) or a clear E105."""
    kind = checkpoint_kind(raw[:10])
    if kind is not None:
        raise _checkpoint_error(file, kind)
    what = "standard input" if file == STDIN_NAME else "the file"
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise LoadError(
            f"{what} contains NUL bytes: it looks binary (or UTF-16), not a YAML spec",
            span=SourceSpan(file, line, nul - (raw.rfind(b"\n", 0, nul) + 1) + 1),
            code="E105",
            hint="a spec is UTF-8 text",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise LoadError(
            f"{what} is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            span=SourceSpan(file, line, col),
            code="E105",
            hint="save the spec as UTF-8",
        ) from None
    return text


#: What a path can be besides a regular file, for the message that refuses it.
_NOT_FILES = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)

#: Open without waiting: O_NONBLOCK makes opening a FIFO that has no writer return at once
#: (a regular file ignores it), O_NOCTTY keeps a terminal from becoming ours.
_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_CLOEXEC", 0)
    | getattr(os, "O_BINARY", 0)
)


def _refuse_non_file(path: str | Path, mode: int) -> None:
    """A spec is read from a regular file only: a pipe or a device may never end, or never
    start (open() of a FIFO waits for a writer), and a directory is not text."""
    if stat.S_ISREG(mode):
        return
    kind = next((name for test, name in _NOT_FILES if test(mode)), "not a regular file")
    raise LoadError(
        f"{path} is {kind}, not a spec file",
        span=SourceSpan(str(path), 1, 1),
        code="E100",
        hint="a spec is read from a regular file; save the spec to a file and pass its path",
    )


def read_spec_text(path: str | Path) -> str:
    """Read a spec file as UTF-8 text, refusing non-files, binary, oversized and undecodable
    input; never blocks (see `_refuse_non_file`)."""
    try:
        info = os.stat(path)  # follows symlinks: the file that open() would read
    except (OSError, ValueError) as exc:
        why = getattr(exc, "strerror", None) or exc
        if isinstance(exc, OSError) and os.path.islink(path):  # the OS's words name no link
            what = {errno.ENOENT: "does not exist", errno.ELOOP: "leads back into a loop of links"}
            link = f"it is a symbolic link to {os.readlink(path)!r}"
            why = f"{link}, which {what[exc.errno]}" if exc.errno in what else f"{link}: {why}"
        raise LoadError(
            f"cannot read {path}: {why}",
            code="E100",
            hint="check the path; built-in specs can be named without a path",
        ) from None
    _refuse_non_file(path, info.st_mode)
    size = info.st_size
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise _unreadable(path, exc) from None
    try:
        # The path may have been swapped for a FIFO or a device since the stat above: what
        # counts is what was opened.
        opened = os.fstat(fd)
        _refuse_non_file(path, opened.st_mode)
        if size > MAX_BYTES:  # a checkpoint is said as one, not as a spec too large
            kind = _checkpoint_at(fd)
            raise _checkpoint_error(str(path), kind) if kind else _too_big(path, size)
        note_read(path, opened)
        raw = _read_at_most(fd, MAX_BYTES + 1)
    except FileWaits:
        raise _waits(path) from None
    except OSError as exc:
        raise _unreadable(path, exc) from None
    finally:
        os.close(fd)
    if len(raw) > MAX_BYTES:
        raise _too_big(path, size)
    return decode_spec_bytes(raw, str(path))


def read_spec_stream(
    fd: int = 0,
    name: str = STDIN_NAME,
    *,
    idle: float | None = IDLE_SECONDS,
    waiting: Callable[[], object] | None = None,
) -> str:
    """A spec piped in (`cat net.yaml | archspec check -`): read from `fd` to its end, never
    past the size limit, and decoded as a file is, its errors at `name`. A terminal is
    refused rather than waited on, as is a standard input closed when
    Python started; a regular file redirected in (`< net.yaml`) is recorded
    as read, so that no output of the command replaces it. A pipe that sends nothing for
    `idle` seconds without closing (`sleep 100 | archspec check -`) is E100 (None waits for
    ever); `waiting` is called once when nothing came for NOTICE_SECONDS (the CLI says so)."""
    if fd == 0 and sys.stdin is None:
        # Python found fd 0 closed when it started (`archspec check - <&-`): whatever holds
        # fd 0 now (often /dev/null, opened since) is no input the user gave
        raise LoadError(
            "standard input is closed: `-` reads a spec piped or redirected in",
            span=SourceSpan(name, 1, 1),
            code="E100",
            hint="pipe the spec in (cat net.yaml | archspec check -), or name its file",
        )
    try:
        if os.isatty(fd):
            raise LoadError(
                "standard input is a terminal: `-` reads a spec piped or redirected in",
                span=SourceSpan(name, 1, 1),
                code="E100",
                hint="pipe the spec in (cat net.yaml | archspec check -), or name its file",
            )
        info = os.fstat(fd)
        if stat.S_ISREG(info.st_mode):
            note_read(name, info)
            if info.st_size > MAX_BYTES:
                kind = _checkpoint_at(fd)
                raise _checkpoint_error(name, kind) if kind else _too_big(name, info.st_size)
            idle = None  # a file redirected in is never waited on
        raw = _read_at_most(fd, MAX_BYTES + 1, idle, waiting)
    except FileWaits:
        raise _waits(name) from None
    except _Silent:
        raise LoadError(
            f"standard input sent nothing for {idle:g} s and is still open",
            span=SourceSpan(name, 1, 1),
            code="E100",
            hint="the command that writes the spec must end (or close its output) when the "
            "spec is written; or name the spec's file",
        ) from None
    except OSError as exc:
        raise LoadError(
            f"cannot read standard input: {exc.strerror or exc}",
            span=SourceSpan(name, 1, 1),
            code="E100",
            hint="pipe a spec in, or name its file",
        ) from None
    if len(raw) > MAX_BYTES:
        kind = checkpoint_kind(raw[:10])
        raise _checkpoint_error(name, kind) if kind else _too_big(name, MAX_BYTES)
    return decode_spec_bytes(raw, name)


def _checkpoint_at(fd: int) -> str | None:
    """`checkpoint_kind` of the regular file open at `fd`."""
    head = os.pread(fd, 10, 0) if hasattr(os, "pread") else b""  # no pread: said as before
    return checkpoint_kind(head)


def _too_big(path: str | Path, size: int) -> LoadError:
    """E104 for a file over the size limit (`size`: its size when it was first looked at;
    within the limit then, it grew while it was read)."""
    return LoadError(
        f"{path} is larger than {MAX_BYTES} bytes, the limit for a spec"
        if size <= MAX_BYTES  # it grew after stat
        else f"{path} is {size} bytes; specs are limited to {MAX_BYTES} bytes",
        span=SourceSpan(str(path), 1, 1),
        code="E104",
        hint=f"a spec, with the files it imports, is at most {MAX_BYTES // 2**20} MiB: write "
        "stacks of layers as `repeat`, `for_each` and blocks rather than one by one",
    )


def _unreadable(path: str | Path, exc: OSError) -> LoadError:
    """E100 for a file that exists but cannot be opened or read."""
    return LoadError(
        f"cannot read {path}: {exc.strerror or exc}",
        code="E100",
        hint="check the file's permissions",
    )


class FileWaits(BlockingIOError):
    """A regular file with nothing to read yet and no end: /proc/kmsg, root's, waits for the
    kernel's next message. A spec or a checkpoint never does, and a read of it would wait
    for ever (select() finds it readable only when the kernel writes)."""


#: What is said of a FileWaits, after the file's name.
WAITS = "waits for data to be written to it (as /proc/kmsg does)"


def regular_head(path: str | os.PathLike[str], size: int) -> bytes:
    """The first `size` bytes of the regular file at `path`, read without waiting on it:
    OSError (or ValueError for a name holding NUL) when it is no regular file or cannot be
    read, FileWaits when it has nothing to read yet (see FileWaits)."""
    fd = os.open(path, _OPEN_FLAGS)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(errno.EISDIR, "not a regular file")
        return _read_at_most(fd, size)
    finally:
        os.close(fd)


def _waits(path: str | Path) -> LoadError:
    """E100 for a spec file that waits for data (see FileWaits)."""
    return LoadError(
        f"{path} {WAITS}, not a spec file",
        span=SourceSpan(str(path), 1, 1),
        code="E100",
        hint="a spec is read from a regular file that ends; save the spec to a file and pass "
        "its path",
    )


class _Silent(Exception):
    """A pipe sent nothing for the idle bound and is still open."""


def _read_at_most(
    fd: int,
    limit: int,
    idle: float | None = None,
    waiting: Callable[[], object] | None = None,
) -> bytes:
    """Up to `limit` bytes from `fd`, however the file grows while it is read; `_Silent`
    when `idle` seconds pass with nothing to read (`waiting` called once, after
    NOTICE_SECONDS of them); FileWaits for a regular file that has nothing yet."""
    chunks: list[bytes] = []
    got = 0
    said: list[object] = []  # the notice is said once per read, not once per wait

    def once() -> None:
        if waiting is not None and not said:
            said.append(waiting())

    regular = stat.S_ISREG(os.fstat(fd).st_mode)
    while got < limit:
        if regular and not _readable(fd, 0.0, None):  # opened blocking (a shell's `<`) too
            raise FileWaits(errno.EAGAIN, os.strerror(errno.EAGAIN))
        if idle is not None and not _readable(fd, idle, once if waiting is not None else None):
            raise _Silent
        try:
            chunk = os.read(fd, min(limit - got, 1 << 16))
        except BlockingIOError:  # nothing yet, and no end
            if regular:
                raise FileWaits(errno.EAGAIN, os.strerror(errno.EAGAIN)) from None
            select.select([fd], [], [])  # a non-blocking pipe: wait for it
            continue
        if not chunk:
            break
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _readable(fd: int, idle: float, waiting: Callable[[], object] | None) -> bool:
    """Whether `fd` has bytes (or its end) within `idle` seconds; `waiting()` is called
    once NOTICE_SECONDS of them passed. True where select() cannot wait on `fd`
    (a pipe on Windows): the read then blocks as it always did."""
    try:
        first = min(idle, NOTICE_SECONDS) if waiting is not None else idle
        if select.select([fd], [], [], first)[0]:
            return True
        if waiting is None or first >= idle:
            return False
        waiting()
        return bool(select.select([fd], [], [], idle - first)[0])
    except (OSError, ValueError):
        return True
