"""The flags of a spec's items take YAML's booleans only: `train_only: "yes"`, `eval_only:
"yes"` and `flat: 1` were read as true (pydantic's lax bool), where a layer's own boolean
field (`bias: "yes"`) is an expression and refused, and a block's `checkpoint` was strict
already. Each is now E202 at the value, with a hint."""

from __future__ import annotations

import pytest

import archspec
from archspec.errors import ArchSpecError

BASE = """\
archspec: 1
name: flags
input: [N, 8]
blocks:
  B:
    checkpoint: CHECKPOINT
    layers: [{type: relu}]
layers:
  - {type: relu, train_only: TRAIN}
  - {type: relu, eval_only: EVAL}
  - {type: relu, pass_in_eval: PASS}
  - {type: repeat, count: 2, flat: FLAT, layer: {type: relu}}
  - {type: for_each, rows: [[1], [2]], fields: [k], flat: ROWFLAG, layer: {type: relu}}
  - {type: residual, body: [{type: relu}], shortcut: {first: FIRST, layer: {type: relu}}}
  - {type: B}
"""
#: each placeholder, and the field it stands in
FIELDS = {
    "CHECKPOINT": "checkpoint",
    "TRAIN": "train_only",
    "EVAL": "eval_only",
    "PASS": "pass_in_eval",
    "FLAT": "flat",
    "ROWFLAG": "flat",
    "FIRST": "first",
}
FLAGS = tuple(FIELDS)


def _text(**given: str) -> str:
    text = BASE
    for flag in FLAGS:
        text = text.replace(flag, given.get(flag, "false"))
    return text


def test_the_flags_at_false_check_clean() -> None:
    assert archspec.check(_text()).ok


@pytest.mark.parametrize("flag", FLAGS)
@pytest.mark.parametrize(("value", "got"), [('"yes"', "string 'yes'"), ("1", "integer 1")])
def test_a_flag_given_text_or_a_number_is_e202_at_it(flag: str, value: str, got: str) -> None:
    text = _text(**{flag: value})
    with pytest.raises(ArchSpecError) as exc:
        archspec.compile(text, device="meta")
    (diag,) = exc.value.diagnostics
    assert diag.code == "E202" and f"expected true or false, got {got}" in diag.message
    assert diag.hint == "write true or false, unquoted (a flag reads no expression)"
    written = f"{FIELDS[flag]}: {value}"
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if written in ln)
    assert diag.span is not None and diag.span.line == line
