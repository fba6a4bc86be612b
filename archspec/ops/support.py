"""Emitted support code of built-in kinds: definitions copied out of a torch-only module file
(`torch_support.py`, `window_modules.py` ...), read as text (emitting imports no torch)."""

from __future__ import annotations

import ast
import re
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
def _lines(path: Path) -> list[str]:
    """The file's lines as `ast.get_source_segment` splits them (its line ends only)."""
    return _LINE.findall(_text(path))


#: A line and its end, as ast._splitlines_no_ff takes them: \r\n, \r or \n, nothing else
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")

#: The names each text `definitions` made defines, by the text: every statement of the
#: text is a class or function definition of a file the package ships, so the emitter's
#: check of a kind's support text (backends.support) need not parse it again.
DEFINED: dict[str, tuple[str, ...]] = {}
#: The statements of each text `definitions` cut out of a whole file that holds more than
#: definitions (`torch.fx.wrap` calls beside them), by the text: the file's own statements,
#: parsed once already, which the emitter's check of the names a text defines
#: (backends.support) reads instead of parsing the text again (a window attention's is 12 kB).
STATEMENTS: dict[str, list[ast.stmt]] = {}


def _segment(path: Path, node: ast.stmt) -> str:
    """`ast.get_source_segment(text, node)`, with the file split into lines once (that
    function splits the whole file for each segment it is asked for)."""
    lines = _lines(path)
    first, last = node.lineno - 1, node.end_lineno - 1  # type: ignore[operator]
    start, end = node.col_offset, node.end_col_offset
    if first == last:
        return lines[first].encode()[start:end].decode()
    head = lines[first].encode()[start:].decode()
    tail = lines[last].encode()[:end].decode()
    return "".join([head, *lines[first + 1 : last], tail])


@cache
def definitions(file: Path | str, *names: str) -> str:
    """The top-level classes and functions `names` of a torch-only module file, in the
    order given, as emitted files hold them; with no names, every definition from the
    file's first to its `__all__` (comments between them kept). Kept: a file the package
    ships, the same for the whole run (check asks for the texts of every spec's layers)."""
    path = _file(file)
    body = _body(path)
    defs = [s for s in body if isinstance(s, (ast.ClassDef, ast.FunctionDef))]
    if not names:
        end = next(s for s in body if isinstance(s, ast.Assign) and s.lineno > defs[0].lineno)
        inside = [s for s in body if defs[0].lineno <= s.lineno < end.lineno]
        text = "".join(_lines(path)[defs[0].lineno - 1 : end.lineno - 1]).strip() + "\n"
        if all(isinstance(s, (ast.ClassDef, ast.FunctionDef)) for s in inside):
            DEFINED.setdefault(text.strip("\n"), tuple(s.name for s in inside))
        else:
            STATEMENTS.setdefault(text.strip("\n"), inside)
        return text
    found = {s.name: _segment(path, s) for s in defs if s.name in names}
    missing = [n for n in names if not found.get(n)]
    if missing:
        raise LookupError(f"{path.name} defines no class or function {', '.join(missing)}")
    text = "\n\n\n".join(str(found[n]) for n in names) + "\n"
    DEFINED.setdefault(text.strip("\n"), names)
    return text


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
    body = _body(_SOURCE)
    functions = [s.name for s in body if isinstance(s, ast.FunctionDef)]
    cls = support_source(name)
    # the names its definition reads (the file's own node: its text parsed again is the same)
    node = [s for s in body if isinstance(s, (ast.ClassDef, ast.FunctionDef)) and s.name == name]
    called = {n.id for n in ast.walk(node[-1]) if isinstance(n, ast.Name)}
    return (*(support_source(f) for f in functions if f in called), cls)
