"""Room on CPython's frame stack for a deep walk, so its frames stop mapping and unmapping.

CPython (3.11, where this was measured) keeps the frames of Python calls in chunks of
16 KiB. A call that does not fit in the current chunk maps a new one (mmap), and the chunk
is unmapped (munmap) as soon as the frame that opened it returns. A recursive walk whose
depth goes back and forth across a chunk's end, as the lowering's does on every block
instance, maps and unmaps a chunk each time, and each new mapping faults its pages in
again. How often that happens depends on how deep the caller's stack already is: a cold
`archspec check specs/*.yaml` crossed a chunk's end ~12,500 times (~13,000 page faults,
~0.1 s of CPU, a tenth of the run) and a script calling the same checks a few frames
higher crossed almost never.

`on_own_stack(fn)` calls `fn` from a frame that reserves a large value stack (its code
object's `co_stacksize`, set with `CodeType.replace`). That frame does not fit in a 16 KiB
chunk, so CPython maps one chunk big enough for it, of 1 MiB, and keeps it until the frame
returns; every frame `fn` makes goes into the rest of that chunk. The reserved slots are
never written, so their pages are never touched: the cost is address space, not memory.
A call made inside another (`check` lowering its spec) is a plain call: it is on that
chunk already. Elsewhere (another interpreter, another layout of frames) it is a plain call.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

#: Value-stack slots the calling frame reserves: 64 Ki pointers, 512 KiB. CPython sizes the
#: chunk for it to the next power of two (1 MiB), which leaves ~512 KiB for the frames
#: below: ~25,000 frames of the lowering's size, far past the default recursion limit.
RESERVED_SLOTS = 1 << 16


def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return fn(*args, **kwargs)


# where a code object cannot be replaced (not CPython), `_call` stays a plain call
with contextlib.suppress(AttributeError, TypeError, ValueError):
    _call.__code__ = _call.__code__.replace(co_stacksize=RESERVED_SLOTS)


class _Inside(threading.local):
    """Whether this thread runs inside `on_own_stack` (each thread has its own frames)."""

    active = False


_inside = _Inside()


def on_own_stack(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`fn(*args, **kwargs)`, its frames in one chunk of CPython's frame stack (see the
    module docstring): what a deep recursive walk needs to not map and unmap chunks."""
    if _inside.active:
        return fn(*args, **kwargs)
    _inside.active = True
    try:
        return _call(fn, *args, **kwargs)
    finally:
        _inside.active = False
