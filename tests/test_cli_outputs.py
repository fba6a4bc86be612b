"""Every command with -o says the same of the same path, before any work: a folder (one there,
or any path ending in a separator) is E604 naming a file in it (compile writes `<name>.py`
in it, as documented), a device is E604, a file whose parent is a file is E604, a file
archspec did not write is E603 without --force; /dev/null is written through and a missing
parent is made. `graph -o DIR` was E702 (an unknown picture format) where the others said
E604, and `-o out/` wrote a file called `out`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import archspec.api
from archspec.cli import app

runner = CliRunner()

#: Each command with -o: its argv for a path, the suffix its file takes, the file a folder
#: would hold (compile writes it there; the others name it in their hint).
WRITERS: dict[str, tuple[Callable[[str], list[str]], str, str]] = {
    "compile": (lambda p: ["compile", "lenet5", "-o", p], ".py", "lenet5.py"),
    "graph": (
        lambda p: ["graph", "lenet5", "-o", p],
        ".dot",
        "lenet5" + archspec.api.default_picture_suffix(),
    ),
    "schema": (lambda p: ["schema", "-o", p], ".json", "archspec.schema.json"),
    "new": (lambda p: ["new", "mynet", "-o", p], ".yaml", "mynet.yaml"),
    "import": (lambda p: ["import", "tiny_factory_p14:net", "-o", p], ".yaml", "net.yaml"),
}

FACTORY = """\
import torch.nn as nn
CALLS = []
def net():
    CALLS.append(1)
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
"""


@pytest.fixture(autouse=True)
def _factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The import command's factory, importable; the working folder is tmp_path."""
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "tiny_factory_p14.py").write_text(FACTORY)
    monkeypatch.syspath_prepend(str(tmp_path / "lib"))
    monkeypatch.delitem(sys.modules, "tiny_factory_p14", raising=False)
    monkeypatch.chdir(tmp_path)


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})


#: The work each command does before it writes: refused paths never reach it.
WORK = {
    "compile": ("emit_graph", "emit_family_named"),
    "graph": ("build_graph", "render_picture"),
    "schema": ("json_schema_text",),
    "new": ("json_schema_text",),
    "import": ("import_factory",),
}


def _no_work(monkeypatch: pytest.MonkeyPatch, writer: str) -> None:
    """Make the work `writer` does before writing fail the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the work ran before the path was refused")

    for name in WORK[writer]:
        monkeypatch.setattr(archspec.api, name, refuse)


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if "lib" not in p.parts)


@pytest.mark.parametrize("writer", sorted(WRITERS))
@pytest.mark.parametrize("how", ["there", "slash"])
def test_a_folder_is_e604_naming_a_file_in_it_or_compile_s_folder(
    tmp_path: Path, writer: str, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv, _, inside = WRITERS[writer]
    if how == "there":
        (tmp_path / "out").mkdir()
    given = "out" if how == "there" else f"out{os.sep}"
    if writer == "compile":  # documented: a folder gets <name>.py, made if missing
        result = cli(*argv(given))
        assert result.exit_code == 0, result.output
        assert (tmp_path / "out" / inside).is_file()
        return
    before = _files(tmp_path)
    _no_work(monkeypatch, writer)
    result = cli(*argv(given))
    assert result.exit_code == 1, result.output
    assert "error[E604]" in result.output and "archspec writes no file there" in result.output
    assert f"-o {Path('out') / inside}" in result.output  # the hint names the file
    assert _files(tmp_path) == before  # not a file called `out`


@pytest.mark.parametrize("writer", sorted(WRITERS))
@pytest.mark.parametrize("case", ["device", "file-parent", "not-ours"])
def test_a_path_that_is_refused_is_refused_alike_before_any_work(
    tmp_path: Path, writer: str, case: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv, suffix, _ = WRITERS[writer]
    (tmp_path / "notes.txt").write_text("mine\n")
    (tmp_path / f"mine{suffix}").write_text("mine\n")
    given, code, said = {
        "device": ("/dev/full", "E604", "it is a character device"),
        "file-parent": (f"notes.txt/x{suffix}", "E604", "notes.txt is not a directory"),
        "not-ours": (f"mine{suffix}", "E603", "archspec did not generate it"),
    }[case]
    if case == "not-ours" and suffix == ".yaml":  # no spec is taken for archspec's own
        said = "archspec replaces no spec unasked (a spec is yours to edit"
    before = _files(tmp_path), (tmp_path / f"mine{suffix}").read_text()
    _no_work(monkeypatch, writer)
    result = cli(*argv(given))
    assert result.exit_code == 1, result.output
    assert f"error[{code}]" in result.output and said in result.output, result.output
    assert (_files(tmp_path), (tmp_path / f"mine{suffix}").read_text()) == before


@pytest.mark.parametrize("writer", sorted(WRITERS))
def test_the_null_device_and_a_missing_parent_are_written_alike(
    tmp_path: Path, writer: str
) -> None:
    argv, suffix, _ = WRITERS[writer]
    result = cli(*argv(os.devnull))
    assert result.exit_code == 0, result.output  # graph: DOT, as it prints without -o
    assert f"wrote {os.devnull}" in result.output
    result = cli(*argv(f"a/b/x{suffix}"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "a" / "b" / f"x{suffix}").is_file()


def test_graph_writes_dot_to_a_stream_with_no_picture_suffix(tmp_path: Path) -> None:
    """A FIFO's reader gets what `archspec graph` prints; a suffix, where there is one, wins."""
    assert archspec.api.picture_format(os.devnull) == "dot"
    assert archspec.api.picture_format(tmp_path / "x.mmd") == "mermaid"
    with pytest.raises(archspec.api.ArchSpecError) as err:
        archspec.api.picture_format(tmp_path / "x.txt")
    assert err.value.error_code == "E702"
    (tmp_path / "d.svg").mkdir()
    with pytest.raises(archspec.api.ArchSpecError) as err:
        archspec.api.picture_format(tmp_path / "d.svg")
    assert err.value.error_code == "E604"


@pytest.mark.parametrize(("dot", "suffix"), [("/usr/bin/dot", ".svg"), (None, ".mmd")])
def test_graph_s_folder_hint_names_a_picture_this_machine_can_draw(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dot: str | None, suffix: str
) -> None:
    """An .svg needs Graphviz: without `dot` the hint names Mermaid text, which needs nothing
    (following the hint must not lead to E702)."""
    import shutil

    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: dot if name == "dot" else None)
    (tmp_path / "out").mkdir()
    result = cli("graph", "lenet5", "-o", "out")
    assert result.exit_code == 1 and f"-o {Path('out') / ('lenet5' + suffix)}" in result.output
