"""Source emission, the file (issue 4): every spec's emitted module builds the compiled
model, is fresh in generated/, passes ruff and imports only torch; hostile text stays inert;
lines break as ruff breaks them; extension ops' support code is written once.

`generated/` holds the emitted module of every built-in name (each plain spec in `specs/`,
each variant of a family file) and of every family file as a whole (`generated/resnet.py`:
each block class once, a class and a constructor function per variant). After changing the
emitter or a spec, regenerate it from the repository root with

    for n in $(archspec list --names); do archspec compile $n; done
    for f in specs/*.yaml; do archspec compile $f; done

(`archspec compile` checks each module against `archspec.compile` before writing it);
`test_generated_file_is_fresh` fails until you do. Freshness is checked for every name in
the default run; building the emitted class against the compiled model (layout, outputs) is
sampled like the forward tests: the first variant of each family, the rest with `--all`.
"""

from __future__ import annotations

import ast
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import archspec
from archspec.api import build_graph, family_of
from archspec.backends.pycode import LINE_LENGTH, docstring_lines, lit
from archspec.backends.pylayout import Group, Prefixed, Text, condition_lines, format_doc
from archspec.backends.pysource import HEADER_PREFIX, render_module
from archspec.backends.selfcheck import fx_wrap_target
from archspec.errors import ArchSpecError, EmitError, SchemaError

from .conftest import ROOT, SPECS, spec_source, zoo_params
from .emit_helpers import (
    ALL,
    GENERATED,
    ODD,
    PROBE,
    STACKS,
    _emitted_class,
    _fill,
    _layout,
    _load,
    _same_weights,
    _small_input,
    _source,
)

# -- every spec: the emitted class is the compiled model ------------------------------------


@pytest.mark.parametrize("name", zoo_params(ALL, share=(0, 2)))
def test_layout_and_param_count_match_compile(name: str) -> None:
    with torch.device("meta"):
        ours = _emitted_class(name)()
    ref = archspec.compile(spec_source(name), device="meta")
    assert _layout(ours) == _layout(ref)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    assert type(ours).__name__ == build_graph(spec_source(name)).class_name


@pytest.mark.parametrize("name", zoo_params(ALL, share=(1, 2)))
def test_outputs_match_compile_under_shared_weights(name: str) -> None:
    ref = archspec.compile(spec_source(name), device="meta").to_empty(device="cpu")
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


#: Family files (two or more variants) and the name of their one-module emission; the four
#: that cost seconds each to emit are checked with `--all`, their variants' files always.
FAMILIES = {
    found[0]: path
    for path in sorted(SPECS.glob("*.yaml"))
    if (found := family_of(path)) is not None and len(found[1]) > 1
}
_SLOW_FAMILIES = {"convnext", "densenet", "efficientnet", "regnet"}


@pytest.mark.parametrize(
    "family",
    [pytest.param(f, marks=pytest.mark.heavy) if f in _SLOW_FAMILIES else f for f in FAMILIES],
)
def test_generated_family_file_is_fresh(family: str) -> None:
    path = GENERATED / f"{family}.py"
    assert path.exists(), f"{path} is missing: regenerate generated/ (see this file's docstring)"
    assert path.read_text(encoding="utf-8") == archspec.emit(FAMILIES[family]), (
        f"{path} is stale: regenerate generated/ (see this file's docstring)"
    )


def test_generated_holds_only_spec_modules() -> None:
    assert len(FAMILIES) >= 10 and not set(FAMILIES) & set(ALL)
    stray = sorted(
        p.name for p in GENERATED.glob("*.py") if p.stem not in ALL and p.stem not in FAMILIES
    )
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
        elif fx_wrap_target(stmt) is None:  # nothing runs at import time but imports,
            # definitions and torch.fx.wrap of a function (Swin's window attention)
            assert isinstance(stmt, (ast.ClassDef, ast.FunctionDef)), ast.dump(stmt)[:80]
    # math: init expressions such as 1 / sqrt(out_features) (EfficientNet)
    assert imported <= {"torch", "torch.nn.functional", "fnmatch", "collections", "math"}
    assert "torch" in imported
    first = _source(name).splitlines()[0]
    spec_file = archspec.builtin_index()[name][0].name  # a family's variants share its file
    assert first.startswith(HEADER_PREFIX) and f"specs/{spec_file}" in first


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
    # refused as the spec is lowered (so check, summary and compile refuse it too)
    with pytest.raises(ArchSpecError) as info:
        render_module(build_graph(spec))
    assert info.value.error_code == "E602"
    assert "class_name" in (info.value.hint or "")
    span = info.value.span  # at the `class_name:` that names it, not at line 1
    assert span is not None and span.line == PROBE.splitlines().index("name: init_probe") + 2


@pytest.mark.parametrize(
    ("spec", "line", "col"),
    [
        # a class name made from the spec's name (`f` -> `F`): at `name:`
        ("archspec: 1\nname: f\ninput: [N, 3]\nlayers: [{type: relu}]\n", 2, 7),
        # made from a variant's name (`true` -> `True`): at the variant
        (
            "archspec: 1\nname: fam\ninput: [N, 3]\nparams: {w: 1}\nvariants:\n"
            "  a: {params: {w: 2}}\n  'true': {params: {w: 3}}\nlayers: [{type: relu}]\n",
            7,
            3,
        ),
        # a family's variant named `Any` (its file imports typing.Any): at its class_name
        (
            "archspec: 1\nname: fam\ninput: [N, 3]\nparams: {w: 1}\nvariants:\n"
            "  a: {params: {w: 2}}\n  b: {class_name: Any}\nlayers: [{type: relu}]\n",
            7,
            19,
        ),
    ],
)
def test_a_class_name_made_from_a_name_is_refused_where_that_name_is(
    spec: str, line: int, col: int
) -> None:
    """`check` accepts these (the compiled class may be called `F`); emitted source cannot
    define it, and the error points at what the name was made from."""
    with pytest.raises(ArchSpecError) as info:
        archspec.emit(spec)
    span = info.value.span
    assert info.value.error_code == "E602" and span is not None
    assert (span.line, span.col) == (line, col), info.value.render()


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


def test_init_reads_layer_facts_an_op_declares_without_building_it(gate_op: Any) -> None:
    """An op that declares its tensors and submodules is never built by the emitter: the
    init method comes out the same as from the module built on the meta device."""
    graph = build_graph(GATED)
    built = render_module(graph)
    conv = archspec.ops.REGISTRY["conv2d"]
    calls: list[str] = []

    def refuse(self: Any, attrs: Any) -> Any:
        calls.append(self.kind)
        raise AssertionError("the emitter built a module")

    gate_op.init_tensors = lambda self, attrs: {}
    gate_op.submodules = lambda self, attrs: (("proj", "nn.Conv2d"),)
    gate_op.build = refuse
    original = type(conv)
    patched = type(
        "DeclaringConv",
        (original,),
        {
            "submodules": lambda self, attrs: (),
            "build": refuse,
        },
    )
    archspec.register(patched, replace=True)
    try:
        assert isinstance(archspec.ops.REGISTRY["conv2d"], patched)
        assert render_module(build_graph(GATED)) == built
    finally:
        archspec.register(original, replace=True)
    assert calls == []


def test_support_code_that_is_not_definitions_is_refused(gate_op: Any) -> None:
    gate_op.emit_support = lambda self: "import os\n" + _GATE_SOURCE
    with pytest.raises(EmitError, match="only define classes and functions"):
        render_module(build_graph(GATED))


def test_support_code_clashing_with_the_network_class_is_refused(gate_op: Any) -> None:
    spec = GATED.replace("name: gated", "name: gated\nclass_name: Gate")
    # refused as the spec is lowered (so check, summary and compile refuse it too)
    with pytest.raises(ArchSpecError) as info:
        render_module(build_graph(spec))
    assert info.value.error_code == "E602"
