"""Emitted support code of built-in kinds: definitions copied out of a torch-only module file
(`torch_support.py`, `window_modules.py` ...), read as text (emitting imports no torch)."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

_SOURCE = Path(__file__).with_name("torch_support.py")


@cache
def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


@cache
def _body(path: Path) -> list[ast.stmt]:
    return ast.parse(_text(path)).body


def _file(file: Path | str) -> Path:
    """A module file: a path, or the name of one beside this file."""
    return file if isinstance(file, Path) else _SOURCE.with_name(file)


@cache
@cache
def definitions(file: Path | str, *names: str) -> str:
    """The top-level classes and functions `names` of a torch-only module file, in the
    order given, as emitted files hold them; with no names, every definition from the
    file's first to its `__all__` (comments between them kept). Kept: a file the package
    ships, the same for the whole run (check asks for the texts of every spec's layers)."""
    path = _file(file)
    text = _text(path)
    body = _body(path)
    if not names:
        defs = [s for s in body if isinstance(s, (ast.ClassDef, ast.FunctionDef))]
        end = next(s for s in body if isinstance(s, ast.Assign) and s.lineno > defs[0].lineno)
        lines = text.splitlines(keepends=True)
        return "".join(lines[defs[0].lineno - 1 : end.lineno - 1]).strip() + "\n"
    found = {
        s.name: ast.get_source_segment(text, s)
        for s in body
        if isinstance(s, (ast.ClassDef, ast.FunctionDef)) and s.name in names
    }
    missing = [n for n in names if not found.get(n)]
    if missing:
        raise LookupError(f"{path.name} defines no class or function {', '.join(missing)}")
    return "\n\n\n".join(str(found[n]) for n in names) + "\n"


def support_source(name: str) -> str:
    """The definition of class or function `name` in torch_support.py, as the emitted file
    holds it."""
    return definitions(_SOURCE, name)


def support_class(name: str) -> type:
    """The torch module class `name` (imports torch)."""
    from . import torch_support

    return getattr(torch_support, name)


@cache
def support_code(name: str) -> tuple[str, ...]:
    """Class `name`'s support code: the functions of torch_support.py it calls, in the file's
    order, then the class, each a text of its own, which the emitter writes once per file
    however many classes call it (`Op.emit_support_for`)."""
    functions = [s.name for s in ast.parse(_text(_SOURCE)).body if isinstance(s, ast.FunctionDef)]
    cls = support_source(name)
    called = {n.id for n in ast.walk(ast.parse(cls)) if isinstance(n, ast.Name)}
    return (*(support_source(f) for f in functions if f in called), cls)
