"""Downloads have a total time limit and a size limit, and leave the process's socket default
alone: a local HTTP server (a thread) trickles, sends forever, or serves the file; the limits
are made short through $ARCHSPEC_FETCH_TIME_LIMIT and `archspec.download.READ_TIMEOUT`. An
alarm turns a regression (a load that never ends) into a failure, not a hung run.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

import archspec
import archspec.download

from .test_weights import SPEC, _checkpoint, _hashed, _same

Serve = Callable[["_Handler"], None]


class _Handler(BaseHTTPRequestHandler):
    """Answers every GET with the test's `serve` function; quiet."""

    serve: Serve
    stop: threading.Event
    seen_timeouts: list[float | None]

    def do_GET(self) -> None:
        self.seen_timeouts.append(socket.getdefaulttimeout())
        with contextlib.suppress(OSError):  # the client gave up
            type(self).serve(self)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh torch.hub cache; short limits; $ARCHSPEC_WEIGHTS_URL unset."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ARCHSPEC_WEIGHTS_URL", raising=False)
    monkeypatch.setenv("ARCHSPEC_FETCH_TIME_LIMIT", "1.5")
    monkeypatch.setattr(archspec.download, "READ_TIMEOUT", 0.5)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def server() -> Iterator[type[_Handler]]:
    """A local HTTP server; set `.serve` on the handler class it yields."""
    handler = type("Handler", (_Handler,), {"stop": threading.Event(), "seen_timeouts": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    handler.base_url = f"http://127.0.0.1:{httpd.server_address[1]}/models"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield handler
    handler.stop.set()
    httpd.shutdown()
    httpd.server_close()


class _Hung(Exception):
    pass


def _load_within(seconds: float, *args: object, **kwargs: object) -> torch.nn.Module:
    """archspec.load, stopped by an alarm (not an OSError, so never taken for a fetch's)."""

    def stop(*_: object) -> None:
        raise _Hung("the load did not end")

    before = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return archspec.load(*args, **kwargs)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, before)


def _trickle_body(h: _Handler) -> None:
    """A byte every 0.1 s: each read gets bytes well within the read timeout."""
    h.send_response(200)
    h.send_header("Content-Length", str(5 * 2**20))
    h.end_headers()
    while not h.stop.wait(0.1):
        h.wfile.write(b"x")
        h.wfile.flush()


def _trickle_headers(h: _Handler) -> None:
    """A status line, then one endless header a byte at a time."""
    h.wfile.write(b"HTTP/1.1 200 OK\r\nX-Slow: ")
    while not h.stop.wait(0.1):
        h.wfile.write(b"a")
        h.wfile.flush()


@pytest.mark.parametrize("serve", [_trickle_body, _trickle_headers], ids=["body", "headers"])
def test_a_trickling_server_meets_the_time_limit(
    hub: Path, server: type[_Handler], serve: Serve
) -> None:
    """A server that sends a byte often enough for every read timeout never ended the load:
    the whole download has a time limit, the response's headers included."""
    server.serve = serve
    start = time.process_time(), time.monotonic()
    with pytest.raises(archspec.ArchSpecError) as err:
        _load_within(20, SPEC, weights="DEFAULT", base_url=server.base_url)
    assert time.monotonic() - start[1] < 10
    assert err.value.error_code == "E802"
    assert "took more than 1.5 seconds" in str(err.value)
    assert "ARCHSPEC_FETCH_TIME_LIMIT" in str(err.value.hint)
    assert not hub.exists() or list(hub.iterdir()) == []  # no partial file left
    # the timeout is the connection's: the process's default was never set
    assert server.seen_timeouts == [None] and socket.getdefaulttimeout() is None


def _endless(h: _Handler) -> None:
    h.send_response(200)
    h.end_headers()
    block = b"\0" * 65536
    while not h.stop.is_set():
        h.wfile.write(block)


def _announces_too_much(h: _Handler) -> None:
    h.send_response(200)
    h.send_header("Content-Length", str(10 * 2**30))
    h.end_headers()
    h.wfile.write(b"\0" * 65536)


@pytest.mark.parametrize(
    ("serve", "said"),
    [(_endless, "sent more than 1.1 MiB"), (_announces_too_much, "announces 10240.0 MiB")],
    ids=["endless", "announced"],
)
def test_a_server_that_sends_too_much_meets_the_size_limit(
    hub: Path, server: type[_Handler], serve: Serve, said: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file's size is known (torchvision's metadata): a server sending forever filled
    the cache's disk; now it may send the size plus 5% and 1 MiB."""
    monkeypatch.setenv("ARCHSPEC_FETCH_TIME_LIMIT", "60")
    server.serve = serve
    weights = dataclasses.replace(archspec.get_weights(SPEC), file_size_mb=0.1)
    with pytest.raises(archspec.ArchSpecError) as err:
        _load_within(20, SPEC, weights=weights, base_url=server.base_url)
    assert err.value.error_code == "E802" and said in str(err.value)
    assert "nothing was written to the cache" in str(err.value)
    assert not hub.exists() or list(hub.iterdir()) == []


def test_an_http_download_within_the_limits_is_verified_and_cached(
    hub: Path, server: type[_Handler], tmp_path: Path
) -> None:
    state = _checkpoint()
    weights = _hashed(state, tmp_path / "mirror")
    body = (tmp_path / "mirror" / weights.file).read_bytes()

    def serve(h: _Handler) -> None:
        h.send_response(200 if h.path.endswith(weights.file) else 404)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    server.serve = serve
    assert _same(_load_within(60, SPEC, weights=weights, base_url=server.base_url), state)
    assert [p.name for p in hub.iterdir()] == [weights.file]
    assert (hub / weights.file).read_bytes() == body


def test_a_download_of_the_wrong_hash_is_refused_uncached(
    hub: Path, server: type[_Handler]
) -> None:
    def serve(h: _Handler) -> None:
        h.send_response(200)
        h.end_headers()
        h.wfile.write(b"not torchvision's file")

    server.serve = serve
    with pytest.raises(archspec.ArchSpecError) as err:
        _load_within(20, SPEC, weights="DEFAULT", base_url=server.base_url)
    assert err.value.error_code == "E802" and "as its file name says" in str(err.value)
    assert not hub.exists() or list(hub.iterdir()) == []


@pytest.mark.parametrize("value", ["soon", "0", "-5", "inf", "nan"])
def test_a_time_limit_that_is_no_number_of_seconds_is_refused(
    hub: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("ARCHSPEC_FETCH_TIME_LIMIT", value)
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights="DEFAULT", base_url="http://127.0.0.1:9/none")
    assert err.value.error_code == "E802" and "not a number of seconds" in str(err.value)
    assert not hub.exists() or list(hub.iterdir()) == []


def test_a_time_limit_past_what_a_thread_waits_is_no_limit(
    hub: Path, server: type[_Handler], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ARCHSPEC_FETCH_TIME_LIMIT=1e12 (no limit, in effect) was OverflowError 'timestamp out
    of range for platform time_t' from the wait for the download's thread, a traceback, and
    the thread's .partial file was left in the cache as the process ended."""
    monkeypatch.setenv("ARCHSPEC_FETCH_TIME_LIMIT", "1e12")
    state = _checkpoint()
    weights = _hashed(state, tmp_path / "mirror")
    body = (tmp_path / "mirror" / weights.file).read_bytes()

    def serve(h: _Handler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    server.serve = serve
    assert _same(_load_within(60, SPEC, weights=weights, base_url=server.base_url), state)
    assert [p.name for p in hub.iterdir()] == [weights.file]
    assert archspec.download.time_limit() == threading.TIMEOUT_MAX


def test_the_size_limit_follows_the_file_size() -> None:
    assert archspec.download.size_limit(100.0) == int(100 * 2**20 * 1.05) + 2**20
    assert archspec.download.size_limit(0) == archspec.download.MAX_BYTES
