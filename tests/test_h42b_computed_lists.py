"""h42b: a computed name list (`from`, `outputs`, a chunk's `names`) is bounded as a whole.

Each `{each: ..., for: j, in: n}` entry was held to the layer limit on its own, so a list of
many entries was not: `from: [{each: a, for: j0, in: 9999}, ... 100 entries]`, a 3.4 KB
file, made an `add` of 999,900 inputs, which `check` passed and `archspec compile` was
still writing after five minutes; 30 such entries in `outputs:` made a network of 300,000
outputs (12 s to emit). The values of every entry of one list now count together against
the limit, and against the expansion budget, as one entry's always did.
"""

from __future__ import annotations

import pytest

import archspec
from archspec.errors import ArchSpecError


def entries(count: int, size: int, each: str = "a") -> str:
    """`count` computed entries of `size` values each; `each` may read `{j}` and `{k}`."""
    return ", ".join(
        f'{{each: "{each.format(j=f"{{j{k}}}", k=k)}", for: j{k}, in: {size}}}'
        for k in range(count)
    )


def refused(text: str, max_layers: int) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text, max_layers=max_layers)
    return info.value


HEAD = "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\nlayers:\n  - {name: a, type: relu}\n"


@pytest.mark.parametrize(
    ("tail", "each"),
    [
        ("  - {{name: c, type: add, from: [{}]}}\n", "a"),
        ("outputs: [{}]\n", "a"),
        ("  - {{type: chunk, chunks: 2, dim: 1, names: [{}]}}\n", "p{k}_{j}"),
    ],
    ids=["from", "outputs", "names"],
)
def test_the_entries_of_one_list_count_together(tail: str, each: str) -> None:
    """Three entries of 40 values each, under a limit of 100: each fits, the three do not.
    The error is at the entry that passes the limit, in the list's line, and gives the
    list's count so far."""
    text = HEAD + tail.format(entries(3, 40, each))
    e = refused(text, max_layers=100)
    assert [d.code for d in e.diagnostics] == ["E310"], e.render()
    d = e.diagnostics[0]
    assert d.span is not None and d.span.line == text.count("\n")
    assert "120 values" in d.message and "limit of 100" in d.message, d.message
    last = text.splitlines()[-1]
    assert d.span.col == last.index("in: 40", last.index("j2")) + 5  # the third entry's `in`


@pytest.mark.parametrize("tail", ["  - {{name: c, type: add, from: [{}, a]}}\n", "outputs: [{}]\n"])
def test_entries_within_the_limit_together_are_read_as_before(tail: str) -> None:
    graph = archspec.build_graph(HEAD + tail.format(entries(2, 40)), max_layers=100)
    assert graph is not None


def test_entries_left_out_by_their_when_count_too() -> None:
    """Every value of `in` is evaluated, kept or not: 3 x 40 values, none kept but the
    node `a` written after them, still pass a limit of 100."""
    many = ", ".join(f'{{each: "a", for: j{k}, in: 40, when: "j{k} < 0"}}' for k in range(3))
    text = HEAD + f"  - {{name: c, type: add, from: [{many}, a, a]}}\n"
    assert [d.code for d in refused(text, max_layers=100).diagnostics] == ["E310"]
