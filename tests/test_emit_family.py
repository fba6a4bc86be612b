"""A family's emitted file (issue 15): one module with each block class once, a class per
variant and a constructor function per variant, as torchvision's resnet.py has
`resnet18()`..`resnet152()`; every variant's class builds what `archspec.compile` builds.
"""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.backends.emit.family import rename
from archspec.backends.selfcheck import load_emitted
from archspec.cli import app
from archspec.errors import ArchSpecError

from .conftest import SPECS
from .emit_helpers import _fill, _layout

runner = CliRunner()


@pytest.fixture(scope="module")
def resnet_source() -> str:
    return archspec.emit(SPECS / "resnet.yaml")


def _defs(source: str) -> tuple[list[str], list[str]]:
    tree = ast.parse(source)
    classes = [s.name for s in tree.body if isinstance(s, ast.ClassDef)]
    functions = [s.name for s in tree.body if isinstance(s, ast.FunctionDef)]
    return classes, functions


def test_resnet_family_is_one_file_with_each_block_once(resnet_source: str) -> None:
    classes, functions = _defs(resnet_source)
    assert classes == [
        "BasicBlock",
        "Bottleneck",
        "ResNet18",
        "ResNet34",
        "ResNet50",
        "ResNet101",
        "ResNet152",
    ]
    assert functions == ["resnet18", "resnet34", "resnet50", "resnet101", "resnet152"]
    assert resnet_source.splitlines()[1] == "# Regenerate: archspec compile specs/resnet.yaml"
    assert "def resnet50(**kwargs: Any) -> ResNet50:" in resnet_source
    assert archspec.emit(SPECS / "resnet.yaml") == resnet_source  # deterministic


@pytest.mark.parametrize("variant", ["resnet18", "resnet50"])
def test_each_constructor_builds_the_compiled_variant(resnet_source: str, variant: str) -> None:
    module = load_emitted(resnet_source, "_family_resnet")
    ref = archspec.compile(variant, device="meta").to_empty(device="cpu")
    _fill(ref, seed=3)
    with torch.device("meta"):
        ours = getattr(module, variant)(num_classes=1000)
    assert _layout(ours) == _layout(ref)
    ours.load_state_dict(ref.state_dict(), strict=True, assign=True)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), ref.eval()(x), rtol=1e-6, atol=1e-6)


# A block whose repeat count decides its structure is specialised per count (the emitter
# unrolls the repeat): the two variants' `Stack`s differ, so the second is renamed in the
# file and the class that uses it is written with the new name.
STACKS = """\
archspec: 1
name: stacks
description: Two nets whose blocks differ in depth.
input: [N, 3, 16, 16]
params:
  depth: int
blocks:
  Stack:
    params: {n: int}
    layers:
      - {name: convs, type: repeat, count: n,
         layer: {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}}
variants:
  shallow: {params: {depth: 1}}
  deep: {description: 'The deep one, with a \"\"\" in its text.', params: {depth: 2}}
layers:
  - {name: stack, type: Stack, n: depth}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: fc, type: linear, out_features: 3}
"""


def test_a_block_specialised_per_variant_gets_a_name_of_its_own(tmp_path: Path) -> None:
    spec = tmp_path / "stacks.yaml"
    spec.write_text(STACKS, encoding="utf-8")
    source = archspec.emit(spec)
    classes, functions = _defs(source)
    assert classes == ["Stack", "Stack_2", "Shallow", "Deep"]  # classes named after variants
    assert functions == ["shallow", "deep"]
    tree = ast.parse(source)
    deep = next(s for s in tree.body if isinstance(s, ast.ClassDef) and s.name == "Deep")
    assert "Stack_2(" in ast.unparse(deep) and "Stack(" not in ast.unparse(deep)
    assert 'with a """ in' not in source  # free text stays escaped
    module = load_emitted(source, "_family_stacks")
    for variant, depth in (("shallow", 1), ("deep", 2)):
        ours = getattr(module, variant)()
        ref = archspec.compile(spec, variant=variant)
        assert _layout(ours) == _layout(ref)
        assert len(ours.stack.convs) == depth


def test_rename_touches_names_only() -> None:
    text = textwrap.dedent(
        """\
        class A(nn.Module):
            \"\"\"Uses Stack.\"\"\"

            def __init__(self) -> None:
                self.Stack = Stack(1)  # Stack
        """
    )
    out = rename(text, {"Stack": "Stack_2"})
    assert "self.Stack = Stack_2(1)  # Stack" in out and '"""Uses Stack."""' in out


def test_variants_sharing_a_class_name_are_named_apart() -> None:
    spec = STACKS.replace("shallow: {", "efficientnet_b0: {class_name: EfficientNet, ")
    spec = spec.replace("deep: {", "efficientnet_v2_s: {class_name: EfficientNet, ")
    classes, functions = _defs(archspec.emit(spec))
    assert classes[-2:] == ["EfficientNetB0", "EfficientNetV2S"]
    assert functions == ["efficientnet_b0", "efficientnet_v2_s"]


def test_variant_names_the_module_uses_do_not_shadow_it() -> None:
    # `def nn()` would hide `from torch import nn` from every class; `Any` the annotation
    spec = STACKS.replace("shallow:", "nn:").replace("deep: {", "Any: {class_name: Big, ")
    source = archspec.emit(spec)
    classes, functions = _defs(source)
    assert functions == ["nn_", "Any_2"] and classes[-2:] == ["Nn", "Big"]
    module = load_emitted(source, "_family_odd_names")
    assert len(module.Any_2().stack.convs) == 2
    with pytest.raises(ArchSpecError) as info:  # a class itself named Any: refused
        archspec.emit(spec.replace("class_name: Big", "class_name: Any"))
    assert info.value.diagnostics[0].code == "E602"


def test_a_family_of_one_variant_is_that_variant() -> None:
    spec = STACKS.replace("  deep: {description", "  # deep: {description")
    model = archspec.compile(spec)  # nothing to choose: no E113
    assert type(model).__name__ == "Shallow" and len(model.stack.convs) == 1
    assert "def shallow(" not in archspec.emit(spec)  # the variant's own module


def test_load_of_a_family_still_asks_for_a_variant() -> None:
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(STACKS)
    assert info.value.diagnostics[0].code == "E113"


def test_cli_compile_writes_and_checks_the_family_file(tmp_path: Path) -> None:
    spec = tmp_path / "stacks.yaml"
    spec.write_text(STACKS, encoding="utf-8")
    result = runner.invoke(app, ["compile", str(spec), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = tmp_path / "stacks.py"  # named after the family
    assert "wrote " in result.stdout and "2 variants" in result.stdout
    assert "shallow(): class Shallow" in result.stdout
    assert "deep(): class Deep" in result.stdout
    assert written.read_text(encoding="utf-8") == archspec.emit(spec)
    result = runner.invoke(app, ["emit", str(spec)])
    assert result.exit_code == 0 and result.stdout == archspec.emit(spec)
    result = runner.invoke(app, ["emit", str(spec), "--variant", "deep"])
    assert result.exit_code == 0 and "def deep(" not in result.stdout


def test_cli_compile_names_the_functions_the_file_defines(tmp_path: Path) -> None:
    """A variant named like a name the module uses (`torch`, `nn`, `Any`) gets another
    function name in the file; compile's report says that one, not the variant's."""
    spec = tmp_path / "odd.yaml"
    spec.write_text(
        STACKS.replace("shallow:", "torch:").replace("deep: {", "Any: {class_name: Big, "),
        encoding="utf-8",
    )
    result = runner.invoke(app, ["compile", str(spec), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    _, functions = _defs((tmp_path / "stacks.py").read_text(encoding="utf-8"))
    assert functions == ["torch_", "Any_2"]
    assert "  torch_(): class Torch " in result.stdout
    assert "  Any_2(): class Big " in result.stdout
    assert "torch(): " not in result.stdout and "Any(): " not in result.stdout


def _many_variants(n: int) -> str:
    """A family whose block reads the spec's `w`: each variant's block is a class of its own."""
    head = """\
        archspec: 1
        name: fam
        input: [N, 3, 8, 8]
        params:
          w: {type: int, default: 1}
        blocks:
          Blk:
            layers:
              - {type: conv2d, out_channels: w, kernel_size: 3, padding: 1}
              - {type: relu}
        layers:
          - {type: Blk}
          - {type: flatten}
          - {type: linear, out_features: 2}
        variants:
        """
    rows = "".join(f"  v{i}: {{params: {{w: {i + 1}}}}}\n" for i in range(n))
    return textwrap.dedent(head) + rows


def test_a_family_of_many_distinct_block_classes_is_merged_in_linear_work(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each new class is looked up among the file's by its blinded tokens, not compared with
    every class there: 240 variants took 10 s (quadratic) and 255 past a minute."""
    from archspec.backends.emit import family

    calls: list[int] = []
    real = family._key

    def counted(text: str, renames: dict[str, str] | None = None) -> tuple[str, ...]:
        calls.append(1)
        return real(text, renames)

    monkeypatch.setattr(family, "_key", counted)
    counts = []
    for n in (20, 80):
        calls.clear()
        source = archspec.emit(_many_variants(n))
        classes, _ = _defs(source)
        assert classes[:3] == ["Blk", "Blk_2", "Blk_3"] and len(classes) == 2 * n
        counts.append(len(calls))
    # linear: four times the variants, four times the tokenizations (quadratic was ~16x)
    assert counts[1] <= 4.5 * counts[0], counts
    module = load_emitted(source, "_family_many")
    ours, ref = module.v79(), archspec.compile(_many_variants(80), variant="v79")
    assert _layout(ours) == _layout(ref)
