"""`--json` is one spelling of JSON output on every command that prints JSON: `check` took
only `--json`, `summary` and `diff` only `--format json` (`summary --json` was 'No such
option', exit 2)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from archspec.cli import app

runner = CliRunner()


def test_summary_and_diff_take_json_as_check_does() -> None:
    for args in (
        ["summary", "lenet5"],
        ["diff", "resnet18", "resnet18", "--set", "num_classes=10"],
    ):
        flag = runner.invoke(app, [*args, "--json"])
        long = runner.invoke(app, [*args, "--format", "json"])
        assert flag.exit_code == 0, flag.output
        assert json.loads(flag.stdout) == json.loads(long.stdout)


def test_json_beside_another_format_is_a_usage_error() -> None:
    out = runner.invoke(app, ["summary", "lenet5", "--json", "--format", "csv"])
    assert out.exit_code == 2 and "--json asks for JSON and --format for csv" in out.output
    assert runner.invoke(app, ["summary", "lenet5", "--json", "-f", "json"]).exit_code == 0
