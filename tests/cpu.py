"""The CPU-time guard of the trust tests: a hang guard, not a speed test.

archspec promises that any spec under the size limits is checked, compiled or refused within
about a second of CPU (README, "Specs from elsewhere"); `python -m tests.fuzz` measures that
figure case by case on an idle machine. The suite itself runs on shared CI machines where the
CPU time of the same work varies several-fold under load (a case taking 0.2 s on a quiet
machine took 4 s on a busy one), so the tests hold every case to a guard ten times wider:
still far below what the regressions they catch cost (minutes or forever: trial division up
to 10^15, an alias bomb, an unbounded expansion). `ARCHSPEC_CPU_GUARD=1 python -m pytest`
holds them to the promise itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

#: CPU seconds a single case may take in the suite.
GUARD = float(os.environ.get("ARCHSPEC_CPU_GUARD", "10"))


def cpu_seconds(
    fn: Callable[[], Any], before: Callable[[], None] | None = None
) -> tuple[Any, float]:
    """(result, CPU seconds of `fn`), the faster of two runs when the first is over GUARD:
    load inflates CPU time too, while a real regression is slow both times. `before` runs
    ahead of each timing (to clear a cache, so that every run pays in full)."""
    best = float("inf")
    result: Any = None
    for _ in range(2):
        if before is not None:
            before()
        start = time.process_time()
        result = fn()
        best = min(best, time.process_time() - start)
        if best < GUARD:
            break
    return result, best
