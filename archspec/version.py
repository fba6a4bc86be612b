"""archspec's version, in a module of its own: the CLI and the source writer read it without
importing the package root (and the public API behind it)."""

from __future__ import annotations

__version__ = "0.1.0"
