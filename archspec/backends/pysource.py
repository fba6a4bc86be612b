"""IR -> readable PyTorch source: the public entry point of the emitter (`backends/emit/`).

`render_module(graph)` returns the module's text; `HEADER_PREFIX` starts every emitted file
(`archspec compile` overwrites only files that start so). How the source is made is told
in `archspec/backends/emit/__init__.py`.
"""

from __future__ import annotations

from .emit import HEADER_PREFIX, Emitter, render_module

__all__ = ["HEADER_PREFIX", "Emitter", "render_module"]
