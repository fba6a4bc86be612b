"""Work of the `early` tests, started in the background when the session starts.

A few tests spend their time in fresh interpreters that wait on nothing (the docs pages'
Python blocks, the benchmark runner's quick mode): conftest.py calls each such module's
`start_early(items, root)` once the session is collected, which hands that work to one
background thread here, and runs the tests marked `early` last, by when it has run on the
second core while the rest of the suite used the first. A test takes its run with `take`,
and does the work itself when nothing was started: run from another harness, or in an xdist
worker (README's `-n 2`), where both cores already run tests and each worker would start the
work of every early test, its own and the other worker's. There the early tests run first
(conftest's `_order`), as the longest single tests of the run.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

_POOL: list[ThreadPoolExecutor] = []
_RUNS: dict[object, Future[Any]] = {}
#: Popen as the session found it. The background work runs while the main thread runs other
#: tests, some of which replace subprocess.Popen (test_hostile's tripwires fail any process
#: started while a spec is read): a page run that met the replacement failed at random.
_POPEN = subprocess.Popen


def run(args: Sequence[str], *, timeout: float, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """subprocess.run(args, capture_output=True, text=True, ...) through the session's own
    Popen, whatever a test running meanwhile has put in its place."""
    with _POPEN(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()
            raise
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def submit(key: object, work: Callable[[], Any]) -> None:
    """Run `work` in the background thread, after what was submitted before."""
    if not _POOL:
        _POOL.append(ThreadPoolExecutor(max_workers=1, thread_name_prefix="early-tests"))
    _RUNS[key] = _POOL[0].submit(work)


def take(key: object) -> Future[Any] | None:
    """The run submitted under `key`, or None."""
    return _RUNS.pop(key, None)


def stop() -> None:
    """Drop the runs not started (a session stopped early does not wait for them)."""
    for pool in _POOL:
        pool.shutdown(wait=True, cancel_futures=True)
    _POOL.clear()
    _RUNS.clear()
