"""Whether a condition an emitted class would refuse can hold at all.

A class with cases refuses the values that run a case whose instances do not stand for
them (`guards.cased_guards`): `stride <= 1 and stride != 1` where the case `else` of
ShuffleNet's unit runs only at stride 1. Most such conditions cannot hold, given what the
params are declared to take (`ge: 1`), and a guard that never fires is noise in the file.
The test is sound one way only: `satisfiable` says False only where no values make the
condition hold; where it cannot tell, it says True (and the guard is written).
"""

from __future__ import annotations

import ast
import math
from collections.abc import Mapping
from itertools import pairwise, product
from math import prod
from typing import Any

from ...expr import _CMPOPS as _COMPARE  # the comparisons a spec's expressions run
from ...ir import ParamInfo
from ..pycode import expr_tree, unparse

#: the most combinations of values `satisfiable` tries
MAX_TRIES = 4096


def satisfiable(text: str, domains: Mapping[str, ParamInfo] | None = None) -> bool:
    """Whether some values make condition `text` hold, as far as can be told.

    `text` is read as `and`, `or` and `not` of comparisons of a term with a constant (a name,
    `oup % 2`) and of other comparisons (`out == in_channels`, each a truth of its own),
    each term taken as a variable of its own (which only widens what holds): a
    term is tried at each constant it is compared with, between and beside them, within
    what it can be (a param's declared `ge`, `le`, `choices` in `domains`, by the name the
    class writes; `x % k` of ints is 0 to k - 1). Any other form may hold."""
    tree = expr_tree(text)
    terms: dict[str, set[Any]] = {}
    if not _atoms(tree, terms):
        return True
    keys = sorted(terms)
    points = [_points(k, terms[k], domains or {}) for k in keys]
    if prod(len(p) for p in points) > MAX_TRIES:
        return True
    for values in product(*points):
        try:
            if _holds(tree, dict(zip(keys, values))):
                return True
        except TypeError:  # a number compared with text: no claim
            return True
    return False


def _atoms(node: ast.expr, terms: dict[str, set[Any]]) -> bool:
    """Record the constants each term of `node` is compared with; False for another form."""
    if isinstance(node, ast.BoolOp):
        return all(_atoms(v, terms) for v in node.values)
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        return _atoms(node.operand, terms)
    if isinstance(node, ast.Name):
        terms.setdefault(node.id, set())
        return True
    if isinstance(node, ast.Constant):
        return type(node.value) is bool  # `stride == 1 and True`: a test folded
    compared = _compared(node)
    if compared is None and isinstance(node, ast.Compare):
        # `out == in_channels`: a test of its own, true or false (which only widens)
        terms.setdefault(_opaque(node)[0], set())
        return True
    if compared is None:
        return False
    term, value, _ = compared
    terms.setdefault(term, set()).add(value)
    return True


def _compared(node: ast.expr) -> tuple[str, Any, Any] | None:
    """(term, constant, test) of a comparison of a term with a constant, else None."""
    if not (isinstance(node, ast.Compare) and len(node.ops) == 1):
        return None
    op, left, right = type(node.ops[0]), node.left, node.comparators[0]
    if op not in _COMPARE:
        return None
    if isinstance(left, ast.Constant) and not isinstance(right, ast.Constant):
        flip = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}
        left, right, op = right, left, flip.get(op, op)
    if not isinstance(right, ast.Constant) or type(right.value) not in (int, float, str):
        return None
    if any(isinstance(n, ast.Call) for n in ast.walk(left)):
        return None
    return unparse(left), right.value, _COMPARE[op]


#: a comparison's negation, as `_opaque` writes the two as one truth
_NEGATED = {ast.NotEq: ast.Eq, ast.GtE: ast.Lt, ast.Gt: ast.LtE}


def _opaque(node: ast.Compare) -> tuple[str, bool]:
    """The truth a comparison of two terms stands for, and whether it is its negation:
    `a != b` is not `a == b`, and `b == a` is `a == b`."""
    op = type(node.ops[0]) if len(node.ops) == 1 else None
    if op not in _NEGATED and op is not ast.Eq:
        return unparse(node), False
    sides = [node.left, node.comparators[0]]
    if op in (ast.Eq, ast.NotEq):
        sides.sort(key=unparse)
    base = _NEGATED.get(op, op)
    return unparse(ast.Compare(sides[0], [base()], [sides[1]])), op in _NEGATED


def _holds(node: ast.expr, values: Mapping[str, Any]) -> bool:
    """The condition's truth with each term given its value."""
    if isinstance(node, ast.BoolOp):
        parts = (_holds(v, values) for v in node.values)
        return all(parts) if isinstance(node.op, ast.And) else any(parts)
    if isinstance(node, ast.UnaryOp):
        return not _holds(node.operand, values)
    if isinstance(node, ast.Name):
        return bool(values[node.id])
    if isinstance(node, ast.Constant):
        return bool(node.value)
    compared = _compared(node)
    if compared is None:  # another comparison: the truth `_atoms` gave it a variable for
        key, flipped = _opaque(node)
        return bool(values[key]) != flipped
    term, constant, test = compared
    return bool(test(values[term], constant))


def _points(term: str, consts: set[Any], domains: Mapping[str, ParamInfo]) -> list[Any]:
    """The values of a term worth trying: a param's declared choices, else each constant it
    is compared with, the points between and beside them, within what it can be."""
    tree = expr_tree(term)
    info = domains.get(term) if isinstance(tree, ast.Name) else None
    if info is not None and info.choices is not None:
        return list(info.choices)
    if any(type(c) is str for c in consts):
        return sorted({str(c) for c in consts}) + ["\0"]  # the constants and any other text
    if not consts:
        return [False, True]
    low, high, whole = _range(tree, info, domains)
    nums = sorted({float(c) for c in consts} | {b for b in (low, high) if math.isfinite(b)})
    out = {m for n in nums for m in (n - 1, n, n + 1)}
    out |= {(a + b) / 2 for a, b in pairwise(nums)}
    if whole:
        out = {v for v in out if v == int(v)}
    return sorted(int(v) if v == int(v) else v for v in out if low <= v <= high)


def _range(
    tree: ast.expr, info: ParamInfo | None, domains: Mapping[str, ParamInfo]
) -> tuple[float, float, bool]:
    """What a term can be: its lowest and highest values and whether it is whole. A param
    as declared; `x % k` of whole x and k > 0 from 0 to k - 1; anything else unbounded."""
    if info is not None:
        low = info.ge if info.ge is not None else -math.inf
        high = info.le if info.le is not None else math.inf
        return float(low), float(high), info.type == "int"
    if (
        isinstance(tree, ast.BinOp)
        and isinstance(tree.op, ast.Mod)
        and isinstance(tree.right, ast.Constant)
        and type(tree.right.value) is int
        and tree.right.value > 0
        and _whole(tree.left, domains)
    ):
        return 0.0, float(tree.right.value - 1), True
    return -math.inf, math.inf, False


def _whole(tree: ast.expr, domains: Mapping[str, ParamInfo]) -> bool:
    """Whether a term is an int wherever it is read: int params and constants under + - *."""
    if isinstance(tree, ast.Constant):
        return type(tree.value) is int
    if isinstance(tree, ast.Name):
        info = domains.get(tree.id)
        return info is not None and info.type == "int"
    if isinstance(tree, ast.BinOp) and isinstance(tree.op, (ast.Add, ast.Sub, ast.Mult)):
        return _whole(tree.left, domains) and _whole(tree.right, domains)
    return False
