"""Where in the user's Python source a problem is: a forward statement or a class."""

from __future__ import annotations

import inspect
import os
import re
import traceback
from types import TracebackType
from typing import Any

from ..errors import Diagnostic, SourceSpan

_FRAME = re.compile(r'File "([^"]+)", line (\d+), in (\S+)')


def _torch_dir() -> str:
    import torch

    return os.path.dirname(os.path.abspath(torch.__file__)) + os.sep


def _ours(path: str) -> bool:
    """A frame of the user's code (not torch's machinery, not archspec's importer)."""
    full = os.path.abspath(path)
    here = os.path.dirname(os.path.abspath(__file__)) + os.sep
    return not (full.startswith(_torch_dir()) or full.startswith(here))


def span_from_stack(stack_trace: str | None) -> SourceSpan | None:
    """The innermost user frame of an fx node's recorded stack (`node.stack_trace`)."""
    frames = [m for m in _FRAME.finditer(stack_trace or "") if _ours(m.group(1))]
    if not frames:
        return None
    last = frames[-1]
    return SourceSpan(last.group(1), int(last.group(2)), 1)


def span_from_traceback(tb: TracebackType | None) -> SourceSpan | None:
    """The innermost user frame of an exception raised while tracing."""
    frames = [f for f in traceback.extract_tb(tb) if _ours(f.filename)]
    if not frames:
        return None
    return SourceSpan(frames[-1].filename, frames[-1].lineno or 1, 1)


def model_code_span(tb: TracebackType | None) -> SourceSpan | None:
    """Where an exception came from the model's own code: the innermost frame outside torch
    (torch's frames are skipped, a model's method often fails through them), when it is
    neither archspec's nor the standard library's; None when archspec raised it (a bug)."""
    package = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    stdlib = os.path.dirname(os.path.abspath(os.__file__)) + os.sep
    for frame in reversed(traceback.extract_tb(tb)):
        full = os.path.abspath(frame.filename)
        if full.startswith(_torch_dir()):
            continue
        if full.startswith(package) or full.startswith(stdlib) or frame.filename.startswith("<"):
            return None
        return SourceSpan(frame.filename, frame.lineno or 1, 1)
    return None


def span_of_class(cls: type) -> SourceSpan | None:
    """The `class` statement of a module class, when its source is known; for a class made
    at run time (torch's `ParametrizedLinear`), that of the first base written in a file."""
    for klass in cls.__mro__:
        try:
            path = inspect.getsourcefile(klass)
            _, line = inspect.getsourcelines(klass)
        except (OSError, TypeError):
            continue
        if path:
            return SourceSpan(path, max(1, line), 1)
    return None


def describe(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def diagnostic(code: str, message: str, span: SourceSpan | None, hint: str) -> Diagnostic:
    return Diagnostic(code, message, span, hint)


def source_lines(diags: list[Diagnostic]) -> dict[str, str]:
    """The text of every file the diagnostics point at, so their lines are quoted."""
    out: dict[str, Any] = {}
    for d in diags:
        path = d.span.file if d.span else None
        if path and path not in out and os.path.isfile(path):
            try:
                with open(path, encoding="utf-8") as fh:
                    out[path] = fh.read()
            except (OSError, UnicodeDecodeError):
                continue
    return out
