"""The `archspec` command line. Commands are grouped by module; all go through archspec.api."""

from __future__ import annotations

import sys

from . import analyse, build, tools  # noqa: F401  (each registers its commands on `app`)
from .app import app


def main() -> None:
    """Console-script entry point; usage errors exit 2, spec errors 1, internal errors 3."""
    try:
        app(prog_name="archspec")
    except SystemExit as exc:
        code = exc.code
        if code not in (0, 1, 2, 3, None):
            code = 2 if isinstance(code, int) else 1
        sys.exit(code or 0)


__all__ = ["app", "main"]
