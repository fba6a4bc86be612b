"""One parse per expression text: the schema's check of a field, lowering and the canonical
text take the same kept Expr (expr.parse_kept), where each parsed the text anew; an error is
raised again each time, never kept as a result."""

from __future__ import annotations

import pytest

from archspec.expr import ExprError, parse_kept
from archspec.lowering.values import canonical, parsed
from archspec.ops.base import _expr_problem


def test_the_schema_lowering_and_canonical_text_share_one_parse() -> None:
    text = "c*4 + 1 if (stride == 1) else c // 2"
    parse_kept.cache_clear()
    assert _expr_problem(text) is None
    assert parsed(text) is parse_kept(text)
    assert canonical(text) == "c * 4 + 1 if stride == 1 else c // 2"
    info = parse_kept.cache_info()
    assert info.misses == 1 and info.hits >= 2, info


def test_an_error_is_raised_each_time_not_kept() -> None:
    for _ in range(2):
        with pytest.raises(ExprError):
            parse_kept("__import__('os')")
    assert _expr_problem("1 +") is not None
