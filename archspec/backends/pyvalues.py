"""Values in emitted code: how one instance's value is written in terms of its class's
arguments (`planes * 4`), and what the values a shape rule fills in are made of.

A `Val` carries a value's source text and the instance's value. Written values come from
the spec's own expressions (`render_src`), with fixed params folded to constants; values a
shape rule fills in (a conv's `in_channels`, a linear's `in_features`) are traced by
probing the op's rule (`Tracer`). When neither can express a value, the Val is *inexact*:
the instance's literal, with the names it depends on, which the emitter then fixes.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import field
from functools import lru_cache
from typing import Any

from ..dims import Dim
from ..errors import EmitError
from ..expr import ExprError, parse_kept
from ..ir import AttrExpr
from ..lazymethods import dataclass
from .pycode import (
    Code,
    expr_tree,
    fold,
    int_by_construction,
    lit,
    may_be_text,
    substitute,
    unparse,
)

#: A block class's incoming channel count (its `in_channels` argument), as a name.
IN = "<in>"


def more_in(name: str) -> str:
    """The channel count of a block's input `name` after the first (`inputs: [x, skip]`),
    as a name: the class's `skip_channels` argument, as IN is its `in_channels`."""
    return f"<in {name}>"


#: The longest expression emitted code writes for a value: a longer one (DenseNet's channels
#: after three dense blocks and transitions, in terms of growth_rate and num_init_features)
#: would not fit a line, so the value is written as its number and the params it reads are
#: fixed instead of constructor arguments.
MAX_TEXT = 64


@dataclass(frozen=True)
class Val:
    """A value as emitted code writes it: its source text and the instance's value.

    An `exact` Val is right for any values of the params in `names` (the text reads them);
    an inexact one is the instance's literal, right only while `names` keep their values.
    """

    text: str
    value: Any
    names: frozenset[str] = frozenset()
    exact: bool = True
    items: tuple[Val, ...] | None = None

    @property
    def symbolic(self) -> bool:
        return self.exact and bool(self.names)

    def code(self) -> Any:
        """What an op's `emit()` receives: the value itself, or `Code` when symbolic."""
        if self.items is not None:
            out = [v.code() for v in self.items]
            return out if isinstance(self.value, list) else tuple(out)
        return Code(self.text) if self.symbolic else self.value


def literal(value: Any) -> Val:
    """A constant Val."""
    if isinstance(value, Dim):
        return Val(str(value), value.value if value.is_const else value)
    try:
        text = lit(value)
    except EmitError:
        text = "?"  # shown nowhere: lit() refuses it again if code ever needs it
    return Val(text, value)


def inexact(value: Any, names: frozenset[str] | set[str]) -> Val:
    """The instance's literal, which depends on `names` in a way code cannot write."""
    v = literal(value)
    return Val(v.text, v.value, frozenset(names), exact=not names)


@dataclass
class Env:
    """How one class body renders names: which are arguments, and one instance's values."""

    symbolic: frozenset[str]
    values: dict[str, Any]
    pynames: dict[str, str]
    lost: set[str] = field(default_factory=set)
    used: set[str] = field(default_factory=set)
    #: the names read by the conditions of items this instance switched off, which its
    #: class writes (as an `if`) only where an instance of the class keeps the item
    switched: set[str] = field(default_factory=set)
    #: the block's lets as rendered, in order: a symbolic one is a local of `__init__`
    #: (its pyname in `pynames`), read as that name; its `names` are the params it reads
    lets: dict[str, Val] = field(default_factory=dict)
    #: the spec's params a block class reads as their values (`planes * groups` is
    #: `planes * 8`): each one read is recorded in `lost`, so the network fixes it too
    fixed: frozenset[str] = frozenset()

    def use(self, val: Val) -> None:
        """Record that code shows `val`: its names are read, or lost if it is inexact."""
        if val.items is not None:
            for item in val.items:
                self.use(item)
        elif val.exact:
            self.used |= val.names
        else:
            self.lost |= val.names

    def py_values(self) -> dict[str, Any]:
        out = {self.pynames[n]: self.values[n] for n in self.symbolic if n in self.values}
        out.update((self.pynames[n], v.value) for n, v in self.lets.items() if v.symbolic)
        return out

    def let_texts(self) -> dict[str, str]:
        """The locals `__init__` binds before its submodules: pyname -> expression."""
        return {self.pynames[n]: v.text for n, v in self.lets.items() if v.symbolic}


#: An emitted text's expression, parsed once per text for every user (expr.parse_kept).
parse = parse_kept


@lru_cache(maxsize=4096)
def _tree(text: str) -> ast.expr:
    return expr_tree(text)


def names_of(expr: AttrExpr) -> set[str]:
    """Names an expression reads; `in_channels` there is the incoming channel count (IN)."""
    return {IN if origin == "input" else name for name, origin in expr.names}


def render_expr(
    expr: AttrExpr | None, bound: Any, env: Env, in_ch: Val | None, in_last: Val | None = None
) -> Val:
    """The Val of a value lowering kept (`expr`: its expression, None for a literal;
    `bound`: the instance's value), in the class's terms; `in_ch` and `in_last` are the
    input's channel count and last dim (`in_features`)."""
    if expr is None or not expr.names:
        return literal(bound)
    # lowering's canonical Python text, parsed (never run) as Python: a list field's
    # `[item, ...]` and functions emitted code may not know (`_foreign`) parse too
    tree = _tree(expr.text)
    origins = dict(expr.names)
    if isinstance(tree, ast.List) and isinstance(bound, list) and len(tree.elts) == len(bound):
        items = tuple(
            _render_tree((expr.text, k), b, origins, env, in_ch, in_last)
            for k, b in enumerate(bound)
        )
        text = lit([Code(i.text) for i in items])
        names = frozenset().union(*(i.names for i in items))
        return Val(text, bound, names, all(i.exact for i in items), items)
    return _render_tree((expr.text, None), bound, origins, env, in_ch, in_last)


@lru_cache(maxsize=4096)
def _facts(text: str, item: int | None) -> tuple[frozenset[str], bool]:
    """The names an expression (or item `item` of a list expression) reads, callees left
    out, and whether it holds a part emitted code cannot write (`_foreign`). Every instance
    of a block renders the same texts, so these are worked out once per text."""
    tree = _part(text, item)
    callees = {id(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and id(n) not in callees}
    return frozenset(read), any(_foreign(n) for n in ast.walk(tree))


@lru_cache(maxsize=4096)
def _indexed(text: str, item: int | None) -> frozenset[tuple[str, str]]:
    """The lists an expression indexes and the names it indexes them by (`ks[i]`)."""
    tree = _part(text, item)
    return frozenset(
        (n.value.id, n.slice.id)
        for n in ast.walk(tree)
        if isinstance(n, ast.Subscript)
        and isinstance(n.value, ast.Name)
        and isinstance(n.slice, ast.Name)
    )


def _writable_index(container: str, index: str, env: Env) -> bool:
    """Emitted code can write `ks[i]` as the language reads it: `ks` is an argument of the
    class (a list passed on whole) and `i` an int here (Python refuses `ks[2.0]`)."""
    value = env.lets[index].value if index in env.lets else env.values.get(index)
    return container in env.symbolic and container not in env.lets and type(value) is int


def _part(text: str, item: int | None) -> ast.expr:
    tree = _tree(text)
    return tree if item is None else tree.elts[item]  # type: ignore[attr-defined]


@lru_cache(maxsize=16384)
def _substituted(text: str, item: int | None, subst: tuple[tuple[str, str], ...]) -> str | None:
    """The expression with each name replaced by its text, constants folded; None when it
    cannot be written (EmitError). Instances that bind the names alike share the result."""
    tree = _part(text, item)
    try:
        return unparse(fold(substitute(tree, {n: expr_tree(t) for n, t in subst})))
    except EmitError:  # e.g. a fixed list param inside a comparison: keep the value
        return None


def _render_tree(
    where: tuple[str, int | None],
    bound: Any,
    origins: Mapping[str, str],
    env: Env,
    in_ch: Val | None,
    in_last: Val | None = None,
) -> Val:
    """One expression tree (`where`: the kept text, and the item of a list expression) with
    its names written in the class's terms, constants folded."""
    read, foreign = _facts(*where)
    if not read:
        return literal(bound)
    if foreign or not all(_writable_index(c, i, env) for c, i in _indexed(*where)):
        # emitted Python would not define it, or would not index a list by a float (2.0)
        return inexact(bound, {IN if origins.get(n) == "input" else n for n in read})
    subst: dict[str, str] = {}
    deps: set[str] = set()
    ok = True
    for name in sorted(read):
        if origins.get(name) == "input" and name == "in_features" and in_last is not None:
            v = in_last
        elif origins.get(name) == "input" and name != "in_features" and in_ch is not None:
            v = in_ch
        elif origins.get(name) != "input" and name in env.lets:  # a let hides an index
            lv = env.lets[name]
            if not lv.exact:
                ok = False
                deps |= lv.names
                continue
            v = Val(env.pynames[name], lv.value, lv.names) if lv.symbolic else literal(lv.value)
        elif origins.get(name) != "input" and name in env.symbolic:
            v = Val(env.pynames[name], env.values.get(name), frozenset({name}))
        elif origins.get(name) != "input" and name in env.values:
            v = literal(env.values[name])
            if name in env.fixed:
                env.lost.add(name)
        else:
            ok = False
            deps.add(IN if origins.get(name) == "input" else name)
            continue
        deps |= v.names
        ok = ok and v.exact
        subst[name] = v.text
    # a list value is written only as a name passed on whole (a block's list param, Swin's
    # window_size); a list computed in an expression is the instance's
    tree = _part(*where)
    passed_on = isinstance(tree, ast.Name) and type(env.values.get(tree.id)) in (list, tuple)
    if not ok or (type(bound) in (list, tuple) and not passed_on):
        return inexact(bound, deps) if deps else literal(bound)
    text = _substituted(*where, tuple(sorted(subst.items())))
    if text is None:
        return inexact(bound, deps) if deps else literal(bound)
    if len(text) > MAX_TEXT and type(bound) in (int, float):  # a number, never a condition
        return inexact(bound, deps)
    val = Val(text, bound, frozenset(deps))
    check_val(val, env)
    return val


#: The functions of the expression language that emitted code can call: Python's builtins
#: that compute alike, `math`'s whole-number `ceil` and `floor` (imported by the file that
#: calls them: `MATH_NAMES`), and the helpers an emitted file defines when it calls them
#: (`HELPERS`: `make_divisible`, torchvision's `_make_divisible` line for line).
MATH_NAMES = ("ceil", "floor")
_BUILTINS = frozenset({"min", "max", "abs", "round", "make_divisible", *MATH_NAMES})

#: Functions an emitted file defines for its expressions, by name: their source.
HELPERS = {
    "make_divisible": '''def make_divisible(
    v: float, divisor: int, min_value: int | None = None, round_limit: float = 0.9
) -> int:
    """torchvision's `_make_divisible` (timm's `make_divisible`): `v` rounded to a multiple
    of `divisor`, never below `min_value` (default `divisor`), plus one `divisor` when that
    fell below `round_limit * v` (default 0.9: more than 10% below `v`)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v''',
}


def _foreign(node: ast.AST) -> bool:
    """A part of an expression that emitted code cannot write as it is: a call of a function
    that is not a builtin of the same meaning, an index or an attribute."""
    if isinstance(node, ast.Call):
        return not (isinstance(node.func, ast.Name) and node.func.id in _BUILTINS | {"len"})
    if isinstance(node, ast.Subscript):  # `ks[i]`: a list argument at a name's index
        return not (isinstance(node.value, ast.Name) and isinstance(node.slice, ast.Name))
    return isinstance(node, ast.Attribute)


def as_int(val: Val, env: Env) -> Val:
    """`val` for an int field or argument: `int(...)` around a symbolic text that may give a
    float, as lowering takes a whole float (`w * 1.5` with w = 2) for the int 3.

    Texts that are ints by construction (`planes * 4`) and texts that may give a choice
    (`'same' if ...`) are kept as they are; items of a list are handled one by one.
    """
    if val.items is not None:
        items = tuple(as_int(v, env) for v in val.items)
        if items == val.items:
            return val
        text = lit([Code(i.text) for i in items])
        return Val(text, val.value, val.names, val.exact, items)
    if type(val.value) is not int:
        return val
    if not val.symbolic:  # a folded constant (`64 / 16` is 4.0): the int lowering took
        return Val(lit(val.value), val.value, val.names, val.exact)
    tree = expr_tree(val.text)
    ints = {name for name, v in env.py_values().items() if type(v) is int}
    if int_by_construction(tree, ints) or may_be_text(tree):
        return val
    return Val(f"int({val.text})", val.value, val.names, val.exact)


def check_val(val: Val, env: Env) -> None:
    """The rendered text must give the instance's value (an internal consistency check)."""
    if not val.symbolic:
        return
    values = env.py_values()
    try:
        got = parse(val.text).evaluate(values)
    except ExprError as exc:
        raise EmitError(f"internal: cannot evaluate emitted `{val.text}`: {exc.message}") from None
    if got != val.value:
        raise EmitError(f"internal: emitted `{val.text}` gives {got!r}, not {val.value!r}")


def truth(val: Val, env: Env) -> Any:
    """The value of a symbolic condition for one instance."""
    try:
        return parse(val.text).evaluate(env.py_values())
    except ExprError:
        return None


def frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple((k, frozen(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(frozen(v) for v in value))
    return (type(value).__name__, value)


def same(a: Any, b: Any) -> bool:
    """Equal values of the same kind (so 1 is not True and 1.0 is not 1)."""
    if isinstance(a, Dim) or isinstance(b, Dim):
        try:
            return bool(Dim.of(a) == Dim.of(b))
        except TypeError:
            return False
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def plain_value(value: Any) -> Any:
    if isinstance(value, Dim) and value.is_const:
        return value.value
    return value
