"""Writing output files: whole or not at all.

Every file archspec writes (emitted modules, the JSON Schema, new specs, pictures) goes to a
temporary file in the target's directory, is flushed to disk, optionally checked, and only
then renamed over the target, which is atomic on POSIX and Windows: an interrupted or failed
run leaves the old file or the new one, never a mix, and no temporary file behind.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from .errors import EmitError

T = TypeVar("T")


def write_atomic(
    target: str | Path,
    data: str | bytes,
    check: Callable[[Path], T] | None = None,
) -> T | None:
    """Write `data` to `target` atomically; `check(tmp)` may inspect (or refuse) it first.

    An OSError (missing or read-only directory, full disk, a directory in the way) becomes
    E604 naming the path; nothing is changed then.
    """
    target = Path(target)
    try:
        return _write(target, data, check)
    except OSError as exc:
        raise EmitError(
            f"cannot write {target}: {exc.strerror or exc}",
            code="E604",
            hint="check the path and its permissions; nothing was changed",
        ) from None


def _write(target: Path, data: str | bytes, check: Callable[[Path], T] | None) -> T | None:
    if target.is_dir():
        raise IsADirectoryError(21, "it is a directory", str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, _mode_for(target))
        result = check(tmp) if check is not None else None
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
    return result


def _mode_for(target: Path) -> int:
    """Keep an existing file's mode; a new file gets the usual 0o666 minus the umask."""
    try:
        return target.stat().st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
