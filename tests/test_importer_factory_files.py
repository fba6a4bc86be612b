"""`archspec import` of a model in a file of the user's own, named by its path
(`nets/mynet.py:Net`) or by its module name from the folder it is in (`mynet:Net`), as the
`archspec` command runs it: without the current directory on sys.path."""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.errors import ImportFailure
from archspec.importer.factory import build_factory

_NET = """\
    import torch
    from torch import nn

    from {helper} import width


    class Net(nn.Module):
        def __init__(self, classes: int = 3) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, width(), 3)
            self.fc = nn.Linear(width(), classes)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(torch.flatten(self.conv(x).mean((2, 3), keepdim=True), 1))
"""


def _user_files(folder: Path, stem: str) -> None:
    """`{stem}.py` defining Net, which imports `width` from a module beside it."""
    helper = f"{stem}_sizes"
    (folder / f"{helper}.py").write_text("def width() -> int:\n    return 5\n")
    (folder / f"{stem}.py").write_text(textwrap.dedent(_NET.format(helper=helper)))


@pytest.fixture
def no_cwd_on_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A process whose sys.path does not hold the current directory (the `archspec`
    command's, unlike `python -m archspec`'s), working in `tmp_path`."""
    monkeypatch.chdir(tmp_path)
    kept = [p for p in sys.path if p not in ("", ".", str(tmp_path))]
    monkeypatch.setattr(sys, "path", kept)
    return tmp_path


def test_a_factory_in_a_file_named_by_its_path(no_cwd_on_path: Path) -> None:
    """`nets/usernet_a.py:Net` was "is not MODULE_PATH:FACTORY"."""
    folder = no_cwd_on_path / "nets"
    folder.mkdir()
    _user_files(folder, "usernet_a")
    res = CliRunner().invoke(app, ["import", "nets/usernet_a.py:Net", "--args", "classes=4"])
    assert res.exit_code == 0, res.output
    assert "description: imported from usernet_a.Net by archspec import" in res.output
    assert "{name: fc, type: linear, out_features: 4}" in res.output
    assert str(folder) not in sys.path  # only while the file was imported


def test_a_factory_in_a_module_of_the_current_directory(no_cwd_on_path: Path) -> None:
    """`usernet_b:Net` from the folder it is in: "No module named 'usernet_b'" before."""
    _user_files(no_cwd_on_path, "usernet_b")
    model = build_factory("usernet_b:Net", {})
    assert type(model).__module__ == "usernet_b"
    assert str(no_cwd_on_path) not in sys.path
    text = archspec.import_factory("usernet_b:Net", input=(1, 3, 8, 8))
    assert "name: Net" in text


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("nosuch.py:Net", "FileNotFoundError"),
        ("folder.py:Net", "is not a regular file"),
        ("folder/x:Net", "is not MODULE_PATH:FACTORY"),
    ],
)
def test_a_factory_file_that_is_no_python_file_is_e901(
    no_cwd_on_path: Path, path: str, words: str
) -> None:
    (no_cwd_on_path / "folder.py").mkdir()
    with pytest.raises(ImportFailure) as info:
        build_factory(path, {})
    (diag,) = info.value.diagnostics
    assert diag.code == "E901" and words in diag.message
