"""How the command line ends its process: without tearing the interpreter down when nothing
waits for the exit (cli.app.ends_at_once), keeping each checked family's reading until then
(cli.app.kept_until_exit); an `atexit` handler still runs, and output and status are whole."""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from archspec import api

from .conftest import ROOT

# the module (archspec.cli's attribute `app` is the Typer app)
cli_app = importlib.import_module("archspec.cli.app")

FAMILY = """\
archspec: 1
name: tinyfam
input: [N, 3, 16, 16]
params: {width: {type: int, default: 4}}
variants:
  tinyfam_s: {params: {width: 4}}
  tinyfam_l: {params: {width: 8}}
layers:
  - {name: conv, type: conv2d, out_channels: width, kernel_size: 3}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
"""

BROKEN = """\
archspec: 1
name: broken
input: [N, 3, 16, 16]
layers:
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 32}
"""

#: A plugin file (a layer kind of its own) that writes to stderr when the interpreter is torn
#: down (an audit hook sees it), and with AT_EXIT set registers atexit handlers (one writes
#: to stderr's file descriptor, one prints to stdout's buffer).
PLUGIN = """\
import atexit
import os
import sys
from typing import Any, Literal

import archspec


class EchoSpec(archspec.LayerSpec):
    type: Literal["echo"]


class EchoOp(archspec.Op):
    kind = "echo"
    spec = EchoSpec
    style = "function"
    summary = "the input as it is (test plugin)"

    def infer(self, attrs: dict[str, Any], inputs: Any, ctx: Any) -> archspec.Inferred:
        return archspec.Inferred(attrs, tuple(inputs[0]))

    def function(self, a: Any) -> Any:
        return (lambda x: x), {}

    def emit(self, a: Any, lit: Any) -> str:
        return a["_inputs"][0]


def _on_teardown(event: str, args: Any, write: Any = os.write) -> None:
    if event == "cpython.PyInterpreterState_Clear":  # the interpreter is torn down
        write(2, b"torn down\\n")


sys.addaudithook(_on_teardown)
if os.environ.get("AT_EXIT"):
    atexit.register(lambda: os.write(2, b"atexit ran\\n"))
    atexit.register(lambda: print("atexit printed"))
"""

#: A `sitecustomize` module that registers an atexit handler at the interpreter's start, as a
#: `.pth` file in the interpreter's site-packages may (CI's does; so does `logging`, which an
#: older typing_extensions imports with pydantic).
SITE_AT_EXIT = """\
import atexit
import os
atexit.register(lambda: os.write(2, b"site's atexit ran\\n"))
"""


def _cli(
    tmp_path: Path, *args: str, at_exit: bool = False, site_at_exit: bool = False
) -> subprocess.CompletedProcess[str]:
    (tmp_path / "echo_plugin.py").write_text(PLUGIN)
    paths = [str(ROOT)]
    if site_at_exit:
        (tmp_path / "site").mkdir(exist_ok=True)
        (tmp_path / "site" / "sitecustomize.py").write_text(SITE_AT_EXIT)
        paths.append(str(tmp_path / "site"))
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": os.pathsep.join(paths)}
    env.pop("AT_EXIT", None)
    if at_exit:
        env["AT_EXIT"] = "1"
    command = [sys.executable, "-m", "archspec", "check", "--plugins", "echo_plugin.py", *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)


def test_a_family_reading_goes_where_it_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "fam.yaml"
    path.write_text(FAMILY)
    variants = api.family_variants(str(path))
    assert variants == ["tinyfam_s", "tinyfam_l"]
    with api.family_budget(None):
        freed = [api.check(str(path), variant=v).to_dict() for v in variants]
    kept: list[object] = []
    with api.family_budget(None, kept):
        held = [api.check(str(path), variant=v).to_dict() for v in variants]
    assert held == freed
    # what the passes found (passes.family), then the reading: both dropped with the process
    assert len(kept) == 2 and str(path) in kept[1].texts  # type: ignore[attr-defined]
    assert isinstance(kept[0], dict) and "walks" in kept[0]


def test_a_program_calling_the_command_line_keeps_nothing_and_ends_as_usual() -> None:
    assert not cli_app.runs_archspec()  # pytest's own process
    assert cli_app.kept_until_exit() is None
    assert not cli_app.ends_at_once()


@pytest.mark.parametrize(
    ("argv", "ours"),
    [
        (["/venv/bin/python", "-m", "archspec", "check", "x.yaml"], True),
        (["/venv/bin/python", "-X", "importtime", "-m", "archspec", "list"], True),
        (["/venv/bin/python", "/venv/bin/archspec", "check", "x.yaml"], True),
        (["/venv/bin/python", "-m", "pytest", "-k", "archspec"], False),
        (["/venv/bin/python", "prog.py", "archspec"], False),
        (["/venv/bin/python", "-c", "import archspec"], False),
        (["/venv/bin/python", "-Im", "archspec", "check"], True),
        (["/venv/bin/python", "-marchspec", "check"], True),
        (["/venv/bin/python", "-W", "error", "-X", "dev", "-m", "archspec", "list"], True),
        (["/venv/bin/python", "-Wignore", "/venv/bin/archspec", "check", "x.yaml"], True),
        (["/venv/bin/python", "-m", "cProfile", "-o", "p.prof", "-m", "archspec", "check"], False),
        (["/venv/bin/python", "-m", "pdb", "-m", "archspec", "check"], False),
        (["/venv/bin/python", "-X", "archspec", "prog.py"], False),
        (["/venv/bin/python", "-c", "print()", "-m", "archspec"], False),
        (["/venv/bin/python", "prog.py", "-m", "archspec"], False),
        (["/venv/bin/python"], False),
    ],
)
def test_the_process_is_archspecs_by_the_interpreter_command_line(
    monkeypatch: pytest.MonkeyPatch, argv: list[str], ours: bool
) -> None:
    monkeypatch.setattr(sys, "orig_argv", argv)
    assert cli_app.runs_archspec() is ours


def test_what_is_kept_stops_at_the_memory_ceiling(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cli_app, "runs_archspec", lambda: True)
    peak = cli_app._peak_memory()
    assert peak is not None and peak > 0
    # the ceiling is set against this process's peak, whatever the tests before used
    monkeypatch.setattr(cli_app, "KEEP_UNTIL_EXIT_BYTES", peak + 2**20)
    assert cli_app.kept_until_exit() is cli_app._KEPT
    monkeypatch.setattr(cli_app, "KEEP_UNTIL_EXIT_BYTES", peak)
    assert cli_app.kept_until_exit() is None


def test_the_command_line_ends_at_once_with_its_output_and_status_whole(tmp_path: Path) -> None:
    (tmp_path / "fam.yaml").write_text(FAMILY)
    done = _cli(tmp_path, "fam.yaml")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "checked 2 specs: 2 ok"
    assert "torn down" not in done.stderr  # ended at once
    (tmp_path / "broken.yaml").write_text(BROKEN)
    failed = _cli(tmp_path, "fam.yaml", "broken.yaml")
    assert failed.returncode == 1
    assert "error[E4" in failed.stderr and "torn down" not in failed.stderr
    assert failed.stdout.splitlines()[-1] == "checked 3 specs: 2 ok, 1 with errors"


def test_an_atexit_handler_still_runs(tmp_path: Path) -> None:
    """A plugin's atexit handlers run, what they print included; the process ends at once."""
    (tmp_path / "fam.yaml").write_text(FAMILY)
    done = _cli(tmp_path, "fam.yaml", at_exit=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-2:] == ["checked 2 specs: 2 ok", "atexit printed"]
    assert done.stderr == "atexit ran\n"  # and not torn down
    failed = _cli(tmp_path, "nothing.yaml", at_exit=True)
    assert failed.returncode == 1 and "atexit ran\n" in failed.stderr
    assert "torn down" not in failed.stderr


def test_a_handler_the_interpreter_registered_at_its_start_runs(tmp_path: Path) -> None:
    """A handler from the interpreter's start (a `.pth` file, `sitecustomize`, `logging`) runs,
    and the process still ends at once."""
    (tmp_path / "fam.yaml").write_text(FAMILY)
    done = _cli(tmp_path, "fam.yaml", site_at_exit=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "checked 2 specs: 2 ok"
    assert done.stderr == "site's atexit ran\n"


def test_a_profiler_running_the_command_line_gets_its_end(tmp_path: Path) -> None:
    """`python -m cProfile -o OUT -m archspec ...` ends as usual, so the profile is written."""
    (tmp_path / "fam.yaml").write_text(FAMILY)
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "cProfile", "-o", "out.prof", "-m", "archspec", "check"]
    done = subprocess.run(
        [*command, "fam.yaml"], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "checked 2 specs: 2 ok"
    assert (tmp_path / "out.prof").stat().st_size > 0


def test_the_check_without_ending_at_once_prints_the_same(tmp_path: Path) -> None:
    """The same command run from a program (which ends as usual) prints the same lines."""
    (tmp_path / "fam.yaml").write_text(FAMILY)
    (tmp_path / "echo_plugin.py").write_text(PLUGIN)
    code = textwrap.dedent(
        """
        import sys
        from archspec.cli import main
        sys.argv = ["archspec", "check", "--plugins", "echo_plugin.py", "fam.yaml"]
        main()
        """
    )
    env = {**os.environ, "NO_COLOR": "1", "PYTHONPATH": str(ROOT)}
    env.pop("AT_EXIT", None)
    usual = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert usual.returncode == 0 and "torn down" in usual.stderr
    assert usual.stdout == _cli(tmp_path, "fam.yaml").stdout
