"""`check` prints a network's output keys as written, quoting one that holds what its line
uses to separate keys and shapes: an `outputs:` key `"x: y"` printed as `x: y: (N, 3)`
could be read as two keys."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from archspec.cli import app

SPEC = """\
archspec: 1
name: keyed
input: [N, 4]
layers:
  - {name: a, type: linear, out_features: 3}
  - {name: b, type: linear, out_features: 2, from: input}
outputs:
  KEY: a
  z: b
"""


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("out", "out"),
        ("with space", "with space"),
        ("x: y", '"x: y"'),
        ("a, b", '"a, b"'),
        ("a:b", '"a:b"'),
        ("' lead'", '" lead"'),
        ("'q\"uote'", '"q\\"uote"'),
    ],
)
def test_an_output_key_that_reads_as_two_is_quoted(tmp_path: Path, key: str, shown: str) -> None:
    spec = tmp_path / "keyed.yaml"
    spec.write_text(SPEC.replace("KEY", key if key[0] == "'" else f'"{key}"'), encoding="utf-8")
    result = CliRunner().invoke(app, ["check", str(spec)])
    assert result.exit_code == 0, result.output
    assert f"  output  {shown}: (N, 3), z: (N, 2)\n" in result.stdout
