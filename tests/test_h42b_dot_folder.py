"""h42b: an -o whose last part is `.` names a folder, as one ending in `/` does.

`Path("net.py/.")` is `net.py`, so `archspec compile lenet5 -o net.py/.` wrote a file
`net.py` (and replaced one archspec wrote before) where `-o net.py/` writes
`net.py/lenet5.py`, and `new foo -o foo.yaml/.` wrote `foo.yaml` where `-o foo.yaml/` is
E604; `graph` and `schema` alike. To the system `net.py/.` is the folder `net.py` or
nothing: now `output_file` reads it so, before the text becomes a Path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from archspec.cli import app

runner = CliRunner()


def test_compile_writes_into_the_folder_a_dot_names(tmp_path: Path) -> None:
    target = tmp_path / "net.py"
    result = runner.invoke(app, ["compile", "lenet5", "-o", f"{target}/."])
    assert result.exit_code == 0, result.output
    assert target.is_dir() and (target / "lenet5.py").is_file()


@pytest.mark.parametrize(
    ("command", "name"),
    [(["new", "foo"], "foo.yaml"), (["graph", "lenet5"], "g.dot"), (["schema"], "s.json")],
)
def test_other_commands_refuse_a_folder_a_dot_names(
    command: list[str], name: str, tmp_path: Path
) -> None:
    target = tmp_path / name
    result = runner.invoke(app, [*command, "-o", f"{target}/."])
    assert result.exit_code == 1 and "E604" in result.output, result.output
    assert "directory" in result.output
    assert not target.exists()
