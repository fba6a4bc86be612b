"""The docs are executed: every spec in them checks clean, every Python block runs.

Fenced blocks in docs/*.md and README.md are collected with the HTML-comment directives
written on the lines just above them:

- `<!-- no-test -->`: the block is not run (use sparingly);
- `<!-- expect: E305 -->`: the YAML spec must fail (or warn, for W codes) with that code;
- `<!-- file: tiny.yaml -->`: the block is also written to that file in the directory the
  page's Python blocks run in, so they (and the reader) can use it by path;
- `<!-- output -->`: after a ```python block, the block must equal what that Python block
  printed; on a ```console block, every `$ archspec ...` line is run (in the same directory,
  without colour) and what it prints must equal the lines under it; files its `compile` and
  `new` commands write are also there for the page's Python blocks;
- `<!-- exit: 1 -->`: the exit status of the commands of a ```console block (default 0).

Other ```console blocks are not run.

```yaml blocks whose top level has an `archspec:` key are specs: `archspec.check` must find
nothing (no error, no warning), `archspec.compile(..., device="meta")` must build them, and a
meta-tensor forward pass checks the output shapes the graph declares. Other YAML (other
formats, on the comparison page) only has to parse. ```python blocks of a page run in one
subprocess, each in a fresh namespace, in a temporary directory holding the page's `file:`
blocks; a `try:` in one shows an error, so its body must raise (the `except` clause's
asserts are the example's point, and would pass unseen if nothing were raised).

The error catalogue is checked against the package: every code the package can emit
(a string literal like "E305") has a heading in docs/errors.md.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import archspec
import archspec.api
from archspec.cli import app
from archspec.ops import REGISTRY
from archspec.plugins import load_plugins

from . import early

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [*sorted(DOCS.glob("*.md")), ROOT / "README.md"]

_FENCE = re.compile(r"^(?P<fence>`{3,}|~{3,})\s*(?P<lang>[\w+-]*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*(?P<body>.*?)\s*-->\s*$")
_CODE_LITERAL = re.compile(r"[\"']([EW]\d{3})[\"']")
_CODE_HEADING = re.compile(r"^#{2,4}\s+`?([EW]\d{3})\b", re.MULTILINE)


@dataclass(frozen=True)
class Block:
    """One fenced block of a Markdown page and the directives written above it."""

    page: Path
    line: int  # 1-based line of the opening fence
    lang: str
    text: str
    directives: tuple[str, ...]

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"

    def directive(self, key: str) -> str | None:
        """The value of `key: value`, or "" for a bare `key`, or None when absent."""
        for d in self.directives:
            name, _, value = d.partition(":")
            if name.strip() == key:
                return value.strip()
        return None


def read_blocks(page: Path) -> list[Block]:
    """Fenced blocks of a page, in order."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        fence, lang, start = m["fence"], m["lang"], i
        body: list[str] = []
        i += 1
        while i < len(lines) and not lines[i].startswith(fence):
            body.append(lines[i])
            i += 1
        out.append(Block(page, start + 1, lang, "\n".join(body) + "\n", _directives(lines, start)))
        i += 1
    return out


def _directives(lines: list[str], fence_index: int) -> tuple[str, ...]:
    found: list[str] = []
    j = fence_index - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    while j >= 0 and (m := _DIRECTIVE.match(lines[j].strip())):
        found.insert(0, m["body"])
        j -= 1
    return tuple(found)


def all_blocks() -> list[Block]:
    return [b for page in PAGES if page.exists() for b in read_blocks(page)]


def _is_spec(block: Block) -> bool:
    if block.directive("expect"):
        # An error example may be invalid YAML on purpose.
        return any(line.startswith("archspec:") for line in block.text.splitlines())
    data = yaml.load(block.text, Loader=_LOADER)
    return isinstance(data, dict) and "archspec" in data


#: libyaml's safe loader where PyYAML has it: every worker reads the pages at collection.
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


YAML_BLOCKS = [b for b in all_blocks() if b.lang in ("yaml", "yml")]
SPEC_BLOCKS = [b for b in YAML_BLOCKS if b.directive("no-test") is None and _is_spec(b)]
PY_PAGES = sorted({b.page for b in all_blocks() if b.lang == "python"})


def test_docs_exist() -> None:
    for name in ("spec-language", "errors", "comparison", "tutorial", "cli"):
        assert (DOCS / f"{name}.md").is_file(), f"docs/{name}.md is missing"
    assert SPEC_BLOCKS, "no spec examples found in the docs"


@pytest.mark.parametrize(
    "block", [b for b in YAML_BLOCKS if b.directive("expect") is None], ids=lambda b: b.where
)
def test_yaml_block_parses(block: Block) -> None:
    yaml.safe_load(block.text)


@pytest.mark.parametrize("block", SPEC_BLOCKS, ids=lambda b: b.where)
def test_spec_example(block: Block) -> None:
    expected = block.directive("expect")
    if expected:
        _check_expected_failure(block, expected)
        return
    family = archspec.api.family_of(block.text)
    for variant in family[1] if family else [None]:  # a family: every variant
        try:
            graph = archspec.build_graph(block.text, variant=variant)
        except archspec.ArchSpecError as exc:
            pytest.fail(f"{block.where}: the example does not check clean:\n{exc.render()}")
        result = archspec.check(block.text, variant=variant)
        found = [d.render(dict(result.sources)) for d in result.diagnostics]
        assert not found, f"{block.where}: `archspec check` reports:\n" + "\n".join(found)
        _forward_on_meta(block, graph, variant)


def _check_expected_failure(block: Block, code: str) -> None:
    """`archspec check` reports `code`, or else compiling (limits) or emitting source does."""
    from archspec.api import emit

    codes = [d.code for d in archspec.check(block.text).diagnostics]
    for later in (lambda text: archspec.compile(text, device="meta"), emit):
        if code in codes:
            break
        try:
            later(block.text)
        except archspec.ArchSpecError as exc:
            codes += exc.codes
    assert code in codes, f"{block.where}: expected {code}, got {codes}"


def _forward_on_meta(block: Block, graph: archspec.ir.Graph, variant: str | None) -> None:
    """Compile without weights and run the declared input through, checking each output shape."""
    import torch

    model = archspec.compile(block.text, device="meta", variant=variant).eval()
    if not all(d.is_const or str(d) == "N" for dims in graph.input_shapes for d in dims):
        return  # symbolic spatial sizes: the shape engine's tests cover those
    batch = 2
    xs = [  # one tensor per input (a network of several: `inputs:`), of its dtype
        torch.empty(
            *(d.value if d.is_const else batch for d in dims),
            device="meta",
            dtype=getattr(torch, dtype),
        )
        for dims, dtype in zip(graph.input_shapes, graph.input_dtypes)
    ]
    with torch.no_grad():
        out = model(*xs)
    outs = out if isinstance(out, tuple) else (out,)
    kept = [o for o in graph.root.outputs if not o.train_only]
    if isinstance(out, dict):  # `outputs:` as a mapping: forward's dict holds its keys
        assert list(out) == [o.key for o in kept], f"{block.where}: keys {list(out)}"
        outs = tuple(out.values())
    declared = [s for s, o in zip(graph.output_shapes, graph.root.outputs) if not o.train_only]
    assert len(outs) == len(declared), f"{block.where}: {len(outs)} outputs in eval mode"
    for got, want in zip(outs, declared):
        want_t = tuple(d.value if d.is_const else batch for d in want)
        assert tuple(got.shape) == want_t, f"{block.where}: output {tuple(got.shape)} != {want_t}"


_RUNNER = r"""
import ast, contextlib, io, json, sys, traceback

def must_raise(text, where):
    # a doc example's `try:` shows an error: one that raises nothing fails the block, as
    # the asserts in its `except` would otherwise never run
    tree = ast.parse(text, where)
    for node in ast.walk(tree):
        if isinstance(node, ast.Try) and node.handlers and not node.orelse:
            said = f"{where}: the try at line {node.lineno} of the block raised nothing"
            node.orelse = ast.parse(f"raise AssertionError({said!r})").body
    return ast.fix_missing_locations(tree)

outputs = {}
for block in json.load(open(sys.argv[1], encoding="utf-8")):
    namespace = {"__name__": "__main__"}
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stdout(buffer):
            code = compile(must_raise(block["text"], block["where"]), block["where"], "exec")
            exec(code, namespace)
    except BaseException:
        print(buffer.getvalue())
        print("FAILED " + block["where"])
        traceback.print_exc()
        sys.exit(1)
    outputs[block["where"]] = buffer.getvalue()
json.dump(outputs, open(sys.argv[2], "w", encoding="utf-8"))
"""


def _prepare_page(page: Path, where: Path) -> list[Block]:
    """The page's `file:` blocks and the files its console blocks' commands write (`archspec
    compile -o net.py`), in `where`, for its Python blocks; returns the page's blocks."""
    blocks = read_blocks(page)
    for b in blocks:
        name = b.directive("file")
        if name:
            (where / name).write_text(b.text, encoding="utf-8")
    for b in blocks:
        if b.lang == "console" and b.directive("output") is not None:
            for command, _ in _commands(b):
                if shlex.split(command)[1:2] in (["compile"], ["new"]):
                    _run_cli(command, where)
    return blocks


def _runnable(blocks: list[Block]) -> list[dict[str, str]]:
    return [
        {"where": b.where, "text": b.text}
        for b in blocks
        if b.lang == "python" and b.directive("no-test") is None
    ]


def _run_page(where: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The page's Python blocks in a fresh interpreter, in `where` (see _RUNNER); `env`, the
    environment as it was when the run was asked for (a test running meanwhile may change
    this process's)."""
    return early.run(
        [sys.executable, "-c", _RUNNER, "_blocks.json", "_outputs.json"],
        cwd=where,
        timeout=900,
        env=env,
    )


def start_early(items: list[pytest.Item], root: Path) -> None:
    """tests/early.py: the selected pages' files prepared here, in the main thread (a page's
    commands run in this process and change its directory), their Python runs started."""
    for i, item in enumerate(items):
        page = item.callspec.params["page"]  # type: ignore[attr-defined]
        where = root / f"page{i}"
        where.mkdir()
        blocks = _prepare_page(page, where)
        runnable = _runnable(blocks)
        if runnable:
            (where / "_blocks.json").write_text(json.dumps(runnable), encoding="utf-8")
            env = dict(os.environ)
            early.submit(page, lambda w=where, b=blocks, e=env: (w, b, _run_page(w, e)))


@pytest.mark.early
@pytest.mark.parametrize("page", PY_PAGES, ids=lambda p: p.name)
def test_python_blocks_run(page: Path, tmp_path: Path) -> None:
    started = early.take(page)
    if started is not None:
        where, blocks, proc = started.result()
    else:  # not started by the session (run from another harness): here and now
        where, blocks = tmp_path, _prepare_page(page, tmp_path)
        runnable = _runnable(blocks)
        if not runnable:
            pytest.skip("no runnable Python blocks")
        (where / "_blocks.json").write_text(json.dumps(runnable), encoding="utf-8")
        proc = _run_page(where)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    outputs = json.loads((where / "_outputs.json").read_text(encoding="utf-8"))
    last_python: Block | None = None
    for b in blocks:
        if b.lang == "python" and b.directive("no-test") is None:
            last_python = b
        elif b.lang != "console" and b.directive("output") is not None:
            assert last_python is not None, f"{b.where}: an output block with no Python before it"
            got = outputs[last_python.where].strip()
            assert got == b.text.strip(), (
                f"{b.where}: the page shows output that {last_python.where} does not print.\n"
                f"--- printed:\n{got}\n--- shown:\n{b.text.strip()}"
            )


CONSOLE_BLOCKS = [
    b for b in all_blocks() if b.lang == "console" and b.directive("output") is not None
]


def test_every_readme_console_block_is_run() -> None:
    """README is the first page a user reads: each console block on it is a real run."""
    readme = [b for b in all_blocks() if b.page.name == "README.md" and b.lang == "console"]
    assert len(readme) >= 2
    assert all(b.directive("output") is not None for b in readme), [b.where for b in readme]


@pytest.mark.parametrize("block", CONSOLE_BLOCKS, ids=lambda b: b.where)
def test_console_output(block: Block, tmp_path: Path) -> None:
    """Shown CLI output is real: each command runs and prints exactly what the page shows."""
    for b in read_blocks(block.page):
        name = b.directive("file")
        if name:
            (tmp_path / name).write_text(b.text, encoding="utf-8")
    expected_status = int(block.directive("exit") or 0)
    for command, shown in _commands(block):
        ran = _run_cli(command, tmp_path)
        printed = _normalise(ran.output)
        assert printed == _normalise(shown), (
            f"{block.where}: `{command}` prints something else than the page shows "
            "(if the change is intended: python docs/_refresh_outputs.py).\n"
            f"--- printed:\n{printed}\n--- shown:\n{_normalise(shown)}"
        )
        assert ran.status == expected_status, (
            f"{block.where}: `{command}` exited {ran.status}, expected {expected_status}"
        )


@dataclass(frozen=True)
class Ran:
    """What one `archspec ...` line printed (stdout and stderr in order) and its status."""

    output: str
    status: int


class _Runner(CliRunner):
    """CliRunner with unbuffered stdout and stderr, as PYTHONUNBUFFERED gives a process: the
    two streams' lines then interleave in the order they were written, as a terminal shows."""

    @contextlib.contextmanager
    def isolation(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        with super().isolation(*args, **kwargs) as streams:
            sys.stdout.reconfigure(write_through=True)  # type: ignore[union-attr]
            sys.stderr.reconfigure(write_through=True)  # type: ignore[union-attr]
            yield streams


#: The width click wraps help at in a terminal of 100 columns (min(columns, 80) - 2);
#: CliRunner alone would force 80.
_HELP_WIDTH = 78


def _run_cli(command: str, cwd: Path) -> Ran:
    """Run an `archspec ...` line as a user would see it: no colour, stderr in with stdout.

    In this process (typer's CliRunner, in `cwd`): what is shown is the commands' own text,
    which a fresh interpreter per line (two seconds of start-up each) would not change; the
    process-level behaviour (exit codes of `python -m archspec`, signals, pipes, start-up
    without torch) has its own tests in test_trust_output.py and test_check_cli.py. A line
    that loads plugins runs in a process of its own: a plugin's kinds stay registered in the
    process that loaded it, and the next page (or test) must not see them."""
    argv = shlex.split(command)
    assert argv[0] == "archspec", f"only archspec commands are run, not {command!r}"
    # an empty torch.hub cache: what `archspec weights` shows as cached is the page's, not
    # what this machine happened to download
    env = {"NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb", "TORCH_HOME": str(cwd / ".torch")}
    if any(a == "--plugins" or a.startswith("--plugins=") for a in argv):
        proc = subprocess.run(
            [sys.executable, "-m", "archspec", *argv[1:]],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,  # one stream, in the order a terminal shows it
            text=True,
            env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
            timeout=600,
        )
        return Ran(proc.stdout, proc.returncode)
    load_plugins()  # installed plugins load on first use, in any process: not a leak
    kinds = set(REGISTRY)
    here = Path.cwd()
    os.chdir(cwd)
    try:
        result = _Runner().invoke(
            app,
            argv[1:],
            prog_name="archspec",
            env={**env, "ARCHSPEC_PLUGINS": None},
            terminal_width=_HELP_WIDTH,
        )
    finally:
        os.chdir(here)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback is never what a page shows
    assert set(REGISTRY) == kinds, f"`{command}` changed this process's layer kinds"
    return Ran(result.output, result.exit_code)


def _commands(block: Block) -> list[tuple[str, str]]:
    """(command, the output shown under it) for each `$ ` line of a console block."""
    out: list[tuple[str, list[str]]] = []
    for line in block.text.splitlines():
        if line.startswith("$ "):
            out.append((line[2:].strip(), []))
        elif out:
            out[-1][1].append(line)
    return [(cmd, "\n".join(lines)) for cmd, lines in out]


def _normalise(text: str) -> str:
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def package_codes() -> set[str]:
    """Every diagnostic code written as a string literal in the package."""
    codes: set[str] = set()
    for path in (ROOT / "archspec").rglob("*.py"):
        codes.update(_CODE_LITERAL.findall(path.read_text(encoding="utf-8")))
    return codes


def test_every_error_code_documented() -> None:
    documented = set(_CODE_HEADING.findall((DOCS / "errors.md").read_text(encoding="utf-8")))
    missing = sorted(package_codes() - documented)
    assert not missing, f"codes emitted by archspec but not documented in docs/errors.md: {missing}"


def test_layer_table_up_to_date() -> None:
    spec = importlib.util.spec_from_file_location("_gen_layers", DOCS / "_gen_layers.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    page = (DOCS / "spec-language.md").read_text(encoding="utf-8")
    assert gen.replace_table(page) == page, (
        "the layer table in docs/spec-language.md is stale: run python docs/_gen_layers.py"
    )


def test_ci_runs_the_readme_test_command() -> None:
    """CI must run exactly what README's "Test" section tells contributors to run."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Test\n", 1)[1].split("\n## ", 1)[0]
    command = re.search(r"```bash\n(.+?)\n```", section, re.S).group(1).strip()
    script = (ROOT / ".ci" / "run").read_text().splitlines()
    assert command in [line.strip() for line in script if not line.lstrip().startswith("#")]


#: where this repository happened to live on the machines it was written and measured on
_MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home|Users|root)/[\w.-]+")


def test_no_machine_paths_in_the_repository() -> None:
    """Commands anyone can run: no interpreter or venv path of one machine (a home folder,
    a build machine's checkout) in the docs, README, benchmark results, specs or code."""
    suffixes = {".md", ".py", ".yaml", ".toml", ".txt", ".json", ".jinja", ".cfg"}
    skip = {"__pycache__", "_unused", "venv", "build", "dist", "node_modules"}
    found = []
    for path in sorted(ROOT.rglob("*")):
        parts = path.relative_to(ROOT).parts
        hidden = any(p.startswith(".") or p in skip for p in parts)
        if hidden or path.suffix not in suffixes or not path.is_file():
            continue
        for n, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            if _MACHINE_PATH.search(line) and "_MACHINE_PATH" not in line:
                found.append(f"{path.relative_to(ROOT)}:{n}: {line.strip()[:80]}")
    assert found == [], "\n".join(found)


def test_the_package_declares_its_type_hints() -> None:
    """PEP 561: `py.typed` in the package, so mypy and pyright read archspec's hints; the
    wheel holds the whole `archspec` folder (hatch's `packages`), marker included."""
    import importlib.resources
    import tomllib

    assert (importlib.resources.files("archspec") / "py.typed").is_file()
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    wheel = project["tool"]["hatch"]["build"]["targets"]["wheel"]
    assert wheel["packages"] == ["archspec"] and "exclude" not in wheel


def test_set_up_says_how_to_get_torch_and_graphviz() -> None:
    """Issue 16's first-hour walls: which torch wheel the index serves (PyPI's Linux wheels
    are CUDA builds) and how to get either build; Graphviz for SVG/PNG/PDF pictures, and
    the formats that need nothing."""
    readme = (ROOT / "README.md").read_text()
    setup = " ".join(readme.split("\n## Set up\n", 1)[1].split("\n## ", 1)[0].split())
    assert "--index-url https://download.pytorch.org/whl/cpu" in setup
    assert "CUDA" in setup and "GPU build" in setup
    for how in ("apt-get install graphviz", "brew install graphviz", "conda install graphviz"):
        assert how in setup
    assert "DOT" in setup and "Mermaid" in setup


def test_user_facing_text_describes_networks_by_their_papers() -> None:
    """Descriptions name the paper, never the notes the project began from."""
    texts = {
        f"{n} description": archspec.build_graph(n).description for n in archspec.list_models()
    }
    texts.update({p.name: p.read_text() for p in PAGES})
    stale = [k for k, text in texts.items() if re.search(r"seed notes?\b", text, re.I)]
    assert stale == []
