"""A block call is charged for the expression text it evaluates (block_call.EXPR_CHARS_PER_ITEM):
calling a block of long lets or arguments thousands of times is refused early (E310), not
minutes of evaluation under the layer limit."""

from __future__ import annotations

import pytest

import archspec
from archspec.constructs.block_call import EXPR_CHARS_PER_ITEM
from archspec.errors import SpecError

HEAD = "archspec: 1\nname: x\ninput: [N, 3, 8, 8]\n"
#: one expression of ~450 characters
LONG = " + ".join(["j * 3 // 2"] * 35)


def _lets_spec(n_lets: int, count: int) -> str:
    lets = "".join(
        f"      l{k}: '{LONG}" + (f" + l{k - 1}'\n" if k else "'\n") for k in range(n_lets)
    )
    return (
        HEAD
        + "blocks:\n  B:\n    params: {j: int}\n    let:\n"
        + lets
        + f"    layers:\n      - {{type: dropout, p: '0.0 if l{n_lets - 1} > 0 else 0.1'}}\n"
        f"layers:\n  - {{type: repeat, count: {count}, layer: {{type: B, j: i}}}}\n"
    )


def _args_spec(n_args: int, count: int) -> str:
    params = ", ".join(f"a{k}: int" for k in range(n_args))
    args = ", ".join(f"a{k}: '{LONG}'" for k in range(n_args))
    return (
        HEAD + f"blocks:\n  B:\n    params: {{j: int, {params}}}\n    layers:\n"
        f"      - {{type: dropout, p: '0.0 if a{n_args - 1} > 0 else 0.1'}}\n"
        f"layers:\n  - {{type: repeat, count: {count}, index: j, "
        f"layer: {{type: B, j: j, {args}}}}}\n"
    )


@pytest.mark.parametrize("make", [_lets_spec, _args_spec], ids=["lets", "arguments"])
def test_thousands_of_calls_of_a_block_of_long_expressions_are_e310(make) -> None:
    # 200 expressions of ~450 characters, 4,999 calls: ~26 s of evaluation before
    report = archspec.check(make(200, 4999))
    (diag,) = report.diagnostics
    assert diag.code == "E310"
    assert "characters" in diag.message
    assert diag.span is not None and diag.span.line == make(200, 4999).count("\n")


def test_a_call_counts_one_item_more_per_thousand_characters_it_evaluates() -> None:
    plain = _lets_spec(1, 3)  # ~450 characters of lets: no more than the items
    heavy = _lets_spec(5, 3)  # ~2,300 characters: 2 more per call
    text = sum(len(line) for line in heavy.splitlines() if line.startswith("      l"))
    per_call = (text - 5 * len("      l0: ''")) // EXPR_CHARS_PER_ITEM
    assert per_call == 2
    # the plain spec's exact size: repeat + 3 x (call + dropout)
    archspec.build_graph(plain, max_layers=7)
    with pytest.raises(SpecError):
        archspec.build_graph(plain, max_layers=6)
    archspec.build_graph(heavy, max_layers=7 + 3 * per_call)
    with pytest.raises(SpecError) as refused:
        archspec.build_graph(heavy, max_layers=7 + 3 * per_call - 1)
    assert [d.code for d in refused.value.diagnostics] == ["E310"]
