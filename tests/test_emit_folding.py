"""The emitter's expression helpers (backends/pycode.py): `fold` replaces every name-free
subexpression by its value and leaves the rest, in one pass over the tree (it asked
`has_names` of every node, walking each subtree again: a hostile spec's thousands of long
`when:`s took over a minute of emit); `copy_tree` copies a tree as copy.deepcopy did, without
its cost, so substituting into the copy leaves the kept tree alone."""

from __future__ import annotations

import ast

import pytest

from archspec.backends.pycode import copy_tree, fold, has_names, substitute, unparse


def _folded(text: str) -> str:
    return unparse(fold(ast.parse(text, mode="eval").body))


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("2 if 0 == 0 else 1", "2"),
        ("n * (2 + 3) // (10 - 8)", "n * 5 // 2"),
        ("max(4, 8) + n", "8 + n"),  # a callee's name is no variable
        ("max(n, 2 * 3)", "max(n, 6)"),
        ("(1 + 2) * n + 4 // 0", "3 * n + 4 // 0"),  # what fails to evaluate stays
        ("n > 0 or 1 + 1 == 2", "n > 0 or True"),
        # a conditional's test is read for its truth: `flag or False` is `flag`
        ("128 if g or 1 == 2 else 64", "128 if g else 64"),
        ("128 if g or 1 == 1 else 64", "128"),
        ("a if g and 2 > 1 else b", "a if g else b"),
        ("728 if g else 700 + 28", "728"),
    ],
)
def test_fold_replaces_each_name_free_subexpression(text: str, want: str) -> None:
    assert _folded(text) == want


def test_fold_agrees_with_has_names_on_every_subtree() -> None:
    text = " + ".join(f"(n * {k} // {k + 1} + {k} * {k})" for k in range(40))
    tree = ast.parse(f"({text}) % 7 != 0 or max(3, 4) > n", mode="eval").body
    folded = fold(copy_tree(tree))
    for node in ast.walk(folded):  # nothing name-free is left but constants (and callees)
        if isinstance(node, ast.expr) and not isinstance(node, ast.Constant | ast.Name):
            assert has_names(node), ast.dump(node)


def test_copy_tree_is_deep_and_substitution_leaves_the_original() -> None:
    tree = ast.parse("a * (b + 1)", mode="eval").body
    before = ast.dump(tree)
    copied = copy_tree(tree)
    assert ast.dump(copied) == before and copied is not tree and copied.right is not tree.right
    out = substitute(tree, {"b": ast.parse("c - 2", mode="eval").body})
    assert unparse(out) == "a * (c - 2 + 1)" and ast.dump(tree) == before
