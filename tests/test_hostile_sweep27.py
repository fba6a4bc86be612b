"""Hostile inputs found by the session-27 sweep, beyond the corpus of tests/hostile/.

Each test names what the input did before it was fixed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec

from .emit_helpers import matches_compile

HEAD = "archspec: 1\nname: x\ninput: [N, 3, 8, 8]\n"
FOO = "  Foo: {layers: [{type: conv2d, out_channels: 4, kernel_size: 1}, {type: relu}]}\n"


@pytest.mark.parametrize(
    ("param", "what", "layers"),
    [
        ("relu", "layer kind", "  - {type: Foo}\n  - {type: relu}\n"),
        ("repeat", "construct", "  - {type: repeat, count: 2, layer: {type: relu}}\n"),
        ("Foo", "block of this spec", "  - {type: Foo}\n"),
    ],
)
def test_a_block_param_named_like_a_kind_or_block_is_e304(
    param: str, what: str, layers: str
) -> None:
    # every `type: relu` of the spec, the chosen block's own relu included, became a call
    # of the chosen block: E307 "Foo contains itself" at Foo's relu, or, for a param named
    # like a block, `type: Foo` silently called the other block
    spec = (
        HEAD
        + f"params:\n  {param}: {{type: block, default: Bar}}\n"
        + "blocks:\n"
        + FOO
        + "  Bar: {layers: [{type: conv2d, out_channels: 2, kernel_size: 1}]}\n"
        + "layers:\n"
        + layers
    )
    (diag,) = archspec.check(spec).diagnostics
    assert diag.code == "E304" and f"has the name of a {what}" in diag.message
    assert diag.span is not None and (diag.span.line, diag.span.col) == (5, 3)


def _write(folder: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (folder / name).write_text(text)


LIB = (
    "archspec: 1\nblocks:\n"
    "  Unit: {layers: [{type: conv2d, out_channels: 7, kernel_size: 1}]}\n"
    "  Stage: {layers: [{type: Unit}, {type: Unit}]}\n"
)
MINE = "  Mine: {layers: [{type: conv2d, out_channels: 9, kernel_size: 1}]}\n"


def test_a_block_param_does_not_reach_into_an_imported_block(tmp_path: Path) -> None:
    # the library's Stage calls its own Unit (7 channels); the spec's param named Unit
    # turned those calls into the spec's Mine (9 channels): a silently different network
    _write(
        tmp_path,
        {
            "lib.yaml": LIB,
            "net.yaml": HEAD
            + "params:\n  Unit: {type: block, default: Mine}\n"
            + "blocks:\n"
            + MINE
            + "use:\n  - {from: lib.yaml, blocks: [Stage]}\n"
            + "layers:\n  - {type: Stage}\n  - {name: last, type: Unit}\n",
        },
    )
    model = archspec.compile(tmp_path / "net.yaml")
    assert [m.out_channels for m in model.modules() if hasattr(m, "out_channels")] == [7, 7, 9]


def test_a_block_param_does_not_reach_into_a_base_specs_import(tmp_path: Path) -> None:
    # the same through `extends:`: the base imports Stage, the child declares Unit
    _write(
        tmp_path,
        {
            "lib.yaml": LIB,
            "base.yaml": HEAD + "use:\n  - {from: lib.yaml, blocks: [Stage]}\n"
            "layers:\n  - {type: Stage}\n",
            "child.yaml": "archspec: 1\nextends: base.yaml\nname: child\n"
            + "params:\n  Unit: {type: block, default: Mine}\n"
            + "blocks:\n"
            + MINE
            + "layers:\n  - {type: Stage}\n  - {type: Unit}\n",
        },
    )
    model = archspec.compile(tmp_path / "child.yaml")
    assert [m.out_channels for m in model.modules() if hasattr(m, "out_channels")] == [7, 7, 9]


def test_classes_joined_for_a_shortcut_keep_each_instances_lets() -> None:
    # `w` pins planes and kk (the class writes their values); b and c then rendered the
    # same steps, their `project` lets differing only in kk's value (`... or False`,
    # `... or True`), and the two groups were joined as differing only in a shortcut: one
    # class binding b's let, so c (kk=3) was emitted without its projection (E601 at
    # compile, and `emit` printed the wrong module)
    spec = HEAD.replace("[N, 3, 8, 8]", "[N, 8, 8, 8]") + (
        "blocks:\n  B:\n"
        "    params: {planes: int, stride: {type: int, default: 1}, kk: {type: int, default: 1}}\n"
        "    let:\n"
        "      project: stride != 1 or in_channels != planes or kk > 1\n"
        "      w: max(planes, min(planes, abs(planes))) + round(planes / 2) + kk - kk\n"
        "    layers:\n"
        "      - type: residual\n"
        "        body:\n"
        "          - {name: c, type: conv2d, out_channels: w, kernel_size: 1}\n"
        "          - {name: c3, type: conv2d, out_channels: planes, kernel_size: 3,"
        " stride: stride, padding: 1}\n"
        "        shortcut: {name: proj, when: project, layers: [{type: conv2d,"
        " out_channels: planes, kernel_size: 1, stride: stride}]}\n"
        "layers:\n"
        "  - {name: b, type: B, planes: 16, stride: 2}\n"
        "  - {name: c, type: B, planes: 16, kk: 3}\n"
    )
    matches_compile(spec, (2, 8, 8, 8))


def test_a_block_imported_under_a_block_params_name_is_e304(tmp_path: Path) -> None:
    # `use: [{Unit: blk}]` beside a param `blk: {type: block}`: every `type: blk` called the
    # param's choice, and the block the spec imported by that name was silently never used
    _write(
        tmp_path,
        {
            "lib.yaml": LIB,
            "net.yaml": HEAD
            + "params:\n  blk: {type: block, default: Mine}\n"
            + "blocks:\n"
            + MINE
            + "use:\n  - {from: lib.yaml, blocks: [{Unit: blk}]}\n"
            + "layers:\n  - {type: blk}\n",
        },
    )
    (diag,) = archspec.check(tmp_path / "net.yaml").diagnostics
    assert diag.code == "E304" and "block param" in diag.message
    assert diag.span is not None and (diag.span.line, diag.span.col) == (9, 31)


def test_a_block_param_named_like_a_block_a_base_imports_is_e304(tmp_path: Path) -> None:
    # the base imports Stage by name in `use:`; the child's param named Stage silently made
    # every `type: Stage` (the base's layers too) call the child's Mine, and the imported
    # Stage was never called. A block copied along (Unit, which Stage calls) stays allowed:
    # test_a_block_param_does_not_reach_into_a_base_specs_import
    _write(
        tmp_path,
        {
            "lib.yaml": LIB,
            "base.yaml": HEAD + "use:\n  - {from: lib.yaml, blocks: [Stage]}\n"
            "layers:\n  - {type: Stage}\n",
            "mid.yaml": "archspec: 1\nextends: base.yaml\nname: mid\n",
            "child.yaml": "archspec: 1\nextends: mid.yaml\nname: child\n"
            + "params:\n  Stage: {type: block, default: Mine}\n"
            + "blocks:\n"
            + MINE
            + "layers:\n  - {type: Stage}\n",
        },
    )
    child = tmp_path / "child.yaml"
    for base in ("mid.yaml", "base.yaml"):  # through a spec between them, and directly
        child.write_text(child.read_text().replace("extends: mid.yaml", f"extends: {base}"))
        (diag,) = archspec.check(child).diagnostics
        assert diag.code == "E304" and "a block a base spec imports" in diag.message, diag
        assert diag.span is not None and (diag.span.line, diag.span.col) == (5, 3)
        assert diag.span.file.endswith("child.yaml") and "extends:" in (diag.hint or "")
