"""The values a shape rule fills in (a conv's `in_channels`, a concat's channels), in the
terms of the class that holds the layer, computed by the rule itself.

The op's shape rule is run once, on the instance's own numbers, but every number that the
class writes as an expression (an input's channel count `in_channels`, an attribute
`planes * 4`) is passed as a `Traced` int: it behaves as its value and records, for every
sum, product or division the rule makes of it, the same operation on its text. What the
rule returns is then the instance's value together with the expression that computes it:
`in_channels` for a conv's `in_channels` (the rule copies the input's channels), `c1 + c2`
for a concat's channels. Nothing is fitted to instances: a result is written as the
arithmetic the rule did. Where that cannot be seen (the rule turned a traced number into a
plain one, or the result is a number the rule ordered against another, as `min`/`max`
do) the result is the instance's literal, inexact in the names it may depend on, and the
emitter then specialises the class as for any value it cannot write. A rule's checks
(`groups` divides `in_channels`, an extent is at least 1) decide only whether the instance
is accepted, not what it computes, so they do not stop a result from being written.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping, Sequence
from typing import Any

from ...dims import Dim
from ...ir import Node
from ...ops import REGISTRY, ShapeContext
from ..pycode import Code, collect_terms, expr_tree, fold, lit, unparse
from ..pyvalues import Val, frozen, inexact, literal, plain_value, same


class _Log:
    """What one run of a rule did to its traced numbers that their texts cannot say."""

    def __init__(self, flip: int | None = None) -> None:
        self.escaped: set[str] = set()  # names of numbers turned into plain ints or floats
        self.count = 0  # ordering comparisons (`<`, `max`) of traced numbers so far
        self.flip = flip  # the comparison whose answer this run turns round


class Traced(int):
    """An int that carries the expression computing it (or, when `exact` is False, only the
    names it depends on). Arithmetic with ints gives Traced results."""

    tree: ast.expr | None
    names: frozenset[str]
    exact: bool
    log: _Log

    @staticmethod
    def make(
        value: int, tree: ast.expr | None, names: frozenset[str], exact: bool, log: _Log
    ) -> Traced:
        out = int.__new__(Traced, _v(value))
        out.tree, out.names, out.exact, out.log = tree, names, exact, log
        return out

    def text(self) -> str:
        assert self.tree is not None
        return unparse(collect_terms(fold(self.tree)))

    def _op(self, other: Any, op: ast.operator, value: Any, swap: bool = False) -> Any:
        if isinstance(other, bool) or not isinstance(other, int):
            self.log.escaped |= self.names  # a float (or stranger) operand: not an int any more
            return value
        o = other if isinstance(other, Traced) else None
        o_tree = o.tree if o is not None else ast.Constant(_v(other))
        names = self.names | (o.names if o is not None else frozenset())
        exact = self.exact and (o.exact if o is not None else True)
        tree = None
        if exact and self.tree is not None and o_tree is not None:
            left, right = (o_tree, self.tree) if swap else (self.tree, o_tree)
            tree = ast.BinOp(left=left, op=op, right=right)
            if o is None and _identity(op, _v(other), swap):
                tree = self.tree  # `0 + c` (a sum begun at 0), `c * 1`
        return Traced.make(value, tree, names, tree is not None, self.log)

    def __add__(self, o: Any) -> Any:
        return self._op(o, ast.Add(), _v(self) + _p(o))

    def __radd__(self, o: Any) -> Any:
        return self._op(o, ast.Add(), _p(o) + _v(self), swap=True)

    def __sub__(self, o: Any) -> Any:
        return self._op(o, ast.Sub(), _v(self) - _p(o))

    def __rsub__(self, o: Any) -> Any:
        return self._op(o, ast.Sub(), _p(o) - _v(self), swap=True)

    def __mul__(self, o: Any) -> Any:
        return self._op(o, ast.Mult(), _v(self) * _p(o))

    def __rmul__(self, o: Any) -> Any:
        return self._op(o, ast.Mult(), _p(o) * _v(self), swap=True)

    def __floordiv__(self, o: Any) -> Any:
        return self._op(o, ast.FloorDiv(), _v(self) // _p(o))

    def __rfloordiv__(self, o: Any) -> Any:
        return self._op(o, ast.FloorDiv(), _p(o) // _v(self), swap=True)

    def __mod__(self, o: Any) -> Any:
        return self._op(o, ast.Mod(), _v(self) % _p(o))

    def __rmod__(self, o: Any) -> Any:
        return self._op(o, ast.Mod(), _p(o) % _v(self), swap=True)

    def __divmod__(self, o: Any) -> Any:
        return (self // o, self % o)

    def __rdivmod__(self, o: Any) -> Any:
        return (o // self, o % self)

    def __neg__(self) -> Any:
        return self._op(0, ast.Sub(), -_v(self), swap=True)

    def __pos__(self) -> Any:
        return self

    def _order(self, o: Any, result: bool) -> bool:
        n, self.log.count = self.log.count, self.log.count + 1
        return not result if self.log.flip == n else result

    def __lt__(self, o: Any) -> bool:
        return self._order(o, _v(self) < _p(o))

    def __le__(self, o: Any) -> bool:
        return self._order(o, _v(self) <= _p(o))

    def __gt__(self, o: Any) -> bool:
        return self._order(o, _v(self) > _p(o))

    def __ge__(self, o: Any) -> bool:
        return self._order(o, _v(self) >= _p(o))

    def __int__(self) -> int:
        self.log.escaped |= self.names
        return int.__int__(self)

    def __index__(self) -> int:
        self.log.escaped |= self.names
        return int.__index__(self)

    def __float__(self) -> float:
        self.log.escaped |= self.names
        return int.__float__(self)

    __hash__ = int.__hash__


class TracedFloat(float):
    """A float param the rule receives: it writes no text (no result is a float the class
    must spell out), but records when the rule turns it, or a number made from it, into
    an int (`int(h * scale)`), which a result's text could then not show."""

    names: frozenset[str]
    log: _Log

    @staticmethod
    def make(value: float, names: frozenset[str], log: _Log) -> TracedFloat:
        out = float.__new__(TracedFloat, value)
        out.names, out.log = names, log
        return out

    def _op(self, o: Any, value: Any) -> Any:
        if not isinstance(value, float):
            return value
        names = self.names | (o.names if isinstance(o, (Traced, TracedFloat)) else frozenset())
        return TracedFloat.make(value, names, self.log)

    def __add__(self, o: Any) -> Any:
        return self._op(o, float(self) + _p(o))

    def __radd__(self, o: Any) -> Any:
        return self._op(o, _p(o) + float(self))

    def __sub__(self, o: Any) -> Any:
        return self._op(o, float(self) - _p(o))

    def __rsub__(self, o: Any) -> Any:
        return self._op(o, _p(o) - float(self))

    def __mul__(self, o: Any) -> Any:
        return self._op(o, float(self) * _p(o))

    def __rmul__(self, o: Any) -> Any:
        return self._op(o, _p(o) * float(self))

    def __truediv__(self, o: Any) -> Any:
        return self._op(o, float(self) / _p(o))

    def __rtruediv__(self, o: Any) -> Any:
        return self._op(o, _p(o) / float(self))

    def __floordiv__(self, o: Any) -> Any:
        return self._op(o, float(self) // _p(o))

    def __rfloordiv__(self, o: Any) -> Any:
        return self._op(o, _p(o) // float(self))

    def _escape(self) -> None:
        self.log.escaped |= self.names

    def __int__(self) -> int:
        self._escape()
        return float.__int__(self)

    def __trunc__(self) -> int:
        self._escape()
        return float.__trunc__(self)

    def __floor__(self) -> int:
        self._escape()
        return float.__floor__(self)

    def __ceil__(self) -> int:
        self._escape()
        return float.__ceil__(self)

    def __round__(self, n: Any = None) -> Any:
        self._escape()
        return float.__round__(self, n)

    __hash__ = float.__hash__


def _identity(op: ast.operator, other: int, swap: bool) -> bool:
    """True when `other` leaves the traced operand as it is (`x + 0`, `0 + x`, `x * 1`)."""
    if isinstance(op, ast.Add):
        return other == 0
    if isinstance(op, ast.Sub):
        return other == 0 and not swap
    if isinstance(op, (ast.Mult,)):
        return other == 1
    if isinstance(op, ast.FloorDiv):
        return other == 1 and not swap
    return False


def _v(n: int) -> int:
    """The plain value of an int (a Traced one's without recording an escape)."""
    return int.__int__(n)


def _p(o: Any) -> Any:
    """An operand as a plain number (a traced one's value, without recording an escape)."""
    if isinstance(o, int) and not isinstance(o, bool):
        return int.__int__(o)
    return float.__float__(o) if isinstance(o, float) else o


def _traced(val: Val, log: _Log) -> Any:
    """What the rule receives for a Val: a Traced int where the class writes an int as an
    expression (or cannot write it), items of a list one by one, the value otherwise."""
    if val.items is not None:
        items = [_traced(v, log) for v in val.items]
        return items if isinstance(val.value, list) else tuple(items)
    value = plain_value(val.value)
    if type(value) is float and val.names:
        return TracedFloat.make(value, val.names, log)
    if type(value) is not int or not val.names:
        return val.value
    tree = expr_tree(val.text) if val.exact else None
    return Traced.make(value, tree, val.names, val.exact, log)


def _untraced(val: Val) -> frozenset[str]:
    """The names of symbolic values the rule sees as plain ones (a bool, a text)."""
    if val.items is not None:
        return frozenset().union(*(_untraced(v) for v in val.items))
    return val.names if type(plain_value(val.value)) not in (int, float) else frozenset()


#: rule_values' results by everything they depend on: the instances of a block (and the
#: blocks of a model family) run the same rule on the same texts again and again
_RULE_CACHE: dict[Any, tuple[Any, Any, dict[str, Val], tuple[Val, ...]]] = {}
_RULE_CACHE_SIZE = 8192


def _val_key(val: Val) -> Any:
    items = None if val.items is None else tuple(_val_key(v) for v in val.items)
    return (val.text, frozen(val.value), val.names, val.exact, items)


def rule_values(
    node: Node, given: Mapping[str, Val], ins: Sequence[tuple[Val, ...]]
) -> tuple[dict[str, Val], tuple[Val, ...]]:
    """Vals of what the op's shape rule fills in (its `inferred` attributes the spec does
    not give) and of the output dims, in the terms `given` and `ins` are written in."""
    op = REGISTRY[node.kind]
    key = (
        node.kind,
        frozen(node.attrs),
        frozen(node.in_shapes),
        frozen(node.shape),
        tuple(sorted((f, _val_key(v)) for f, v in given.items())),
        tuple(tuple(_val_key(v) for v in dims) for dims in ins),
    )
    # the op and its rule as they are now: a plugin may have replaced the kind's op, or a
    # test the op's `infer`, since the result was kept
    rule = (vars(op).get("infer"), getattr(type(op), "infer", None))  # see ops.base._bounded
    hit = _RULE_CACHE.get(key)
    if hit is not None and hit[0] is op and hit[1] == rule:
        return dict(hit[2]), hit[3]
    derived, out = _rule_values(op, node, given, ins)
    if len(_RULE_CACHE) >= _RULE_CACHE_SIZE:
        _RULE_CACHE.clear()
    _RULE_CACHE[key] = (op, rule, dict(derived), out)
    return derived, out


def _rule_values(
    op: Any, node: Node, given: Mapping[str, Val], ins: Sequence[tuple[Val, ...]]
) -> tuple[dict[str, Val], tuple[Val, ...]]:
    derived = [f for f in node.attrs if f not in given and not f.startswith("_")]
    shape = node.shape or ()
    untraced = frozenset().union(*(_untraced(v) for v in given.values()))
    fields = op.spec.model_fields
    defaults = {}
    for f in derived:
        default = fields[f].default if f in fields else node.attrs[f]
        undefined = type(default).__name__ == "PydanticUndefinedType"
        defaults[f] = node.attrs[f] if undefined else default
    all_names = frozenset().union(*(v.names for v in given.values()))
    for dims in ins:
        all_names = all_names.union(*(v.names for v in dims))

    # what lowering told the rule beside the spec's fields (`_index`: which piece of a
    # chunk or split this node is, whose size differs from the last piece's)
    private = {f: v for f, v in node.attrs.items() if f.startswith("_") and f not in given}

    def attempt(flip: int | None) -> tuple[Any, _Log, dict[str, Any]]:
        log = _Log(flip)
        attrs = {f: _traced(v, log) for f, v in given.items()} | defaults | private
        shapes = []
        for i, dims in enumerate(ins):
            in_shape = node.in_shapes[i] if i < len(node.in_shapes) else ()
            row = []
            for d, dim in enumerate(in_shape):
                v = dims[d] if d < len(dims) else literal(dim)
                row.append(Dim.of(_traced(v, log)) if dim.is_const and v.names else dim)
            shapes.append(tuple(row))
        try:
            return op.infer(dict(attrs), shapes, ShapeContext()), log, attrs
        except Exception:  # a rule that will not take traced numbers, or a refused branch
            return None, log, attrs

    res, log, attrs = attempt(None)
    if (
        res is None
        or any(not same(_plain(res.attrs.get(f)), node.attrs[f]) for f in derived)
        or len(res.shape) != len(shape)
        or any(not same(_plain(a), b) for a, b in zip(res.shape, shape))
        or _chooses(attempt, log.count, _sig(res, derived))
    ):
        return {f: inexact(node.attrs[f], all_names) for f in derived}, tuple(
            inexact(d, all_names) if d.is_const else literal(d) for d in shape
        )
    # An escaped number may hide in any result (as a constant); a bool or text the rule
    # reads only in plain results (the traced ones are the arithmetic on traced numbers).
    unsure = frozenset(log.escaped | untraced)
    escaped = frozenset(log.escaped)

    def val_of(value: Any, actual: Any) -> Val:
        return _val(value, actual, unsure, escaped)

    out = tuple(val_of(d.value if d.is_const else d, actual) for d, actual in zip(res.shape, shape))
    # a field the rule left as it was given (a default it only reads) is that constant
    kept = {f for f in derived if res.attrs[f] is attrs[f] and not isinstance(attrs[f], Traced)}
    return {
        f: literal(node.attrs[f]) if f in kept else val_of(res.attrs[f], node.attrs[f])
        for f in derived
    }, out


def _val(
    value: Any, actual: Any, unsure: frozenset[str], escaped: frozenset[str] = frozenset()
) -> Val:
    """The Val of one result: its traced expression, a constant, or the inexact literal."""
    if isinstance(value, (list, tuple)) and isinstance(actual, (list, tuple)):
        items = tuple(_val(v, a, unsure, escaped) for v, a in zip(value, actual))
        names = frozenset().union(*(i.names for i in items))
        if not all(i.exact for i in items):
            return inexact(actual, names)
        if not names:
            return literal(actual)
        text = lit([Code(i.text) for i in items])
        return Val(text, actual, names, True, items)
    if isinstance(value, Traced):
        if not value.exact or value.tree is None or escaped:
            return inexact(actual, value.names | escaped)
        return Val(value.text(), plain_value(actual), value.names)
    if isinstance(value, Dim) and not value.is_const:
        return literal(value)
    # a plain result: a constant, unless the rule read a traced number as a plain one
    return inexact(actual, unsure) if unsure else literal(actual)


#: The most comparisons of traced numbers a rule may make before its results are not
#: written (each is checked by running the rule once more with its answer turned round).
MAX_CHOICES = 32


def _chooses(attempt: Any, count: int, base: Any) -> bool:
    """True when an ordering comparison of traced numbers chooses a result (`max(c, 8)`):
    with that answer turned round, the rule gives other results. A comparison that only
    refuses inputs (`kernel_size > INT32_MAX`: the rule raises) chooses nothing."""
    if count > MAX_CHOICES:
        return True
    for i in range(count):
        res, _, _ = attempt(i)
        if res is not None and _sig(res, list(base[0])) != base:
            return True
    return False


def _sig(res: Any, derived: list[str]) -> Any:
    """A rule's results as comparable data: values and the texts that compute them."""

    def one(v: Any) -> Any:
        if isinstance(v, Dim):
            return one(v.value) if v.is_const else ("d", str(v))
        if isinstance(v, (list, tuple)):
            return tuple(one(x) for x in v)
        if isinstance(v, Traced):
            return ("t", _v(v), v.text() if v.exact and v.tree is not None else None)
        return ("p", repr(v))

    attrs = tuple(sorted((f, one(res.attrs.get(f))) for f in derived))
    return (tuple(derived), attrs, tuple(one(d) for d in res.shape))


def _plain(value: Any) -> Any:
    """A result as plain values, to compare with the instance's."""
    if isinstance(value, Traced):
        return int.__int__(value)
    if isinstance(value, Dim) and value.is_const:
        return Dim.of(int.__int__(value.value))
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    return value
