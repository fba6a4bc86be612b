"""Spec diffs (issue 16): which state_dict tensors of A load into B, checked against what
torch's own `load_state_dict` reports for the two built models."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app

from .cpu import GUARD, cpu_seconds

runner = CliRunner()

SMALL = """archspec: 1
name: small
input: [N, 3, 16, 16]
params:
  width: {type: int, default: 8}
  extra: {type: bool, default: false}
  classes: {type: int, default: 10}
layers:
  - {name: conv, type: conv2d, out_channels: width, kernel_size: 3, padding: 1}
  - {name: bn, type: batchnorm2d}
  - {name: conv2, type: conv2d, out_channels: width, kernel_size: 3, padding: 1, when: extra}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: fc, type: linear, out_features: classes}
"""


def test_a_new_head_changes_exactly_the_fc_tensors() -> None:
    """The issue's case: `archspec diff resnet50 resnet50 --set num_classes=10`."""
    d = archspec.diff("resnet50", "resnet50", params_b={"num_classes": 10})
    assert [k for k, _, _ in d.changed] == ["fc.weight", "fc.bias"]
    assert d.changed[0][1:] == (((1000, 2048), "float32"), ((10, 2048), "float32"))
    assert not d.added and not d.removed and not d.compatible
    assert len(d.unchanged) == 318
    assert d.b.params - d.a.params == -(990 * 2048 + 990)
    assert d.a.macs == 4_089_184_256  # torchvision's 4.09 GFLOPS figure, at 224 x 224
    assert d.b.macs == d.a.macs - 990 * 2048


def test_a_spec_against_itself_is_compatible() -> None:
    d = archspec.diff(SMALL, SMALL)
    assert d.compatible and not d.changed
    assert "loads strictly" in d.text()


def _torch_view(a: dict, b: dict) -> tuple[set[str], set[str], set[str]]:
    """What torch says: tensors whose shapes differ, and with those left out of A's
    state_dict, the keys a non-strict load into B misses and does not expect."""
    ma = archspec.compile(SMALL, device="meta", **a)
    mb = archspec.compile(SMALL, device="meta", **b)
    sa, sb = ma.state_dict(), mb.state_dict()
    reshaped = {k for k in sa if k in sb and sa[k].shape != sb[k].shape}
    result = mb.load_state_dict(
        {k: v for k, v in sa.items() if k not in reshaped}, strict=False, assign=True
    )
    return reshaped, set(result.missing_keys), set(result.unexpected_keys)


SETTINGS = [{}, {"width": 16}, {"extra": True}, {"classes": 5, "extra": True}]


@pytest.mark.parametrize(("a", "b"), list(itertools.permutations(SETTINGS, 2)))
def test_the_diff_is_what_torch_reports(a: dict, b: dict) -> None:
    d = archspec.diff(SMALL, SMALL, params_a=a, params_b=b)
    reshaped, missing, unexpected = _torch_view(a, b)
    changed = {k for k, _, _ in d.changed}
    assert changed == reshaped
    assert missing == changed | {k for k, _ in d.added}
    assert unexpected == {k for k, _ in d.removed}
    with torch.device("meta"):
        total = sum(p.numel() for p in archspec.compile(SMALL, **b).parameters())
    assert d.b.params == total


def test_the_diff_of_b_and_a_is_the_other_way_round() -> None:
    """Across the variants of a family (each pair both ways)."""
    names = ["mnasnet0_5", "mnasnet0_75", "mnasnet1_0"]
    pairs = 0
    for x, y in itertools.combinations(names, 2):
        there, back = archspec.diff(x, y), archspec.diff(y, x)
        assert there.unchanged == back.unchanged
        assert [(k, q, p) for k, p, q in there.changed] == list(back.changed)
        assert there.added == back.removed and there.removed == back.added
        assert there.a == back.b and there.b == back.a
        pairs += 1
    assert pairs == 3


def test_cli_text_and_json() -> None:
    result = runner.invoke(app, ["diff", "resnet18", "resnet18", "--set", "num_classes=10"])
    assert result.exit_code == 0, result.output
    assert "changed  fc.weight  (1000, 512) -> (10, 512)" in result.stdout
    assert "changed  fc.bias  (1000) -> (10)" in result.stdout
    assert "params: 11,689,512 -> 11,181,642 (-507,870)" in result.stdout
    result = runner.invoke(
        app, ["diff", "resnet18", "resnet34", "--format", "json", "--set-a", "num_classes=10"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["a"]["name"] == "resnet18" and data["b"]["name"] == "resnet34"
    assert data["params_delta"] == data["b"]["params"] - data["a"]["params"]
    assert {c["key"] for c in data["changed"]} == {"fc.weight", "fc.bias"}
    assert all(
        k["key"].startswith(("layer1.2", "layer2.", "layer3.", "layer4.")) for k in data["added"]
    )
    assert not data["compatible"]


def test_a_broken_side_is_a_located_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(SMALL.replace("out_features: classes", "out_features: clases"))
    result = runner.invoke(app, ["diff", "resnet18", str(bad)])
    assert result.exit_code == 1
    assert f"{bad}:14:44: error[E302]: in B: unknown" in result.stderr
    assert "Traceback" not in result.output


def test_cli_resnet50_new_head_lists_exactly_the_fc_tensors() -> None:
    """The issue's command as a user types it, text and json."""
    args = ["diff", "resnet50", "resnet50", "--set", "num_classes=10"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    changed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("  ")]
    assert changed == ["fc.weight", "fc.bias"]
    data = json.loads(runner.invoke(app, [*args, "--format", "json"]).stdout)
    assert [c["key"] for c in data["changed"]] == ["fc.weight", "fc.bias"]
    assert data["added"] == [] and data["removed"] == [] and len(data["unchanged"]) == 318


def _families() -> list[tuple[str, list[str]]]:
    """Each family file of the built-in specs with its variants (two or more)."""
    from archspec.api import builtin_index

    by_file: dict[str, list[str]] = {}
    for name, (file, variant) in builtin_index().items():
        if variant is not None:
            by_file.setdefault(Path(file).stem, []).append(name)
    return sorted((f, names) for f, names in by_file.items() if len(names) > 1)


@pytest.mark.parametrize(
    "family,names",
    [
        pytest.param(f, n, marks=() if f in ("resnet", "vit") else (pytest.mark.heavy,), id=f)
        for f, n in _families()
    ],
)
def test_every_pair_of_a_familys_variants_diffs_quickly(family: str, names: list[str]) -> None:
    """Issue 16: a diff between two variants of a family takes well under a second (here
    the suite's CPU guard of tests/cpu.py; ARCHSPEC_CPU_GUARD=1 holds it to one second)."""
    archspec.diff(names[0], names[0])  # imports and torch's first meta kernels, once
    for a, b in itertools.combinations(names, 2):
        d, seconds = cpu_seconds(lambda a=a, b=b: archspec.diff(a, b))
        assert seconds < GUARD, (a, b, seconds)
        assert (d.a.name, d.b.name) == (a, b) and d.a.params != d.b.params


def test_a_renamed_module_is_named_as_a_likely_rename_and_changes_no_count() -> None:
    renamed = SMALL.replace("name: small", "name: renamed").replace("name: bn,", "name: norm,")
    d = archspec.diff(SMALL, renamed)
    assert d.renamed == (("bn", "norm", 5),)
    assert len(d.removed) == len(d.added) == 5 and not d.compatible
    assert "  renamed? bn -> norm  (5 tensors of the same names and shapes" in d.text()
    assert d.to_dict()["renamed"] == [{"a": "bn", "b": "norm", "tensors": 5}]
    # the keys renamed, a checkpoint of a loads strictly into b: the guess is right
    state = archspec.compile(SMALL).state_dict()
    moved = {k.replace("bn.", "norm.", 1): v for k, v in state.items()}
    archspec.compile(renamed).load_state_dict(moved, strict=True)


def test_tensors_of_other_shapes_or_names_are_no_rename() -> None:
    wider = SMALL.replace("name: bn,", "name: norm,").replace("default: 8", "default: 16")
    assert archspec.diff(SMALL, wider).renamed == ()
    assert archspec.diff(SMALL, SMALL, params_b={"extra": True}).renamed == ()


@pytest.mark.parametrize(
    ("args", "option"),
    [
        (["specs/resnet.yaml", "resnet50"], "--variant-a NAME (variant_a= in Python)"),
        (["resnet50", "specs/resnet.yaml"], "--variant NAME (variant_b= in Python)"),
        (["lenet5", "resnet50", "--variant-a", "x"], "drop --variant-a (variant_a=)"),
        (["resnet50", "lenet5", "--variant", "x"], "drop --variant (variant_b=)"),
    ],
)
def test_a_variant_hint_names_the_option_of_its_side(args: list[str], option: str) -> None:
    """`--variant` picks B's variant: a hint about A that named it would have the user change
    the other spec (the message, the code and the place stay as elsewhere)."""
    root = Path(__file__).resolve().parent.parent
    result = runner.invoke(app, ["diff", *[str(root / a) if "/" in a else a for a in args]])
    assert result.exit_code == 1
    assert "error[E113]" in result.output
    assert option in result.output


def test_a_malformed_set_a_is_a_usage_error_naming_set_a() -> None:
    result = runner.invoke(app, ["diff", "lenet5", "lenet5", "--set-a", "num_classes"])
    assert result.exit_code == 2
    assert "Invalid value for --set-a: 'num_classes' is not key=value" in result.output
    help_text = runner.invoke(app, ["diff", "--help"], env={"COLUMNS": "200"}).output
    assert "--set-a KEY=VALUE" in help_text


@pytest.mark.parametrize("option", ["--set", "--set-a"])
def test_a_param_given_twice_with_two_values_is_refused(option: str) -> None:
    """Which of two values was meant is a guess: the usage error says both (the same value
    twice is harmless)."""
    twice = [option, "num_classes=3", option, "num_classes=5"]
    result = runner.invoke(app, ["diff", "lenet5", "lenet5", *twice])
    assert result.exit_code == 2
    assert "num_classes is given twice ('3' and '5')" in " ".join(result.output.split())
    same = [option, "num_classes=3", option, "num_classes=3"]
    assert runner.invoke(app, ["diff", "lenet5", "lenet5", *same]).exit_code in (0, 1)
    check = runner.invoke(
        app, ["check", "lenet5", "--set", "num_classes=3", "--set", "num_classes=5"]
    )
    assert check.exit_code == 2 and "given twice" in check.output


@pytest.mark.parametrize(
    ("args", "side"),
    [
        (["--set-a", "num_clases=3"], "A"),
        (["--set", "num_clases=3"], "B"),
        (["--set-a", "num_classes=0"], "A"),
        (["--variant-a", "x"], "A"),
    ],
)
def test_an_error_says_which_side_it_is_about(args: list[str], side: str) -> None:
    """A and B may be one file with other params: the place alone cannot tell them apart."""
    result = runner.invoke(app, ["diff", "lenet5", "lenet5", *args])
    assert result.exit_code == 1
    assert (
        f": in {side}: " in result.stderr and f"in {'AB'.replace(side, '')}:" not in result.stderr
    )


def test_an_error_of_a_side_names_it_in_python_too() -> None:
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.diff("lenet5", "lenet5", params_b={"num_classes": 0})
    assert "in B: param `num_classes`" in str(info.value)
    assert info.value.diagnostics[0].message.startswith("in B: ")
