"""The evaluator's closures for the common forms (exprrun.py): an arithmetic operator with
a number written on its right (`c * 4`, `k // 2`) and one comparison with a written value
(`act == 'relu'`) are evaluated by closures of their own, which give what the general
ones give: the same values and the same errors."""

from __future__ import annotations

import ast
from typing import Any

import pytest

from archspec.expr import ExprError, parse_expr
from archspec.exprrun import closure


def _general(text: str) -> Any:
    """The closure of `text` with its constants hidden behind a name (`_k0`, ...), so
    that the general binop and compare closures evaluate it."""
    tree = parse_expr(text).tree
    consts: dict[str, Any] = {}

    class Hide(ast.NodeTransformer):
        def visit_Constant(self, node: ast.Constant) -> ast.AST:
            name = f"_k{len(consts)}"
            consts[name] = node.value
            return ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)

    body = Hide().visit(tree).body
    run = closure(body)
    return lambda env: run({**env, **consts})


def _outcome(run: Any, env: dict[str, Any]) -> Any:
    try:
        value = run(env)
    except ExprError as exc:
        return ("error", exc.code, exc.message)
    return ("value", type(value), value)


TEXTS = [
    "c * 4",
    "c // 2",
    "c % 3",
    "c / 4",
    "c - 1.5",
    "c ** 2",
    "c ** 60",
    "c + True",
    "(c - 1) // 2 * 2",
    "c == 0",
    "c != 'relu'",
    "c < 3",
    "c >= 2.5",
    "c < 'a'",
    "c == [1, 2]",
]
VALUES = [0, 3, -7, 2.5, True, "relu", [1, 2], 10**15]


@pytest.mark.parametrize("text", TEXTS)
def test_a_common_form_evaluates_as_the_general_closures_do(text: str) -> None:
    run = parse_expr(text).evaluate
    general = _general(text)
    for c in VALUES:
        assert _outcome(run, {"c": c}) == _outcome(general, {"c": c}), (text, c)
    assert _outcome(run, {}) == _outcome(general, {})  # an unknown name


def test_the_common_forms_have_closures_of_their_own() -> None:
    for text in ("c * 4", "k // 2", "act == 'relu'"):
        made = closure(parse_expr(text).tree.body)
        assert made.__name__ in ("binop_by_number", "compare_to_value"), text
    for text in ("a * b", "0 < c < 4", "2 ** c"):
        made = closure(parse_expr(text).tree.body)
        assert made.__name__ in ("binop", "compare"), text
