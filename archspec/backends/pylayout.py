"""Layout of emitted Python: a small document model and ruff's way of breaking long lines.

Emitted files must pass `ruff format --check` as written, so `format_doc` breaks long
expressions the way ruff (and black) do: the whole line if it fits; else split at the last
bracket pair, its contents on one indented line if they fit; else one item per line with a
trailing comma, recursively. `condition_lines` does the same for `if` conditions.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from functools import lru_cache

from ..errors import EmitError
from ..lazymethods import dataclass
from .pycode import INDENT, LINE_LENGTH


@dataclass(frozen=True)
class Text:
    """An atom that is never split."""

    text: str


@dataclass(frozen=True)
class Group:
    """`head item, item, ... tail`, e.g. a call `nn.Conv2d(` ... `)` or a list `[` ... `]`."""

    head: str
    items: tuple[Doc, ...]
    tail: str


@dataclass(frozen=True)
class Prefixed:
    """A keyword argument or unpacking: `prefix` glued to a doc (`kernel_size=`, `*`)."""

    prefix: str
    doc: Doc


@dataclass(frozen=True)
class Comp:
    """A comprehension `[elt clause]`, split before `for` like ruff does; `open`/`close`
    make it a call's sole generator argument (`any(elt for p in ps)`)."""

    elt: Doc
    clause: Doc | str
    open: str = "["
    close: str = "]"


Doc = Text | Group | Prefixed | Comp


def flat(doc: Doc) -> str:
    """The doc on one line."""
    if isinstance(doc, Text):
        return doc.text
    if isinstance(doc, Prefixed):
        return doc.prefix + flat(doc.doc)
    if isinstance(doc, Comp):
        return f"{doc.open}{flat(doc.elt)} {_clause(doc)}{doc.close}"
    return doc.head + ", ".join(flat(i) for i in doc.items) + doc.tail


def _clause(comp: Comp) -> str:
    return comp.clause if isinstance(comp.clause, str) else flat(comp.clause)


def call(
    callee: str, args: Iterable[Doc | str], kwargs: Iterable[tuple[str, Doc | str]] = ()
) -> Group:
    """A call doc from positional and keyword argument docs (strings become atoms)."""
    items: list[Doc] = [Text(a) if isinstance(a, str) else a for a in args]
    for key, value in kwargs:
        items.append(Prefixed(f"{key}=", Text(value) if isinstance(value, str) else value))
    return Group(f"{callee}(", tuple(items), ")")


def format_doc(
    doc: Doc, indent: int, prefix: str = "", suffix: str = "", force: bool = False
) -> list[str]:
    """Lines (with indentation) for `prefix + doc + suffix`, broken as ruff breaks them.

    `force` breaks the doc's brackets even if it would fit (the caller knows what follows).
    """
    pad = " " * indent
    one = pad + prefix + flat(doc) + suffix
    if (len(one) <= LINE_LENGTH and not force) or isinstance(doc, Text):
        return [one]
    if isinstance(doc, Prefixed):
        return format_doc(doc.doc, indent, prefix + doc.prefix, suffix, force)
    inner = " " * (indent + 4)
    if isinstance(doc, Comp):
        body = f"{flat(doc.elt)} {_clause(doc)}"
        if len(inner + body) <= LINE_LENGTH:
            return [pad + prefix + doc.open, inner + body, pad + doc.close + suffix]
        clause = Text(doc.clause) if isinstance(doc.clause, str) else doc.clause
        return [
            pad + prefix + doc.open,
            *format_doc(doc.elt, indent + 4),
            *format_doc(clause, indent + 4),
            pad + doc.close + suffix,
        ]
    head = pad + prefix + doc.head
    tail = pad + doc.tail + suffix
    if not doc.items:
        return [one]
    body = ", ".join(flat(i) for i in doc.items)
    # A call's arguments may share one indented line; a list or tuple literal that must
    # split is always exploded, one item per line (ruff's and black's rule).
    collection = doc.head in ("[", "(", "{") and len(doc.items) > 1
    if not collection and len(inner + body) <= LINE_LENGTH:
        return [head, inner + body, tail]
    if len(doc.items) == 1:
        return [head, *format_doc(doc.items[0], indent + 4), tail]
    lines = [head]
    for item in doc.items:
        lines.extend(format_doc(item, indent + 4, "", ","))
    lines.append(tail)
    return lines


@lru_cache(maxsize=8192)
def parse_doc(source: str) -> Doc:
    """The doc of one expression's source (an op's `emit()` result), checked to parse."""
    if "\n" in source or "\r" in source:
        raise EmitError(f"emitted code must be one line, got {source[:60]!r}", code="E601")
    text = source.strip()
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        raise EmitError(f"emitted code is not a Python expression: {source[:80]!r}") from None
    if _segment(tree, text.encode()) != text and text.startswith("(") and text.endswith(")"):
        return Group("(", (parse_doc(text[1:-1]),), ")")  # parenthesized: keep the brackets
    return _doc_of(tree, text.encode())


def _segment(node: ast.AST, source: bytes) -> str:
    # One line: column offsets (UTF-8 bytes) slice it directly.
    return source[node.col_offset : node.end_col_offset].decode()  # type: ignore[attr-defined]


def _doc_of(node: ast.expr, source: bytes) -> Doc:
    if isinstance(node, ast.Call):
        func = _segment(node.func, source)
        gen = node.args[0] if len(node.args) == 1 and not node.keywords else None
        if isinstance(gen, ast.GeneratorExp) and _segment(node, source) == func + _segment(
            gen, source
        ):  # `any(x for x in y)`: the call's parentheses are the generator's
            return _comp_doc(gen, source, func + "(", ")")
        items: list[Doc] = []
        for arg in node.args:
            items.append(_doc_of(arg, source))
        for kw in node.keywords:
            value = _doc_of(kw.value, source)
            items.append(Prefixed(f"{kw.arg}=" if kw.arg else "**", value))
        return Group(func + "(", tuple(items), ")")
    if isinstance(node, ast.Starred):
        return Prefixed("*", _doc_of(node.value, source))
    if isinstance(node, ast.List):
        return Group("[", tuple(_doc_of(e, source) for e in node.elts), "]")
    if (
        isinstance(node, ast.Tuple)
        and len(node.elts) >= 2
        and _segment(node, source).startswith("(")
    ):
        return Group("(", tuple(_doc_of(e, source) for e in node.elts), ")")
    return Text(_segment(node, source))


def _comp_doc(gen: ast.GeneratorExp, source: bytes, open_: str, close: str) -> Doc:
    """A generator as ruff lays it out: element, then `for ... in <iterable>` broken at the
    iterable's own brackets (one `for`, no `if`; anything else stays one atom)."""
    if len(gen.generators) != 1 or gen.generators[0].ifs or gen.generators[0].is_async:
        return Group(open_, (Text(_segment(gen, source)[1:-1]),), close)
    comp = gen.generators[0]
    target = _segment(comp.target, source)
    clause = Prefixed(f"for {target} in ", _doc_of(comp.iter, source))
    return Comp(_doc_of(gen.elt, source), clause, open_, close)


def condition_lines(text: str, indent: int, keyword: str = "if") -> list[str]:
    """`if <text>:` as ruff writes it at `indent` (lines returned without that indentation).

    Too long for one line: with at most one top-level `and`/`or` and a condition that ends
    in brackets (or starts with one), ruff breaks the operands' own brackets left to right,
    each only if the line up to the next chance to break would not fit; otherwise the
    condition goes in parentheses, split before each top-level `and` / `or`, an operand
    still too long broken at its own brackets.
    """
    line = f"{keyword} {text}:"
    if indent + len(line) <= LINE_LENGTH:
        return [line]
    tree = ast.parse(text, mode="eval").body
    operands = _operands(text, tree)
    word = ""
    if isinstance(tree, ast.BoolOp):
        word = "and" if isinstance(tree.op, ast.And) else "or"
    if len(operands) <= 2 and (operands[-1].endswith((")", "]")) or text.startswith(("(", "["))):
        pieces: list[str | Doc] = [f"{keyword} ", parse_doc(operands[0])]
        if len(operands) > 1:
            pieces += [f" {word} ", parse_doc(operands[1])]
        pieces.append(":")
        lines = _print_pieces(pieces, indent)
        if all(len(ln) <= LINE_LENGTH for ln in lines):
            return [ln[indent:] for ln in lines]
    inner = indent + 4
    if len(operands) == 1:
        body = format_doc(parse_doc(text), inner)
        return [f"{keyword} (", *(ln[indent:] for ln in body), "):"]
    if inner + len(text) <= LINE_LENGTH:
        return [f"{keyword} (", INDENT + text, "):"]
    lines = [f"{keyword} ("]
    for i, part in enumerate(operands):
        prefix = f"{word} " if i else ""
        lines += [ln[indent:] for ln in format_doc(parse_doc(part), inner, prefix)]
    lines.append("):")
    return lines


def _operands(text: str, tree: ast.expr) -> list[str]:
    """The source of each top-level `and`/`or` operand, its own parentheses included."""
    if not isinstance(tree, ast.BoolOp):
        return [text]
    source = text.encode()
    word = b" and " if isinstance(tree.op, ast.And) else b" or "
    cuts = [0]
    for left, right in zip(tree.values, tree.values[1:]):
        start, stop = left.end_col_offset or 0, right.col_offset
        at = start + source[start:stop].index(word)
        cuts += [at, at + len(word)]
    cuts.append(len(source))
    return [source[cuts[i] : cuts[i + 1]].decode().strip() for i in range(0, len(cuts), 2)]


def _print_pieces(pieces: list[str | Doc], indent: int) -> list[str]:
    """Text and docs on one logical line; a doc breaks only if the text up to the next
    place the line could break (the next doc's opening bracket) would not fit."""
    lines: list[str] = []
    line = " " * indent
    for i, piece in enumerate(pieces):
        if isinstance(piece, str):
            line += piece
            continue
        rest = ""
        for later in pieces[i + 1 :]:
            if isinstance(later, str):
                rest += later
            else:
                rest += later.head if isinstance(later, Group) else flat(later)
                if isinstance(later, Group):
                    break
        if not isinstance(piece, Group) or len(line + flat(piece) + rest) <= LINE_LENGTH:
            line += flat(piece)
            continue
        broken = format_doc(piece, indent, line[indent:], force=True)
        lines += broken[:-1]
        line = broken[-1]
    lines.append(line)
    return lines
