"""Emitted support code of built-in kinds: a class's source from `torch_support.py`, read as
text (emitting imports no torch)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

_SOURCE = Path(__file__).with_name("torch_support.py")


@cache
def support_source(name: str) -> str:
    """The definition of class `name` in torch_support.py, as the emitted file holds it."""
    text = _SOURCE.read_text(encoding="utf-8")
    for stmt in ast.parse(text).body:
        if isinstance(stmt, ast.ClassDef) and stmt.name == name:
            segment = ast.get_source_segment(text, stmt)
            if segment is not None:
                return segment + "\n"
    raise LookupError(f"torch_support.py defines no class {name!r}")


def support_class(name: str) -> type:
    """The torch module class `name` (imports torch)."""
    from . import torch_support

    return getattr(torch_support, name)
