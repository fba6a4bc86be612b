"""The evaluator of expressions: nested closures, so the tree is dispatched on once per
expression, not at every evaluation (a block's fields are evaluated once per instance). Every
operator is checked before Python computes it; errors are ExprError and nothing else.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from typing import Any

from .expr import (
    _BINOP_TEXT,
    _BINOPS,
    _CMPOPS,
    MAX_ABS_VALUE,
    ExprError,
    _check_range,
    _num,
    _power,
    _short,
    _typename,
)
from .exprfuncs import NOT_NUMERIC, CallError, call, index

Closure = Callable[[Mapping[str, Any]], Any]
#: the types `_num` lets through as they are
_REAL = (int, float, bool)


def closure(node: ast.AST) -> Closure:
    """`node` (of a tree `expr.parse_expr` accepted) as a function of the names' values."""
    kind = type(node)
    if kind is ast.Constant:
        value = node.value  # type: ignore[attr-defined]
        return lambda env: value
    if kind is ast.Name:
        name = node.id  # type: ignore[attr-defined]

        def read(env: Mapping[str, Any]) -> Any:
            try:
                return env[name]
            except KeyError:
                pass
            return _unbound(name, env)

        return read
    if kind is ast.BinOp:
        return _binopclosure(node)  # type: ignore[arg-type]
    if kind is ast.Compare:
        return _compareclosure(node)  # type: ignore[arg-type]
    if kind is ast.IfExp:
        test, body, orelse = (closure(n) for n in (node.test, node.body, node.orelse))  # type: ignore[attr-defined]
        return lambda env: body(env) if test(env) else orelse(env)
    if kind is ast.BoolOp:
        parts = [closure(v) for v in node.values]  # type: ignore[attr-defined]
        is_and = isinstance(node.op, ast.And)  # type: ignore[attr-defined]

        def boolop(env: Mapping[str, Any]) -> Any:
            result: Any = None
            for part in parts:
                result = part(env)
                if bool(result) != is_and:
                    return result
            return result

        return boolop
    if kind is ast.Call:
        return _callclosure(node)  # type: ignore[arg-type]
    if kind is ast.UnaryOp:
        return _unaryclosure(node)  # type: ignore[arg-type]
    if kind is ast.List:  # `[w // 2, 0]`: Swin's shift sizes
        items = [closure(e) for e in node.elts]  # type: ignore[attr-defined]
        return lambda env: [item(env) for item in items]
    if kind is ast.Subscript:
        return _indexclosure(node)  # type: ignore[arg-type]
    raise ExprError(f"unsupported expression element {kind.__name__}")  # pragma: no cover


def _unbound(name: str, env: Mapping[str, Any]) -> Any:
    """A name the environment lacks: Python's two constants, else E302 with the names known."""
    if name in ("True", "False"):
        return name == "True"
    known = ", ".join(sorted(k for k in env if not k.startswith("_"))) or "none"
    hint = f"names in scope here: {known}"
    if name in ("true", "false"):  # YAML's spelling, which an expression (Python's) lacks
        hint = f"inside an expression write `{name.capitalize()}`; {hint}"
    raise ExprError(f"{_UNKNOWN_NAME}{name!r} in expression", hint=hint, code="E302")


_UNKNOWN_NAME = "unknown name "


def unknown_name(message: str) -> str | None:
    """The name an E302 message of `_unbound` reports (None for other messages), for a
    caller that knows more of the spec than an expression's environment does."""
    if not message.startswith(_UNKNOWN_NAME + "'") or not message.endswith("' in expression"):
        return None
    return message[len(_UNKNOWN_NAME) + 1 : -len("' in expression")]


def _unaryclosure(node: ast.UnaryOp) -> Closure:
    operand = closure(node.operand)
    if isinstance(node.op, ast.Not):
        return lambda env: not operand(env)
    negate = isinstance(node.op, ast.USub)

    def sign(env: Mapping[str, Any]) -> Any:
        v = _num(operand(env), "a sign")
        return -v if negate else +v

    return sign


def _indexclosure(node: ast.Subscript) -> Closure:
    """`table[i]`: an item of a list."""
    container_of, index_of = closure(node.value), closure(node.slice)

    def item(env: Mapping[str, Any]) -> Any:
        container = container_of(env)
        try:
            return index(container, index_of(env))
        except CallError as exc:
            raise ExprError(str(exc), hint="check the table and the index it is read at") from None

    return item


def _binopclosure(node: ast.BinOp) -> Closure:
    op = type(node.op)
    fn = _BINOPS[op]
    divides = op in (ast.Div, ast.FloorDiv, ast.Mod)
    right_node = node.right
    if (
        type(right_node) is ast.Constant
        and type(right_node.value) in _REAL
        and not (divides and right_node.value == 0)
    ):  # `c * 4`, `k // 2`: the common form, its number's checks done once here
        return _binop_by_number(closure(node.left), op, right_node.value)
    left_of, right_of = closure(node.left), closure(node.right)

    def binop(env: Mapping[str, Any]) -> Any:
        # _num and _check_range, called only where their checks could fail (a number in
        # range is the common case: each expression of a block runs once per instance)
        left = left_of(env)
        if type(left) not in _REAL:
            _num(left, "arithmetic")
        right = right_of(env)
        if type(right) not in _REAL:
            _num(right, "arithmetic")
        if divides and right == 0:
            raise ExprError("division by zero in expression")
        try:
            result = _power(left, right) if op is ast.Pow else fn(left, right)
        except (ArithmeticError, ValueError) as exc:
            raise _not_computed(op, left, right, exc) from None
        if type(result) is int and -MAX_ABS_VALUE <= result <= MAX_ABS_VALUE:
            return result
        return _check_range(result)

    return binop


def _not_computed(op: type, left: Any, right: Any, exc: Exception) -> ExprError:
    """E309 for an operation on two values that Python cannot carry out (an overflow)."""
    return ExprError(
        f"`{_BINOP_TEXT[op]}` of {_short(left)} and {_short(right)} cannot be "
        f"computed ({type(exc).__name__})",
        code="E309",
    )


def _binop_by_number(left_of: Closure, op: type, right: Any) -> Closure:
    """`left <op> right` for a number written in the expression (not a zero divisor):
    _binopclosure's binop with the right side's evaluation and checks done already."""
    fn = _BINOPS[op]
    power = op is ast.Pow

    def binop_by_number(env: Mapping[str, Any]) -> Any:
        left = left_of(env)
        if type(left) not in _REAL:
            _num(left, "arithmetic")
        try:
            result = _power(left, right) if power else fn(left, right)
        except (ArithmeticError, ValueError) as exc:
            raise _not_computed(op, left, right, exc) from None
        if type(result) is int and -MAX_ABS_VALUE <= result <= MAX_ABS_VALUE:
            return result
        return _check_range(result)

    return binop_by_number


def _compareclosure(node: ast.Compare) -> Closure:
    if len(node.ops) == 1 and type(node.comparators[0]) is ast.Constant:
        # `act == 'relu'`, `i == 0`: one comparison with a value written in it
        return _compare_to_value(closure(node.left), _CMPOPS[type(node.ops[0])], node)
    first = closure(node.left)
    rest = [(_CMPOPS[type(op)], closure(c)) for op, c in zip(node.ops, node.comparators)]

    def compare(env: Mapping[str, Any]) -> Any:
        left = first(env)
        for fn, right_of in rest:
            right = right_of(env)
            if type(left) is list and type(right) is list:
                _compared_lists(left, right)
            try:
                ok = fn(left, right)
            except TypeError:
                raise ExprError(
                    f"cannot compare {_typename(left)} with {_typename(right)}"
                ) from None
            if not ok:
                return False
            left = right
        return True

    return compare


def _compare_to_value(first: Closure, fn: Any, node: ast.Compare) -> Closure:
    """_compareclosure's compare of one operator and a constant right side."""
    right = node.comparators[0].value  # type: ignore[attr-defined]

    def compare_to_value(env: Mapping[str, Any]) -> Any:
        left = first(env)
        try:
            ok = fn(left, right)
        except TypeError:
            raise ExprError(f"cannot compare {_typename(left)} with {_typename(right)}") from None
        return bool(ok)

    return compare_to_value


#: The items (at every depth, both sides together) of two lists a comparison compares.
#: Python compares lists item by item: tables of 65,534 items that lets build in a few lines,
#: compared in every copy of a repeat, ran for minutes; a stride or a row is a few items.
MAX_COMPARED_ITEMS = 64


def _compared_lists(left: list[Any], right: list[Any]) -> None:
    """E309 when two lists hold more than MAX_COMPARED_ITEMS items between them (counted
    without recursion, stopping at the bound)."""
    stack = [left, right]
    seen = 0
    while stack:
        items = stack.pop()
        seen += len(items)
        if seen > MAX_COMPARED_ITEMS:
            raise ExprError(
                f"compares lists of more than {MAX_COMPARED_ITEMS} items ({_short(left)} "
                f"with {_short(right)})",
                "compare the items that matter (`row[0] == 1`, `len(table) == 3`)",
                code="E309",
            )
        stack.extend(item for item in items if type(item) is list)


def _callclosure(node: ast.Call) -> Closure:
    assert isinstance(node.func, ast.Name)
    fn = node.func.id
    args_of = [closure(a) for a in node.args]
    numeric = fn not in NOT_NUMERIC

    def call_fn(env: Mapping[str, Any]) -> Any:
        args = [a(env) for a in args_of]
        if numeric:
            for a in args:
                if type(a) not in _REAL:
                    _num(a, fn + "()")
        try:
            return _check_range(call(fn, args))
        except CallError as exc:
            raise ExprError(str(exc), code=exc.code) from None
        except (ArithmeticError, ValueError) as exc:
            raise ExprError(
                f"{fn}() cannot be computed ({type(exc).__name__})", code="E309"
            ) from None

    return call_fn
