"""Hints for a value written in the wrong shape, as a new user writes them from the docs: an
expression with brackets inside a `{...}` item (YAML reads a list there), a flat list where
a `for_each` wants rows, a list of layers where a residual's `shortcut` wants a mapping."""

from __future__ import annotations

import textwrap

import pytest

import archspec
from archspec.errors import ArchSpecError


def spec(body: str) -> str:
    return "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\n" + textwrap.dedent(body).lstrip("\n")


def only_error(text: str) -> archspec.Diagnostic:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    (d,) = info.value.diagnostics
    return d


def test_an_indexing_expression_inside_braces_is_told_to_be_quoted() -> None:
    d = only_error(
        spec(
            """
            params:
              widths: [[16], [32]]
            layers:
              - {name: stem, type: conv2d, out_channels: widths[0][0], kernel_size: 1}
            """
        )
    )
    assert d.code == "E101" and d.span is not None and (d.span.line, d.span.col) == (7, 52)
    assert d.hint is not None and '`out_channels: "widths[0][0]"`' in d.hint


def test_a_yaml_error_elsewhere_keeps_the_general_hint() -> None:
    d = only_error(spec("layers:\n  - {type: relu\n"))
    assert d.code == "E101" and d.hint == "check indentation, colons and brackets near this point"


def test_a_flat_list_as_for_each_rows_says_each_row_is_a_list() -> None:
    d = only_error(
        spec(
            """
            params:
              widths: [16, 32]
            layers:
              - type: for_each
                rows: widths
                fields: [w]
                layer: {type: conv2d, out_channels: w, kernel_size: 1}
            """
        )
    )
    assert d.code == "E309"
    assert d.message == "row 0 of the table is 16, not a list; `fields` names 1 (w)"
    assert d.hint is not None and "[[16], [32]], not [16, 32]" in d.hint


def test_a_row_of_the_wrong_width_still_counts_its_values() -> None:
    d = only_error(
        spec(
            """
            layers:
              - type: for_each
                rows: [[16, 1], [32]]
                fields: [w, s]
                layer: {type: conv2d, out_channels: w, kernel_size: 1, stride: s}
            """
        )
    )
    assert d.code == "E309" and d.message.startswith("row 1 of the table has 1 values;")


@pytest.mark.parametrize("where", ["layers", "blocks"])
def test_a_list_of_layers_as_a_shortcut_says_it_goes_under_layers(where: str) -> None:
    residual = """
        - type: residual
          body:
            - {type: conv2d, out_channels: 4, kernel_size: 1}
          shortcut:
            - {type: conv2d, out_channels: 4, kernel_size: 1}
    """
    if where == "layers":
        text = spec("layers:\n" + textwrap.indent(textwrap.dedent(residual), "  "))
    else:
        body = textwrap.indent(textwrap.dedent(residual), "      ")
        text = spec("blocks:\n  B:\n    layers:\n" + body + "layers:\n  - {type: B}\n")
    d = only_error(text)
    assert d.code == "E202" and "shortcut: expected a mapping, got list" in d.message
    assert d.hint == (
        "`shortcut` is a mapping: its list of layers goes under `layers:` "
        "(`shortcut: {layers: [...]}`)"
    )


def test_a_list_where_another_mapping_is_wanted_keeps_the_general_hint() -> None:
    d = only_error(
        spec("layers:\n  - {type: conv2d, out_channels: 4, kernel_size: 1, init: [1]}\n")
    )
    assert d.code in ("E201", "E202") and "goes under `layers:`" not in (d.hint or "")
