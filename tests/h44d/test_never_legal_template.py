"""A copies' name template whose written text makes every name it gives illegal is E204 at
the template, found without a copy: a repeat or for_each of count 0 no longer hides it."""

from __future__ import annotations

import pytest

import archspec

REPEAT = """archspec: 1
name: net
input: [N, 4, H, W]
params: {{n: {n}}}
layers:
  - {{type: conv2d, out_channels: 4, kernel_size: 1}}
  - type: repeat
    count: n
    names: "{template}"
    layer: {{type: conv2d, out_channels: 4, kernel_size: 1}}
"""

FOR_EACH = """archspec: 1
name: net
input: [N, 4, H, W]
layers:
  - {{type: conv2d, out_channels: 4, kernel_size: 1}}
  - type: for_each
    rows: []
    fields: [c]
    row_index: r
    group_rows: true
    group_names: "{template}"
    layer: {{type: conv2d, out_channels: 4, kernel_size: 1}}
"""


@pytest.mark.parametrize(
    ("template", "why"),
    [
        ("a-{i}", "`-`"),
        ("block.{i}", "`.`"),
        ("0x{i}", "digit"),
        ("_{i}", "`_`"),
        ("x{i}" + "y" * 70, "64"),
    ],
)
@pytest.mark.parametrize("n", [0, 2])
def test_a_template_that_gives_no_legal_name_is_refused_at_any_count(
    template: str, why: str, n: int
) -> None:
    (err,) = archspec.check(REPEAT.format(n=n, template=template)).errors
    assert err.code == "E204" and err.span is not None and (err.span.line, err.span.col) == (9, 12)
    assert template[:12] in err.message and why in err.message
    assert err.hint and "block{i}" in err.hint


def test_for_each_group_names_of_no_row_are_checked_too() -> None:
    (err,) = archspec.check(FOR_EACH.format(template="stage-{r}")).errors
    assert err.code == "E204" and err.span is not None and err.span.line == 11
    assert archspec.check(FOR_EACH.format(template="stage{r}")).ok


@pytest.mark.parametrize("template", ["{i}block", "block{i}", "{'a' if i else 'b'}{i}", "b{i}_x"])
def test_templates_a_part_may_make_legal_are_left_to_each_copy(template: str) -> None:
    assert archspec.check(REPEAT.format(n=0, template=template)).ok
