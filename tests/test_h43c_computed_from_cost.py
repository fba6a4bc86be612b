"""A computed `from` entry evaluates its `when` and `each` once per value of its `in`, in
every reader, and was charged one layer item per 100 values whatever those expressions
were: 100 flat copies of a relu reading `{each: x, for: j, in: 9000, when: ...}` under a
490-character `when` (a 1.5 KB file) took 52 s of CPU to check, and a short `when` 2.3 s.
Each value now weighs the text it evaluates, as a block call's arguments do (one item per
1,000 characters), so the worst such spec within the limit checks in about a second.
"""

from __future__ import annotations

import archspec
from tests.cpu import GUARD, cpu_seconds


def _spec(copies: int, values: int, when: str) -> str:
    return (
        "archspec: 1\nname: t\ninput: [N, 4, 8, 8]\nlayers:\n  - {name: x, type: relu}\n"
        f"  - type: repeat\n    count: {copies}\n    flat: true\n"
        f'    layer: {{type: relu, from: [{{each: x, for: j, in: {values}, when: "{when}"}}]}}\n'
    )


LONG_WHEN = "max(" + ",".join(["j"] * 240) + ") < 1"


def test_a_long_when_over_many_values_is_charged_for_what_it_evaluates() -> None:
    # a tenth of the default limit and of the values: the same ratio, a tenth of the time
    spec = _spec(10, 900, LONG_WHEN)
    report, seconds = cpu_seconds(lambda: archspec.check(spec, max_layers=1000))
    codes = [d.code for d in report.diagnostics]
    assert codes == ["E310"], codes
    assert "characters" in report.diagnostics[0].message
    assert seconds < GUARD


def test_short_entries_over_a_few_thousand_values_still_check() -> None:
    assert archspec.check(_spec(3, 3000, "j == 0")).ok
    assert archspec.check(_spec(1, 3, LONG_WHEN)).ok
    # the same work under a raised limit is still done, and right
    assert archspec.check(_spec(2, 500, LONG_WHEN), max_layers=100_000).ok
