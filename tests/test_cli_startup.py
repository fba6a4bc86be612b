"""What a cold `archspec check` does before it checks: the modules it never needs are not
imported, and the command line builds only the command it runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
from typer.testing import CliRunner

from archspec.cli import COMMAND_MODULE_OF, COMMAND_MODULES, _app_for, _command_name, app

from .conftest import ROOT, SPECS

#: Imported by other commands only (rich prints their tables; check prints plain lines; the
#: summaries' rows and text, spec diffs, weights' loading and the importer are theirs too),
#: or only for a spec that is broken or not ASCII (the hints of a YAML error, pydantic's
#: errors as diagnostics, the bidi check) or given as a Python mapping.
NOT_FOR_CHECK = (
    "torch",
    "rich",
    "jinja2",
    "archspec.summarising",
    "archspec.summary_text",
    "archspec.summaries",
    "archspec.report",
    "archspec.diffs",
    "archspec.hub",
    "archspec.importer",
    "archspec.schema_errors",
    "archspec.yaml_hints",
    "archspec.textdirection",
    "archspec.loaddata",
    *(f"archspec.cli.{name}" for name in ("build", "diff", "tools", "views", "importer")),
)


def test_check_imports_none_of_what_only_other_commands_need() -> None:
    specs = [str(p) for p in sorted(SPECS.glob("*.yaml"))]
    code = textwrap.dedent(
        f"""
        import sys
        from archspec.cli import main
        sys.argv = ["archspec", "check", *sys.argv[1:]]
        try:
            main()
        except SystemExit as exc:
            status = exc.code
        loaded = sorted(m for m in {NOT_FOR_CHECK!r} if m in sys.modules)
        print("imported:", loaded, "status:", status)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *specs], cwd=ROOT, capture_output=True, text=True
    )
    assert out.stdout.strip().endswith("imported: [] status: 0"), out.stdout[-300:] + out.stderr


def _names(typer_app: object) -> list[str | None]:
    return [c.name or c.callback.__name__ for c in typer_app.registered_commands]  # type: ignore[attr-defined]


def test_each_command_is_found_in_the_module_that_registers_it() -> None:
    """COMMAND_MODULE_OF, which module `_app_for` imports for a command, names every
    command of the whole app, each with the module that registers it."""
    registered = {
        _command_name(c): c.callback.__module__.rpartition(".")[2] for c in app.registered_commands
    }
    assert registered == COMMAND_MODULE_OF
    assert set(COMMAND_MODULE_OF.values()) == set(COMMAND_MODULES)


def test_the_command_line_builds_only_the_command_it_runs() -> None:
    assert _names(_app_for(["check", "x.yaml"])) == ["check"]
    assert _names(_app_for(["--debug", "import", "-h"])) == ["import"]
    assert len(app.registered_commands) > 5
    for args in ([], ["--help"], ["--version"], ["chek"], ["--debug"], ["-h", "check"]):
        assert _app_for(args) is app, args


@pytest.mark.parametrize(
    "args",
    [
        ["check", "-h"],
        ["check"],
        ["check", "--bogus", "x"],
        ["summary", "lenet5", "--depth", "0"],
        ["--debug", "show", "lenet5"],
        ["list", "lenet*"],
    ],
)
def test_one_command_parses_helps_and_fails_as_in_the_whole_app(args: list[str]) -> None:
    whole = CliRunner().invoke(app, args, prog_name="archspec")
    alone = CliRunner().invoke(_app_for(args), args, prog_name="archspec")
    assert (alone.exit_code, alone.output) == (whole.exit_code, whole.output)


def test_check_of_a_file_without_weights_reads_no_other_spec(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The index of built-in names (every built-in file read) only serves a spec that has
    pretrained weights: checking specs/lenet5.yaml reads lenet5 and what it imports."""
    from archspec import api

    def no_index() -> None:
        raise AssertionError("the built-in index was read")

    monkeypatch.setattr(api, "builtin_index", no_index)
    result = CliRunner().invoke(app, ["check", str(SPECS / "lenet5.yaml")])
    assert result.exit_code == 0 and "lenet5" in result.output, result.output
    monkeypatch.undo()
    result = CliRunner().invoke(app, ["check", str(SPECS / "vgg.yaml")])
    assert "weights IMAGENET1K_V1 (default), IMAGENET1K_FEATURES" in result.output


def _run(code: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_version_loads_no_command() -> None:
    """`archspec --version` prints before any command would run: none is imported, nor the
    API they use (pydantic's models of every layer kind, the lowering, the passes), nor
    OpenSSL's hashlib, which only naming a temporary file or a plugin's module needs."""
    out = _run(
        """
        import sys
        from archspec.cli import main
        sys.argv = ["archspec", "--version"]
        try:
            main()
        except SystemExit as exc:
            status = exc.code
        heavy = ("archspec.api", "archspec.cli.analyse", "pydantic", "hashlib")
        loaded = sorted(m for m in sys.modules if m in heavy)
        print("loaded:", loaded, "status:", status)
        """
    )
    from archspec import __version__

    assert out.splitlines()[-2:] == [f"archspec {__version__}", "loaded: [] status: 0"], out


def test_commands_keep_their_order_whichever_module_loads_first() -> None:
    """--help lists the commands in one order, also when a command's module was imported
    before the others (a test importing archspec.cli.build, say)."""
    code = """
        {first}
        from archspec.cli import app
        print(" ".join(c.callback.__name__ for c in app.registered_commands))
        """
    alone = _run(code.format(first=""))
    assert alone == _run(code.format(first="import archspec.cli.tools")), alone
    assert alone.split()[:2] == ["check", "summary"]


def test_check_of_many_specs_runs_no_collection_between_them() -> None:
    """The cyclic collector stays paused from the first check to the end of the command:
    each collection between two checks walked every object the checks before had kept (the
    results, parses and memos: ~10% of a check of every shipped spec), and found almost
    nothing to collect."""
    specs = [str(p) for p in sorted(SPECS.glob("*.yaml"))][:8]
    out = _run(
        f"""
        import gc, sys
        from archspec import api
        from archspec.cli import main
        seen = {{"checks": 0, "collections": 0}}
        real = api.check
        def check(*args, **kwargs):
            seen["checks"] += 1
            return real(*args, **kwargs)
        api.check = check
        def count(phase, info):
            if phase == "start" and seen["checks"]:
                seen["collections"] += 1
        gc.callbacks.append(count)
        sys.argv = ["archspec", "check", *{specs!r}]
        try:
            main()
        except SystemExit as exc:
            status = exc.code
        print(seen, gc.isenabled(), status)
        """
    )
    checks = sum(1 for _ in specs)  # at least one check per file, more for a family
    assert out.strip().endswith("'collections': 0} True 0"), out[-300:]
    assert int(out.split("'checks': ")[1].split(",")[0]) > checks


@pytest.mark.parametrize("command", ["graph", "summary", "emit"])
def test_every_command_runs_without_a_collection_and_ends_frozen(command: str) -> None:
    """`main` pauses the collector for whatever command it runs and freezes what it made at
    the end: on a 1 MiB spec the collections of `graph` (and the last one at exit) took
    11 of its 14 s CPU, `summary` 16 of 20 s, `emit` 13 of 21 s."""
    spec = str(SPECS / "resnet.yaml")
    out = _run(
        f"""
        import gc, sys
        from archspec.cli import main
        seen = {{"collections": 0}}
        def count(phase, info):
            if phase == "start":
                seen["collections"] += 1
        gc.callbacks.append(count)
        sys.argv = ["archspec", "{command}", {spec!r}, "--variant", "resnet18"]
        try:
            main()
        except SystemExit as exc:
            status = exc.code
        print("RESULT", seen, gc.isenabled(), gc.get_freeze_count() > 0, status)
        """
    )
    assert "RESULT {'collections': 0} True True 0" in out, out[-300:]


_COUNT_COLLECTIONS = """
    import gc, sys
    seen = {{"collections": 0}}
    def count(phase, info):  # from the import of archspec.files on (the first the CLI makes)
        if phase == "start" and "archspec.files" in sys.modules:
            seen["collections"] += 1
    gc.callbacks.append(count)
    sys.argv = [{argv0!r}, "check", "specs/lenet5.yaml"]
    {run}
    print("RESULT", seen, gc.get_freeze_count() > 0, gc.isenabled())
    """


@pytest.mark.parametrize(
    ("argv0", "run"),
    [
        # python -m archspec
        (
            "archspec/__main__.py",
            "import runpy\n"
            "    try:\n"
            "        runpy.run_module('archspec', run_name='__main__', alter_sys=True)\n"
            "    except SystemExit:\n"
            "        pass",
        ),
        # the console script: its imports, before main runs
        ("/usr/local/bin/archspec", "import archspec.cli"),
    ],
)
def test_the_command_line_imports_with_the_collector_off(argv0: str, run: str) -> None:
    """`python -m archspec` turns the collector off before its first import, and the console
    script pauses it while archspec.cli imports typer and freezes what that made: no
    collection walks the objects the imports make (some thirty did, ~5 ms of every run).
    Either leaves the collector on again, for a program that ran them in its own process."""
    out = _run(_COUNT_COLLECTIONS.format(argv0=argv0, run=run))
    assert out.splitlines()[-1] == "RESULT {'collections': 0} True True", out[-300:]
