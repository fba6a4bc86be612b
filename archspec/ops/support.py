"""Emitted support code of built-in kinds: a class's source from `torch_support.py`, read as
text (emitting imports no torch)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

_SOURCE = Path(__file__).with_name("torch_support.py")


@cache
def support_source(name: str) -> str:
    """The definition of class or function `name` in torch_support.py, as the emitted file
    holds it."""
    text = _SOURCE.read_text(encoding="utf-8")
    for stmt in ast.parse(text).body:
        if isinstance(stmt, (ast.ClassDef, ast.FunctionDef)) and stmt.name == name:
            segment = ast.get_source_segment(text, stmt)
            if segment is not None:
                return segment + "\n"
    raise LookupError(f"torch_support.py defines no class or function {name!r}")


def support_class(name: str) -> type:
    """The torch module class `name` (imports torch)."""
    from . import torch_support

    return getattr(torch_support, name)


@cache
def support_code(name: str) -> tuple[str, ...]:
    """Class `name`'s support code: the functions of torch_support.py it calls, in the file's
    order, then the class, each a text of its own, which the emitter writes once per file
    however many classes call it (`Op.emit_support_for`)."""
    text = _SOURCE.read_text(encoding="utf-8")
    functions = [s.name for s in ast.parse(text).body if isinstance(s, ast.FunctionDef)]
    cls = support_source(name)
    called = {n.id for n in ast.walk(ast.parse(cls)) if isinstance(n, ast.Name)}
    return (*(support_source(f) for f in functions if f in called), cls)
