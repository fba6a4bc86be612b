"""`archspec check` reports what `emit` and `compile` refuse when it is knowable without
torch, at the same place with the same code; and the emitter no longer refuses a clash of
names of its own making (a param and a block of one name)."""

from __future__ import annotations

import ast
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

import archspec
from archspec.cli import app

SUPPORT_CLASH = """\
archspec: 1
name: t
class_name: Permute
input: [N, 3, 4]
layers:
  - {type: permute, dims: [0, 2, 1]}
"""


def test_check_reports_a_class_name_that_a_kinds_support_code_defines(tmp_path: Path) -> None:
    """`class_name: Permute` beside a `permute` layer (whose emitted support code defines
    `Permute`) passed check and was E602 at emit."""
    spec = tmp_path / "t.yaml"
    spec.write_text(SUPPORT_CLASH)
    result = archspec.check(str(spec))
    assert not result.ok
    [diag] = result.errors
    assert (diag.code, diag.span.line, diag.span.col) == ("E602", 3, 13)
    try:
        archspec.emit(str(spec))
    except archspec.ArchSpecError as exc:
        assert exc.diagnostics[0].message == diag.message
        assert exc.diagnostics[0].span == diag.span
    else:
        raise AssertionError("emit accepted what check refuses")
    done = CliRunner().invoke(app, ["check", str(spec)])
    assert done.exit_code == 1 and "t.yaml:3:13: error[E602]" in done.stderr


TEMPLATE = """\
archspec: 1
name: t
class_name: {root}
input: [N, 3]
params:
  {param}: {{type: int, default: 2}}
blocks:
  {block}:
    params: {{{inner}: {{type: int, default: 3}}}}
    layers:
      - {{type: linear, out_features: {inner}}}
layers:
  - {{type: {block}}}
  - {{type: linear, out_features: {param}}}
"""

NAMES = ["Blk", "Blk_2", "Blk_3", "BlkBlock", "Net", "Net_2", "Blk_"]


def _classes_and_arguments(source: str) -> list[tuple[str, set[str]]]:
    tree = ast.parse(source)
    out = []
    for cls in tree.body:
        if isinstance(cls, ast.ClassDef):
            init = next(
                f for f in cls.body if isinstance(f, ast.FunctionDef) and f.name == "__init__"
            )
            out.append((cls.name, {a.arg for a in init.args.args[1:]}))
    return out


def test_check_and_emit_agree_on_names() -> None:
    """Whatever the names of the network class, a block, and their params: check is fine
    exactly when emit is, and the emitted file names no class like an argument."""
    checked: set[str] = set()

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        root=st.sampled_from(NAMES),
        param=st.sampled_from(NAMES),
        block=st.sampled_from(NAMES),
        inner=st.sampled_from(NAMES),
    )
    def agree(root: str, param: str, block: str, inner: str) -> None:
        text = TEMPLATE.format(root=root, param=param, block=block, inner=inner)
        result = archspec.check(text)
        try:
            source = archspec.emit(text)
        except archspec.ArchSpecError as exc:
            assert not result.ok, f"emit refuses what check passes: {exc}"
            assert [d.code for d in result.errors] == [d.code for d in exc.diagnostics]
        else:
            assert result.ok, result.errors
            classes = _classes_and_arguments(source)
            names = {name for name, _ in classes}
            for name, args in classes:
                assert not args & names, (name, args & names)
        checked.add(text)

    agree()
    assert len(checked) >= 20, len(checked)


def test_a_param_named_like_a_block_is_emitted() -> None:
    """A network param `Blk` beside a block `Blk`: the class became `Blk_2` and so did the
    argument (E602 at emit, check fine); now the argument takes another name."""
    text = TEMPLATE.format(root="Net", param="Blk", block="Blk", inner="width")
    assert archspec.check(text).ok
    classes = dict(_classes_and_arguments(archspec.emit(text)))
    assert "Blk_2" in classes and "Blk_2" not in classes["Net"]
