"""The hint of a `from` template that reads its block's input sizes. princeton-vl's
Residual adds `self.skip_layer(x) if self.need_skip else x`, `need_skip = inp_dim !=
out_dim`: written `from: "{'skip_layer' if in_channels != out_dim else 'input'}"`, the
template is E302 (the input's sizes are not in scope where a `from` is worked out), and the
hint said only "read params, lets and indices", not that a block's `let` does read them,
which is the way (tests/h43d/hourglass.yaml)."""

from __future__ import annotations

import archspec

SPEC = """archspec: 1
name: skip
input: [N, 8, 16, 16]
blocks:
  Residual:
    params: {out_dim: int}
    LET
    layers:
      - {name: conv, type: conv2d, out_channels: out_dim, kernel_size: 3, padding: 1}
      - {name: skip_layer, type: conv2d, out_channels: out_dim, kernel_size: 1, from: input}
      - {name: out, type: add, from: [conv, "{'skip_layer' if WHEN else 'input'}"]}
layers:
  - {name: widen, type: Residual, out_dim: 16}
"""


def test_the_hint_says_a_block_let_reads_the_input() -> None:
    text = SPEC.replace("    LET\n", "").replace("WHEN", "in_channels != out_dim")
    report = archspec.check(text)
    (d,) = report.errors
    assert d.code == "E302" and d.span is not None and d.span.line == 10
    assert "a block's `let` reads its input's sizes" in d.hint
    assert "in_channels != out_dim" in d.hint


def test_the_let_the_hint_names_checks() -> None:
    text = SPEC.replace("    LET\n", "    let: {need_skip: in_channels != out_dim}\n")
    report = archspec.check(text.replace("WHEN", "need_skip"))
    assert report.ok, report.diagnostics
    assert [d.code for d in report.diagnostics] == []
