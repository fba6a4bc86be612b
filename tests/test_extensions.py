"""Custom layers: the squeeze-and-excitation example registered from Python and loaded as an
`archspec.layers` entry point of an installed (here: fake, on sys.path) distribution."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import jsonschema
import pytest
import torch
import yaml
from typer.testing import CliRunner

import archspec
from archspec import plugins
from archspec.cli import app
from archspec.errors import PluginError
from archspec.ops import REGISTRY
from archspec.passes.costs import graph_cost
from archspec.schema import json_schema

from .conftest import ROOT

EXAMPLES = ROOT / "examples"
SPEC = EXAMPLES / "se_resnet18.yaml"
KIND = "squeeze_excite"


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Examples importable; registry and plugin state restored afterwards."""
    monkeypatch.syspath_prepend(str(EXAMPLES))
    monkeypatch.delenv("ARCHSPEC_NO_PLUGINS", raising=False)
    plugins.reset()
    plugins.load_plugins()  # plugins really installed (archspec's own contrib) are the baseline
    before = set(REGISTRY)
    plugins.reset()
    yield
    for kind in set(REGISTRY) - before:
        archspec.unregister(kind)
    plugins.reset()
    for name in ("se_layer", "fake_plugin_module"):
        sys.modules.pop(name, None)


@pytest.fixture
def se(isolated: None) -> type[archspec.Op]:
    module = importlib.import_module("se_layer")
    archspec.register(module.SqueezeExciteOp)
    return module.SqueezeExciteOp


def test_se_spec_checks_and_compiles(se: type[archspec.Op]) -> None:
    result = archspec.check(SPEC)
    assert result.ok, [d.message for d in result.diagnostics]
    graph = archspec.build_graph(SPEC, {"num_classes": 10})
    model = archspec.compile(SPEC, num_classes=10).eval()
    block = model.layer2[0]
    assert type(block.se).__name__ == "SqueezeExcite"
    assert (block.se.fc1.in_features, block.se.fc1.out_features) == (128, 8)
    # the op's parameter count is the module's, for every SE layer in the network
    assert graph_cost(graph).params == sum(p.numel() for p in model.parameters())
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)


def test_se_shape_rule_and_costs(se: type[archspec.Op]) -> None:
    op = REGISTRY[KIND]
    path = [p for p, n in _nodes(archspec.build_graph(SPEC)) if n.kind == KIND]
    assert path[:2] == ["layer1.0.se", "layer1.1.se"] and len(path) == 8
    node = dict(_nodes(archspec.build_graph(SPEC)))["layer4.1.se"]
    assert node.attrs["channels"] == 512 and node.attrs["squeeze_channels"] == 32
    assert str(node.shape[1:]) == "(Dim(512), Dim(7), Dim(7))"
    assert op.params(node.attrs) == 512 * 32 + 32 + 32 * 512 + 512
    assert str(op.macs(node.attrs, node.in_shapes, node.shape)) == f"{2 * 512 * 32}*N"
    assert op.emit(node.attrs, repr) == "SqueezeExcite(512, 32)"
    support = op.emit_support()
    assert support.startswith("class SqueezeExcite(nn.Module):") and "import" not in support


def test_se_emits_self_contained_source(se: type[archspec.Op]) -> None:
    """The emitted file carries SqueezeExcite's class and imports torch only."""
    from archspec.api import emit

    source = emit(SPEC, num_classes=10)
    assert "class SqueezeExcite(nn.Module):" in source and "se_layer" not in source
    namespace: dict[str, object] = {}
    exec(compile(source, "se_resnet18_emitted.py", "exec"), namespace)
    emitted = namespace["SEResNet18"]().eval()  # type: ignore[operator]
    compiled = archspec.compile(SPEC, num_classes=10).eval()
    emitted.load_state_dict(compiled.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(emitted(x), compiled(x), atol=1e-5)


def test_se_shape_error_points_at_the_layer(se: type[archspec.Op]) -> None:
    bad = {
        "archspec": 1,
        "name": "bad",
        "input": ["N", 16],
        "layers": [{"type": KIND}],
    }
    with pytest.raises(archspec.ArchSpecError, match=r"needs an \(N, C, H, W\) input"):
        archspec.build_graph(bad)


def test_schema_includes_the_registered_layer(se: type[archspec.Op]) -> None:
    schema = json_schema()
    assert "SqueezeExciteSpec" in schema["$defs"]
    spec = yaml.safe_load(SPEC.read_text())
    jsonschema.Draft202012Validator(schema).validate(spec)
    archspec.unregister(KIND)
    assert "SqueezeExciteSpec" not in json_schema()["$defs"]
    # unregistered, `type: squeeze_excite` reads as a call of an undefined block
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.build_graph(SPEC)
    assert "E205" in info.value.codes


def test_spec_cannot_name_an_import_path(isolated: None) -> None:
    spec = {
        "archspec": 1,
        "name": "sneaky",
        "input": ["N", 3, 8, 8],
        "layers": [{"type": "se_layer.SqueezeExciteOp"}],
    }
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.build_graph(spec)
    assert "E205" in info.value.codes or "E201" in info.value.codes
    assert "se_layer" not in sys.modules


def _nodes(graph: object) -> list[tuple[str, object]]:
    from archspec.ir import iter_nodes

    return list(iter_nodes(graph.root))  # type: ignore[attr-defined]


def _fake_distribution(root: Path, entry_points: str, name: str = "fake_se") -> None:
    """A minimal installed distribution: what `pip install` leaves in site-packages."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[archspec.layers]\n{entry_points}\n")


def test_entry_point_plugin_loads_lazily(
    isolated: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fake_distribution(tmp_path, "squeeze_excite = se_layer:SqueezeExciteOp")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert KIND not in REGISTRY  # nothing is imported until a spec is read
    model = archspec.compile(SPEC, num_classes=4)
    assert KIND in REGISTRY and type(model.layer1[0].se).__name__ == "SqueezeExcite"
    assert "squeeze_excite" in plugins.load_plugins()
    assert "SqueezeExciteSpec" in json_schema()["$defs"]


def test_module_entry_point_registers_on_import(
    isolated: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "fake_plugin_module.py").write_text(
        "import archspec\nfrom se_layer import SqueezeExciteOp\n"
        "archspec.register(SqueezeExciteOp)\n"
    )
    _fake_distribution(tmp_path, "se = fake_plugin_module")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert archspec.check(SPEC).ok


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("broken = no_such_module_xyz:Op", "ModuleNotFoundError"),
        ("broken = se_layer:SqueezeExcite", "is not an archspec Op subclass"),
        ("broken = se_layer:Missing", "AttributeError"),
    ],
)
def test_broken_plugin_is_a_clear_error_naming_it(
    isolated: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    entry: str,
    message: str,
) -> None:
    _fake_distribution(tmp_path, entry, name="broken_pkg")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as info:
        archspec.build_graph("lenet5")
    text = str(info.value)
    assert f"`{entry}` from broken_pkg 1.0" in text and message in text
    assert "ARCHSPEC_NO_PLUGINS" in (info.value.hint or "")
    # the CLI reports it as a spec-level error (exit 1), every time until it is fixed
    result = CliRunner().invoke(app, ["graph", "lenet5"])
    assert result.exit_code == 1 and "error[E701]" in result.stderr
    # and the escape hatch works
    monkeypatch.setenv("ARCHSPEC_NO_PLUGINS", "1")
    plugins.reset()
    assert archspec.build_graph("lenet5").name == "lenet5"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("raise SystemExit(2)\n", "SystemExit: 2"),
        ("class Odd(BaseException):\n    pass\n\n\nraise Odd('x')\n", "Odd: x"),
    ],
)
def test_an_entry_point_raising_past_exception_is_e701(
    isolated: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, body: str, message: str
) -> None:
    """An installed plugin that raises SystemExit or a BaseException of its own on import is
    E701 naming it (exit 1), not a traceback or the plugin's own exit status."""
    (tmp_path / "leaving_plugin.py").write_text(body)
    _fake_distribution(tmp_path, "leaving = leaving_plugin:Op", name="leaving_pkg")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError) as info:
        archspec.build_graph("lenet5")
    assert "`leaving = leaving_plugin:Op` from leaving_pkg 1.0" in str(info.value)
    assert message in str(info.value)
    result = CliRunner().invoke(app, ["check", "lenet5"])
    assert result.exit_code == 1 and "error[E701]" in result.stderr, result.output


def test_a_plugin_spec_pydantic_cannot_validate_is_e701_at_load(
    isolated: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A field of a type pydantic has no schema for: E701 naming the entry point when the
    plugins load, not an internal error at the first spec that uses the kind."""
    (tmp_path / "opaque_plugin.py").write_text(
        "from typing import Literal\nimport archspec\n\n\nclass Opaque:\n    pass\n\n\n"
        "class OddSpec(archspec.LayerSpec):\n"
        '    type: Literal["odd_kind"]\n    thing: Opaque = None\n\n\n'
        "class OddOp(archspec.Op):\n"
        '    kind = "odd_kind"\n    spec = OddSpec\n    style = "function"\n\n'
        "    def infer(self, attrs, inputs, ctx):\n"
        "        return archspec.Inferred(attrs, tuple(inputs[0]))\n\n"
        "    def function(self, attrs):\n        return (lambda x: x), {}\n\n"
        "    def emit(self, attrs, lit):\n        return attrs['_inputs'][0]\n"
    )
    _fake_distribution(tmp_path, "odd = opaque_plugin:OddOp", name="odd_pkg")
    monkeypatch.syspath_prepend(str(tmp_path))
    spec = tmp_path / "odd.yaml"
    spec.write_text("archspec: 1\nname: odd\ninput: [N, 3, 8, 8]\nlayers:\n  - {type: odd_kind}\n")
    with pytest.raises(PluginError) as info:
        archspec.build_graph(spec)
    text = str(info.value)
    assert "`odd = opaque_plugin:OddOp` from odd_pkg 1.0" in text
    assert "OddOp (odd_kind): its spec OddSpec cannot be validated" in text
    result = CliRunner().invoke(app, ["check", str(spec)])
    assert result.exit_code == 1 and "error[E701]" in result.stderr, result.output


class _ToyNormSpec(archspec.LayerSpec):
    type: Literal["toy_norm"]
    channels: archspec.Int(ge=1)  # type: ignore[valid-type]


class _ToyNorm(archspec.Op):
    """A plugin layer with a 1-d weight, which lowering cannot see before torch builds it."""

    kind = "toy_norm"
    spec = _ToyNormSpec
    category = "norm"

    def infer(self, attrs: dict[str, Any], inputs: Any, ctx: Any) -> archspec.Inferred:
        return archspec.Inferred(attrs, inputs[0])

    def build(self, attrs: Any) -> torch.nn.Module:
        return torch.nn.GroupNorm(1, attrs["channels"])

    def emit(self, attrs: Any, lit: Any) -> str:
        return f"nn.GroupNorm(1, {lit(attrs['channels'])})"


def test_an_init_torch_refuses_on_a_plugin_layer_is_located(isolated: None) -> None:
    """kaiming on a plugin's 1-d weight: E313 at the init rule's line, not a raw ValueError."""
    archspec.register(_ToyNorm)
    text = (
        "archspec: 1\nname: toy\ninput: [N, 8, 4, 4]\nlayers:\n"
        "  - {type: toy_norm, channels: 8}\n"
        "init:\n  - {layers: [toy_norm], weight: {kaiming_normal: {mode: fan_out}}}\n"
    )
    assert archspec.check(text).ok  # lowering cannot know the plugin's tensors
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.compile(text)
    err = info.value
    assert err.error_code == "E313" and "the weight of `0` (toy_norm)" in str(err)
    assert "fewer than 2 dimensions" in str(err)
    assert err.span is not None and err.span.line == 7
    assert "constant" in (err.hint or "")
    assert "kaiming_normal" in err.render() and "^" in err.render()
    # a fitting initialiser still works, and the meta device builds without running init
    archspec.compile(text.replace("kaiming_normal: {mode: fan_out}", "normal: {std: 0.1}"))
    archspec.compile(text, device="meta")


class _DeclaredNorm(_ToyNorm):
    """The same layer, declaring its tensors: lowering refuses the init before torch runs."""

    kind = "toy_norm"

    def init_tensors(self, a: Any) -> dict[str, int]:
        return {"weight": 1, "bias": 1}


def test_a_plugin_that_declares_its_tensors_gets_e313_from_check(isolated: None) -> None:
    """`check` (no torch) reads the rank from the op's `init_tensors`, as for built-ins."""
    archspec.register(_DeclaredNorm)
    text = (
        "archspec: 1\nname: toy\ninput: [N, 8, 4, 4]\nlayers:\n"
        "  - {type: toy_norm, channels: 8}\n"
        "init:\n  - {layers: [toy_norm], weight: {kaiming_normal: {mode: fan_out}}}\n"
    )
    report = archspec.check(text)
    assert not report.ok
    (err,) = [d for d in report.diagnostics if d.code == "E313"]
    assert "the weight of `0` (toy_norm)" in err.message and "1 dim" in err.message
    assert err.span is not None and err.span.line == 7


def test_register_and_load_plugin_files_refuse_what_they_do_not_take(
    se: type[archspec.Op], isolated: None
) -> None:
    """register(3) raised AttributeError (`'int' object has no attribute '__name__'`), an
    instance of the Op or a class that is none likewise; load_plugin_files("p.py") named the
    files `p`, `.`, ... by the path's letters (E701 "plugin file 'p' does not exist").
    Both are TypeErrors, as docs/plugins.md says a wrong call from Python is."""
    for wrong in (3, se(), dict, "squeeze_excite"):
        with pytest.raises(TypeError, match=r"subclass of archspec\.Op"):
            archspec.register(wrong)  # type: ignore[arg-type]
    for one in ("se_layer.py", EXAMPLES / "se_layer.py", b"se_layer.py"):
        with pytest.raises(TypeError, match="a list of paths"):
            archspec.load_plugin_files(one)  # type: ignore[arg-type]
