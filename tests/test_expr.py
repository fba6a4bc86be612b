"""Property tests for the safe expression language and the position-keeping YAML loader."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from archspec.expr import ExprError, parse_expr
from archspec.loader import load_yaml

NAMES = {"a": 3, "b": -7, "planes": 64, "stride": 2}


@st.composite
def int_expr(draw: st.DrawFn, depth: int = 0) -> tuple[str, int]:
    """A random integer expression as (text, value computed independently of the evaluator)."""
    if depth > 3 or draw(st.booleans()):
        if draw(st.booleans()):
            name = draw(st.sampled_from(sorted(NAMES)))
            return name, NAMES[name]
        v = draw(st.integers(0, 50))
        return str(v), v
    op = draw(st.sampled_from(["+", "-", "*", "//", "%", "max", "min", "if", "neg"]))
    lt, lv = draw(int_expr(depth + 1))
    rt, rv = draw(int_expr(depth + 1))
    if op in ("//", "%") and rv == 0:
        return f"({lt} + {rt})", lv + rv
    if op == "max":
        return f"max({lt}, {rt})", max(lv, rv)
    if op == "min":
        return f"min({lt}, {rt})", min(lv, rv)
    if op == "neg":
        return f"-({lt})", -lv
    if op == "if":
        return f"({lt} if {lt} > {rt} else {rt})", lv if lv > rv else rv
    value = {
        "+": lv + rv,
        "-": lv - rv,
        "*": lv * rv,
        "//": lv // rv if rv else 0,
        "%": lv % rv if rv else 0,
    }[op]
    return f"({lt} {op} {rt})", value


@given(int_expr())
def test_evaluator_matches_integer_semantics(case: tuple[str, int]) -> None:
    text, value = case
    expr = parse_expr(text)
    assert expr.evaluate(NAMES) == value
    # the canonical rendering (used in emitted code) means the same thing
    assert parse_expr(expr.to_python()).evaluate(NAMES) == value
    assert expr.names <= set(NAMES)


@given(st.integers(-5, 5), st.integers(-5, 5), st.booleans())
def test_boolean_logic(x: int, y: int, flag: bool) -> None:
    env = {"x": x, "y": y, "flag": flag}
    assert parse_expr("x != 1 or y == x * 2").evaluate(env) == (x != 1 or y == x * 2)
    assert parse_expr("not flag and x < y <= 3").evaluate(env) == ((not flag) and x < y <= 3)


@pytest.mark.parametrize(
    "text",
    [
        "__import__('os').system('true')",
        "a.__class__",
        "x[0:1]",
        "x[0, 1]",
        "lambda: 1",
        "[x for x in y]",
        "{'a': 1}",
        "open('f')",
        "(yield)",
        "a := 1",
        "f'{a}'",
        "x" * 600,
    ],
)
def test_unsafe_or_unsupported_expressions_are_rejected(text: str) -> None:
    with pytest.raises(ExprError):
        parse_expr(text)


def test_lists_evaluate_item_by_item() -> None:
    """`[a, b]` is a list of values (Swin's shift sizes); its items are expressions."""
    shift = parse_expr("[0 if j % 2 == 0 else w[0] // 2, 0 if j % 2 == 0 else w[1] // 2]")
    assert shift.evaluate({"j": 1, "w": [7, 8]}) == [3, 4]
    assert shift.evaluate({"j": 0, "w": [7, 8]}) == [0, 0]
    assert shift.to_python() == "[0 if j % 2 == 0 else w[0] // 2, 0 if j % 2 == 0 else w[1] // 2]"
    assert parse_expr("[]").evaluate({}) == []
    with pytest.raises(ExprError):  # arithmetic on a list fails whatever the names are
        parse_expr("[1, 2] * k")


def test_runaway_arithmetic_is_bounded() -> None:
    with pytest.raises(ExprError):
        parse_expr("10 ** 10 ** 10").evaluate({})
    with pytest.raises(ExprError):
        parse_expr("a // 0").evaluate({"a": 1})


scalars = st.one_of(
    st.integers(-(10**9), 10**9),
    st.booleans(),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_ ", min_size=1, max_size=8)
    .map(str.strip)
    .filter(bool),
)
keys = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, min_size=1, max_size=4),
        st.dictionaries(keys, inner, min_size=1, max_size=4),
    ),
    max_leaves=20,
).filter(lambda d: isinstance(d, dict))


@given(documents, st.booleans())
def test_loader_round_trips_and_spans_point_at_keys(data: dict, flow: bool) -> None:
    text = yaml.safe_dump(data, default_flow_style=flow, sort_keys=False, width=10_000)
    doc = load_yaml(text, "t.yaml")
    assert doc.data == data
    lines = text.splitlines()

    def walk(node: object, path: tuple) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                span = doc.key_spans[path + (k,)]
                src = lines[span.line - 1][span.col - 1 :]
                assert src.lstrip("'\"").startswith(k)
                walk(v, path + (k,))
        elif isinstance(node, list):
            for i, v in enumerate(node):
                assert (path + (i,)) in doc.spans
                walk(v, path + (i,))

    walk(data, ())


def test_pythons_int_is_refused_with_what_to_write() -> None:
    """A new user porting timm's `int(dim * mlp_ratio)` (FasterNet, InceptionNeXt) got only the
    list of functions; the hint says which one computes it."""
    with pytest.raises(ExprError) as info:
        parse_expr("int(dim * mlp_ratio)")
    assert info.value.code == "E206"
    assert "`floor(dim * mlp_ratio)` for `int(dim * mlp_ratio)`" in (info.value.hint or "")
    for value in (0.0, 2.5, 99.99):
        assert parse_expr("floor(v)").evaluate({"v": value}) == int(value)


def test_operators_nested_past_the_bound_are_refused_before_other_mistakes() -> None:
    from archspec.expr import MAX_EXPR_DEPTH

    # within the bound (a chain of unary minus: one level each, under Expression and UnaryOp)
    ok = "-" * (MAX_EXPR_DEPTH - 2) + "x"
    assert parse_expr(ok).evaluate({"x": 1}) in (1, -1)
    deep = "-" * MAX_EXPR_DEPTH + "x"
    with pytest.raises(ExprError, match=f"nests operators deeper than {MAX_EXPR_DEPTH} levels"):
        parse_expr(deep)
    # a disallowed part and too deep: the depth is said (as it was checked first)
    with pytest.raises(ExprError, match="nests operators deeper"):
        parse_expr("a.b + " + "-" * MAX_EXPR_DEPTH + "x")
    with pytest.raises(ExprError, match="Attribute is not allowed"):
        parse_expr("a.b + " + "-" * (MAX_EXPR_DEPTH - 4) + "x")


def test_the_checks_see_every_node_in_ast_walk_order() -> None:
    import ast

    from archspec.expr import _nodes_within_depth

    for text in ("max(a, b[1]) // 8 if c and not d else [e, -f, g < h <= 3]", "'t' + u"):
        tree = ast.parse(text, mode="eval")
        assert [id(n) for n in _nodes_within_depth(tree, text)] == [id(n) for n in ast.walk(tree)]
