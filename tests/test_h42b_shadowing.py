"""h42b: `compile` writes no module named like one torch or archspec imports.

The rule refused torch.py and the standard library's names only. `archspec compile lenet5 -o
typing_extensions.py` wrote a module that torch's own import then found first in that
folder: `python -c "import torch"` there failed ("partially initialized module 'torch' has
no attribute 'Tensor'"), and so did every later `archspec` run there; `-o yaml.py` made each
`python -m archspec check` there a traceback (`No module named 'yaml.events'; 'yaml' is not
a package`), `-o sympy.py` quietly dropped compile's forward check, and `-o archspec.py`
shadows archspec itself. A module named like any module of torch's or archspec's installed
requirements (their closure, read from the installed metadata) is now E604 before anything
is emitted, as torch.py is.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from archspec.cli import app
from archspec.outputkinds import MODULE, SCHEMA, shadowing

runner = CliRunner()


@pytest.mark.parametrize("stem", ["yaml", "typing_extensions", "archspec", "pydantic", "jinja2"])
def test_a_module_named_like_a_requirement_is_not_written(stem: str, tmp_path: Path) -> None:
    target = tmp_path / f"{stem}.py"
    result = runner.invoke(app, ["compile", "lenet5", "-o", str(target)])
    assert result.exit_code == 1 and "E604" in result.output, result.output
    assert "shadows" in result.output and f"-o {stem}_net.py" in result.output
    assert not target.exists()


def test_a_name_no_requirement_takes_is_written(tmp_path: Path) -> None:
    assert shadowing(MODULE, "lenet5.py") is None and shadowing(MODULE, "my_yaml.py") is None
    assert shadowing(SCHEMA, "yaml.json") is None  # only a module is imported by its name
    result = runner.invoke(app, ["compile", "lenet5", "-o", str(tmp_path / "lenet_yaml.py")])
    assert result.exit_code == 0, result.output
