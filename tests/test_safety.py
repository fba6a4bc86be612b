"""No code path can run spec text: the package is scanned for every way Python runs code.

The scan walks the syntax tree of every module in `archspec/` and records each use of a
code-running or unsafe-loading facility: the builtins `eval`, `exec`, `compile` and
`__import__`; `importlib.import_module` and module loaders; unsafe YAML loading;
`pickle`/`marshal`/`torch.load`; processes. Every finding must be in ALLOWED, with the
reason it cannot see spec-derived text; a new one fails until it is reviewed and listed,
and an entry that no longer matches anything fails too, so the list stays true.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "archspec"

#: (module, use) -> why it is safe. Reviewed by hand; keep each reason specific.
ALLOWED: dict[tuple[str, str], str] = {
    # The activation of an `activation` node: `fn` is validated as a Literal of five names
    # and mapped through the fixed _ACTIVATIONS table to "torch" / "torch.nn.functional";
    # spec text never reaches import_module.
    ("ops/merge.py", "importlib.import_module"): "fixed module names from a table",
    # The package root's PEP 562 __getattr__ imports the submodule of a public name from the
    # fixed _EXPORTS table (api, errors, ops); an unknown name is an AttributeError.
    ("__init__.py", "importlib.import_module"): "fixed submodule names from _EXPORTS",
    ("api.py", "importlib.import_module"): "fixed submodule names from _LATER",
    ("cli/__init__.py", "importlib.import_module"): "the fixed COMMAND_MODULES names (a "
    "command line's command only picks one from the fixed COMMAND_MODULE_OF table)",
    # `archspec compile` runs the module it has just emitted, from the string it rendered
    # (never from a file another user could rewrite), to check it builds the same model
    # before renaming it into place. The string has passed `parse_emitted` (ast.parse plus a
    # whitelist of statements: imports of torch, class and function definitions), and every
    # piece of spec text in it went through one escaping function (docstrings, comments) or
    # a whitelist literal repr, so spec text is data in it, never code.
    ("backends/selfcheck.py", "compile"): "compiles archspec's own emitted, parsed source",
    # Pretrained weights: a checkpoint file the Python caller names (`archspec.load(...,
    # weights=PATH)`) or one torch.hub fetched and checked against the hash in its name, read
    # with weights_only=True (torch's restricted unpickler: tensors and containers, no
    # arbitrary objects). A spec cannot name weights: no spec key reaches this call.
    ("checkpoints.py", "torch.load"): "a caller-named checkpoint or torch.hub's cached file, "
    "weights_only=True",
    ("backends/selfcheck.py", "exec"): "runs archspec's own emitted source after parse_emitted",
    # Layer plugins come from installed packages' entry points (the issue: "custom layers
    # come only from registered Python or entry points"), never from a name in a spec. Spec
    # folders come from installed packages' `archspec.specs` entry points in the same way;
    # the specs found there are read as data, like the built-in ones. One scan serves both.
    ("spec_plugins.py", "importlib.metadata.entry_points"): "installed plugins and spec folders",
    # Plugin files are named by the person running archspec (`--plugins FILE`,
    # ARCHSPEC_PLUGINS, archspec.load_plugin_files) as an explicit act of trust, never by a
    # spec: no spec field reaches load_plugin_files (tests/test_plugins_cli.py).
    ("plugins.py", "importlib.util.spec_from_file_location"): "files the user names only",
    ("plugins.py", "exec_module"): "runs the plugin file the user named, as an import",
    # `archspec import MODULE_PATH:FACTORY` / `archspec.import_factory(path)`: the person
    # running archspec names a Python module to import and a factory to call, as an explicit
    # act of trust (docs/import.md, `archspec import --help`); no spec field reaches it.
    ("importer/factory.py", "importlib.import_module"): "the module the user names to import",
    ("importer/factory.py", "importlib.util.spec_from_file_location"): "the .py file named",
    ("importer/factory.py", "exec_module"): "runs the factory's .py file the user named",
    # Graphviz `dot`, found on PATH, run with a fixed argument list and no shell; the DOT
    # text made from the spec goes to its stdin as data.
    ("graph.py", "subprocess.run"): "fixed argv, spec-derived text only on stdin",
    # Whether torch's import brings a module whose name a module about to be written takes
    # (E604): this interpreter (sys.executable) run with a fixed `-P -c` program in an empty
    # temporary folder, no shell; the file name is compared with its output, never passed.
    ("outputkinds.py", "subprocess.run"): "fixed argv: sys.executable -P -c a fixed program",
}

_BUILTINS = {"eval", "exec", "compile", "__import__", "breakpoint"}
_YAML_UNSAFE = {
    "full_load",
    "full_load_all",
    "unsafe_load",
    "unsafe_load_all",
    "Loader",
    "FullLoader",
    "UnsafeLoader",
    "CLoader",
    "CFullLoader",
    "CUnsafeLoader",
}
_YAML_SAFE_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
_MODULE_CALLS = {
    "importlib.import_module",
    "importlib.__import__",
    "importlib.reload",
    "importlib.util.spec_from_file_location",
    "importlib.metadata.entry_points",
    "runpy.run_path",
    "runpy.run_module",
    "pickle.load",
    "pickle.loads",
    "marshal.load",
    "marshal.loads",
    "torch.load",
    "os.system",
    "os.popen",
    "subprocess.run",
    "subprocess.call",
    "subprocess.check_call",
    "subprocess.check_output",
    "subprocess.Popen",
    "builtins.eval",
    "builtins.exec",
    "builtins.compile",
    "builtins.__import__",
}


def _dotted(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def _defined_names(tree: ast.Module) -> set[str]:
    """Names a module binds at top level (its own `compile` shadows the builtin)."""
    out: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            out |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Assign):
            out |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return out


def risky_uses(source: str) -> Iterator[str]:
    """Each use of a code-running or unsafe-loading facility in `source`, as a short key."""
    tree = ast.parse(source)
    own = _defined_names(tree)
    imported_from: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                imported_from[alias.asname or alias.name] = f"{node.module}.{alias.name}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            name = _dotted(func)
            if isinstance(func, ast.Name) and func.id in _BUILTINS and func.id not in own:
                yield func.id
            elif isinstance(func, ast.Name) and imported_from.get(func.id) in _MODULE_CALLS:
                yield imported_from[func.id]
            elif name in _MODULE_CALLS:
                yield name
            elif isinstance(func, ast.Attribute) and func.attr == "exec_module":
                yield "exec_module"
            if name and name.startswith("yaml."):
                given = [kw.value for kw in node.keywords if kw.arg == "Loader"]
                if name in ("yaml.load", "yaml.load_all") and len(node.args) > 1:
                    given.append(node.args[1])
                loader = (_dotted(given[0]) or "?") if given else None
                safe = loader is not None and loader.removeprefix("yaml.") in _YAML_SAFE_LOADERS
                if name in ("yaml.load", "yaml.load_all") and not safe:
                    yield name  # PyYAML's load without a safe Loader
                elif loader is not None and not safe:
                    yield f"{name}(Loader={loader})"
            if (
                name == "getattr"
                and len(node.args) >= 2
                and _dotted(node.args[0]) in ("yaml", "builtins")
                and isinstance(node.args[1], ast.Constant)
                and node.args[1].value in (_YAML_UNSAFE | _BUILTINS)
            ):
                yield f"getattr({_dotted(node.args[0])}, {node.args[1].value!r})"
        elif isinstance(node, ast.Attribute) and node.attr in _YAML_UNSAFE:
            if _dotted(node.value) == "yaml":
                yield f"yaml.{node.attr}"
        elif isinstance(node, ast.ImportFrom) and node.module == "yaml":
            for alias in node.names:
                if alias.name in _YAML_UNSAFE:
                    yield f"yaml.{alias.name}"


def package_findings() -> set[tuple[str, str]]:
    found = set()
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        for use in risky_uses(path.read_text(encoding="utf-8")):
            found.add((rel, use))
    return found


def test_no_unreviewed_way_to_run_code() -> None:
    new = sorted(package_findings() - set(ALLOWED))
    assert not new, (
        "new code-running or unsafe-loading call(s) in archspec/; make sure no spec text "
        f"can reach them, then add them to ALLOWED with the reason: {new}"
    )


def test_allow_list_has_no_stale_entries() -> None:
    stale = sorted(set(ALLOWED) - package_findings())
    assert not stale, f"remove these ALLOWED entries, nothing matches them any more: {stale}"


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("eval(text)", "eval"),
        ("exec(text)", "exec"),
        ("code = compile(text, 'f', 'exec')", "compile"),
        ("__import__(name)", "__import__"),
        ("import importlib\nimportlib.import_module(name)", "importlib.import_module"),
        ("from importlib import import_module\nimport_module(name)", "importlib.import_module"),
        ("import yaml\nyaml.load(text, Loader=yaml.Loader)", "yaml.load"),
        ("import yaml\nyaml.load(text, yaml.FullLoader)", "yaml.load"),
        ("import yaml\nyaml.load(text)", "yaml.load"),
        ("import yaml\nyaml.compose(text, Loader=MyLoader)", "yaml.compose(Loader=MyLoader)"),
        ("import yaml\nyaml.unsafe_load(text)", "yaml.unsafe_load"),
        ("import yaml\nyaml.full_load(text)", "yaml.full_load"),
        ("from yaml import UnsafeLoader", "yaml.UnsafeLoader"),
        ("import yaml\nL = getattr(yaml, 'UnsafeLoader')", "getattr(yaml, 'UnsafeLoader')"),
        ("import builtins\nbuiltins.exec(text)", "builtins.exec"),
        ("import builtins\ngetattr(builtins, 'eval')(text)", "getattr(builtins, 'eval')"),
        ("import pickle\npickle.loads(blob)", "pickle.loads"),
        ("import torch\ntorch.load(path)", "torch.load"),
        ("import os\nos.system(cmd)", "os.system"),
        ("import subprocess\nsubprocess.Popen(cmd)", "subprocess.Popen"),
        ("spec.loader.exec_module(module)", "exec_module"),
    ],
)
def test_scanner_finds(snippet: str, expected: str) -> None:
    assert expected in set(risky_uses(snippet))


@pytest.mark.parametrize(
    "snippet",
    [
        "import re\nre.compile('x')",
        "import torch\ntorch.compile(model)",
        "def compile(source):\n    return source\ncompile(1)",
        "import yaml\nyaml.safe_load(text)",
        "import yaml\nyaml.load(text, Loader=yaml.SafeLoader)",
        "import yaml\nclass L(yaml.SafeLoader):\n    pass",
        "model.eval()",
        "x = 'eval(text)'",
    ],
)
def test_scanner_ignores(snippet: str) -> None:
    assert not set(risky_uses(snippet))
