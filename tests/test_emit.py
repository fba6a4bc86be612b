"""Source emission (issue 4): the module `archspec compile` writes builds the compiled model.

`generated/` holds the emitted module of every spec in `specs/`. After changing the emitter
or a spec, regenerate it from the repository root with

    for f in specs/*.yaml; do archspec compile "$f"; done

(`archspec compile` checks each module against `archspec.compile` before writing it);
`test_generated_file_is_fresh` fails until you do.
"""

from __future__ import annotations

import ast
import os
import random
import subprocess
import sys
import types
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import archspec
from archspec.api import build_graph
from archspec.backends import pysource
from archspec.backends.pycode import LINE_LENGTH, Code, docstring_lines, lit
from archspec.backends.pylayout import Group, Prefixed, Text, condition_lines, format_doc
from archspec.backends.pysource import HEADER_PREFIX, render_module
from archspec.cli import app
from archspec.errors import EmitError, SchemaError

from .conftest import ROOT, SPECS, spec_names

GENERATED = ROOT / "generated"
ALL = spec_names()

# -- helpers ------------------------------------------------------------------------------


@cache
def _source(name: str, params: tuple[tuple[str, Any], ...] = ()) -> str:
    return render_module(build_graph(SPECS / f"{name}.yaml", dict(params)))


def _load(source: str, tag: str) -> types.ModuleType:
    """Run emitted source as a fresh module (nothing is written to disk)."""
    module = types.ModuleType(f"emitted_{tag}")
    exec(compile(source, f"<emitted {tag}>", "exec"), module.__dict__)
    return module


@cache
def _module(name: str, params: tuple[tuple[str, Any], ...] = ()) -> types.ModuleType:
    return _load(_source(name, params), name)


def _emitted_class(name: str, **params: Any) -> type[torch.nn.Module]:
    graph_name = build_graph(SPECS / f"{name}.yaml", params).class_name
    return getattr(_module(name, tuple(sorted(params.items()))), graph_name)


def _layout(model: torch.nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    return [(k, tuple(v.shape), v.dtype) for k, v in model.state_dict().items()]


def _fill(model: torch.nn.Module, seed: int) -> None:
    """Give an un-initialised (to_empty) model sane random weights, cheaply."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for key, t in model.state_dict().items():
            if not t.is_floating_point():
                t.zero_()
            elif key.endswith("running_var"):
                t.uniform_(0.5, 1.5, generator=gen)
            elif t.dim() >= 2:
                bound = (3.0 / max(1, t[0].numel())) ** 0.5
                t.uniform_(-bound, bound, generator=gen)
            else:
                t.uniform_(-0.1, 0.1, generator=gen)


def _small_input(name: str) -> tuple[int, ...]:
    """A small input the spec accepts (shapes checked without torch), else the declared one."""
    graph = build_graph(SPECS / f"{name}.yaml")
    declared = tuple(d.value if d.is_const else 1 for d in graph.input_shape)
    if len(declared) == 4:
        for side in (32, 64):
            shape = (2, declared[1], side, side)
            if archspec.api.check(SPECS / f"{name}.yaml", input=shape).ok:
                return shape
    return (1, *declared[1:])


# -- every spec: the emitted class is the compiled model ------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_layout_and_param_count_match_compile(name: str) -> None:
    with torch.device("meta"):
        ours = _emitted_class(name)()
    ref = archspec.compile(SPECS / f"{name}.yaml", device="meta")
    assert _layout(ours) == _layout(ref)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    assert type(ours).__name__ == build_graph(SPECS / f"{name}.yaml").class_name


@pytest.mark.parametrize("name", ALL)
def test_outputs_match_compile_under_shared_weights(name: str) -> None:
    ref = archspec.compile(SPECS / f"{name}.yaml", device="meta").to_empty(device="cpu")
    _fill(ref, seed=len(name))
    with torch.device("meta"):
        ours = _emitted_class(name)()
    ours.load_state_dict(ref.state_dict(), strict=True, assign=True)
    ref.eval()
    ours.eval()
    x = torch.randn(_small_input(name), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want, got = ref(x), ours(x)
    torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("name", ALL)
def test_generated_file_is_fresh(name: str) -> None:
    path = GENERATED / f"{name}.py"
    assert path.exists(), f"{path} is missing: regenerate generated/ (see this file's docstring)"
    assert path.read_text(encoding="utf-8") == _source(name), (
        f"{path} is stale: regenerate generated/ (see this file's docstring)"
    )


def test_generated_holds_only_spec_modules() -> None:
    stray = sorted(p.name for p in GENERATED.glob("*.py") if p.stem not in ALL)
    assert not stray, f"generated/ has modules of no spec: {stray}"


def test_emitted_code_passes_ruff(tmp_path: Path) -> None:
    unemittable = []
    for name in ALL:
        try:
            source = _source(name)
        except EmitError as exc:  # reported by the per-spec tests too; ruff checks the rest
            unemittable.append(f"{name}: {exc}")
            continue
        (tmp_path / f"{name}.py").write_text(source, encoding="utf-8")
    for extra, text in (("probe", PROBE), ("odd", ODD), ("stacks", STACKS)):
        (tmp_path / f"{extra}.py").write_text(render_module(build_graph(text)), encoding="utf-8")
    (tmp_path / "hostile.py").write_text(render_module(build_graph(HOSTILE)), encoding="utf-8")
    config = str(ROOT / "pyproject.toml")
    for cmd in (["check"], ["format", "--check", "--diff"]):
        proc = subprocess.run(
            [sys.executable, "-m", "ruff", *cmd, "--no-cache", "--config", config, str(tmp_path)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert not unemittable, unemittable


@pytest.mark.parametrize("name", ALL)
def test_emitted_code_imports_torch_and_nothing_else(name: str) -> None:
    tree = ast.parse(_source(name))
    imported = set()
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            imported |= {a.name for a in stmt.names}
        elif isinstance(stmt, ast.ImportFrom):
            imported.add(stmt.module or "")
        else:  # nothing runs at import time but imports and definitions
            assert isinstance(stmt, (ast.ClassDef, ast.FunctionDef)), ast.dump(stmt)[:80]
    assert imported <= {"torch", "torch.nn.functional", "fnmatch", "collections"}
    assert "torch" in imported
    first = _source(name).splitlines()[0]
    assert first.startswith(HEADER_PREFIX) and f"specs/{name}.yaml" in first


def test_emission_is_deterministic_across_processes(tmp_path: Path) -> None:
    # GoogLeNet without its init rules: the other process then never imports torch
    text = (SPECS / "googlenet.yaml").read_text()
    spec = tmp_path / "googlenet.yaml"
    spec.write_text(text[: text.index("\ninit:")] + "\n")
    first = render_module(build_graph(spec))
    assert render_module(build_graph(spec)) == first
    code = "import sys, archspec.api as a; sys.stdout.write(a.emit(sys.argv[1]))"
    env = dict(os.environ, PYTHONHASHSEED="12345")  # another set/dict iteration order
    proc = subprocess.run(
        [sys.executable, "-c", code, str(spec)],
        capture_output=True,
        text=True,
        env=env,
        cwd=str(GENERATED),  # another working directory, too
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout == first
    assert "class Inception(nn.Module):" in first


# -- torchvision layouts and readability -------------------------------------------------------

TWINS = {
    "alexnet": ("alexnet_torchvision", {}),
    "googlenet": ("googlenet", {"aux_logits": False}),
    "googlenet_aux": ("googlenet", {}),
    "vgg16_bn": ("vgg16_bn", {}),
    "resnet50": ("resnet50", {}),
    "resnet152": ("resnet152", {}),
}


@pytest.mark.parametrize("model_name", sorted(TWINS))
def test_emitted_class_loads_torchvision_layout_strictly(model_name: str) -> None:
    import json

    fixture = json.loads((ROOT / "tests/parity/fixture.json").read_text())["models"][model_name]
    spec, params = TWINS[model_name]
    with torch.device("meta"):
        model = _emitted_class(spec, **params)()
        weights = {k: torch.empty(shape) for k, shape, _ in fixture["state_dict"]}
    model.load_state_dict(weights, strict=True, assign=True)
    assert [k for k, _, _ in fixture["state_dict"]] == list(model.state_dict())


def test_resnet50_reads_like_torchvision() -> None:
    src = _source("resnet50")
    assert "class Bottleneck(nn.Module):" in src
    assert "def __init__(self, in_channels: int, planes: int, stride: int = 1) -> None:" in src
    assert "if stride != 1 or in_channels != planes * 4:" in src
    assert "identity = x\n" in src and "out = out + identity" in src
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        assert f"self.{stage} = nn.Sequential(" in src
    assert "x = self.layer4(x)  # (N, 2048, 7, 7)" in src
    assert "def __init__(self, num_classes: int = 1000, zero_init_residual: bool = False)" in src
    # zero_init_residual as torchvision writes it: a loop over the Bottlenecks' last BN
    assert (
        "        if zero_init_residual:\n"
        "            for m in self.modules():\n"
        "                if isinstance(m, Bottleneck):\n"
        "                    nn.init.zeros_(m.bn3.weight)\n"
    ) in src
    assert "fnmatch" not in src


def test_googlenet_has_one_class_per_block_and_training_outputs() -> None:
    src = _source("googlenet")
    for cls in ("BasicConv2d", "Inception", "InceptionAux", "GoogLeNet"):
        assert src.count(f"\nclass {cls}(nn.Module):") == 1
    assert "        if self.training:\n            aux1 = self.aux1(inception4a)" in src
    assert "return x, aux2, aux1" in src
    # aux_logits decides structure: fixed at its value and said so, not an argument
    net = next(c for c in ast.parse(src).body if getattr(c, "name", "") == "GoogLeNet")
    init = next(f for f in net.body if getattr(f, "name", "") == "__init__")
    assert [a.arg for a in init.args.args] == ["self", "num_classes", "dropout", "dropout_aux"]
    assert "Emitted with aux_logits=True." in src


# -- the network's params and the blocks' classes are generic ------------------------------------


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("resnet18", {"num_classes": 10}),
        ("googlenet", {"num_classes": 7, "dropout": 0.3, "dropout_aux": 0.1}),
        ("vgg16_bn", {"num_classes": 5, "dropout": 0.1}),
        ("lenet5", {"num_classes": 3}),
    ],
)
def test_network_params_are_real_arguments(name: str, params: dict[str, Any]) -> None:
    with torch.device("meta"):
        ours = _emitted_class(name)(**params)
    ref = archspec.compile(SPECS / f"{name}.yaml", device="meta", **params)
    assert _layout(ours) == _layout(ref)
    ps = {n: m.p for n, m in ours.named_modules() if isinstance(m, torch.nn.Dropout)}
    assert ps == {n: m.p for n, m in ref.named_modules() if isinstance(m, torch.nn.Dropout)}


def _one_block(spec: str, block: str, in_channels: int, side: int, **args: Any) -> Any:
    data = yaml.safe_load((SPECS / f"{spec}.yaml").read_text())
    data.update(
        input=["N", in_channels, side, side],
        layers=[{"name": "b", "type": block, **args}],
        init=[],
    )
    data.pop("outputs", None)
    return archspec.compile(data, device="meta").b


@settings(max_examples=15)
@given(c=st.integers(1, 80), planes=st.integers(1, 40), stride=st.integers(1, 3))
def test_bottleneck_class_builds_any_instance(c: int, planes: int, stride: int) -> None:
    ref = _one_block("resnet50", "Bottleneck", c, 16, planes=planes, stride=stride)
    with torch.device("meta"):
        ours = _module("resnet50").Bottleneck(c, planes, stride=stride)
    assert _layout(ours) == _layout(ref)
    assert (ours.downsample is None) == (not hasattr(ref, "downsample"))


@settings(max_examples=15)
@given(
    c=st.integers(1, 64),
    chans=st.lists(st.integers(1, 48), min_size=6, max_size=6),
)
def test_inception_class_builds_any_instance(c: int, chans: list[int]) -> None:
    keys = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")
    args = dict(zip(keys, chans))
    ref = _one_block("googlenet", "Inception", c, 12, **args)
    with torch.device("meta"):
        ours = _module("googlenet").Inception(c, **args)
    assert _layout(ours) == _layout(ref)


@settings(max_examples=15)
@given(
    c=st.integers(1, 32),
    out=st.integers(1, 32),
    k=st.integers(1, 5),
    s=st.integers(1, 3),
    p=st.integers(0, 2),
)
def test_basicconv2d_class_builds_any_instance(c: int, out: int, k: int, s: int, p: int) -> None:
    args = {"out_channels": out, "kernel_size": k, "stride": s, "padding": p}
    ref = _one_block("googlenet", "BasicConv2d", c, 16, **args)
    with torch.device("meta"):
        ours = _module("googlenet").BasicConv2d(c, **args)
    assert _layout(ours) == _layout(ref)
    assert ours.conv.stride == ref.conv.stride and ours.conv.padding == ref.conv.padding


# -- initialisation: the same seed gives the same weights ------------------------------------

PROBE = """\
archspec: 1
name: init_probe
description: Every init feature at once, small enough to build for real.
input: [N, 3, 16, 16]
params:
  width: {type: int, default: 8}
  zero_last: {type: bool, default: true}
blocks:
  Unit:
    doc: A residual unit whose second norm is affine only when wide.
    params: {planes: int, stride: {type: int, default: 1}}
    layers:
      - type: residual
        body:
          - {name: conv1, type: conv2d, out_channels: planes, kernel_size: 3, stride: stride,
             padding: 1, bias: false}
          - {name: bn1, type: batchnorm2d}
          - {type: activation, fn: relu}
          - {name: conv2, type: conv2d, out_channels: planes, kernel_size: 3, padding: 1}
          - {name: bn2, type: batchnorm2d, affine: "planes > 8"}
        shortcut:
          when: stride != 1 or in_channels != planes
          layers:
            - {type: conv2d, out_channels: planes, kernel_size: 1, stride: stride}
        activation: relu
layers:
  - {name: stem, type: conv2d, out_channels: width, kernel_size: 3, padding: 1, bias: false}
  - {name: stage, type: repeat, count: 3,
     layer: {type: Unit, planes: "width * (i + 1)", stride: "1 if i == 0 else 2"}}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: head, type: linear, out_features: 10}
init:
  - {layers: [conv2d, linear], weight: {trunc_normal: {std: 0.02}}, bias: {constant: 0.1}}
  - {layers: [batchnorm2d], weight: ones, bias: zeros}
  - {paths: ["stage.*.bn2"], when: zero_last, weight: zeros}
  - {layers: [conv2d], when: "width > 100", weight: {kaiming_uniform: {}}}
  - {paths: ["stage.1.*"], weight: {uniform: {a: -0.1, b: 0.1}}}
"""


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return list(sa) == list(sb) and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.mark.parametrize("zero_last", [True, False])
def test_probe_init_matches_compile_seed_for_seed(zero_last: bool) -> None:
    graph = build_graph(PROBE, {"zero_last": zero_last})
    source = render_module(graph)
    cls = getattr(_load(source, "probe"), graph.class_name)
    torch.manual_seed(7)
    ref = archspec.compile(PROBE, zero_last=zero_last)
    torch.manual_seed(7)
    ours = cls()
    assert _same_weights(ours, ref)
    # zero_last is an argument (its rule is an `if`); width decides the structure: fixed
    torch.manual_seed(7)
    flipped = cls(zero_last=not zero_last)
    torch.manual_seed(7)
    assert _same_weights(flipped, archspec.compile(PROBE, zero_last=not zero_last))
    assert "zero_last" in source and "width: int" not in source
    assert "if self.downsample is not None:" in source
    assert "m.weight is not None" in source  # bn2 is affine in some units only


@pytest.mark.parametrize(
    ("name", "params"),
    [("lenet5", {}), ("resnet18", {}), ("resnet18", {"zero_init_residual": True})],
)
def test_zoo_init_matches_compile_seed_for_seed(name: str, params: dict[str, Any]) -> None:
    torch.manual_seed(3)
    ref = archspec.compile(SPECS / f"{name}.yaml", **params)
    torch.manual_seed(3)
    ours = _emitted_class(name)(**params)
    assert _same_weights(ours, ref)
    if params:  # the rule did something: the last BN of each block is zero
        assert all(
            not m.bn2.weight.any() for m in ours.modules() if type(m).__name__ == "BasicBlock"
        )


CLASS_RULE = """\
archspec: 1
name: classrule
input: [N, 3, 8, 8]
blocks:
  Unit:
    params: {c: int}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
      - {name: bn, type: batchnorm2d}
layers:
  - {name: a, type: Unit, c: 4}
  - {name: b, type: Unit, c: 4}
  - {name: bn, type: batchnorm2d}
init:
  - {layers: [conv2d], weight: {normal: {std: 0.5}}}
  - {paths: ["%s"], weight: {constant: 0.5}, bias: zeros}
%s"""


@pytest.mark.parametrize(
    ("glob", "after", "by_class"),
    [
        ("*.bn", "", True),  # every Unit's bn, nothing random after: a loop over Units
        ("a.bn", "", False),  # one Unit's bn only: a path test
        ("*bn", "", False),  # the network's own bn too: a path test
        ("*.bn", "  - {layers: [conv2d], bias: {uniform: {}}}\n", False),  # a draw after it
    ],
)
def test_path_rule_over_a_block_layer_is_a_class_loop_only_when_exact(
    glob: str, after: str, by_class: bool
) -> None:
    """A path rule becomes `if isinstance(m, Unit): ...m.bn...` only where that selects the
    same modules and keeps compile's order of random draws; the weights agree seed for seed."""
    text = CLASS_RULE % (glob, after)
    graph = build_graph(text)
    source = render_module(graph)
    assert ("if isinstance(m, Unit):" in source) is by_class
    assert ("fnmatch" in source) is not by_class
    torch.manual_seed(11)
    ref = archspec.compile(text)
    torch.manual_seed(11)
    ours = getattr(_load(source, "classrule"), graph.class_name)()
    assert _same_weights(ours, ref)


# -- unusual structures -------------------------------------------------------------------

ODD = """\
archspec: 1
name: odd
input: [N, 3, 16, 16]
params:
  k: {type: int, default: 3}
  drop: {type: float, default: 0.1}
blocks:
  Inner:
    params: {c: int, kh: {type: int, default: 3}}
    layers:
      - {type: conv2d, out_channels: c, kernel_size: [kh, 1], padding: ["kh // 2", 0]}
      - {type: batchnorm2d, affine: "c > 4"}
  Outer:
    params: {c: int}
    layers:
      - {name: a, type: Inner, c: c}
      - {name: b, type: Inner, c: "c * 2", kh: 1}
      - type: parallel
        join: add
        branches:
          left: {type: conv2d, out_channels: "c * 2", kernel_size: 1}
          right: [{type: identity}]
layers:
  - type: residual
    body:
      - {type: conv2d, out_channels: 3, kernel_size: k, padding: "k // 2"}
      - {type: relu}
  - {name: o1, type: Outer, c: 4}
  - {name: o2, type: Outer, c: 8}
  - name: head
    type: sequential
    layers:
      - {name: pool, type: adaptive_avgpool2d, output_size: 1}
      - {name: flat, type: flatten}
      - {name: aux, type: linear, out_features: 5, train_only: true}
      - {name: fc, type: linear, out_features: 10, from: flat}
      - {name: d, type: dropout, p: drop}
init:
  - {layers: [batchnorm2d], weight: ones, bias: zeros}
"""

STACKS = """\
archspec: 1
name: stacks
input: [N, 3, 8, 8]
params:
  n: {type: int, default: 2}
  width: {type: int, default: 8}
blocks:
  Stack:
    doc: A few same-width convs.
    params: {depth: int, width: int}
    layers:
      - {name: body, type: repeat, count: depth,
         layer: {type: conv2d, out_channels: width, kernel_size: 3, padding: 1}}
layers:
  - {name: a, type: Stack, depth: n, width: width}
  - {name: b, type: Stack, depth: 3, width: 8}
  - {name: c, type: Stack, depth: 2, width: 16}
"""


def _train_outputs(model: torch.nn.Module, x: torch.Tensor, seed: int) -> Any:
    torch.manual_seed(seed)
    model.train()
    with torch.no_grad():
        return model(x)


@pytest.mark.parametrize("text", [ODD, STACKS, PROBE], ids=["odd", "stacks", "probe"])
def test_unusual_structures_match_compile(text: str) -> None:
    graph = build_graph(text)
    cls = getattr(_load(render_module(graph), graph.name), graph.class_name)
    torch.manual_seed(1)
    ref = archspec.compile(text)
    torch.manual_seed(1)
    ours = cls()
    assert _same_weights(ours, ref)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(_train_outputs(ours, x, 3), _train_outputs(ref, x, 3))
    assert _same_weights(ours, ref)  # batch-norm statistics moved alike
    ours.eval()
    ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


def test_structure_deciding_params_are_fixed_and_variants_named() -> None:
    source = render_module(build_graph(STACKS))
    assert "class Stack_2(nn.Module):" in source and "built for depth=3." in source
    assert "def __init__(self, width: int = 8) -> None:" in source  # n is a repeat count
    assert "Emitted with n=2." in source
    assert "self.b = Stack_2(width, 8)" in source  # b's input is a's output: `width`
    odd = render_module(build_graph(ODD))
    assert 'self.add_module("0", nn.Conv2d(in_channels, c, kernel_size=(kh, 1)' in odd
    assert "            self.aux(flat)  # (N, 5)" in odd  # read by nothing: run, not kept


def test_googlenet_training_mode_matches_compile() -> None:
    ref = archspec.compile(SPECS / "googlenet.yaml", device="meta").to_empty(device="cpu")
    _fill(ref, seed=9)
    with torch.device("meta"):
        ours = _emitted_class("googlenet")()
    ours.load_state_dict(ref.state_dict(), strict=True, assign=True)
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    got, want = _train_outputs(ours, x, 5), _train_outputs(ref, x, 5)
    assert isinstance(got, tuple) and len(got) == len(want) == 3
    for g, w in zip(got, want):
        torch.testing.assert_close(g, w, rtol=1e-6, atol=1e-6)


def _grads(model: torch.nn.Module, x: torch.Tensor) -> dict[str, torch.Tensor]:
    """Parameter gradients of a training-mode forward and backward."""
    model.train()
    model.zero_grad()
    out = model(x)
    (out[0] if isinstance(out, tuple) else out).square().sum().backward()
    return {k: p.grad for k, p in model.named_parameters() if p.grad is not None}


def test_resnet_blocks_reuse_self_relu_and_still_train_like_compile() -> None:
    """Bottleneck writes every ReLU as `self.relu(...)` (torchvision's habit; the module is
    in place), and a training step gives compile's gradients: the in-place ReLUs overwrite
    only tensors nothing else reads and autograd does not keep."""
    src = _source("resnet50")
    block = src.split("class Bottleneck", 1)[1].split("\nclass ", 1)[0]
    assert "torch.relu" not in block and block.count("self.relu(out)") == 3
    torch.manual_seed(2)
    ref = archspec.compile(SPECS / "resnet18.yaml", num_classes=5)
    torch.manual_seed(2)
    ours = _emitted_class("resnet18", num_classes=5)()
    assert _same_weights(ours, ref)
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
    got, want = _grads(ours, x), _grads(ref, x)
    assert list(got) == list(want)
    for k in want:
        torch.testing.assert_close(got[k], want[k], rtol=1e-5, atol=1e-6)


SHARED = """\
archspec: 1
name: shared
input: [N, 3, 8, 8]
blocks:
  Unit:
    params: {c: int}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 1}
      - {name: act, type: activation, fn: relu}
      - {name: sum, type: add, from: [act, conv]}
      - {name: relu, type: relu, inplace: %s}
layers:
  - {name: a, type: Unit, c: 4}
  - {name: b, type: Unit, c: 4}
"""


@pytest.mark.parametrize("inplace", ["true", "false"])
def test_an_in_place_module_never_stands_in_where_its_input_is_read_again(inplace: str) -> None:
    """`act` reads the conv's output, which `sum` reads too: an in-place `self.relu` there
    would change what `sum` adds, so the function stays; a ReLU that is not in place may."""
    text = SHARED % inplace
    graph = build_graph(text)
    source = render_module(graph)
    unit = source.split("class Unit", 1)[1].split("\nclass ", 1)[0]
    if inplace == "true":
        assert "torch.relu(" in unit and unit.count("self.relu(") == 1
    else:
        assert "torch.relu(" not in unit and unit.count("self.relu(") == 2
    torch.manual_seed(4)
    ref = archspec.compile(text)
    torch.manual_seed(4)
    ours = getattr(_load(source, "shared"), graph.class_name)()
    x = torch.randn(2, 3, 8, 8, generator=torch.Generator().manual_seed(5))
    torch.testing.assert_close(ours(x), ref(x))
    got, want = _grads(ours, x), _grads(ref, x)
    for k in want:
        torch.testing.assert_close(got[k], want[k])


# -- hostile specs -------------------------------------------------------------------------------

EVIL = "__import__('os').system('touch PWNED')"
HOSTILE = f"""\
archspec: 1
name: hostile
class_name: Hostile
description: "Quotes \\"\\"\\" and ''' then {EVIL} # not a comment \\\\ \\\\N{{BULLET}} \
{{{{ jinja }}}}\\n\\nsecond paragraph \\u201ccurly\\u201d caf\\u00e9 \\u202e and a last quote\\""
input: [N, 3, 8, 8]
params:
  filter: {{type: int, default: 4, doc: "named like a builtin \\"\\"\\" {EVIL}"}}
  nn: {{type: int, default: 5}}
  torch: {{type: float, default: 0.25}}
blocks:
  torch:
    doc: "a block named torch \\"\\"\\"; {EVIL}"
    params: {{x: int, out: {{type: int, default: 2}}}}
    layers:
      - {{name: F, type: conv2d, out_channels: x, kernel_size: 3, padding: 1}}
      - {{name: isinstance, type: relu}}
      - {{name: identity, type: conv2d, out_channels: x, kernel_size: 1}}
      - {{name: out, type: batchnorm2d}}
layers:
  - {{name: x, type: torch, x: filter}}
  - {{name: fnmatch, type: torch, x: nn}}
  - {{name: print, type: adaptive_avgpool2d, output_size: 1}}
  - {{name: m, type: flatten}}
  - {{name: name, type: dropout, p: torch}}
  - {{name: super_, type: linear, out_features: 3}}
init:
  - {{layers: [conv2d], weight: {{normal: {{std: 0.02}}}}, bias: zeros}}
  - {{paths: ["x.*"], when: "filter > 3", weight: ones}}
"""


def test_hostile_text_and_names_compile_to_inert_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    graph = build_graph(HOSTILE)
    source = render_module(graph)
    tree = ast.parse(source)
    assert all(isinstance(s, (ast.Import, ast.ImportFrom, ast.ClassDef)) for s in tree.body)
    module = _load(source, "hostile")
    assert not (tmp_path / "PWNED").exists()
    doc = " ".join((module.Hostile.__doc__ or "").split())
    assert EVIL in doc and '"""' in doc and "'''" in doc and "\\N{BULLET}" in doc
    assert "café" in doc and "\u202e" not in doc
    # builtin-named params become PEP 8 `filter_`; the block class avoids the module name
    torch.manual_seed(0)
    ours = module.Hostile(filter_=4, nn_=5, torch_=0.25)
    torch.manual_seed(0)
    assert _same_weights(ours, archspec.compile(HOSTILE))
    assert ours.name.p == 0.25 and type(ours.x).__name__ == "torchBlock"


@pytest.mark.parametrize("class_name", ["list", "print", "nn", "torch", "F", "fnmatch"])
def test_class_name_that_would_shadow_is_rejected(class_name: str) -> None:
    spec = PROBE.replace("name: init_probe", f"name: init_probe\nclass_name: {class_name}")
    with pytest.raises(EmitError) as info:
        render_module(build_graph(spec))
    assert info.value.error_code == "E602"
    assert "class_name" in (info.value.hint or "")


@pytest.mark.parametrize("bad", ["a-b", "x; import os", "class", "__init__", "caf\u00e9", "1x"])
def test_names_that_are_not_identifiers_never_reach_the_emitter(bad: str) -> None:
    spec = PROBE.replace("name: stem,", f"name: {bad!r},".replace("'", '"'))
    with pytest.raises(SchemaError):
        build_graph(spec)


@settings(max_examples=100)
@given(
    st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.lists(inner, max_size=4).map(tuple),
        max_leaves=10,
    )
)
def test_lit_round_trips_through_python(value: Any) -> None:
    text = lit(value)
    assert "\n" not in text
    back = ast.literal_eval(text)
    assert back == value
    assert type(back) is type(value)


@pytest.mark.parametrize("value", [object(), float("nan"), float("inf"), {"a": 1}, b"x", 1j])
def test_lit_refuses_what_it_cannot_vouch_for(value: Any) -> None:
    with pytest.raises(EmitError):
        lit(value)


@settings(max_examples=100)
@given(st.text())
def test_any_text_stays_inside_its_docstring(text: str) -> None:
    lines = docstring_lines(text, 4)
    body = "\n".join("    " + ln if ln else "" for ln in lines)
    tree = ast.parse(f"class C:\n{body}\n    x = 1\n")
    cls = tree.body[0]
    assert isinstance(cls, ast.ClassDef) and len(cls.body) == 2
    assert isinstance(cls.body[0], ast.Expr) and isinstance(cls.body[0].value, ast.Constant)
    assert all(len("    " + ln) <= LINE_LENGTH or " " not in ln.strip() for ln in lines)


# -- layout: lines broken exactly as ruff breaks them ------------------------------------------


def _random_doc(rng: random.Random, depth: int = 0) -> Any:
    """A random call / list / tuple nest, always valid Python."""
    if depth > 2 or rng.random() < 0.35:
        return Text(rng.choice(["x", "planes * 4", "in_channels", "64", '"zeros"', "True"]))
    head, tail = rng.choice([("nn.Conv2d(", ")"), ("Block(", ")"), ("[", "]"), ("(", ")")])
    n = rng.randint(2 if head == "(" else 1, 7)
    items: list[Any] = [_random_doc(rng, depth + 1) for _ in range(n)]
    if head.endswith("(") and head != "(":
        keywords = rng.sample(["kernel_size", "stride", "padding", "bias"], rng.randint(0, 3))
        items += [Prefixed(f"{k}=", _random_doc(rng, depth + 1)) for k in keywords]
    if rng.random() < 0.2:
        items[0] = Prefixed("*", items[0])
    return Group(head, tuple(items), tail)


#: The kinds of operands emitted conditions have (a `when`, a class test, a path glob).
_OPERANDS = [
    "stride != 1",
    "in_channels != planes * 4",
    "zero_init_residual",
    "isinstance(m, nn.Conv2d)",
    "isinstance(m, (nn.Conv2d, nn.Linear, nn.BatchNorm2d, nn.ConvTranspose2d))",
    'fnmatch.fnmatchcase(name, "layer*.*.bn3")',
    'fnmatch.fnmatchcase(name, "encoder.blocks.*.attention.projection_layer_with_a_long_name")',
    "m.weight is not None",
    'isinstance(getattr(m, "bias", None), torch.Tensor)',
    "(width > 100 or depth < 3)",
]


def test_format_doc_output_is_what_ruff_writes(tmp_path: Path) -> None:
    rng = random.Random(4)
    lines = ["def f() -> None:"]
    for i in range(300):
        doc = _random_doc(rng)
        indent = rng.choice([4, 8, 16])
        prefix = rng.choice(["x = ", "self.layer = ", ""])
        for level in range(4, indent, 4):
            lines.append(" " * level + "if x:")
        lines += format_doc(doc, indent, prefix)
        operands = [rng.choice(_OPERANDS) for _ in range(rng.randint(1, 4))]
        if operands[0].startswith("(") and len(operands) == 1:
            operands.append("m.weight is not None")  # a lone parenthesized test is not emitted
        cond = f" {rng.choice(['and', 'or'])} ".join(operands)
        lines += [" " * 4 + ln for ln in condition_lines(cond, 4)] + [" " * 8 + f"y = {i}"]
    alphabet = "ab '\"\\\n\t\x00\x7f\u00e9\u03b1\u202e\U0001f600{}#"
    for _ in range(300):  # string literals: user text (glob patterns, str params) gets here
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12)))
        lines.append(f"    s = {lit(text)}")
    path = tmp_path / "layout.py"
    path.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", "--diff", "--no-cache", str(path)],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
    )
    assert proc.returncode == 0, proc.stdout[-4000:]


def test_symbolic_values_reach_ops_as_code() -> None:
    from archspec.ops import REGISTRY

    attrs = dict(
        out_channels=Code("planes * 4"),
        kernel_size=1,
        stride=Code("stride"),
        padding=0,
        dilation=1,
        groups=1,
        bias=False,
        padding_mode="zeros",
        in_channels=Code("in_channels"),
    )
    text = REGISTRY["conv2d"].emit(attrs, lit)
    assert text == "nn.Conv2d(in_channels, planes * 4, kernel_size=1, stride=stride, bias=False)"


# -- extension ops: support code and layers with modules inside --------------------------------


class _Gate(torch.nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = torch.nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.proj(x))


_GATE_SOURCE = '''class Gate(nn.Module):
    """x times a sigmoid gate from a 1x1 conv."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(channels, channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.sigmoid(self.proj(x))
'''


@pytest.fixture
def gate_op() -> Any:
    from typing import Literal

    class GateSpec(archspec.LayerSpec):
        type: Literal["test_gate"]

    class GateOp(archspec.Op):
        kind = "test_gate"
        spec = GateSpec
        inferred = ("channels",)

        def infer(self, attrs: dict[str, Any], inputs: Any, ctx: Any) -> Any:
            (x,) = inputs
            return archspec.Inferred(dict(attrs, channels=x[1].value), tuple(x))

        def build(self, attrs: Any) -> torch.nn.Module:
            return _Gate(attrs["channels"])

        def emit(self, attrs: Any, lit: Any) -> str:
            return f"Gate({lit(attrs['channels'])})"

        def emit_support(self) -> str:
            return _GATE_SOURCE

    archspec.register(GateOp)
    yield GateOp
    archspec.unregister("test_gate")


GATED = """\
archspec: 1
name: gated
input: [N, 3, 8, 8]
blocks:
  Stage:
    params: {c: int}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
      - {name: gate, type: test_gate}
layers:
  - {name: s1, type: Stage, c: 4}
  - {name: s2, type: Stage, c: 6}
  - {name: gate, type: test_gate}
init:
  - {layers: [conv2d], weight: {normal: {std: 0.5}}, bias: {constant: 0.25}}
"""


def test_support_code_is_written_once_and_layer_insides_are_left_alone(gate_op: Any) -> None:
    graph = build_graph(GATED)
    source = render_module(graph)
    assert source.count("class Gate(nn.Module):") == 1
    assert "skip.append(name" in source  # the gate's own conv is not a spec layer
    cls = getattr(_load(source, "gated"), graph.class_name)
    torch.manual_seed(5)
    ref = archspec.compile(GATED)
    torch.manual_seed(5)
    assert _same_weights(cls(), ref)


def test_support_code_that_is_not_definitions_is_refused(gate_op: Any) -> None:
    gate_op.emit_support = lambda self: "import os\n" + _GATE_SOURCE
    with pytest.raises(EmitError, match="only define classes and functions"):
        render_module(build_graph(GATED))


def test_support_code_clashing_with_the_network_class_is_refused(gate_op: Any) -> None:
    spec = GATED.replace("name: gated", "name: gated\nclass_name: Gate")
    with pytest.raises(EmitError) as info:
        render_module(build_graph(spec))
    assert info.value.error_code == "E602"


# -- the CLI ---------------------------------------------------------------------------------

runner = CliRunner()


def test_compile_writes_checks_and_summarises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["compile", str(SPECS / "lenet5.yaml"), "--set", "num_classes=7"])
    assert result.exit_code == 0, result.output
    path = tmp_path / "generated" / "lenet5.py"
    assert path.read_text() == render_module(
        build_graph(SPECS / "lenet5.yaml", {"num_classes": "7"})
    )
    assert "wrote generated/lenet5.py" in result.output
    assert "61," in result.output and "parameters" in result.output
    assert "(N, 7)" in result.output
    assert "--set num_classes=7" in path.read_text().splitlines()[1]
    again = runner.invoke(app, ["compile", str(SPECS / "lenet5.yaml"), "-o", "generated/"])
    assert again.exit_code == 0, again.output  # our own file: overwritten without --force
    assert "num_classes: int = 10" in path.read_text()


def test_compile_refuses_a_file_it_did_not_write(tmp_path: Path) -> None:
    target = tmp_path / "model.py"
    target.write_text("# my hand-written model\n")
    result = runner.invoke(app, ["compile", "lenet5", "-o", str(target)])
    assert result.exit_code == 1
    assert "E603" in result.output and "--force" in result.output
    assert target.read_text() == "# my hand-written model\n"
    forced = runner.invoke(app, ["compile", "lenet5", "-o", str(target), "--force"])
    assert forced.exit_code == 0, forced.output
    assert target.read_text().startswith(HEADER_PREFIX)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.py"]


def test_compile_never_leaves_a_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import archspec.cli.build as build

    target = tmp_path / "lenet.py"
    target.write_text(_source("lenet5").replace("10", "11"))  # ours, to be replaced

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(build.os, "replace", broken_replace)
    result = runner.invoke(app, ["compile", "lenet5", "-o", str(target)])
    assert result.exit_code == 1
    assert "E604" in result.output and "No space left" in result.output
    assert target.read_text() == _source("lenet5").replace("10", "11")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet.py"]


@pytest.mark.parametrize("where", ["write", "check"])
def test_interrupted_compile_leaves_the_old_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    """Ctrl-C while the temporary file is half written, or while it is being checked."""
    import archspec.cli.build as build

    old = _source("lenet5").replace("10", "11")
    target = tmp_path / "lenet.py"
    target.write_text(old)

    def interrupt(*args: Any) -> None:
        raise KeyboardInterrupt

    if where == "write":
        real_fdopen = os.fdopen

        def half_then_interrupt(fd: int, *args: Any, **kwargs: Any) -> Any:
            f = real_fdopen(fd, *args, **kwargs)

            def write(text: str) -> int:
                f.buffer.write(text[: len(text) // 2].encode())
                f.buffer.flush()
                raise KeyboardInterrupt

            f.write = write  # type: ignore[method-assign]
            return f

        monkeypatch.setattr(build.os, "fdopen", half_then_interrupt)
    else:
        monkeypatch.setattr(build, "check_emitted", interrupt)
    result = runner.invoke(app, ["compile", "lenet5", "-o", str(target)])
    assert result.exit_code != 0
    assert target.read_text() == old
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lenet.py"]  # no temporary left


def test_killed_compile_leaves_the_old_or_the_new_file(tmp_path: Path) -> None:
    """SIGKILL at moments spread over a real `archspec compile` run: never a partial file."""
    import signal
    import time

    old = _source("lenet5").replace("10", "11")
    new = _source("lenet5")
    target = tmp_path / "lenet.py"
    cmd = [sys.executable, "-m", "archspec", "compile", "lenet5", "-o", str(target)]
    target.write_text(old)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    full = time.perf_counter() - start
    assert target.read_text() == new
    seen = set()
    for fraction in (0.5, 0.7, 0.8, 0.85, 0.9, 0.95, 0.98, 1.0):
        target.write_text(old)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(full * fraction)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        text = target.read_text()
        assert text in (old, new), f"partial file after SIGKILL at {fraction:.0%} of a run"
        seen.add("new" if text == new else "old")
    assert "old" in seen  # the kills did land before the rename at least once


def test_compile_refuses_source_that_disagrees_with_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = pysource.render_module

    def wrong(graph: Any) -> str:
        return real(graph).replace("nn.Linear(84, num_classes)", "nn.Linear(85, num_classes)")

    monkeypatch.setattr(pysource, "render_module", wrong)
    target = tmp_path / "lenet.py"
    result = runner.invoke(app, ["compile", "lenet5", "-o", str(target)])
    assert result.exit_code == 1
    assert "does not match the compiled one" in result.output
    assert not target.exists() and not list(tmp_path.iterdir())


def test_compile_shows_spec_warnings(tmp_path: Path) -> None:
    spec = tmp_path / "odd.yaml"
    spec.write_text(ODD)
    result = runner.invoke(app, ["compile", str(spec), "-o", str(tmp_path / "odd.py")])
    assert result.exit_code == 0, result.output
    assert "warning[W401]" in result.stderr and "head.aux" in result.stderr
    assert "W401" not in result.stdout


def test_emit_prints_the_module() -> None:
    result = runner.invoke(app, ["emit", str(SPECS / "resnet18.yaml")])
    assert result.exit_code == 0
    assert result.stdout == _source("resnet18")


def test_help_shows_examples() -> None:
    for command in ("compile", "emit"):
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0
        assert "Examples:" in result.output and f"archspec {command} " in result.output
