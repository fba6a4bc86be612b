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


DEEP = """\
archspec: 1
name: deep
input: [N, 3, 8, 8]
params:
  depth: {type: int, default: 2}
layers:
  - {name: body, type: repeat, count: depth, layer: {type: conv2d, out_channels: 4, kernel_size: 1}}
"""


def test_depth_on_a_spec_with_a_param_depth_is_a_note_in_the_cli_s_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`archspec summary wrn.yaml --depth 1` folds the table and leaves the spec's `depth`:
    the CLI says so with the option that sets it (`--set depth=1`), where it printed the
    API's UserWarning with archspec's source path and `params={'depth': 1}`."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deep.yaml").write_text(DEEP)
    runner = CliRunner()
    folded = runner.invoke(app, ["summary", "deep.yaml", "--depth", "1"])
    assert folded.exit_code == 0, folded.output
    assert folded.stderr == (
        "note: --depth 1 folds the table; the spec's own param `depth` stays 2 "
        "(set it with --set depth=1)\n"
    )
    for quiet in (["--depth", "1", "--set", "depth=3"], ["--set", "depth=3"]):
        done = runner.invoke(app, ["summary", "deep.yaml", *quiet])
        assert done.exit_code == 0 and done.stderr == "", done.stderr
    with pytest.warns(archspec.api.SpecDepthWarning, match="params=") as got:
        archspec.summary(str(tmp_path / "deep.yaml"), depth=1)
    assert (got[0].message.depth, got[0].message.value) == (1, 2)
