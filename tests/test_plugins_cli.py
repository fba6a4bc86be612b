"""Plugin files: `--plugins FILE` and ARCHSPEC_PLUGINS on every command, and
`archspec.load_plugin_files` underneath. The person running archspec names the files; a spec
never can. The fixtures are tests/plugins/pair_gate.py (a two-input module layer that imports
torch) and tests/plugins/blend.py (a two-input function layer that imports no torch)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec import plugins
from archspec.cli import app
from archspec.errors import PluginError
from archspec.ops import REGISTRY

from .conftest import ROOT, plugins_restored
from .emit_helpers import _load

HERE = Path(__file__).resolve().parent
PAIR = HERE / "plugins" / "pair_gate.py"
BLEND = HERE / "plugins" / "blend.py"
SE_LAYER = ROOT / "examples" / "se_layer.py"
SE_SPEC = ROOT / "examples" / "se_resnet18.yaml"

SPEC = """\
archspec: 1
name: pair_net
input: [N, 3, 16, 16]
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: side, type: conv2d, out_channels: 4, kernel_size: 1, from: input}
  - {name: gate, type: pair_gate, from: [stem, side]}
  - {name: mix, type: blend, weight: 0.25, from: [gate, stem]}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: fc, type: linear, out_features: 10}
"""

runner = CliRunner()


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no plugin file loaded and leaves the registry as it found it."""
    monkeypatch.delenv("ARCHSPEC_PLUGINS", raising=False)
    with plugins_restored():
        yield


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "pair_net.yaml"
    path.write_text(SPEC)
    return path


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    # a wide terminal, so that each table row is one line
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "400", **(env or {})})
    return result.exit_code, result.stdout, result.stderr


def with_plugins(*args: str) -> list[str]:
    return [*args, "--plugins", str(PAIR), "--plugins", str(BLEND)]


def test_the_issue_check_with_and_without_plugins() -> None:
    """`archspec check --plugins examples/se_layer.py examples/se_resnet18.yaml` works;
    without --plugins the error says how to load the kind."""
    code, out, err = run("check", str(SE_SPEC))
    assert code == 1 and "error[E205]: unknown layer type or block `squeeze_excite`" in err
    hint = next(line for line in err.splitlines() if "= hint:" in line)
    assert "--plugins FILE.py" in hint and "ARCHSPEC_PLUGINS" in hint
    assert "archspec.load_plugin_files" in hint and "`archspec.layers` entry point" in hint
    code, out, err = run("check", "--plugins", str(SE_LAYER), str(SE_SPEC))
    assert code == 0, err
    assert "se_resnet18" in out and ": ok" in out and "output  (N, 1000)" in out


def test_a_typo_of_a_known_kind_still_gets_did_you_mean() -> None:
    text = "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\nlayers:\n  - {type: batchnorm2}\n"
    (err,) = archspec.check(text).errors
    assert err.code == "E205" and err.hint == "did you mean `batchnorm2d`?"


def test_a_loose_match_of_a_known_kind_also_says_how_to_load_a_plugin() -> None:
    """`channel_scale` (a plugin's kind, not loaded) was only told `did you mean
    channel_shuffle?`: the way to load a plugin now follows the guess."""
    text = "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\nlayers:\n  - {type: channel_scale}\n"
    (err,) = archspec.check(text).errors
    assert err.code == "E205" and err.hint is not None
    assert err.hint.startswith("did you mean `channel_shuffle`? If `channel_scale` is a plugin")
    assert "--plugins FILE.py" in err.hint and "archspec.load_plugin_files" in err.hint


@pytest.mark.parametrize(
    ("command", "expect"),
    [
        ("check", "pair_net ("),
        ("summary", "PairGate"),
        ("emit", "class PairGate(nn.Module):"),
        ("graph", 'digraph "pair_net"'),
        ("show", "type: pair_gate"),  # show resolves the spec's text: it reads no kind
    ],
)
def test_every_command_that_reads_a_spec_takes_plugins(
    spec: Path, command: str, expect: str
) -> None:
    code, _, err = run(command, str(spec))
    assert (code, "E205" in err) == ((0, False) if command == "show" else (1, True))
    plugins.reset()
    code, out, err = run(*with_plugins(command, str(spec)))
    assert code == 0, err
    assert expect in out
    assert {"pair_gate", "blend"} <= set(REGISTRY)


def test_compile_with_a_two_input_plugin_writes_a_checked_module(
    spec: Path, tmp_path: Path
) -> None:
    target = tmp_path / "pair_net.py"
    code, out, err = run(*with_plugins("compile", str(spec), "-o", str(target)))
    assert code == 0, err
    assert "class PairNet, 370 parameters" in out and "match archspec.compile" in out
    source = target.read_text()
    assert "gate = self.gate(stem, side)" in source
    assert "x = torch.lerp(gate, stem, weight=0.25)" in source
    # its header says how to make it again, plugin files included (no machine's folders)
    header = " ".join(line.lstrip("# ") for line in source.splitlines()[:4])
    assert "--plugins plugins/pair_gate.py --plugins plugins/blend.py" in header, header
    # the written file needs torch only: it runs with the plugins forgotten
    for kind in ("pair_gate", "blend"):
        archspec.unregister(kind)
    emitted = _load(source, "pair_net_written").PairNet()
    assert sum(p.numel() for p in emitted.parameters()) == 370


def test_the_header_names_only_the_plugin_files_the_spec_uses(spec: Path) -> None:
    archspec.load_plugin_files([PAIR, BLEND, SE_LAYER])
    source = archspec.emit(
        spec.read_text().replace(
            "type: pair_gate, from: [stem, side]", "type: add, from: [stem, stem]"
        )
    )
    regenerate = next(line for line in source.splitlines() if "Regenerate:" in line)
    assert regenerate.endswith("--plugins plugins/blend.py"), regenerate
    assert "examples/se_layer.py" not in source and "pair_gate" not in source


def test_two_input_plugins_compile_and_emit_the_same_model(spec: Path) -> None:
    """Loaded from Python, the two-input layers give one model compiled and emitted: the
    module is called with both tensors, the function with both, in `from` order."""
    assert archspec.load_plugin_files([PAIR, BLEND]) == ["pair_gate", "blend"]
    torch.manual_seed(0)
    model = archspec.compile(spec).eval()
    emitted = _load(archspec.emit(spec), "pair_net_emitted").PairNet().eval()
    emitted.load_state_dict(model.state_dict())
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        stem = model.stem(x)
        gated = stem * torch.sigmoid(model.gate.proj(model.side(x)))
        mixed = gated + 0.25 * (stem - gated)
        expected = model.fc(torch.flatten(mixed.mean(dim=(2, 3), keepdim=True), 1))
        torch.testing.assert_close(model(x), expected)
        torch.testing.assert_close(emitted(x), model(x), rtol=0, atol=0)
    assert archspec.summary(spec).params == 370 == sum(p.numel() for p in model.parameters())


def test_a_wrong_number_of_inputs_to_a_plugin_layer_is_e305(spec: Path) -> None:
    archspec.load_plugin_files([PAIR])
    text = SPEC.replace("from: [stem, side]", "from: [stem, side, input]")
    text = text.replace("  - {name: mix, type: blend, weight: 0.25, from: [gate, stem]}\n", "")
    (err,) = archspec.check(text).errors
    assert err.code == "E305" and "takes 2 inputs, `from` names 3" in err.message
    assert err.span is not None and err.span.line == 7


def test_list_layers_and_schema_include_plugin_kinds(tmp_path: Path) -> None:
    code, out, _ = run("list", "--layers")
    assert code == 0 and " pair_gate " not in out
    code, out, err = run(*with_plugins("list", "--layers"))
    assert code == 0, err
    row = next(line for line in out.splitlines() if " pair_gate " in line)
    assert "two inputs" in row and "pair_gate.py" in row  # the file it came from
    row = next(line for line in out.splitlines() if " blend " in line)
    assert "weight?" in row
    code, out, _ = run(*with_plugins("schema"))
    assert code == 0
    defs = json.loads(out)["$defs"]
    assert {"PairGateSpec", "BlendSpec"} <= set(defs)
    plugins.reset()
    for kind in ("pair_gate", "blend"):
        archspec.unregister(kind)
    code, out, _ = run("schema")
    assert "PairGateSpec" not in json.loads(out)["$defs"]
    # `new` writes the schema beside the spec, with the plugins' kinds when given
    code, _, err = run(*with_plugins("new", "mynet", "-o", str(tmp_path / "mynet.yaml")))
    assert code == 0, err
    assert "BlendSpec" in (tmp_path / "archspec.schema.json").read_text()


ESC_PLUGIN = """\
from typing import Literal

import archspec


class EscSpec(archspec.LayerSpec):
    type: Literal["esc_kind"]


class EscOp(archspec.Op):
    kind = "esc_kind"
    spec = EscSpec
    torch_name = "Identity"
    summary = "clears \\x1b[2J\\x1b[31mthe screen \\u202e"
    category = "act"

    def infer(self, attrs, inputs, ctx):
        return archspec.Inferred(attrs, tuple(inputs[0]))

    def build(self, a):
        import torch

        return torch.nn.Identity()

    def emit(self, a, lit):
        return "nn.Identity()"
"""


def test_list_layers_shows_a_plugins_own_text_escaped(tmp_path: Path) -> None:
    """A plugin's summary reached the terminal as it was: an ESC sequence cleared it and a
    bidi control reordered the row. It is written as escapes, as diagnostics are."""
    plugin = tmp_path / "esc.py"
    plugin.write_text(ESC_PLUGIN, encoding="utf-8")
    code, out, err = run("list", "--layers", "--plugins", str(plugin))
    assert code == 0, err
    row = next(line for line in out.splitlines() if " esc_kind " in line)
    assert "\x1b" not in out and "\u202e" not in out
    assert "clears \\x1b[2J\\x1b[31mthe screen \\u202e" in row


def test_the_environment_variable_adds_files_and_each_loads_once(spec: Path) -> None:
    env = {"ARCHSPEC_PLUGINS": os.pathsep.join(["", str(PAIR), str(BLEND), ""])}
    code, out, err = run("check", str(spec), env=env)
    assert code == 0 and "pair_net (" in out, err
    # named again, on the command line and through another path: still once, no clash
    again = str(PAIR.parent / ".." / "plugins" / PAIR.name)
    code, out, err = run("check", str(spec), "--plugins", again, "--plugins", str(PAIR), env=env)
    assert code == 0, err
    assert plugins.env_plugin_files({"ARCHSPEC_PLUGINS": f"a.py{os.pathsep}{os.pathsep}b.py"}) == [
        "a.py",
        "b.py",
    ]


def test_no_plugins_skips_installed_ones_not_named_files(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ARCHSPEC_NO_PLUGINS gets past a broken installed plugin; files named are still loaded."""
    monkeypatch.setenv("ARCHSPEC_NO_PLUGINS", "1")
    plugins.reset()
    assert archspec.load_plugin_files([PAIR, BLEND]) == ["pair_gate", "blend"]
    assert plugins.load_plugins() == []
    assert archspec.check(spec).ok


def test_the_variable_is_the_command_lines_only(
    spec: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library call reads no environment variable: Python loads its files itself."""
    monkeypatch.setenv("ARCHSPEC_PLUGINS", os.pathsep.join([str(PAIR), str(BLEND)]))
    report = archspec.check(spec)
    assert [d.code for d in report.errors] == ["E205", "E205"]
    assert "pair_gate" not in REGISTRY


def _write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(textwrap.dedent(text))
    return str(path)


OP = textwrap.dedent(
    """\
    from typing import Literal
    import archspec

    class {cls}Spec(archspec.LayerSpec):
        type: Literal["{kind}"]

    class {cls}(archspec.Op):
        kind = "{kind}"
        spec = {cls}Spec
        style = "function"

        def infer(self, attrs, inputs, ctx):
            return archspec.Inferred(attrs, tuple(inputs[0]))

        def function(self, attrs):
            return (lambda x: x), {{}}

        def emit(self, attrs, lit):
            return attrs["_inputs"][0]
"""
)


def _bad_files(tmp: Path) -> dict[str, tuple[str, str, str]]:
    """name -> (path, what the message says, what the hint says)."""
    (tmp / "folder").mkdir()
    os.mkfifo(tmp / "fifo.py")
    same = OP.format(cls="Twin", kind="twin") + OP.format(cls="Twin2", kind="twin")
    return {
        "missing": (str(tmp / "nope.py"), "does not exist", "docs/plugins.md"),
        "directory": (str(tmp / "folder"), "is a directory", "entry point"),
        "not python": (_write(tmp, "layers.txt", "x = 1\n"), "is not a Python file", ".py"),
        "fifo": (str(tmp / "fifo.py"), "is not a regular file", ".py file"),
        "no op": (_write(tmp, "empty.py", "import archspec\nX = 1\n"), "defines no layer", "Op"),
        "raises": (
            _write(tmp, "boom.py", "import archspec\n\n\nraise RuntimeError('no GPU here')\n"),
            "failed to import: RuntimeError: no GPU here",
            "fix the file",
        ),
        "syntax": (_write(tmp, "syntax.py", "def (:\n"), "SyntaxError: invalid syntax", "fix"),
        "exits": (_write(tmp, "exits.py", "import sys\nsys.exit(3)\n"), "SystemExit: 3", "fix"),
        "raises a BaseException": (  # was a traceback: only Exception and SystemExit were caught
            _write(tmp, "odd.py", "class Odd(BaseException):\n    pass\n\n\nraise Odd('x')\n"),
            "failed to import: Odd: x",
            "fix the file",
        ),
        "taken kind": (
            _write(tmp, "taken.py", OP.format(cls="Conv", kind="conv2d")),
            "already registered",
            "rename its `kind`",
        ),
        "incomplete op": (
            _write(tmp, "half.py", OP.format(cls="Half", kind="half").split("    def emit")[0]),
            "Half cannot be registered: Half (half): no emitted-code rule (`emit`)",
            "docs/plugins.md",
        ),
        "two of a kind": (_write(tmp, "twins.py", same), "defines two ops of kind `twin`", "one"),
        "field pydantic cannot validate": (  # was an internal error (exit 3) at the first spec
            _write(
                tmp,
                "opaque.py",
                "class Opaque:\n    pass\n\n\n"
                + OP.format(cls="Odd", kind="odd").replace(
                    'type: Literal["odd"]', 'type: Literal["odd"]\n    thing: Opaque = None'
                ),
            ),
            "Odd (odd): its spec OddSpec cannot be validated: PydanticSchemaGenerationError",
            "a type pydantic validates",
        ),
    }


def test_bad_plugin_files_are_e701_with_a_hint_and_no_traceback(tmp_path: Path) -> None:
    for case, (path, message, hint) in _bad_files(tmp_path).items():
        before = set(REGISTRY)
        code, out, err = run("check", "lenet5", "--plugins", path)
        assert code == 1, (case, out, err)
        head, *rest = err.splitlines()
        assert "error[E701]: plugin file" in head and message in head, (case, err)
        assert any(line.startswith("  = hint:") and hint in line for line in rest), (case, err)
        assert "Traceback" not in err and out == "", case
        assert set(REGISTRY) == before, case  # nothing of a failed file stays registered
    assert not [m for m in sys.modules if m.startswith("archspec_plugin_")]


def test_an_import_error_points_at_the_plugins_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "late.py", OP.format(cls="Late", kind="late") + "\n1 / 0\n")
    with pytest.raises(PluginError) as info:
        archspec.load_plugin_files([path])
    err = info.value
    assert err.error_code == "E701" and "ZeroDivisionError" in str(err)
    assert err.span is not None and err.span.file == path
    assert err.span.line == len(Path(path).read_text().splitlines())
    assert "1 / 0" in err.render() and "late" not in REGISTRY
    # fixed, the same file loads (a failed load is not remembered)
    Path(path).write_text(Path(path).read_text().replace("1 / 0", ""))
    assert archspec.load_plugin_files([path]) == ["late"]


def test_a_file_loads_as_a_module_of_its_own_with_its_siblings(tmp_path: Path) -> None:
    """Two `layers.py` in two folders meet neither each other nor an installed `layers`;
    a plugin imports a module beside it at import time, and its folder leaves sys.path."""
    for n, kind in ((1, "first"), (2, "second")):
        folder = tmp_path / f"p{n}"
        folder.mkdir()
        _write(folder, f"helper{n}.py", f"KIND = {kind!r}\n")
        text = f"from helper{n} import KIND\n" + OP.format(cls="L", kind=kind)
        (folder / "layers.py").write_text(text.replace(f'"{kind}"', "KIND"))
    path_before = list(sys.path)
    paths = [tmp_path / "p1" / "layers.py", tmp_path / "p2" / "layers.py"]
    assert archspec.load_plugin_files(paths) == ["first", "second"]
    assert sys.path == path_before
    names = {type(REGISTRY[k]).__module__ for k in ("first", "second")}
    assert len(names) == 2 and all(n.startswith("archspec_plugin_layers_") for n in names)
    assert archspec.load_plugin_files(paths) == []  # once per file per process


def test_a_plugin_that_registers_its_ops_itself(tmp_path: Path) -> None:
    text = OP.format(cls="Reg", kind="reg").replace("class Reg(", "@archspec.register\nclass Reg(")
    path = _write(tmp_path, "reg.py", text)
    assert archspec.load_plugin_files([path]) == ["reg"]


def test_a_spec_cannot_cause_a_plugin_load(
    spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No field of a spec reaches the file loader: a path as a `type`, a `plugins:` key, a
    param named so, a `use:` of a .py file. Each is an ordinary error, nothing imported."""
    calls: list[object] = []
    monkeypatch.setattr(plugins, "_load_file", lambda given: calls.append(given) or [])
    head = "archspec: 1\nname: t\ninput: [N, 3, 16, 16]\n"
    texts = {
        "type": head + f"layers:\n  - {{type: {PAIR}}}\n",
        "dotted": head + "layers:\n  - {type: pair_gate.PairGateOp}\n",
        "key": head + f"plugins: [{PAIR}]\nlayers:\n  - {{type: relu}}\n",
        "param": head + f"params:\n  plugins: {{type: str, default: {PAIR}}}\nlayers:\n"
        "  - {type: pair_gate, from: [input, input]}\n",
        "use": head + f"use: [{{from: {PAIR}, blocks: [PairGate]}}]\nlayers:\n  - {{type: relu}}\n",
    }
    for case, text in texts.items():
        path = tmp_path / f"{case}.yaml"
        path.write_text(text)
        code, _, err = run("check", str(path))
        assert code == 1 and "error[E" in err and "Traceback" not in err, (case, err)
        assert not archspec.check(text).ok, case
    assert calls == [] and "pair_gate" not in REGISTRY
    assert not [m for m in sys.modules if m.startswith("archspec_plugin_")]


def test_check_with_a_torch_free_plugin_imports_no_torch(spec: Path) -> None:
    """A plugin that imports no torch keeps `archspec check` torch-free (pair_gate imports
    torch, so the spec here uses blend alone); run in a fresh process, as users run it."""
    text = "archspec: 1\nname: b\ninput: [N, 3, 8, 8]\nlayers:\n"
    text += "  - {name: a, type: relu}\n  - {type: blend, from: [a, input]}\n"
    spec.write_text(text)
    code = textwrap.dedent(
        """
        import sys
        from archspec.cli import main
        sys.argv = ["archspec", "check", *sys.argv[1:]]
        try:
            main()
        except SystemExit as exc:
            status = exc.code
        print("torch imported:", "torch" in sys.modules, "status:", status)
        """
    )
    env = {**os.environ, "ARCHSPEC_PLUGINS": str(BLEND), "NO_COLOR": "1"}
    out = subprocess.run(
        [sys.executable, "-c", code, str(spec)], cwd=ROOT, capture_output=True, text=True, env=env
    )
    assert "b (" in out.stdout and ": ok" in out.stdout, out.stderr
    assert out.stdout.strip().endswith("torch imported: False status: 0"), out.stderr


BUGGY = """\
from typing import Literal

from torch import nn

import archspec


class BuggySpec(archspec.LayerSpec):
    type: Literal["buggy"]


class BuggyOp(archspec.Op):
    kind = "buggy"
    spec = BuggySpec

    def infer(self, attrs, inputs, ctx):
        if METHOD == "infer":
            raise KeyError("oops")
        return archspec.Inferred(dict(attrs), tuple(inputs[0]))

    def params(self, a):
        if METHOD == "params":
            raise ValueError("boom")
        return 0

    def build(self, a):
        if METHOD == "build":
            raise ValueError("boom")
        return nn.Identity()

    def emit(self, a, lit):
        return "nn.Identity()"
"""


@pytest.mark.parametrize(
    ("method", "command", "located"),
    [("infer", "check", True), ("params", "summary", False), ("build", "compile", False)],
)
def test_a_plugin_whose_code_raises_is_its_error_not_an_internal_one(
    tmp_path: Path, method: str, command: str, located: bool
) -> None:
    """A plugin's bug was 'internal error, please report it' (exit 3), pointing at
    archspec; it is E701 naming the kind, the plugin file, the method and the exception."""
    plugin = tmp_path / f"buggy_{method}.py"
    plugin.write_text(
        BUGGY.replace("import archspec\n", f"import archspec\n\nMETHOD = {method!r}\n")
    )
    net = tmp_path / "net.yaml"
    net.write_text(
        "archspec: 1\nname: net\ninput: [N, 4, 8, 8]\nlayers:\n"
        "  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}\n"
        "  - {name: odd, type: buggy}\n"
    )
    extra = ["-o", str(tmp_path / "net.py")] if command == "compile" else []
    code, out, err = run(command, "--plugins", str(plugin), str(net), *extra)
    assert code == 1, out + err
    text = out + err
    assert "error[E701]: " in text and "internal error" not in text, text
    assert f"layer kind `buggy` (plugin {plugin}) failed in its `{method}`" in text, text
    assert ("net.yaml:6:5: error[E701]" in text) == located, text


def test_a_plugins_support_code_that_fails_in_the_emitted_file_is_the_plugins_e701(
    tmp_path: Path,
) -> None:
    """The emitted file imports torch, nn and F only: a support class that reads a name its
    plugin file imported fails there. That is the plugin's error, named with its kind and
    file, not "a bug in archspec's source emitter"."""
    net = tmp_path / "net.yaml"
    net.write_text(
        "archspec: 1\nname: net\ninput: [N, 3, 8, 8]\n"
        "layers:\n  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}\n"
        "  - {name: halved, type: binomial}\n"
    )
    plugin = HERE / "plugins" / "needs_import.py"
    target = str(tmp_path / "n.py")
    code, _out, err = run("compile", "--plugins", str(plugin), str(net), "-o", target)
    assert code == 1, err
    assert "error[E701]" in err and "`binomial`" in err and "needs_import.py" in err, err
    assert "NameError" in err and "emit_support" in err and "bug in archspec" not in err, err
    assert not (tmp_path / "n.py").exists()
