"""Memory when a graph is built: the bytes its parameters and buffers need checked against
what the device has free before anything is allocated, and PyTorch refusing an allocation
while building turned into a located ResourceError (E503), never a raw RuntimeError or the
out-of-memory killer (torch_module.build_module)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from ..errors import ResourceError, SourceSpan
from ..ir import Graph

if TYPE_CHECKING:  # pragma: no cover
    from ..passes.costs import Footprint


class OutOfMemory(Exception):
    """An allocation refused while building the layer at `path`."""

    def __init__(self, path: str, span: SourceSpan | None) -> None:
        super().__init__(path)
        self.path = path
        self.span = span


def is_allocation_failure(exc: BaseException) -> bool:
    """Whether `exc` is PyTorch refusing memory: CPU allocators raise a RuntimeError, CUDA
    its own error, Python a MemoryError."""
    if isinstance(exc, (MemoryError, torch.OutOfMemoryError)):
        return True
    text = str(exc)
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()
    )


@contextmanager
def allocating(path: str, span: SourceSpan | None) -> Iterator[None]:
    """Turn PyTorch refusing memory (MemoryError, or its RuntimeError) into OutOfMemory."""
    try:
        yield
    except (MemoryError, RuntimeError) as exc:
        if not is_allocation_failure(exc):
            raise
        raise OutOfMemory(path, span) from exc


def memory_error(graph: Graph, path: str, span: SourceSpan | None, why: str) -> ResourceError:
    """E503 at the layer being built when memory ran out (`why`: torch's first line)."""
    return ResourceError(
        f"building {graph.name} ran out of memory at `{path}`: {why[:200]}",
        code="E503",
        span=span or graph.root.span,
        hint=MEMORY_HINT,
        sources=dict(graph.sources),
    )


MEMORY_HINT = (
    "use smaller layers, build with device='meta' to analyse the model without memory, or "
    "lower max_params= so that archspec refuses such a model before building it"
)


def device_argument(device: object) -> torch.device | None:
    """`device=` of compile and load as a torch.device (None stays None), checked before the
    spec is read: a value torch cannot read as a device is a TypeError or ValueError that
    names the argument, and a device this torch cannot reach (`"cuda"` on a CPU build) a
    ValueError with torch's reason, rather than torch's own error from deep in the build."""
    if device is None:
        return None
    if isinstance(device, bool) or not isinstance(device, (str, int, torch.device)):
        raise TypeError(
            f"device must be a str, an int or a torch.device (or None), got {type(device).__name__}"
        )
    try:
        parsed = torch.device(device)
    except (RuntimeError, ValueError, TypeError) as exc:
        why = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"device {device!r} is not a device torch knows: {why[:200]}") from None
    try:  # a zero-size tensor: allocates nothing, but initialises (or refuses) the backend
        torch.empty(0, device=parsed)
    except (RuntimeError, AssertionError, ValueError) as exc:
        why = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"device {device!r} is not available: {why[:200]}") from None
    return parsed


def default_device() -> torch.device:
    """Where a build without `device=` allocates (torch's default device, if it has one)."""
    get = getattr(torch, "get_default_device", None)
    return get() if get is not None else torch.device("cpu")


def check_memory(graph: Graph, device: torch.device, fp: Footprint | None = None) -> None:
    """E503 before building when parameters and buffers need more than the device has free."""
    free = available_bytes(device)
    if free is None:
        return
    if fp is None:
        from ..passes.costs import footprint

        fp = footprint(graph)
    itemsize = torch.empty((), dtype=torch.get_default_dtype(), device="meta").element_size()
    need = fp.nbytes(itemsize)
    if need <= free:
        return
    path, node, _ = fp.largest if fp.largest else ("?", None, 0)
    raise ResourceError(
        f"{graph.name} needs {need:,} bytes for its parameters and buffers "
        f"({fp.params + fp.buffers:,} elements of {itemsize} bytes), more than the {free:,} "
        f"bytes {device.type} memory has free; the largest layer is `{path}`",
        code="E503",
        span=node.span if node is not None else graph.root.span,
        hint=MEMORY_HINT,
        sources=dict(graph.sources),
    )


def available_bytes(device: torch.device) -> int | None:
    """Memory the device has free now, or None where it cannot be known (meta, mps, ...)."""
    if device.type == "cuda":
        try:
            free, _ = torch.cuda.mem_get_info(device)
        except (RuntimeError, AssertionError, ValueError):
            return None
        return int(free)
    if device.type == "cpu":
        return _cpu_available()
    return None


def _cpu_available() -> int | None:
    """MemAvailable, capped by a cgroup v2 memory limit (a container's)."""
    free: int | None = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    free = int(line.split()[1]) * 1024
                    break
    except (OSError, ValueError):
        pass
    if free is None:
        try:
            free = os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return None
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text(encoding="ascii").strip()
        if limit != "max":
            used = int(Path("/sys/fs/cgroup/memory.current").read_text(encoding="ascii"))
            free = min(free, int(limit) - used)
    except (OSError, ValueError):
        pass
    return free
