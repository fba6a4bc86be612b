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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from ..dims import Dim
from ..errors import EmitError
from ..expr import Expr, ExprError, parse_expr
from ..exprfuncs import plain_python
from ..ir import Node
from ..ops import REGISTRY, ShapeContext
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
        return {self.pynames[n]: self.values[n] for n in self.symbolic if n in self.values}


@lru_cache(maxsize=4096)
def parse(text: str) -> Expr:
    return parse_expr(text)


def names_of(text: str) -> set[str]:
    """Names a `when` reads; `in_channels` there is the incoming channel count."""
    try:
        names = set(parse(text).names)
    except ExprError:
        return set()
    if "in_channels" in names:
        names.add(IN)
    return names


def render_src(
    raw: Any, bound: Any, env: Env, in_ch: Val | None, in_last: Val | None = None
) -> Val:
    """The Val of a value the spec wrote (`raw`: literal or expression; `bound`: value);
    `in_ch` and `in_last` are the input's channel count and last dim (`in_features`)."""
    if isinstance(raw, list) and isinstance(bound, list) and len(raw) == len(bound):
        items = tuple(render_src(r, b, env, in_ch, in_last) for r, b in zip(raw, bound))
        text = lit([Code(i.text) for i in items])
        names = frozenset().union(*(i.names for i in items))
        return Val(text, bound, names, all(i.exact for i in items), items)
    if not isinstance(raw, str) or raw == bound:
        return literal(bound)
    expr = parse(raw)
    subst: dict[str, ast.expr] = {}
    deps: set[str] = set()
    ok = True
    for name in sorted(expr.names):
        if name == "in_channels" and in_ch is not None:
            v = in_ch
        elif name == "in_features" and in_last is not None:
            v = in_last
        elif name in env.symbolic:
            v = Val(env.pynames[name], env.values.get(name), frozenset({name}))
        elif name in env.values:
            v = literal(env.values[name])
        else:
            ok = False
            deps.add(name)
            continue
        deps |= v.names
        ok = ok and v.exact
        subst[name] = expr_tree(v.text)
    if not ok or type(bound) in (list, tuple) or not plain_python(expr.tree):
        return inexact(bound, deps) if deps else literal(bound)
    try:
        text = unparse(fold(substitute(expr.tree.body, subst)))
    except EmitError:  # e.g. a fixed list param inside a comparison: keep the value
        return inexact(bound, deps) if deps else literal(bound)
    val = Val(text, bound, frozenset(deps))
    check_val(val, env)
    return val


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


class Tracer:
    """Finds what the values a shape rule fills in are, in terms of what the spec wrote."""

    def __init__(self) -> None:
        self._cache: dict[Any, tuple[dict[str, Val], tuple[Val, ...]]] = {}

    def track(
        self, node: Node, given: Mapping[str, Val], ins: Sequence[tuple[Val, ...]]
    ) -> tuple[dict[str, Val], tuple[Val, ...]]:
        """Vals of what the op's shape rule fills in: attributes not written, output dims.

        Each is found by probing the rule: perturb one named source (a written attribute or
        an input dim) at a time and see which results follow. A result equal to a source
        that follows it is that source (`in_channels` = the input's channels); a concat's
        channels are the sum of its inputs', a flatten's features a product; a result no
        named source moves is a constant; anything else is the instance's literal, inexact
        in the names of the sources that move it.
        """
        op = REGISTRY[node.kind]
        derived = [f for f in node.attrs if f not in given and not f.startswith("_")]
        sources: list[tuple[tuple[Any, ...], Val]] = [
            (("a", f), v) for f, v in given.items() if v.names
        ]
        for i, dims in enumerate(ins):
            # A symbolic extent (the batch N) cannot decide a constant attribute: skip it.
            shape_i = node.in_shapes[i] if i < len(node.in_shapes) else ()
            sources += [
                (("d", i, d), v)
                for d, v in enumerate(dims)
                if v.names and d < len(shape_i) and shape_i[d].is_const
            ]
        shape = node.shape or ()
        if not sources:
            return {f: literal(node.attrs[f]) for f in derived}, tuple(literal(d) for d in shape)
        key = (
            node.kind,
            frozen(node.attrs),
            tuple(tuple(s) for s in node.in_shapes),
            tuple((k, v.text, v.names, v.exact) for k, v in sources),
            tuple(given),
        )
        hit = self._cache.get(key)
        if hit is not None:  # same op, attributes, shapes and source texts: same Vals
            return hit
        result = self._probe(op, node, given, derived, sources, ins)
        self._cache[key] = result
        return result

    def _probe(
        self,
        op: Any,
        node: Node,
        given: Mapping[str, Val],
        derived: list[str],
        sources: list[tuple[tuple[Any, ...], Val]],
        ins: Sequence[tuple[Val, ...]],
    ) -> tuple[dict[str, Val], tuple[Val, ...]]:
        shape = node.shape or ()
        base_attrs = {f: node.attrs[f] for f in given}
        fields = op.spec.model_fields
        for f in derived:
            default = fields[f].default if f in fields else node.attrs[f]
            base_attrs[f] = node.attrs[f] if _is_undefined(default) else default
        in_shapes = [tuple(s) for s in node.in_shapes]

        def run(attrs: dict[str, Any], shapes: list[tuple[Dim, ...]]) -> Any:
            try:
                return op.infer(dict(attrs), [tuple(s) for s in shapes], ShapeContext())
            except Exception:  # a perturbation the rule refuses: treat as "moves everything"
                return None

        outputs: list[tuple[Any, ...]] = [("a", f) for f in derived]
        outputs += [("o", j) for j in range(len(shape))]

        def get(res: Any, o: tuple[Any, ...]) -> Any:
            if res is None:
                return None
            if o[0] == "a":
                return res.attrs.get(o[1])
            return res.shape[o[1]] if o[1] < len(res.shape) else None

        def actual(o: tuple[Any, ...]) -> Any:
            return node.attrs[o[1]] if o[0] == "a" else shape[o[1]]

        all_names = frozenset().union(*(v.names for _, v in sources))
        base = run(base_attrs, in_shapes)
        if base is None or any(not same(get(base, o), actual(o)) for o in outputs):
            vals = {o: inexact(actual(o), all_names) for o in outputs}
            return _split(vals, derived, len(shape))

        def source_value(key: tuple[Any, ...]) -> Any:
            return node.attrs[key[1]] if key[0] == "a" else in_shapes[key[1]][key[2]]

        # Each source is moved a few ways; only moves the rule accepts tell anything (a
        # rejected one is an input the network cannot take). No accepted move: assume the
        # source moves every result.
        runs: dict[tuple[Any, ...], list[tuple[Any, Any, int]]] = {}
        for key, _ in sources:
            runs[key] = _trials(run, key, source_value(key), base_attrs, in_shapes)
        by_key = dict(sources)
        if op.arity != 1 and len(in_shapes) > 1:
            _move_inputs_together(run, base_attrs, in_shapes, ins, runs, by_key)
        vals: dict[tuple[Any, ...], Val] = {}
        for o in outputs:
            b = actual(o)
            moving = [
                key
                for key, trials in runs.items()
                if any(res is None or not same(get(res, o), b) for res, _, _ in trials)
            ]
            if not moving:
                vals[o] = literal(b)
                continue
            vals[o] = self._formula(o, b, moving, runs, by_key, ins, in_shapes, get) or (
                inexact(b, frozenset().union(*(by_key[k].names for k in moving)))
            )
        return _split(vals, derived, len(shape))

    def _formula(
        self,
        o: tuple[Any, ...],
        b: Any,
        moving: list[tuple[Any, ...]],
        runs: Mapping[tuple[Any, ...], list[tuple[Any, Any, int]]],
        by_key: Mapping[tuple[Any, ...], Val],
        ins: Sequence[tuple[Val, ...]],
        in_shapes: Sequence[tuple[Dim, ...]],
        get: Any,
    ) -> Val | None:
        # A copy of one source.
        if len(moving) == 1:
            key = moving[0]
            src = by_key[key]
            value = {"a": src.value, "d": None, "j": None}[key[0]]
            if key[0] == "d":
                value = in_shapes[key[1]][key[2]]
            elif key[0] == "j":
                value = in_shapes[0][key[1]]
            if same(value, b) and all(
                res is not None and same(get(res, o), moved) for res, moved, _ in runs[key]
            ):
                return Val(src.text, plain_value(b), src.names, src.exact, src.items)
        if o[0] != "o":
            return None
        j = o[1]
        # A sum over the inputs (concat).
        if len(ins) > 1 and all(k[0] == "d" and k[2] == j for k in moving):
            dims = [s[j] for s in in_shapes if j < len(s)]
            if len(dims) == len(in_shapes) and same(_sum(dims), b):
                ok = all(
                    res is not None and same(get(res, o) - b, moved - in_shapes[key[1]][j])
                    for key in moving
                    for res, moved, _ in runs[key]
                )
                if ok:
                    return _combine_vals([ins[i][j] for i in range(len(ins))], ast.Add(), b)
        # A product of consecutive input dims (flatten).
        if len(ins) == 1 and all(k[0] == "d" for k in moving):
            x = in_shapes[0]
            for a in range(len(x)):
                for e in range(a + 1, len(x) + 1):
                    part = x[a:e]
                    if not {k[2] for k in moving} <= set(range(a, e)):
                        continue
                    if not same(_prod(part), b):
                        continue
                    if all(
                        res is not None and same(get(res, o), b * factor)
                        for key in moving
                        for res, _, factor in runs[key]
                    ):
                        return _combine_vals(list(ins[0][a:e]), ast.Mult(), b)
        return None


Trial = tuple[Any, Any, int]  # (the rule's result, the moved value, the factor or step)


def _trials(
    run: Any,
    key: tuple[Any, ...],
    value: Any,
    base_attrs: Mapping[str, Any],
    in_shapes: Sequence[tuple[Dim, ...]],
) -> list[Trial]:
    """The rule's results with one source moved a few ways (`Tracer._probe`)."""
    trials: list[Trial] = []
    for k in (1, 2, 3):
        if k == 3 and (trials or key[0] != "a"):
            break
        attrs, shapes = dict(base_attrs), list(in_shapes)
        if key[0] == "a":
            moved = bump(value, k)
            if moved is None:
                continue
            attrs[key[1]] = moved
        else:
            _, i, d = key
            moved = shapes[i][d] * (k + 1)
            shapes[i] = shapes[i][:d] + (moved,) + shapes[i][d + 1 :]
        res = run(attrs, shapes)
        if res is not None:
            trials.append((res, moved, k + 1))
    return trials or [(None, None, 0)]


def _move_inputs_together(
    run: Any,
    base_attrs: Mapping[str, Any],
    in_shapes: Sequence[tuple[Dim, ...]],
    ins: Sequence[tuple[Val, ...]],
    runs: dict[tuple[Any, ...], list[Trial]],
    by_key: dict[tuple[Any, ...], Val],
) -> None:
    """A merge op (add, concat) refuses most single-input moves; where every input's dim j
    was refused, move dim j of all inputs together: one source, read as the first input's
    (the op needs them equal anyway). Updates `runs` and `by_key`."""
    for j in range(min(len(sh) for sh in in_shapes)):
        keys = [k for k in runs if k[0] == "d" and k[2] == j]
        if not keys or any(runs[k][0][0] is not None for k in keys):
            continue
        trials: list[Trial] = []
        for factor in (2, 3):
            shapes = [sh[:j] + (sh[j] * factor,) + sh[j + 1 :] for sh in in_shapes]
            res = run(dict(base_attrs), shapes)
            if res is not None:
                trials.append((res, in_shapes[0][j] * factor, factor))
        for k in keys:
            del runs[k]
        first = ins[0][j]
        names = frozenset().union(*(dims[j].names for dims in ins if j < len(dims)))
        exact = first.exact and all(same(sh[j], in_shapes[0][j]) for sh in in_shapes)
        runs[("j", j)] = trials or [(None, None, 0)]
        by_key[("j", j)] = Val(first.text, first.value, first.names if exact else names, exact)


def frozen(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple((k, frozen(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(frozen(v) for v in value))
    return (type(value).__name__, value)


def _is_undefined(value: Any) -> bool:
    return type(value).__name__ == "PydanticUndefinedType"


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


def bump(value: Any, k: int) -> Any:
    """The k-th different value (k = 1, 2, 3) tried when probing a shape rule."""
    if isinstance(value, bool):
        return not value if k == 1 else None
    if isinstance(value, int):
        return value + {1: 1, 2: 5, 3: -1}[k]
    if isinstance(value, float):
        return value + {1: 0.5, 2: 0.25, 3: -0.125}[k]
    if isinstance(value, list):
        moved = [bump(v, k) for v in value]
        return None if any(m is None for m in moved) else moved
    return None


def _sum(dims: Sequence[Any]) -> Any:
    total = Dim.of(0)
    for d in dims:
        total = total + d
    return total


def _prod(dims: Sequence[Any]) -> Any:
    total = Dim.of(1)
    for d in dims:
        total = total * d
    return total


def _combine_vals(vals: list[Val], op: ast.operator, value: Any) -> Val:
    """`a + b + c` (or a product) of Vals, constants folded."""
    tree: ast.expr = expr_tree(vals[0].text)
    for v in vals[1:]:
        tree = ast.BinOp(left=tree, op=op, right=expr_tree(v.text))
    names = frozenset().union(*(v.names for v in vals))
    exact = all(v.exact for v in vals)
    if not exact:
        return inexact(plain_value(value), names)
    return Val(unparse(fold(tree)), plain_value(value), names)


def _split(
    vals: Mapping[tuple[Any, ...], Val], derived: list[str], rank: int
) -> tuple[dict[str, Val], tuple[Val, ...]]:
    return {f: vals[("a", f)] for f in derived}, tuple(vals[("o", j)] for j in range(rank))
