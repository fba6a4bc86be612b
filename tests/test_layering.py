"""Dependencies point one way: the command line knows only the public API.

Every module of archspec/cli/ is read (ast, nothing imported) and each import of archspec
resolved to its absolute name: only `archspec`, `archspec.api` and the CLI's own modules may
appear. Three doors are kept open, by name: the CLI installs its Ctrl-C handler from
`archspec.files` before the API loads (tests/test_trust_output.py interrupts that moment),
runs the command on a frame stack of its own (`archspec.framestack`, a module that
imports nothing of archspec), which the API's own calls inside then share, and makes the
dataclasses of the imports before the API's, typer's, with their methods compiled on first
call (`archspec.lazymethods.deferring`, stdlib only).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import archspec.cli

CLI_DIR = Path(archspec.cli.__file__).parent
ALLOWED = {"archspec", "archspec.api"}
#: (module file, imported module, name): both are read before anything heavy is imported.
EXCEPTIONS = {
    ("__init__.py", "archspec.files", "exit_on_signal"),
    ("__init__.py", "archspec.framestack", "on_own_stack"),
    ("__init__.py", "archspec.lazymethods", "deferring"),
}


def archspec_imports(path: Path) -> list[tuple[int, str, str]]:
    """(line, absolute module, name) of each archspec import in a file; name "" for `import x`."""
    package = "archspec.cli"  # every file here is a module of this package, or its __init__
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [
                (node.lineno, a.name, "") for a in node.names if a.name.split(".")[0] == "archspec"
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] == "archspec":
                found += [(node.lineno, module, a.name) for a in node.names]
    return found


def _allowed(file: str, module: str, name: str) -> bool:
    if module in ALLOWED or module == "archspec.cli" or module.startswith("archspec.cli."):
        # `from .. import x` names a submodule only when x is one: the root's public names
        # (`__version__`, `api`) are fine, `from .. import graph` is not
        return module != "archspec" or name in {"api", "__version__", ""}
    return (file, module, name) in EXCEPTIONS


CLI_FILES = sorted(CLI_DIR.glob("*.py"))


@pytest.mark.parametrize("path", CLI_FILES, ids=lambda p: p.name)
def test_the_cli_imports_only_the_public_api(path: Path) -> None:
    wrong = [
        f"{path.name}:{line}: {module}" + (f" ({name})" if name else "")
        for line, module, name in archspec_imports(path)
        if not _allowed(path.name, module, name)
    ]
    assert not wrong, "the CLI reaches past archspec.api:\n" + "\n".join(wrong)


def test_the_reader_resolves_relative_imports(tmp_path: Path) -> None:
    """The check itself can fail: each way of reaching past the API is caught."""
    sample = tmp_path / "build.py"
    sample.write_text(
        "from .. import api, graph\nfrom ..files import write_atomic\n"
        "from .app import app\nimport archspec.passes.costs\n"
        "def f():\n    from ..backends.pysource import render_module\n"
    )
    found = archspec_imports(sample)
    assert [(m, n) for _, m, n in found] == [
        ("archspec", "api"),
        ("archspec", "graph"),
        ("archspec.files", "write_atomic"),
        ("archspec.cli.app", "app"),
        ("archspec.passes.costs", ""),
        ("archspec.backends.pysource", "render_module"),
    ]
    bad = [(m, n) for _, m, n in found if not _allowed(sample.name, m, n)]
    assert bad == [
        ("archspec", "graph"),
        ("archspec.files", "write_atomic"),
        ("archspec.passes.costs", ""),
        ("archspec.backends.pysource", "render_module"),
    ]


def test_every_cli_module_is_read() -> None:
    names = {p.name for p in CLI_FILES}
    assert {"__init__.py", "app.py", "analyse.py", "build.py", "tools.py"} <= names
