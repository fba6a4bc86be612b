"""Hints for arithmetic on a value that is no number: what to write instead, told by what
the value is (a list repeated as in Python, text that reads as a derived value)."""

from __future__ import annotations

import ast
from typing import Any


def not_a_number_hint(v: Any) -> str:
    """What to write instead of arithmetic on a value that is no number: a list is not
    repeated or joined as in Python (a new user's `ks: "[1] * a"` for timm's `[1] * a`)."""
    if isinstance(v, list):
        return (
            "a list takes no arithmetic (no `[1] * n` or `a + b`): write its items (`[1, 1]`), "
            "index it (`ks[i]`), or pass a count as an int param and read it where the list "
            "was repeated"
        )
    if isinstance(v, str) and _reads_as_arithmetic(v):
        return (
            "a param's value is never computed, and this one is text that reads as "
            f"arithmetic: a value worked out of others is a `let:` entry (`let: {{name: {v}}}`)"
        )
    return "quoted text is only compared (`mode == 'fan_in'`), never computed with"


def _reads_as_arithmetic(text: str) -> bool:
    """Whether `text` parses as an expression with an operator or a call (`(224 // p) ** 2`):
    a new user's derived value written as a param's default."""
    if len(text) > 120 or not text.isprintable():
        return False
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return isinstance(tree, (ast.BinOp, ast.UnaryOp, ast.Call, ast.BoolOp, ast.IfExp))
