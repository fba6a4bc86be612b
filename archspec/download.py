"""One download into torch.hub's cache, with the limits torch.hub does not set.

`torch.hub.download_url_to_file` opens the URL without a timeout and reads until the server
stops: a server that never answers, that trickles a byte a minute, or that sends forever held
a load forever or filled the disk. Here the connection waits at most `READ_TIMEOUT` seconds
for any bytes (a timeout on the connection: the process's socket default is never touched),
the whole download ends within a time limit (`TIME_LIMIT`, or $ARCHSPEC_FETCH_TIME_LIMIT
seconds), and the server may send no more than the file's size plus a margin. As torch.hub
does, the bytes go to a `.partial` file beside the cache entry, the sha256 prefix in the file
name is checked, and only a whole, verified file is renamed into place.

The transfer runs in a daemon thread and the caller waits for it with the time limit: a
blocking call (a DNS lookup, a status line sent a byte at a time) cannot hold the caller past
it. A transfer given up on stops at its next read, and never renames its file into place.
"""

from __future__ import annotations

import errno
import hashlib
import http.client
import os
import re
import stat
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

from .errors import escape_text
from .pathkinds import broken_link, what_it_is
from .weights import WeightsError

#: Seconds the connection waits for the server's next bytes (torch.hub sets no timeout, so a
#: mirror or proxy that accepts the connection and never answers would hang forever).
READ_TIMEOUT = 60.0
#: Seconds a whole download may take, unless $ARCHSPEC_FETCH_TIME_LIMIT says otherwise.
TIME_LIMIT = 3600.0
TIME_LIMIT_ENV = "ARCHSPEC_FETCH_TIME_LIMIT"
#: The most a server may send for a file whose size is not known.
MAX_BYTES = 8 * 2**30
_CHUNK = 1 << 16
#: What a transfer raises of its own (URLError is an OSError), for the caller to word
TRANSFER_ERRORS: tuple[type[Exception], ...] = (OSError, ValueError, http.client.HTTPException)


#: `scheme://userinfo@` in a URL (or in a message quoting one)
_USERINFO = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://)([^/?#@\s'\"]*)@")


def shown_url(text: str, url: str | None = None) -> str:
    """A URL (or a message quoting one: `url` is the URL it may quote) as archspec shows it:
    the credentials in it (`https://user:TOKEN@mirror/models` as `https://user:****@...`,
    a lone `https://TOKEN@...` as `****@`), as pip shows them, and the values of its query
    (`?sig=****`, a signed mirror's token), so that no log keeps them; control characters
    escaped."""

    def hidden(m: re.Match[str]) -> str:
        user, colon, _ = m.group(2).partition(":")
        return f"{m.group(1)}{user + ':' if colon else ''}****@"

    given = _USERINFO.search(url) if url is not None else None
    if given is not None and given.group(2):  # quoted without its scheme (`user:TOKEN@host`)
        text = text.replace(given.group(2) + "@", hidden(given).removeprefix(given.group(1)))
    query = url.partition("?")[2].partition("#")[0] if url is not None else ""  # (no urlsplit:
    # an unclosed IPv6 bracket is a URL to show too, in the E802 that says it is none)
    if query:  # a file:// error quotes the path with its query, without the scheme
        text = text.replace("?" + query, "?" + _masked_query(query))
    text = _QUERY.sub(lambda m: m.group(1) + _masked_query(m.group(2)), text)
    return escape_text(_USERINFO.sub(hidden, text))


#: `scheme://...?query` in a URL (or in a message quoting one), up to a fragment or the end
_QUERY = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*://[^\s'\"?#]*\?)([^\s'\"#]*)")


def _masked_query(query: str) -> str:
    """A URL's query with its values as `****` (`?sig=****&se=****`): a mirror's access
    token (a signed URL's `sig`) rides there, and a log must not keep it; a bare `?TOKEN`
    is `****` whole."""
    if "=" not in query:
        return "****" if query else ""
    return re.sub(r"=[^&;]*", "=****", query)


def size_limit(size_mb: float) -> int:
    """Bytes a download may bring: torchvision's file size (in MiB, rounded) plus 5% and
    1 MiB, or MAX_BYTES for a file of no known size."""
    return int(size_mb * 2**20 * 1.05) + 2**20 if size_mb > 0 else MAX_BYTES


def time_limit() -> float:
    """The time limit of one download: $ARCHSPEC_FETCH_TIME_LIMIT seconds, else TIME_LIMIT;
    at most threading.TIMEOUT_MAX (292 years), the longest a thread is waited for (a limit
    of 1e12 seconds, no limit in effect, raised OverflowError from the wait)."""
    text = os.environ.get(TIME_LIMIT_ENV)
    if not text:
        return TIME_LIMIT
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 < seconds < float("inf"):
        raise WeightsError(
            f"${TIME_LIMIT_ENV} is {text!r}, not a number of seconds",
            code="E802",
            hint=f"set it to the seconds a download may take (the default is {TIME_LIMIT:g}), "
            "or unset it",
        )
    return min(seconds, threading.TIMEOUT_MAX)


def download(
    url: str, dest: Path, *, name: str, hash_prefix: str | None, size_mb: float, progress: bool
) -> None:
    """Download `url` to `dest` within the limits, checked against `hash_prefix`; a WeightsError
    (E802) for a transfer over a limit or of the wrong hash, the transfer's own exception
    (URLError, OSError, http.client.HTTPException) otherwise. Nothing is left beside `dest`."""
    limit = time_limit()
    partial = dest.with_name(f"{dest.name}.{uuid.uuid4().hex}.partial")
    try:  # the cache's own failures are said as its, before anything is fetched
        dest.parent.mkdir(parents=True, exist_ok=True)
        file = open(partial, "xb")  # noqa: SIM115  (closed by the transfer)
    except OSError as exc:
        raise cache_error(dest.parent, exc) from None
    transfer = _Transfer(url, partial, file, dest, hash_prefix, size_limit(size_mb), progress)
    sys.stdout.write(
        f'Downloading: "{shown_url(url)}" to {dest}\n'
    )  # torch.hub's words, where it wrote them
    worker = threading.Thread(target=transfer.run, name="archspec-download", daemon=True)
    start = time.monotonic()
    worker.start()
    try:
        worker.join(limit)
    finally:
        with transfer.lock:  # after the time limit, or on Ctrl-C: the transfer is given up
            transfer.cancelled = worker.is_alive()
        if transfer.cancelled:
            partial.unlink(missing_ok=True)
    if transfer.cancelled:
        raise WeightsError(
            f"cannot fetch {name} from {shown_url(url)}: the download took more than "
            f"{limit:g} seconds "
            f"({_mb(transfer.received)} received in {time.monotonic() - start:.0f} s); nothing "
            "was written to the cache",
            code="E802",
            hint=f"a stalled or slow server; on a slow link, raise the limit with "
            f"${TIME_LIMIT_ENV}=SECONDS, or put {dest.name} in {dest.parent} (torch.hub's "
            "cache, where torchvision also looks)",
        )
    if transfer.error is not None:
        raise transfer.error


class _Transfer:
    """The download's state, shared by the worker thread and the caller waiting for it."""

    def __init__(
        self,
        url: str,
        partial: Path,
        file: Any,
        dest: Path,
        hash_prefix: str | None,
        max_bytes: int,
        progress: bool,
    ) -> None:
        self.url, self.partial, self.file, self.dest = url, partial, file, dest
        self.hash_prefix, self.max_bytes, self.progress = hash_prefix, max_bytes, progress
        self.lock = threading.Lock()
        self.cancelled = False
        self.received = 0
        self.error: BaseException | None = None

    def run(self) -> None:
        """The worker: fetch, check, rename; any failure kept for the caller."""
        try:
            with self.file as file:
                digest = self._copy(file)
            if digest is not None and self.hash_prefix and not digest.startswith(self.hash_prefix):
                raise WeightsError(
                    f"refused {shown_url(self.url)}: its sha256 is {digest[:16]}..., not "
                    f"{self.hash_prefix}... as its file name says; nothing was written to the "
                    "cache",
                    code="E802",
                    hint="the file is damaged or not torchvision's; fetch it again, or check the "
                    "mirror named by base_url= or $ARCHSPEC_WEIGHTS_URL",
                )
            with self.lock:
                if digest is not None and not self.cancelled:
                    os.replace(self.partial, self.dest)
        except BaseException as exc:  # handed to the caller's thread, Ctrl-C's too
            self.error = exc
        finally:
            self.partial.unlink(missing_ok=True)

    def _copy(self, file: Any) -> str | None:
        """The bytes of the URL into `file`; their sha256, or None when given up on."""
        request = Request(self.url, headers={"User-Agent": "torch.hub"})
        sha256 = hashlib.sha256()
        with urlopen(request, timeout=READ_TIMEOUT) as response:
            declared = response.headers.get("Content-Length")
            total = int(declared) if declared and declared.isdigit() else None
            if total is not None and total > self.max_bytes:
                raise self._too_big(f"the server announces {_mb(total)}")
            read = getattr(response, "read1", response.read)  # one read of the socket at a time
            shown = 0.0
            while chunk := read(_CHUNK):
                if self.cancelled:
                    return None
                self.received += len(chunk)
                if self.received > self.max_bytes:
                    raise self._too_big(f"the server sent more than {_mb(self.max_bytes)}")
                self._write(file, chunk)
                sha256.update(chunk)
                if self.progress and time.monotonic() - shown > 0.2:
                    shown = time.monotonic()
                    _show(self.received, total)
            self._write(file, b"")
        if self.progress:
            _show(self.received, total, end="\n")
        return sha256.hexdigest()

    def _write(self, file: Any, chunk: bytes) -> None:
        """Write `chunk` to the .partial file (flush it when empty): a full disk or a size
        limit is the cache's failure, not the server's (both are OSErrors)."""
        try:
            file.write(chunk) if chunk else file.flush()
        except OSError as exc:
            raise cache_error(self.dest.parent, exc) from None

    def _too_big(self, what: str) -> WeightsError:
        return WeightsError(
            f"cannot fetch {shown_url(self.url)}: {what}, and the file is at most "
            f"{_mb(self.max_bytes)}; "
            "nothing was written to the cache",
            code="E802",
            hint="the server sends something other than torchvision's file (an endless or "
            "wrong response); check the mirror named by base_url= or $ARCHSPEC_WEIGHTS_URL",
        )


def cache_error(folder: Path, exc: OSError) -> WeightsError:
    """E802 for torch.hub's cache `folder` refusing the download: a path on the way that is
    a file or a link to nothing, a read-only or full file system. It was worded as a failure
    to fetch the URL ("[Errno 17] File exists"), with the hint to put the file into that
    same folder."""
    reason, fix = exc.strerror or str(exc), "a folder you can write"
    for path in (folder, *folder.parents):
        if os.path.lexists(path) and not os.path.isdir(path):
            st = os.lstat(path)
            kind = "a file" if stat.S_ISREG(st.st_mode) else what_it_is(st)
            reason = f"{path} {broken_link(path) or f'is {kind}, not a folder'}"
            fix = f"another folder, or remove {path}"
            break
    hint = _CACHE_FULL.get(exc.errno or 0) or (
        f"set $TORCH_HOME to {fix} (the file is downloaded into its hub/checkpoints)"
    )
    return WeightsError(
        f"cannot write into torch.hub's cache {folder}: {reason}; nothing was written to the cache",
        code="E802",
        hint=hint,
    )


#: A cache on a full disk or over a size limit, each with its fix.
_CACHE_FULL = {
    getattr(errno, name): hint
    for name, hint in (
        ("ENOSPC", "free space on that disk, or set $TORCH_HOME to a folder on another"),
        ("EDQUOT", "free space within your disk quota, or set $TORCH_HOME to another folder"),
        (
            "EFBIG",
            "the file is larger than this process may write (ulimit -f) or the file "
            "system holds; raise the limit, or set $TORCH_HOME to a folder on another",
        ),
    )
    if hasattr(errno, name)
}


def _mb(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"


def _show(received: int, total: int | None, end: str = "") -> None:
    """A progress line on stderr (a terminal's), as torch.hub's bar was."""
    of = f" of {_mb(total)}" if total else ""
    sys.stderr.write(f"\r{_mb(received)}{of}{end}")
    sys.stderr.flush()


__all__ = [
    "MAX_BYTES",
    "READ_TIMEOUT",
    "TIME_LIMIT",
    "TIME_LIMIT_ENV",
    "TRANSFER_ERRORS",
    "download",
    "shown_url",
    "size_limit",
    "time_limit",
]
