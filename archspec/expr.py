"""The safe expression language of spec values (`planes * 4`, `stride != 1 or in_channels != c`).

Expressions are parsed with `ast` into a whitelisted tree here and run by `exprrun` as
closures; nothing is ever passed to `eval`. Only arithmetic, comparisons, boolean logic,
conditional expressions, calls of the functions of `exprfuncs` (`min`, `max`, `round`,
`make_divisible`, ...), indexing of list params (`stages[i][2]`), names of params and literals
are accepted.

Evaluation raises ExprError and nothing else, whatever the values: every operator is checked
before Python computes it (division by zero, `0 ** -1`, a negative base to a fractional power,
results past 10^15). A part of an expression that fails for every value of its names (a
constant part such as `2 // 0`, a division by a constant zero, arithmetic on a quoted text,
`max(5)`) is refused when the expression is parsed, so a branch that the spec's params never
take is checked too, and `check`, `emit` and `compile` agree on every spec.
"""

from __future__ import annotations

import ast
import math
import operator
import warnings
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

from .errors import SpecError, shown_value
from .exprfuncs import ARITY, NOT_NUMERIC, arity_text
from .exprhints import not_a_number_hint
from .lazymethods import dataclass

MAX_EXPR_LEN = 500
MAX_ABS_VALUE = 10**15
#: How deeply operators may nest (`-(-(-x))`, `1+1+1+...`): the evaluator, the emitter's
#: folding and its unparser recurse once per level, and run deep inside lowering.
MAX_EXPR_DEPTH = 64

Value = int | float | bool | str | list

_LANGUAGE_HINT = (
    "expressions use params, numbers, + - * / // % **, comparisons, "
    "and/or/not, `a if cond else b`, list indexing `table[i][2]`, and the functions "
    "min, max, abs, round, ceil, floor, sqrt, log, make_divisible, len"
)


def _instead(call: ast.Call, text: str) -> str | None:
    """E206's hint for a Python call an expression does not make, written with the call's
    own arguments: a new user porting timm writes widths as timm does, `int(dim * mlp_ratio)`
    (`floor(dim * mlp_ratio)` here), `math.ceil(c / 4)` (`ceil(c / 4)`), `pow(2, k)`."""
    if call.keywords or any(isinstance(a, ast.Starred) for a in call.args):
        return None  # `int(x, base=2)`, `pow(*r)`: no rewrite with positional arguments alone
    args = [ast.get_source_segment(text, a) or ast.unparse(a) for a in call.args]
    func = call.func
    if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.attr in ARITY:
        return (
            f"the functions are called by their names alone: write `{func.attr}("
            f"{', '.join(args)})` for `{func.value.id}.{func.attr}(...)`; " + _LANGUAGE_HINT
        )
    name = getattr(func, "id", "")
    if name == "int" and len(args) == 1:
        return (
            "Python's `int(a)` is `floor(a)` for a >= 0 and `ceil(a)` below 0: write "
            f"`floor({args[0]})` for `int({args[0]})`; " + _LANGUAGE_HINT
        )
    if name == "float" and len(args) == 1:
        return f"write `{args[0]}` alone: `/` divides as Python's floats do; " + _LANGUAGE_HINT
    if name == "pow" and len(args) == 2:
        base, power = (
            a if isinstance(n, (ast.Name, ast.Constant)) else f"({a})"
            for a, n in zip(args, call.args)
        )
        return f"write `{base} ** {power}`; " + _LANGUAGE_HINT
    return None


#: What to do about an expression error that has no more specific hint, by code.
_DEFAULT_HINTS = {
    "E206": _LANGUAGE_HINT,
    "E308": "check the values the expression reads (params given by the caller included)",
    "E309": "expression values are limited to |x| <= 10^15",
}


class ExprError(SpecError):
    """An expression is malformed or cannot be evaluated; `message` says why for a user.

    An ArchSpecError without a span: the caller that knows which spec value held the
    expression reports it at that value's line and column.
    """

    def __init__(self, message: str, hint: str | None = None, code: str = "E308") -> None:
        super().__init__(message, hint=hint or _DEFAULT_HINTS.get(code), code=code)
        self.message = message
        self.code = code


_BINOPS: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_BINOP_TEXT = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
}
_CMPOPS: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_CMP_TEXT = {
    ast.Eq: "==",
    ast.NotEq: "!=",
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
}
_ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.BoolOp,
    ast.Compare,
    ast.IfExp,
    ast.Name,
    ast.Constant,
    ast.Call,
    ast.Subscript,
    ast.List,
    ast.Load,
    ast.And,
    ast.Or,
    ast.Not,
    ast.USub,
    ast.UAdd,
    *_BINOPS,
    *_CMPOPS,
)


@dataclass(frozen=True)
class Expr:
    """A parsed, validated expression; `names` are the free variables it reads."""

    text: str
    tree: ast.Expression
    names: frozenset[str]

    def evaluate(self, env: Mapping[str, Any]) -> Any:
        """Value of the expression with `env` binding its names."""
        run = self.__dict__.get("_run") or self.runner()
        try:
            return run(env)
        except RecursionError:
            raise ExprError(
                f"expression {_short(self.text)} is nested too deeply to evaluate", code="E206"
            ) from None

    def runner(self) -> Callable[[Mapping[str, Any]], Any]:
        """The closure `evaluate` runs, made once per expression (a block's fields run per
        copy): a caller that keeps it saves `evaluate`'s call, and must take a RecursionError
        (an expression nested too deeply) to `evaluate`, which reports it."""
        run = self.__dict__.get("_run")
        if run is None:
            from .exprrun import closure

            run = closure(self.tree.body)
            object.__setattr__(self, "_run", run)
        return run  # type: ignore[no-any-return]

    def to_python(self, rename: Mapping[str, str] | None = None) -> str:
        """Canonical Python source of the expression (for emitted code), names renamed."""
        return unparse(self.tree.body, rename=rename)

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_run"}  # closures: not data

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


#: An unclosed bracket is most often an expression YAML cut at its comma (`{c: max(8, n)}`,
#: or a flow list's item, `shape: [2 * max(q, k) - 1, d]`).
_CUT_HINT = (
    "written unquoted inside a `{...}` mapping, an expression ends at its first comma (so "
    "it does in a `[...]` list): quote an expression with a comma or brackets "
    '(`out_channels: "max(8, c // 4)"`)'
)
#: ... and the bracket that closes it, the start of the next piece (`k) - 1`).
_TAIL_HINT = (
    "this looks like the end of an expression cut at its comma, the piece before it its "
    "start: inside `{...}` or a `[...]` list, quote an expression with a comma "
    '(`shape: ["2 * max(q, k) - 1", d]`)'
)


def cut_tail_hint(key: str) -> str | None:
    """The hint for a key that is the tail of an expression YAML cut at its comma (`{f:
    max(8, c)}` gives the key `c)`), as E201 for a layer's field and E302 for a block's
    argument report it; None for any other key."""
    if not key.rstrip().endswith((")", "]")):
        return None
    return (
        f"`{key}` looks like the end of an expression cut at its comma: inside "
        '`{...}`, quote an expression with a comma (`out_channels: "max(8, c // 4)"`)'
    )


@lru_cache(maxsize=16384)
def parse_kept(text: str) -> Expr:
    """parse_expr, kept per text (an error is raised again each time): the schema's check of
    a field, lowering and its canonical text read the same texts, and each parsed them anew
    (a long expression costs milliseconds to parse and check)."""
    return parse_expr(text)


def parse_expr(text: str) -> Expr:
    """Parse `text` into a safe Expr or raise ExprError saying what is not allowed.

    Besides the syntax, every part that fails whatever its names hold is refused here
    (see `_check_static`), so the error does not wait for params that reach it.
    """
    if not isinstance(text, str):
        raise ExprError(f"expected an expression string, got {type(text).__name__}")
    if len(text) > MAX_EXPR_LEN:
        raise ExprError(f"expression longer than {MAX_EXPR_LEN} characters", code="E206")
    if not text.strip():
        raise ExprError("empty expression", code="E206")
    try:
        # Python warns of some text it still parses (`2if c else 3`, an invalid decimal
        # literal; `"\\d"`, an invalid escape), a line on stderr that names no spec: such
        # text is refused here, as later Pythons refuse it
        with warnings.catch_warnings():
            warnings.simplefilter("error", SyntaxWarning)
            warnings.simplefilter("error", DeprecationWarning)
            tree = ast.parse(text.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        msg = getattr(exc, "msg", None) or str(exc) or type(exc).__name__
        hint = (
            _CUT_HINT
            if "never closed" in msg
            else _TAIL_HINT
            if msg.startswith("unmatched ")
            else _LANGUAGE_HINT
        )
        raise ExprError(
            f"invalid expression {_short(text)}: {msg}", hint=hint, code="E206"
        ) from None
    nodes = _nodes_within_depth(tree, text)
    if not text.isascii():
        _check_ascii_names(tree, text.strip())
    names: set[str] = set()
    callees: set[int] = set()
    for node in nodes:
        if not isinstance(node, _ALLOWED):
            raise ExprError(
                f"{type(node).__name__} is not allowed in an expression: {_short(text)}",
                hint="only arithmetic, comparisons, and/or/not, conditional expressions, "
                "lists and list indexing, the functions listed in the docs and param names "
                "are allowed",
                code="E206",
            )
        if isinstance(node, ast.Constant) and (type(node.value) not in (int, float, bool, str)):
            raise ExprError(
                f"literal {_short(node.value)} is not allowed in {_short(text)}", code="E206"
            )
        if (
            isinstance(node, ast.Constant)
            and type(node.value) in (int, float)
            and not abs(node.value) <= MAX_ABS_VALUE  # also catches inf (1e999)
        ):
            raise ExprError(
                f"literal {_short(node.value)} in expression {_short(text)} is out of range "
                "(|x| <= 10^15) or not finite",
                code="E206",
            )
        if isinstance(node, ast.Call):
            if (
                not isinstance(node.func, ast.Name)
                or node.func.id not in ARITY
                or node.keywords
                or not node.args
                or any(isinstance(a, ast.Starred) for a in node.args)
            ):
                raise ExprError(
                    f"only {', '.join(f'{f}()' for f in ARITY)} may be called (with "
                    f"positional arguments) in an expression: {_short(text)}",
                    hint=_instead(node, text.strip()),
                    code="E206",
                )
            _check_arity(node, text)
            callees.add(id(node.func))
        elif isinstance(node, ast.Name) and id(node) not in callees:
            names.add(node.id)
    _check_static(tree.body, tree.body)
    return Expr(text.strip(), tree, frozenset(names))


def _check_ascii_names(tree: ast.AST, source: str) -> None:
    """Refuse a name written with other than ASCII letters: Python reads identifiers in NFKC
    form, so a fullwidth or bold w (U+FF57, U+1D430) or the ligature fi (U+FB01) silently
    read the params `w` and `fi`, while every name a spec declares is ASCII."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            written = ast.get_source_segment(source, node)
            if written is not None and written != node.id:
                raise ExprError(
                    f"name {written!r} in expression {_short(source)} is not ASCII "
                    f"(Python would read it as {node.id!r})",
                    hint="names are ASCII letters, digits and _: type the name itself",
                    code="E206",
                )


def _nodes_within_depth(tree: ast.AST, text: str) -> list[ast.AST]:
    """Every node of `tree` in `ast.walk`'s order (breadth first), refusing operators nested
    deeper than MAX_EXPR_DEPTH (no recursion): one walk where the depth check and the
    node checks each walked the tree (two thirds of parsing a short expression)."""
    out: list[ast.AST] = []
    level, depth = [tree], 0
    while level:
        if depth > MAX_EXPR_DEPTH:
            raise ExprError(
                f"expression {_short(text)} nests operators deeper than {MAX_EXPR_DEPTH} levels",
                hint="split it: compute parts in params or block params",
                code="E206",
            )
        out += level
        below: list[ast.AST] = []
        for node in level:
            for field in node._fields:
                value = getattr(node, field, None)
                if isinstance(value, ast.AST):
                    below.append(value)
                elif isinstance(value, list):
                    below += [v for v in value if isinstance(v, ast.AST)]
        level, depth = below, depth + 1
    return out


def _check_arity(node: ast.Call, text: str) -> None:
    assert isinstance(node.func, ast.Name)
    fn, n = node.func.id, len(node.args)
    low, high = ARITY[fn]
    if n < low or (high is not None and n > high):
        raise ExprError(
            f"{fn}() takes {arity_text(fn)}, got {n} in {_short(text)}",
            hint=f"{fn}(a, b, ...) compares numbers; {fn}() of one value is that value"
            if fn in ("min", "max")
            else None,
            code="E206",
        )


_NOT_CONSTANT = object()


def _check_static(node: ast.AST, whole: ast.AST) -> Any:
    """The value of `node` when it reads no names (else _NOT_CONSTANT), refusing every part
    that fails for all values of its names.

    Constant parts are evaluated wherever they stand, an untaken branch included: the emitter
    folds them, so an error there must not wait. Where names are involved, what fails for
    every value is a constant operand that is text (arithmetic needs numbers) and a constant
    zero divisor.
    """
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return _NOT_CONSTANT
    if isinstance(node, ast.Call):
        children = list(node.args)
    else:
        children = [c for c in ast.iter_child_nodes(node) if isinstance(c, ast.expr)]
    values = [_check_static(c, whole) for c in children]
    if all(v is not _NOT_CONSTANT for v in values):
        try:
            from .exprrun import closure  # the evaluator, beside the parser it reads

            return closure(node)({})
        except ExprError as exc:
            if node is whole:
                raise
            raise ExprError(
                f"{exc.message}: {_short_text(unparse(node))} fails whatever the params are",
                hint=exc.hint
                or "every constant part of an expression is evaluated, "
                "in a branch the params do not take too",
                code=exc.code,
            ) from None
    numeric_operands: list[Any] = []
    what = "arithmetic"
    if isinstance(node, ast.BinOp):
        numeric_operands = values
        if type(node.op) in (ast.Div, ast.FloorDiv, ast.Mod) and _is_zero(values[1]):
            raise ExprError(
                f"division by zero: {_short_text(unparse(node))} fails whatever the params are"
            )
    elif isinstance(node, ast.UnaryOp) and not isinstance(node.op, ast.Not):
        numeric_operands, what = values, "a sign"
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
        if node.func.id not in NOT_NUMERIC:
            numeric_operands, what = values, f"{node.func.id}()"
    elif isinstance(node, ast.Subscript) and values[0] is not _NOT_CONSTANT:
        if isinstance(values[0], list):  # a list written in place, read at a name's index
            return _NOT_CONSTANT
        raise ExprError(
            f"only a list can be indexed, not {_typename(values[0])} {_short(values[0])}: "
            f"{_short_text(unparse(node))} fails whatever the params are",
            hint="index a list param: `stages[i][2]`",
        )
    for v in numeric_operands:
        if v is not _NOT_CONSTANT and not _is_number(v):
            raise ExprError(
                f"{what} needs a number, got {_typename(v)} {_short(v)} in "
                f"{_short_text(unparse(node))}",
                hint=not_a_number_hint(v),
            )
    return _NOT_CONSTANT


def _is_zero(v: Any) -> bool:
    return v is not _NOT_CONSTANT and _is_number(v) and v == 0


def _is_number(v: Any) -> bool:
    return type(v) in (int, float, bool)


def _typename(v: Any) -> str:
    return {bool: "bool", int: "int", float: "float", str: "text", list: "list"}.get(
        type(v), type(v).__name__
    )


def _short(value: Any) -> str:
    return shown_value(value, 40)


def _short_text(text: str) -> str:
    return f"`{text}`" if len(text) <= 40 else f"`{text[:37]}...`"


def _check_range(value: Any) -> Any:
    if type(value) is int and abs(value) > MAX_ABS_VALUE:
        raise ExprError(f"value {_short(value)} is out of range (|x| <= 10^15)", code="E309")
    if type(value) is float and not (abs(value) <= MAX_ABS_VALUE):
        raise ExprError(f"value {_short(value)} is out of range or not finite", code="E309")
    if type(value) not in (int, float, bool):
        raise ExprError(f"arithmetic gave {_typename(value)} {_short(value)}, not a real number")
    return value


def _num(v: Any, what: str) -> Any:
    if type(v) in (int, float, bool):
        return v
    raise ExprError(
        f"{what} needs a number, got {_typename(v)} {_short(v)}", hint=not_a_number_hint(v)
    )


def _power(left: Any, right: Any) -> Any:
    """`left ** right`, refused before computing when it fails or leaves the value range."""
    if left == 0 and right < 0:
        raise ExprError("zero to a negative power in expression (division by zero)")
    if left < 0 and right != int(right):
        raise ExprError("a negative number to a fractional power in expression has no real value")
    # |left ** right| = 2 ** (right * log2|left|): past 2 ** 53 it is over 10^15 anyway.
    if abs(left) not in (0, 1) and right * math.log2(abs(left)) > 53:
        raise ExprError("exponent too large in expression", code="E309")
    return operator.pow(left, right)


_PREC = {
    ast.Or: 1,
    ast.And: 2,
    ast.Not: 3,
    ast.Compare: 4,
    ast.Add: 5,
    ast.Sub: 5,
    ast.Mult: 6,
    ast.Div: 6,
    ast.FloorDiv: 6,
    ast.Mod: 6,
    ast.USub: 7,
    ast.UAdd: 7,
    ast.Pow: 8,
}


def precedence(node: ast.AST) -> int:
    """Binding strength of an expression node (higher binds tighter)."""
    if isinstance(node, ast.IfExp):
        return 0
    if isinstance(node, (ast.BoolOp, ast.UnaryOp, ast.BinOp)):
        return _PREC[type(node.op)]
    if isinstance(node, ast.Compare):
        return 4
    if isinstance(node, ast.Constant) and type(node.value) in (int, float) and node.value < 0:
        return 7  # a folded negative constant reads as a unary minus
    return 10


def _simple_power_operand(node: ast.AST) -> bool:
    """ruff/black write `x**2` without spaces when both operands are this simple."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        return _simple_power_operand(node.operand)
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float)
    return isinstance(node, ast.Name)


def unparse(
    node: ast.AST,
    *,
    constant: Callable[[Any], str] = repr,
    rename: Mapping[str, str] | None = None,
    tight_pow: bool = False,
) -> str:
    """Source of an expression tree with only the parentheses it needs.

    The one renderer of expressions: `Expr.to_python` uses it as is; the emitter passes its
    literal writer as `constant` and `tight_pow` for ruff's `x**2`.
    """
    names = rename or {}

    def go(n: ast.AST) -> str:
        def sub(child: ast.AST, min_prec: int) -> str:
            text = go(child)
            return f"({text})" if precedence(child) < min_prec else text

        if isinstance(n, ast.Constant):
            return constant(n.value)
        if isinstance(n, ast.Name):
            return names.get(n.id, n.id)
        if isinstance(n, ast.BinOp):
            p = precedence(n)
            if isinstance(n.op, ast.Pow):  # right-associative
                left, right = sub(n.left, p + 1), sub(n.right, p)
                tight = tight_pow and _simple_power_operand(n.left)
                if tight and _simple_power_operand(n.right):
                    return f"{left}**{right}"
                return f"{left} ** {right}"
            return f"{sub(n.left, p)} {_BINOP_TEXT[type(n.op)]} {sub(n.right, p + 1)}"
        if isinstance(n, ast.UnaryOp):
            if isinstance(n.op, ast.Not):
                return f"not {sub(n.operand, 3)}"
            return ("-" if isinstance(n.op, ast.USub) else "+") + sub(n.operand, 7)
        if isinstance(n, ast.BoolOp):
            word = " and " if isinstance(n.op, ast.And) else " or "
            p = precedence(n)
            return word.join(sub(v, p + 1) for v in n.values)
        if isinstance(n, ast.Compare):
            parts = [sub(n.left, 5)]
            for op, comp in zip(n.ops, n.comparators):
                parts.append(f"{_CMP_TEXT[type(op)]} {sub(comp, 5)}")
            return " ".join(parts)
        if isinstance(n, ast.IfExp):
            return f"{sub(n.body, 1)} if {sub(n.test, 1)} else {sub(n.orelse, 0)}"
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name):
            return f"{n.func.id}({', '.join(go(a) for a in n.args)})"
        if isinstance(n, ast.Subscript):
            return f"{sub(n.value, 10)}[{go(n.slice)}]"
        if isinstance(n, ast.List):
            return "[" + ", ".join(go(e) for e in n.elts) + "]"
        raise ExprError(f"cannot render expression element {type(n).__name__}")

    return go(node)


def is_expr_string(value: Any) -> bool:
    """True when a spec value is an expression rather than a literal."""
    return isinstance(value, str)
