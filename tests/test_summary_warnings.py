"""`archspec summary` says on stderr what `check` warns of for the same spec and input (it
said nothing), and its table on stdout stays the table."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app

SPEC = """\
archspec: 1
name: t
input: [N, 3]
layers:
  - {type: linear, out_features: 4}
  - {name: unused, type: linear, out_features: 5, from: input}
  - {type: linear, out_features: 100000}
  - {type: linear, out_features: 100000}
"""


@pytest.mark.parametrize("extra", [[], ["--input", "2,3"], ["--format", "json"]])
def test_summary_prints_the_warnings_check_prints(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: list[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NO_COLOR", "1")
    (tmp_path / "t.yaml").write_text(SPEC)
    runner = CliRunner()
    given = [a for a in extra if a != "--format" and a != "json"]
    checked = runner.invoke(app, ["check", "t.yaml", *given])
    assert checked.exit_code == 0, checked.output
    assert "warning[W401]" in checked.stderr and "warning[W501]" in checked.stderr
    summed = runner.invoke(app, ["summary", "t.yaml", *extra])
    assert summed.exit_code == 0, summed.output
    assert summed.stderr == checked.stderr
    assert "warning" not in summed.stdout
    table = archspec.summary(str(tmp_path / "t.yaml"), input=given[1] if given else None)
    assert [d.code for d in table.warnings] == ["W401", "W501"]


def test_a_spec_without_warnings_has_a_quiet_summary() -> None:
    result = archspec.summary("lenet5")
    assert result.warnings == ()
    done = CliRunner().invoke(app, ["summary", "lenet5"])
    assert done.exit_code == 0 and done.stderr == ""
