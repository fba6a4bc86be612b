"""Where a trace that failed read a size (`ih, iw = x.size()[-2:]`): the refusal names the
read and its line, as the source writes it (`.shape[-1]` at model.py:12). Kept apart from
shapes.py, which reads the sizes a spec can state."""

from __future__ import annotations

import linecache
import operator
import re
import traceback
from types import TracebackType
from typing import Any

from .calls import attribute_read
from .shapes import SLICED, Sym, size_of


def size_read_before(tracer: Any, tb: TracebackType | None = None) -> str | None:
    """Where a trace that failed read the size of a tensor that failed it (the graph the
    tracer made so far): `x.size()` at file:line, for a refusal to name; None if none. The
    size is one a name on the failing line holds (`torch.ones(T, T)` after `B, T, C =
    x.shape`), else the last read, the nearest to the failure."""
    from .where import span_from_stack

    graph = getattr(tracer, "graph", None)
    syms: dict[Any, Sym] = {}
    texts: dict[Any, str] = {}
    found = None
    for node in getattr(graph, "nodes", ()):
        sym = size_of(node, syms)
        if sym is None:
            continue
        syms[node] = sym
        unpacked = bool(node.args) and getattr(syms.get(node.args[0]), "what", "") in SLICED
        if sym.what in ("shape", "dim") and not unpacked:  # `ih` of `ih, iw = x.size()[-2:]`
            span = span_from_stack(node.stack_trace)
            what = f"`{_size_text(node)}`"
            found = f"{what} at {span.file.rsplit('/', 1)[-1]}:{span.line}" if span else what
            texts[node] = found
    return _read_on_failing_line(tb, texts) or found


def _read_on_failing_line(tb: TracebackType | None, texts: dict[Any, str]) -> str | None:
    """The size (of `texts`) that a variable named on the failing line of the model's code
    holds: the innermost frame of the user's code, its line's names looked up in its
    locals (a traced size is a Proxy of the node that read it)."""
    from .where import _ours

    frames = [(f, line) for f, line in traceback.walk_tb(tb) if _ours(f.f_code.co_filename)]
    if not frames or not texts:
        return None
    frame, line = frames[-1]
    for name in re.findall(r"[A-Za-z_]\w*", linecache.getline(frame.f_code.co_filename, line)):
        node = getattr(frame.f_locals.get(name), "node", None)
        if node is not None and node in texts:
            return texts[node]
    return None


def _size_text(node: Any) -> str:
    """A size read as the source writes it: `.shape[-1]`, `.size(2)`, `.shape`."""
    read = attribute_read(node.target, node.args)
    if read is not None:
        return f".{read}"
    if node.target is operator.getitem and hasattr(node.args[0], "target"):
        index = node.args[1]
        if isinstance(index, slice):  # `x.shape[-2:]`
            parts = [index.start, index.stop] + ([index.step] if index.step is not None else [])
            index = ":".join("" if p is None else repr(p) for p in parts)
        return f"{_size_text(node.args[0])}[{index if isinstance(index, str) else repr(index)}]"
    args = ", ".join(repr(a) for a in node.args[1:] if not hasattr(a, "op"))
    return f".{getattr(node.target, '__name__', node.target)}({args})"
