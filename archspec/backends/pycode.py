"""Text of emitted Python: safe literals, names, docstrings and expressions.

Everything that turns a value into source text lives here, so the rules that keep emitted
code safe are in one place: literals go through `lit`, a repr over a whitelist of types
(Jinja's `has_safe_repr`); identifiers come from a `Namespace` (torch.fx's `_Namespace`);
free text reaches a docstring or comment only as words escaped by `escape_text` (through
`docstring_lines`, `wrap_comment` and `comment_line`).

Line breaking (the `Doc` model, `format_doc`, `condition_lines`) is in `pylayout.py`.
"""

from __future__ import annotations

import ast
import math
import re
import unicodedata
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from ..errors import EmitError
from ..expr import Expr, ExprError
from ..expr import unparse as expr_unparse
from ..lazymethods import dataclass
from ..ops.names import is_free_name

LINE_LENGTH = 100
INDENT = "    "

# --------------------------------------------------------------------------------------
# Literals


@dataclass(frozen=True)
class Code:
    """A fragment of Python source computed by the emitter (e.g. `planes * 4`).

    Ops' `emit()` receive symbolic attribute values as `Code`; `lit` writes them unchanged.
    """

    text: str

    def __repr__(self) -> str:
        return f"Code({self.text!r})"


_MAX_LITERAL_ITEMS = 10_000


def lit(value: Any) -> str:
    """Python source for a value of a whitelisted type; anything else is an EmitError."""
    kind = type(value)
    if value is None or kind is bool:
        return repr(value)
    if kind is int:
        return repr(value)
    if kind is float:
        if not math.isfinite(value):
            raise EmitError(f"cannot emit the non-finite number {value!r}", code="E601")
        return repr(value)
    if kind is str:
        return quote(value)
    if kind is Code:
        return value.text
    if kind in (tuple, list):
        if len(value) > _MAX_LITERAL_ITEMS:
            raise EmitError("a list is too long to emit", code="E601")
        inner = ", ".join(lit(v) for v in value)
        if kind is list:
            return f"[{inner}]"
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    raise EmitError(
        f"cannot emit a value of type {kind.__name__}: only None, bool, int, float, str, "
        "tuple and list are written into generated code",
        code="E601",
    )


def quote(text: str) -> str:
    """A string literal as ruff writes it: double quotes unless that needs more escapes."""
    q = "'" if text.count('"') > text.count("'") else '"'
    out = []
    for ch in text:
        if ch == "\\":
            out.append("\\\\")
        elif ch == q:
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif not ch.isprintable() or not ch.isascii():
            out.append(_escape_char(ch))
        else:
            out.append(ch)
    return q + "".join(out) + q


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


# --------------------------------------------------------------------------------------
# Names

# `is_free_name` (with MODULE_NAMES and BUILTIN_NAMES) lives with the spec's other name
# rules in ops/names.py, so that lowering, and so `archspec check`, refuses a class name
# the emitted module could not define.
IDENT_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*\Z")


class Namespace:
    """Hands out identifiers that are legal, unique, and shadow no keyword or builtin."""

    def __init__(
        self, taken: Iterable[str] = (), on_create: Callable[[str], None] | None = None
    ) -> None:
        self._taken: set[str] = set(taken)
        self._on_create = on_create  # told each name handed out (another namespace's taken)

    def reserve(self, name: str) -> None:
        self._taken.add(name)

    def __contains__(self, name: str) -> bool:
        return name in self._taken

    def create(self, candidate: str) -> str:
        """`candidate` made legal (`filter` -> `filter_`), numbered if already taken."""
        base = re.sub(r"[^A-Za-z0-9_]", "_", candidate) or "v"
        if base[0].isdigit():
            base = "v" + base
        if base.startswith("__"):
            base = base.lstrip("_") or "v"
        name = base if is_free_name(base) else base + "_"
        k = 1
        while name in self._taken or not is_free_name(name):
            k += 1
            name = f"{base}_{k}"
        self._taken.add(name)
        if self._on_create is not None:
            self._on_create(name)
        return name


def camel(name: str) -> str:
    """`inception_aux` -> `InceptionAux`; names that start with a digit get a `Block` prefix."""
    parts = [p for p in re.split(r"[^A-Za-z0-9]+|_", name) if p]
    out = "".join(p[:1].upper() + p[1:] for p in parts) or "Block"
    return out if out[0].isalpha() else "Block" + out


# --------------------------------------------------------------------------------------
# Free text: docstrings and comments
#
# Spec text (descriptions, docs, the spec's file name, `--set` values) reaches emitted code
# only as words: `plain_words` normalises it and splits it at whitespace, `wrap_words` lays
# the words out in lines, and each finished line goes through `escape_text`, the one escaping
# function for docstrings and comments. Nothing here re-reads text it has rendered.

_TYPOGRAPHIC = {
    "\u2018": "'",
    "\u2019": "'",
    "\u201c": '"',
    "\u201d": '"',
    "\u2013": "-",
    "\u2014": "--",
    "\u2212": "-",
    "\u00d7": "x",
    "\u2026": "...",
    "\u00a0": " ",
}

#: Accented Latin letters written as themselves: those ruff does not flag as confusable with
#: ASCII (RUF001-003 flag U+0131 dotless i and U+017F long s in this range).
_PLAIN_LETTERS = frozenset(
    chr(c) for c in range(0xC0, 0x180) if chr(c).isalpha() and c not in (0xD7, 0xF7, 0x131, 0x17F)
)


def plain_words(text: str) -> list[str]:
    """Free text as the words emitted code shows: the documented normalisation.

    Typographic quotes, dashes, the multiplication sign, the ellipsis and the no-break space
    become ASCII; the text is put in NFC; every character that is not printable (controls,
    line and paragraph separators, bidi marks, lone surrogates, NUL) becomes a space; the
    result is split at whitespace. Layout (line breaks, runs of spaces) is not kept.
    """
    text = "".join(_TYPOGRAPHIC.get(ch, ch) for ch in text)
    text = unicodedata.normalize("NFC", text)
    return "".join(ch if ch.isprintable() else " " for ch in text).split()


def paragraphs(text: str) -> list[list[str]]:
    """The words of each blank-line separated paragraph of `text`; empty ones dropped."""
    return [words for para in re.split(r"\n\s*\n", text) if (words := plain_words(para))]


def escape_text(
    text: str, named: bool = True, start: bool = True, end: bool = True, coding: bool = True
) -> str:
    """Text as one line that is inert inside a `\"\"\"` docstring and after `#`.

    The result holds printable ASCII and plain accented letters only, so never a line break.
    A backslash is doubled; any other character becomes an escape (`\\N{RIGHTWARDS ARROW}`,
    or `\\u2192` when `named` is false, for a line that must not hold spaces); a `"` next
    to another `"` is escaped, and one at the start (`start`) or the end (`end`), so no quote
    run can close a docstring whatever comes before or after the line (a line of a docstring
    that touches none of its quotes needs neither); a `:` or `=` right after `coding` is escaped
    (`coding`), so no comment in a file's first two lines can declare its encoding (PEP 263: a
    spec file named `coding:utf-7 +AAo-...` would otherwise turn into code when the file is
    imported); a docstring, which comes after the header's two lines, passes `coding=False`
    and keeps `sine_position_encoding=1` readable. Python reads the escapes back as the text.
    """
    out = []
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch == "\\":
            out.append("\\\\")
        elif coding and ch in ":=" and text.endswith("coding", 0, i):
            out.append(_escape_char(ch))
        elif ch == '"':
            edge = (start and i == 0) or (end and i == last)
            edge = edge or (i > 0 and text[i - 1] == '"') or (i < last and text[i + 1] == '"')
            out.append('\\"' if edge else '"')
        elif (ch.isascii() and ch.isprintable()) or ch in _PLAIN_LETTERS:
            out.append(ch)
        else:
            out.append(_named_escape(ch) if named else _escape_char(ch))
    return "".join(out)


def _named_escape(ch: str) -> str:
    name = unicodedata.name(ch, "") if ch.isprintable() else ""
    return "\\N{" + name + "}" if name else _escape_char(ch)


def _escaped_line(words: Sequence[str], width: int, start: bool, coding: bool) -> str:
    line = escape_text(" ".join(words), start=start, end=False, coding=coding)
    if len(line) > width and len(words) == 1:
        # a lone long word: no spaces inside
        return escape_text(words[0], named=False, start=start, end=False, coding=coding)
    return line


def wrap_words(
    words: Sequence[str],
    width: int,
    first_width: int | None = None,
    opening: bool = False,
    coding: bool = True,
) -> list[str]:
    """Escaped lines of at most `width` characters (`first_width` for the first), filled
    greedily; a word is never split, so a word too long for any line is a line of its own.
    No line ends where quotes follow it (a docstring's closing quotes go on a line of their
    own), and only the first begins after a docstring's opening quotes (`opening`), so a `"`
    is escaped at that one edge and where it touches another `"`."""
    lines: list[str] = []
    cur: list[str] = []
    for word in words:
        limit = first_width if (first_width is not None and not lines) else width
        start = opening and not lines
        joined = " ".join([*cur, word])
        if cur and len(escape_text(joined, start=start, end=False, coding=coding)) > limit:
            lines.append(_escaped_line(cur, limit, start, coding))
            cur = []
        cur.append(word)
    if cur:
        limit = first_width if (first_width is not None and not lines) else width
        lines.append(_escaped_line(cur, limit, opening and not lines, coding))
    return lines


def comment_line(text: str) -> str:
    """`# text` on one line, however long (for a line that must stay one, like the header)."""
    return ("# " + escape_text(" ".join(plain_words(text)))).rstrip()


def wrap_comment(text: str, indent: int) -> list[str]:
    """`# text` lines that fit the line length at `indent`."""
    width = max(20, LINE_LENGTH - indent - 2)
    return ["# " + ln for ln in wrap_words(plain_words(text), width)] or ["#"]


def docstring_lines(
    texts: str | Sequence[str], indent: int, args: Sequence[tuple[str, str]] = ()
) -> list[str]:
    """A docstring built from free text, as lines without the indentation `indent`.

    `texts` are paragraphs of free text (each may hold blank-line separated paragraphs of
    its own); `args` are (argument name, free text) pairs listed under `Args:`. Every line is
    made by `wrap_words`, so nothing in the text can close the docstring or start an escape.
    """
    if isinstance(texts, str):
        texts = [texts]
    paras = [words for text in texts for words in paragraphs(text)] or [["(no description)"]]
    width = LINE_LENGTH - indent
    if len(paras) == 1 and not args:
        one = escape_text(" ".join(paras[0]), coding=False)
        if len(one) + 6 <= width:
            return [f'"""{one}"""']
    lines: list[str] = []
    for i, words in enumerate(paras):
        if i:
            lines.append("")
        first = width - 3 if i == 0 else None
        lines += wrap_words(words, width, first_width=first, opening=not i, coding=False)
    if len(lines) == 1 and not args:
        # one line that fits only without its closing quotes: ruff would join the quotes
        # onto it, past the line length, so break it in two
        lines = wrap_words(paras[0], width, first_width=width - 6, opening=True, coding=False)
    lines[0] = '"""' + lines[0]
    if args:
        lines += ["", "Args:"]
        for name, text in args:
            words = [f"{name}:", *(plain_words(text) or ["(no description)"])]
            entry = wrap_words(words, width - 8, first_width=width - 4, coding=False)
            lines += [INDENT + entry[0], *(INDENT * 2 + ln for ln in entry[1:])]
    lines.append('"""')
    return lines


# --------------------------------------------------------------------------------------
# Expressions: substitution, constant folding and ruff-style unparsing


def unparse(node: ast.AST) -> str:
    """Source of an expression tree, with the parentheses and spacing ruff keeps."""
    try:
        return expr_unparse(node, constant=lit, tight_pow=True)
    except ExprError as exc:
        raise EmitError(exc.message, code="E601") from None


def substitute(node: ast.AST, values: Mapping[str, ast.expr]) -> ast.expr:
    """A copy of `node` with each free name replaced by its expression tree."""

    class _Sub(ast.NodeTransformer):
        def visit_Call(self, call: ast.Call) -> ast.AST:
            call.args = [self.visit(a) for a in call.args]
            return call  # the callee (min/max/abs) is not a variable

        def visit_Name(self, name: ast.Name) -> ast.AST:
            return values.get(name.id, name)

    return _Sub().visit(copy_tree(node))


def copy_tree(node: Any) -> Any:
    """A deep copy of an expression tree: its nodes new, its leaves (names, numbers,
    operators' singletons) shared. copy.deepcopy took ~10 ms a tree of a long expression,
    a hostile spec's thousands of them a minute of emit."""
    if isinstance(node, list):
        return [copy_tree(item) for item in node]
    if not isinstance(node, ast.AST) or not node._fields or isinstance(node, _SHARED):
        return node
    # every field given to the constructor: Python 3.13 warns of a node made without its
    # required fields (set afterwards), and 3.15 refuses one
    return node.__class__(**{name: copy_tree(getattr(node, name, None)) for name in node._fields})


#: Field-less or singleton nodes (operators, contexts): shared, as ast itself shares them.
_SHARED = (ast.operator, ast.unaryop, ast.cmpop, ast.boolop, ast.expr_context)


def has_names(node: ast.AST) -> bool:
    """True when the tree reads a variable (calls' callees do not count)."""
    callees = {id(n.func) for n in ast.walk(node) if isinstance(n, ast.Call)}
    return any(isinstance(n, ast.Name) and id(n) not in callees for n in ast.walk(node))


_INT_OPS = (ast.Add, ast.Sub, ast.Mult, ast.FloorDiv, ast.Mod)


def int_by_construction(node: ast.expr, ints: Collection[str]) -> bool:
    """True when the expression gives an int for any int values of the names in `ints`.

    `+ - * // %`, unary signs, `min`/`max`/`abs`, `a if c else b` and `a or b` of ints are
    ints; `/`, a float literal, a name not in `ints` (a float param), a comparison or `**`
    with an exponent that is not a literal natural number may give something else.
    """
    if isinstance(node, ast.Constant):
        return type(node.value) is int
    if isinstance(node, ast.Name):
        return node.id in ints
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Pow):
            exp = node.right
            natural = isinstance(exp, ast.Constant) and type(exp.value) is int and exp.value >= 0
            return natural and int_by_construction(node.left, ints)
        return (
            isinstance(node.op, _INT_OPS)
            and int_by_construction(node.left, ints)
            and int_by_construction(node.right, ints)
        )
    if isinstance(node, ast.UnaryOp):
        return isinstance(node.op, (ast.USub, ast.UAdd)) and int_by_construction(node.operand, ints)
    if isinstance(node, ast.IfExp):
        return int_by_construction(node.body, ints) and int_by_construction(node.orelse, ints)
    if isinstance(node, ast.BoolOp):
        return all(int_by_construction(v, ints) for v in node.values)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id in ("round", "ceil", "floor") and len(node.args) == 1 and not node.keywords:
            return True  # of one number, an int in Python as in the language
        if node.func.id == "make_divisible":  # an int when the divisor and minimum are
            return all(int_by_construction(a, ints) for a in node.args[1:3])
        return node.func.id in ("min", "max", "abs") and all(
            int_by_construction(a, ints) for a in node.args
        )
    return False


def may_be_text(node: ast.expr) -> bool:
    """True when the expression holds a string literal (a choice like `'same'`)."""
    return any(isinstance(n, ast.Constant) and isinstance(n.value, str) for n in ast.walk(node))


def fold(node: ast.expr) -> ast.expr:
    """Replace every name-free subexpression by its value (`2 if 0 == 0 else 1` -> `2`)."""
    free: set[int] = set()
    kept: list[ast.AST] = []  # the original nodes stay alive while their ids are looked up
    _name_free(node, free, kept)
    return _fold(node, free)


def _name_free(node: ast.AST, free: set[int], kept: list[ast.AST]) -> bool:
    """Note in `free` the id of each node of the tree that reads no variable (a call's
    callee does not count, as in `has_names`), in one pass: asking `has_names` of every
    node walked each subtree again, quadratic in a long expression's length."""
    kept.append(node)
    if isinstance(node, ast.Name):
        return False
    ok = True
    for fname, child in ast.iter_fields(node):
        if isinstance(node, ast.Call) and fname == "func" and isinstance(child, ast.Name):
            continue
        for c in child if isinstance(child, list) else (child,):
            if isinstance(c, ast.AST) and not _name_free(c, free, kept):
                ok = False
    if ok:
        free.add(id(node))
    return ok


def _fold(node: ast.expr, free: set[int]) -> ast.expr:
    if isinstance(node, ast.Constant):
        return node
    if id(node) in free:
        try:
            value = Expr("", ast.Expression(body=node), frozenset()).evaluate({})
        except Exception:
            value = None
        else:
            if type(value) in (int, float, bool, str):
                return ast.Constant(value)
    for fname, child in ast.iter_fields(node):
        if isinstance(child, ast.expr) and not (isinstance(node, ast.Call) and fname == "func"):
            setattr(node, fname, _fold(child, free))
        elif isinstance(child, list):
            setattr(node, fname, [_fold(c, free) if isinstance(c, ast.expr) else c for c in child])
    return _short_circuit(node)


def collect_terms(node: ast.expr) -> ast.expr:
    """A sum of int terms with repeats written with counts: `c + g + g + g` is `c + g * 3`,
    `c + g * 2 + g` is `c + g * 3` (DenseNet's channels grow by growth_rate per layer, and a
    48-layer block would otherwise be a sum nested past the expression limits). Sums without
    a repeated term are returned as they are. For int-valued expressions only: a float sum
    rounds differently from a product."""
    if not isinstance(node, ast.BinOp):
        return node
    node = ast.BinOp(left=collect_terms(node.left), op=node.op, right=collect_terms(node.right))
    if not isinstance(node.op, ast.Add):
        return node
    counts: dict[str, int] = {}
    bases: dict[str, ast.expr] = {}
    for term in _addends(node):
        base, count = _counted(term)
        key = unparse(base)
        bases.setdefault(key, base)
        counts[key] = counts.get(key, 0) + count
    if len(counts) == len(_addends(node)):
        return node  # nothing repeats
    out: ast.expr | None = None
    for key, count in counts.items():
        base = bases[key]
        if count > 1:
            base = ast.BinOp(left=base, op=ast.Mult(), right=ast.Constant(count))
        term = base
        out = term if out is None else ast.BinOp(left=out, op=ast.Add(), right=term)
    assert out is not None
    return out


def _addends(node: ast.expr) -> list[ast.expr]:
    """The terms of a chain of `+`, left to right."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        return _addends(node.left) + _addends(node.right)
    return [node]


def _counted(term: ast.expr) -> tuple[ast.expr, int]:
    """A term as (base, count): `g * 3` and `3 * g` are (g, 3), anything else (term, 1)."""
    if isinstance(term, ast.BinOp) and isinstance(term.op, ast.Mult):
        for base, count in ((term.left, term.right), (term.right, term.left)):
            positive = isinstance(count, ast.Constant) and type(count.value) is int
            if positive and count.value > 0 and not isinstance(base, ast.Constant):
                return base, count.value
    return term, 1


def _short_circuit(node: ast.expr) -> ast.expr:
    """Drop constant operands that decide nothing: `False or x` -> `x`, `True or x` -> `True`.

    Only leading constants, and conditional expressions with a constant test, are folded:
    those rewrites give the same value for any operands, not just the same truth. A
    conditional's test is read for its truth alone, so it is folded as a condition
    (`truth_fold`: `a if flag or True else b` is `a`, `a if flag or False else b` reads `flag`),
    and one whose branches are the same expression is that expression.
    """
    if isinstance(node, ast.IfExp):
        node.test = truth_fold(node.test)
        if isinstance(node.test, ast.Constant):
            return node.body if node.test.value else node.orelse
        if ast.dump(node.body) == ast.dump(node.orelse):  # `728 if grow_first else 728`
            return node.body
    if isinstance(node, ast.BoolOp):
        is_or = isinstance(node.op, ast.Or)
        values = list(node.values)
        while len(values) > 1 and isinstance(values[0], ast.Constant):
            if bool(values[0].value) == is_or:
                return values[0]
            values.pop(0)
        if len(values) == 1:
            return values[0]
        node.values = values
    return node


def truth_fold(node: ast.expr) -> ast.expr:
    """`node` as a condition: `x and False` -> `False`, `x or True` -> `True`, `x and True` ->
    `x`. Right only where the value is read for its truth (an `if`), for expressions without
    side effects (the emitter's own)."""
    if not isinstance(node, ast.BoolOp):
        return node
    is_or = isinstance(node.op, ast.Or)
    values = [truth_fold(v) for v in node.values]
    if any(isinstance(v, ast.Constant) and bool(v.value) == is_or for v in values):
        return ast.Constant(is_or)
    rest = [v for v in values if not isinstance(v, ast.Constant)]
    if not rest:
        return ast.Constant(not is_or)
    return rest[0] if len(rest) == 1 else ast.BoolOp(op=node.op, values=rest)


def expr_tree(text: str) -> ast.expr:
    """The tree of an expression the emitter produced itself."""
    return ast.parse(text, mode="eval").body
