"""A `reuse` of a layer of several inputs (departition, maxunpool2d: modules that take the
tensor and a second input) is E314 at its `node`, as a reuse of a block of several inputs
is: the reuse gives one input, and the layer's shape rule unpacked two, a ValueError out of
`archspec check` (exit 3, internal error). Found by tests.fuzz seeded with the docs' specs."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app

runner = CliRunner()

CASES = {
    "departition": """\
archspec: 1
name: reuse_departition
input: [N, 64, 14, 14]
layers:
  - {name: windows, type: partition, size: 7}
  - {name: back, type: departition, size: 7, from: [windows, input]}
  - {name: again, type: reuse, node: back, from: windows}
""",
    "maxunpool2d": """\
archspec: 1
name: reuse_unpool
input: [N, 8, 16, 16]
layers:
  - {type: maxpool2d_with_indices, kernel_size: 2, names: [pooled, where]}
  - {name: up, type: maxunpool2d, kernel_size: 2, from: [pooled, where]}
  - {name: again, type: reuse, node: up, from: pooled}
""",
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_reuse_of_a_layer_of_several_inputs_is_e314_at_its_node(
    case: str, tmp_path: Path
) -> None:
    report = archspec.check(CASES[case])
    (error,) = [d for d in report.diagnostics if d.severity.name == "ERROR"]
    assert error.code == "E314", error
    assert "several inputs" in error.message
    assert error.span is not None and error.span.line == 7
    assert "one input" in (error.hint or "")
    path = tmp_path / f"{case}.yaml"
    path.write_text(CASES[case])
    done = runner.invoke(app, ["check", str(path)])
    assert done.exit_code == 1 and "E314" in done.output, done.output


def test_a_reuse_of_a_layer_of_optional_inputs_still_calls_it() -> None:
    """multihead_attention takes a key and a value when `from` names them: one input is its
    self-attention, which a reuse may call."""
    spec = """\
archspec: 1
name: reuse_attention
input: [N, L, 16]
layers:
  - {name: kv, type: linear, out_features: 16}
  - {name: attn, type: multihead_attention, num_heads: 2, from: [input, kv, kv]}
  - {name: again, type: reuse, node: attn, from: attn}
"""
    assert archspec.check(spec).ok
