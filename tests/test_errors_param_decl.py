"""A param written as a mapping without `type` (`cfg: {default: [...]}`, met writing
MobileNetV1 from the docs) is E203 at the mapping. Its hint says what `type` takes (the
one its default has) and the shorter forms that declare the param, and each form it
suggests is one the language reads. A field missing elsewhere keeps the general hint."""

from __future__ import annotations

import textwrap

import archspec
from archspec.errors import Diagnostic


def spec(params: str, blocks: str = "") -> str:
    head = "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\n"
    layers = "layers:\n  - {type: conv2d, out_channels: 4, kernel_size: 1}\n"
    return head + textwrap.dedent(params).lstrip("\n") + textwrap.dedent(blocks) + layers


def errors(text: str, **params: object) -> list[Diagnostic]:
    return [d for d in archspec.check(text, **params).diagnostics if d.code.startswith("E")]


def only(text: str) -> Diagnostic:
    found = errors(text)
    assert [d.code for d in found] == ["E203"], [d.render() for d in found]
    return found[0]


def test_a_list_default_without_type_is_told_its_type_and_the_shorter_form() -> None:
    d = only(spec("params:\n  cfg: {default: [1, 2]}\n"))
    assert d.message == "missing required field `type` in params.cfg"
    assert (d.span.line, d.span.col) == (5, 8)  # the mapping, `{default: ...}`
    assert "`cfg: {type: list, default: [1, 2]}`" in (d.hint or "")
    assert "(`cfg: [1, 2]`)" in (d.hint or "")
    # both forms the hint names are read
    assert errors(spec("params:\n  cfg: {type: list, default: [1, 2]}\n")) == []
    assert errors(spec("params:\n  cfg: [1, 2]\n")) == []


def test_a_block_params_default_gives_the_type_it_names() -> None:
    blocks = """
    blocks:
      B:
        params: {k: {default: 3}, p: {default: 0.5}, flag: {default: true}}
        layers: [{type: relu}]
    """
    found = errors(spec("", blocks))
    hints = {d.message.rsplit(".", 1)[-1]: d.hint or "" for d in found}
    assert [d.code for d in found] == ["E203"] * 3
    assert "`k: {type: int, default: 3}`" in hints["k"] and "(`k: 3`)" in hints["k"]
    assert "`p: {type: float, default: 0.5}`" in hints["p"]
    assert "`flag: {type: bool, default: True}`" in hints["flag"]


def test_without_a_default_the_hint_names_a_param_the_caller_gives() -> None:
    d = only(spec("params:\n  c: {doc: the width}\n"))
    assert "`c: {type: int}`, a param the caller must give" in (d.hint or "")
    assert "(`c: int`)" in (d.hint or "")
    # as it says: `c: int` declares a param the caller must give (E303 until given)
    text = spec("params:\n  c: int\n")
    assert [d.code for d in errors(text)] == ["E303"]
    assert errors(text, c=4) == []


def test_a_text_default_that_names_a_type_is_not_offered_alone() -> None:
    d = only(spec("params:\n  act: {default: int}\n"))
    assert "`act: {type: str, default: 'int'}`" in (d.hint or "")
    assert "alone" not in (d.hint or "")  # `act: int` would declare an int param
    other = only(spec("params:\n  act: {default: relu}\n"))
    assert "(`act: 'relu'`)" in (other.hint or "")


def test_a_field_missing_from_a_layer_keeps_the_general_hint() -> None:
    head = "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\n"
    d = only(head + "layers:\n  - {type: conv2d, kernel_size: 1}\n")
    assert d.message == "missing required field `out_channels` in layers[0]"
    assert d.hint == "add it; see docs/spec-language.md for the fields of each layer"
