"""Names a user gets nearly right: a built-in spec `extends:` names in another case, or by its
family file's name, is suggested by its own name (E114 said only "no built-in spec named"),
and a spec file named with an upper-case suffix (`blocks.YAML`), which `archspec check`
reads, is read by `use:` and `extends:` too (`use:` said "is not a .yaml file")."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec


def _extending(tmp_path: Path, ref: str) -> archspec.CheckReport:
    spec = tmp_path / "mine.yaml"
    spec.write_text(f"archspec: 1\nname: mine\nextends: {ref}\n", encoding="utf-8")
    return archspec.check(spec)


@pytest.mark.parametrize(
    ("ref", "meant"),
    [("ResNet18", "resnet18"), ("VGG16_BN", "vgg16_bn"), ("resnet5", "resnet50")],
)
def test_a_builtin_named_nearly_right_is_suggested(tmp_path: Path, ref: str, meant: str) -> None:
    (error,) = _extending(tmp_path, ref).errors
    assert error.code == "E114" and error.message == f"no built-in spec named `{ref}` to extend"
    assert error.hint is not None and error.hint.startswith(f"did you mean `{meant}`? ")
    assert error.span is not None and (error.span.line, error.span.col) == (3, 10)


def test_a_name_like_no_builtin_gets_no_guess(tmp_path: Path) -> None:
    (error,) = _extending(tmp_path, "zzzz_qqqq").errors
    assert error.code == "E114" and error.hint is not None
    assert "did you mean" not in error.hint and error.hint.startswith("name a built-in spec")


BLOCKS = """\
archspec: 1
blocks:
  Unit:
    layers:
      - {type: conv2d, out_channels: 4, kernel_size: 3, padding: 1}
      - {type: relu}
"""


@pytest.mark.parametrize("suffix", [".YAML", ".Yml"])
def test_use_and_extends_read_a_spec_file_with_an_upper_case_suffix(
    tmp_path: Path, suffix: str
) -> None:
    (tmp_path / f"blocks{suffix}").write_text(BLOCKS, encoding="utf-8")
    net = tmp_path / "net.yaml"
    net.write_text(
        "archspec: 1\nname: net\ninput: [N, 3, 8, 8]\n"
        f"use: [{{from: blocks{suffix}, blocks: [Unit]}}]\n"
        "layers:\n  - {type: Unit}\n",
        encoding="utf-8",
    )
    assert archspec.check(net).ok
    (tmp_path / f"Net{suffix}").write_text(net.read_text(), encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text(f"archspec: 1\nname: child\nextends: Net{suffix}\n", encoding="utf-8")
    report = archspec.check(child)
    assert report.ok and report.name == "child" and report.outputs


def test_a_block_param_whose_default_is_no_name_is_located_when_a_child_swaps_blocks(
    tmp_path: Path,
) -> None:
    """Found by the fuzz run (seed 4001): a base's `block` param defaulting to a list, under a
    child that swaps a block, was a TypeError ('unhashable type: list') out of compose."""
    (tmp_path / "base.yaml").write_text(
        "archspec: 1\nname: base\ninput: [N, 3, 8, 8]\n"
        "params:\n  unit: {type: block, default: [1, 2]}\n"
        "blocks:\n  A:\n    layers: [{type: relu}]\n  B:\n    layers: [{type: relu6}]\n"
        "layers:\n  - {type: unit}\n",
        encoding="utf-8",
    )
    child = tmp_path / "child.yaml"
    child.write_text(
        "archspec: 1\nname: child\nextends: base.yaml\nblocks:\n  A: B\n", encoding="utf-8"
    )
    report = archspec.check(child)
    assert not report.ok and report.errors
    assert all(e.span is not None for e in report.errors), report.errors
