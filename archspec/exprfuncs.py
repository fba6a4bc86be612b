"""The functions expressions may call, and indexing of list params (`stages[i][2]`).

Each function checks its arguments before computing, so a call fails with an ExprError
(never a Python exception), whatever the values: `sqrt(-1)`, `make_divisible(v, 0)`,
`stages[7]` of a 3-row table. `make_divisible` is torchvision's `_make_divisible`, line for
line, so channel counts rounded by a spec are the ones torchvision's models have.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

#: How many arguments each function takes: (fewest, most; None: no upper bound).
ARITY: dict[str, tuple[int, int | None]] = {
    "min": (2, None),
    "max": (2, None),
    "abs": (1, 1),
    "round": (1, 1),
    "ceil": (1, 1),
    "floor": (1, 1),
    "sqrt": (1, 1),
    "log": (1, 1),
    "make_divisible": (2, 4),
    "len": (1, 1),
}

#: Functions whose arguments need not be numbers (the others refuse text and lists).
NOT_NUMERIC = frozenset({"len"})

#: Functions emitted Python can call as builtins; the others are not written into code.
BUILTIN = frozenset({"min", "max", "abs", "round", "len"})


class CallError(Exception):
    """A function refused its arguments (the caller turns it into an ExprError)."""

    def __init__(self, message: str, code: str = "E308") -> None:
        super().__init__(message)
        self.code = code


def arity_text(fn: str) -> str:
    low, high = ARITY[fn]
    if high is None:
        return f"{low} or more arguments"
    if low == high:
        return "one argument" if low == 1 else f"{low} arguments"
    return f"{low} to {high} arguments"


def make_divisible(
    v: float, divisor: float, min_value: float | None = None, round_limit: float = 0.9
) -> int:
    """torchvision's `_make_divisible` (timm's `make_divisible`): `v` rounded to a multiple
    of `divisor`, never below `min_value` (default `divisor`), plus one `divisor` when that
    fell below `round_limit * v` (default 0.9: more than 10% below `v`). timm's SE modules
    pass `round_limit=0.`: no divisor added back."""
    if divisor <= 0:
        raise CallError(f"make_divisible() needs a divisor above 0, got {divisor!r}")
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v  # type: ignore[return-value]


def _sqrt(x: float) -> float:
    if x < 0:
        raise CallError(f"sqrt() of a negative number ({x!r}) has no real value")
    return math.sqrt(x)


def _log(x: float) -> float:
    """The natural log (RegNet's widths grow geometrically: its stages are log-spaced)."""
    if x <= 0:
        raise CallError(f"log() of a number that is not positive ({x!r}) has no real value")
    return math.log(x)


def _whole(fn: Callable[[float], int], name: str) -> Callable[[Any], int]:
    def call(x: Any) -> int:
        return fn(x)

    call.__name__ = name
    return call


def _len(x: Any) -> int:
    if not isinstance(x, list):
        raise CallError(f"len() needs a list, got {type(x).__name__} {x!r}"[:120])
    return len(x)


FUNCS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "round": _whole(round, "round"),
    "ceil": _whole(math.ceil, "ceil"),
    "floor": _whole(math.floor, "floor"),
    "sqrt": _sqrt,
    "log": _log,
    "make_divisible": make_divisible,
    "len": _len,
}


def call(fn: str, args: list[Any]) -> Any:
    """`fn(*args)` after checking the argument count (values are checked by the caller)."""
    low, high = ARITY[fn]
    if len(args) < low or (high is not None and len(args) > high):
        raise CallError(f"{fn}() takes {arity_text(fn)}, got {len(args)}", code="E206")
    return FUNCS[fn](*args)


def index(container: Any, key: Any) -> Any:
    """`container[key]`: a list indexed by a whole number in range (negative counts from
    the end, as in Python and so in emitted code)."""
    if not isinstance(container, list):
        what = "text" if isinstance(container, str) else type(container).__name__
        raise CallError(f"only a list can be indexed, not {what} {container!r}"[:120])
    if isinstance(key, bool) or not isinstance(key, (int, float)):
        raise CallError(f"a list index is a whole number, not {key!r}"[:80])
    if isinstance(key, float):
        if not key.is_integer():
            raise CallError(f"a list index is a whole number, not {key!r}")
        key = int(key)
    n = len(container)
    if not -n <= key < n:
        raise CallError(
            f"index {key} is out of range for a list of {n} item{'s' if n != 1 else ''}"
            + (f" (valid: 0 to {n - 1}, or -{n} to -1)" if n else "")
        )
    return container[key]


def plain_python(tree: Any) -> bool:
    """True when an expression tree reads the same as Python with nothing defined: no list
    indexing (a table is no argument of emitted code) and only builtin functions. Emitters
    write the value of any other expression rather than the expression."""
    import ast

    for node in ast.walk(tree):
        if isinstance(node, ast.Subscript):
            return False
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) not in BUILTIN:
            return False
    return True
