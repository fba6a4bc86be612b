"""What an existing output path is, as files.py decides how to write it: this process's own
stream, something written through (a FIFO, the null device), or a link leading nowhere."""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path


def own_stream(st: os.stat_result, fds: tuple[int, ...] = (1, 2)) -> int | None:
    """1 or 2 when `st` is the file this process's stdout or stderr is connected to (the
    first of `fds`: its stdin's pipe, which only it reads, is no stream to write through)."""
    for fd in fds:
        try:
            own = os.fstat(fd)
        except OSError:
            continue
        if (own.st_dev, own.st_ino) == (st.st_dev, st.st_ino):
            return fd
    return None


def writable_through(st: os.stat_result) -> bool:
    """A FIFO, or the null device: opened for writing, never renamed over."""
    if stat.S_ISFIFO(st.st_mode):
        return True
    if not stat.S_ISCHR(st.st_mode):
        return False
    try:
        null = os.stat(os.devnull)
    except OSError:
        return False
    return stat.S_ISCHR(null.st_mode) and st.st_rdev == null.st_rdev


def what_it_is(st: os.stat_result) -> str:
    mode = st.st_mode
    for test, name in (
        (stat.S_ISDIR, "a directory"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISFIFO, "a FIFO"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def broken_link(path: Path) -> str | None:
    """What is wrong with a symbolic link that leads nowhere (`is a symbolic link ...`), or
    None when `path` is no link or leads somewhere. The OS says "Too many levels of symbolic
    links" for a loop, which reads as a permissions matter beside E604's usual hint."""
    if not os.path.islink(path):
        return None
    try:
        os.stat(path)
    except FileNotFoundError:
        return "is a symbolic link to a missing file"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "is a symbolic link into a loop: its links lead back to one another"
        return None
    return None
