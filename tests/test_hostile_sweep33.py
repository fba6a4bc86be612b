"""Session 33's independent hostile sweep: careless use of the commands' paths and values,
each refused at once with a located error (never a file lost, never a misleading line)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec import plugins
from archspec.cli import app
from archspec.errors import ArchSpecError
from archspec.ops.base import REGISTRY

from .conftest import ROOT

runner = CliRunner()


def cli(*args: str) -> Any:
    return runner.invoke(app, list(args), env={"NO_COLOR": "1"})


SPEC = (ROOT / "specs" / "lenet5.yaml").read_text()

MODEL = """\
import torch.nn as nn


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 3)

    def forward(self, x):
        return self.fc(x)
"""


@pytest.mark.parametrize("how", ["itself", "symlink", "hard link", "base it extends"])
@pytest.mark.parametrize("command", ["compile", "graph"])
def test_force_never_writes_the_output_over_a_spec_the_command_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: str, how: str
) -> None:
    """`archspec compile net.yaml -o net.yaml --force` replaced the spec with the module it
    was compiled to (through a link or a hard link to it, or over the base the spec
    extends, too): the source was lost. As gcc's 'input file is the same as output file',
    it is E604 now, --force or not, and the file is left as it was."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base.yaml").write_text(SPEC)
    spec = "base.yaml"
    out = {"compile": "out.py", "graph": "out.mmd"}[command]
    if how == "itself":
        out = "base.yaml"
        if command == "graph":  # a spec file named like a picture: `graph net.mmd -o net.mmd`
            os.rename("base.yaml", "net.mmd")
            os.symlink("net.mmd", "base.yaml")
            spec = out = "net.mmd"
    elif how == "symlink":
        os.symlink("base.yaml", out)
    elif how == "hard link":
        os.link("base.yaml", out)
    else:
        (tmp_path / "child.yaml").write_text("archspec: 1\nextends: base.yaml\nname: child\n")
        spec, out = "child.yaml", "base.yaml"
        if command == "graph":  # a picture's suffix, on a link to the base
            os.symlink("base.yaml", "base.mmd")
            out = "base.mmd"
    result = cli(command, spec, "-o", out, "--force")
    assert result.exit_code == 1, result.output
    assert "error[E604]" in result.output
    assert "a file this command reads" in result.output
    assert (tmp_path / "base.yaml").read_text() == SPEC
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".archspec-")]


def test_import_never_writes_the_spec_over_the_model_s_own_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`archspec import tinymodel33:Tiny -o tinymodel33.py --force` wrote the spec over the
    Python file the model came from."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    source = tmp_path / "tinymodel33.py"
    source.write_text(MODEL)
    try:
        result = cli("import", "tinymodel33:Tiny", "--input", "1,4", "-o", str(source), "--force")
        assert result.exit_code == 1, result.output
        assert "error[E604]" in result.output
        assert source.read_text() == MODEL
        written = cli("import", "tinymodel33:Tiny", "--input", "1,4", "-o", "tiny.yaml")
        assert written.exit_code == 0, written.output  # another path is written as before
        assert (tmp_path / "tiny.yaml").read_text().startswith("archspec: 1")
    finally:
        sys.modules.pop("tinymodel33", None)


def test_force_never_writes_over_a_plugin_file_the_command_loaded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ARCHSPEC_PLUGINS", raising=False)
    plugin = tmp_path / "blend_copy.py"
    plugin.write_text((ROOT / "tests" / "plugins" / "blend.py").read_text())
    before = plugin.read_bytes()
    plugins.load_plugins()
    kinds, modules = dict(REGISTRY), set(sys.modules)
    try:
        result = cli("compile", "lenet5", "--plugins", str(plugin), "-o", str(plugin), "--force")
    finally:  # the registry as it was: the plugin's kind leaves with it
        for kind in set(REGISTRY) - set(kinds):
            archspec.unregister(kind)
        plugins.reset()
        for name in set(sys.modules) - modules:
            if name.startswith("archspec_plugin_"):
                del sys.modules[name]
    assert result.exit_code == 1, result.output
    assert "error[E604]" in result.output
    assert plugin.read_bytes() == before


def test_force_still_replaces_a_file_that_is_no_input(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refusal is of the command's inputs only: a copy of the spec is another file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.yaml").write_text(SPEC)
    (tmp_path / "copy.yaml").write_text(SPEC)
    result = cli("compile", "net.yaml", "-o", "copy.yaml", "--force")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "copy.yaml").read_text().startswith("# Generated by archspec")


def test_new_never_writes_its_copy_over_the_spec_it_copies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "net.yaml").write_text(SPEC)
    result = cli("new", "net", "--from", "net.yaml", "--force")
    assert result.exit_code == 1, result.output
    assert "error[E604]" in result.output
    assert (tmp_path / "net.yaml").read_text() == SPEC


FAMILY = """\
archspec: 1
name: tiny_family
input: [N, 3, 32, 32]
params:
  width: {type: int, default: 16, ge: 1}
variants:
  tiny_s: {params: {width: 8}}
layers:
  - {name: conv, type: conv2d, out_channels: width, kernel_size: 3}
"""


@pytest.mark.parametrize("value", ["abc", "0", "1.5"])
def test_a_bad_set_value_points_at_the_declaration_not_at_a_variant(
    tmp_path: Path, value: str
) -> None:
    """`--set width=abc` on a family's variant was located at the variant's `width: 8`, a
    line that is right, as if the variant were wrong: it is at the param's declaration now,
    which states what a value must be (a variant's own bad value stays at the variant)."""
    spec = tmp_path / "fam.yaml"
    spec.write_text(FAMILY)
    result = cli("check", str(spec), "--variant", "tiny_s", "--set", f"width={value}")
    assert result.exit_code == 1, result.output
    assert f"{spec}:5:3: error[E309]: param `width`" in result.output
    spec.write_text(FAMILY.replace("width: 8", "width: 0"))
    own = cli("check", str(spec), "--variant", "tiny_s")
    assert f"{spec}:7:28: error[E309]: param `width` default" in own.output


def test_a_variant_that_fails_to_compose_is_reported_by_its_own_name(tmp_path: Path) -> None:
    """`archspec check` of a family file reports each variant by its name; one whose own
    entry was wrong (an unknown key, a list instead of a mapping: E113 at the variant) was
    reported as the family (`tiny_family (fam.yaml): 1 error`, twice for two), which said
    nothing of which variant failed."""
    spec = tmp_path / "fam.yaml"
    spec.write_text(
        FAMILY.replace(
            "tiny_s: {params: {width: 8}}", "tiny_s: {params: {width: 8}, extra: 1}"
        ).replace("variants:\n", "variants:\n  tiny_m: []\n  tiny_l: {params: {width: 32}}\n")
    )
    result = cli("check", str(spec))
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if f"({spec})" in line]
    assert lines == [
        f"tiny_m ({spec}): 1 error",
        f"tiny_l ({spec}): ok",
        f"tiny_s ({spec}): 1 error",
    ]
    unknown = cli("check", str(spec), "--variant", "tiny_x")  # none of the file's: its name
    assert f"tiny_family ({spec}): 1 error" in unknown.output


class NanScale(torch.nn.Module):
    """A forward with a NaN constant, the same in both modes."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) * float("nan")


def test_a_nan_constant_is_one_graph_in_both_modes_not_e902() -> None:
    """import compares the graphs traced in eval and training mode argument by argument; a
    NaN is not equal to itself, so `x * float("nan")` was E902 'computes another graph in
    training mode', which sent the user to look for a branch on self.training. The step is
    refused for what it is (no kind multiplies by NaN: E903)."""
    with pytest.raises(ArchSpecError) as err:
        archspec.from_module(NanScale(), torch.zeros(2, 4))
    diags = err.value.diagnostics
    assert [d.code for d in diags] == ["E903"], [d.message for d in diags]
    assert "training mode" not in diags[0].message


@pytest.mark.parametrize("args", ["x=1", {"x": 1}, None, [7], [b"x=1"]])
def test_import_factory_args_of_another_type_is_a_type_error(args: Any) -> None:
    """`archspec.import_factory(path, "x=1")` read the text letter by letter ('argument
    `x` is not key=value'), a list holding a number was an AttributeError from inside."""
    with pytest.raises(TypeError, match="key=value"):
        archspec.import_factory("torch.nn:Identity", args, input=(1, 4))


def test_a_spec_that_is_a_dangling_link_or_a_loop_says_so(tmp_path: Path) -> None:
    """A spec path that is a symbolic link to nothing said 'No such file or directory' of a
    file that is there (the link), and a loop 'Too many levels of symbolic links'."""
    (tmp_path / "dangling.yaml").symlink_to("moved.yaml")
    (tmp_path / "a.yaml").symlink_to("b.yaml")
    (tmp_path / "b.yaml").symlink_to("a.yaml")
    dangling = cli("check", str(tmp_path / "dangling.yaml"))
    assert dangling.exit_code == 1
    assert "it is a symbolic link to 'moved.yaml', which does not exist" in dangling.output
    loop = cli("check", str(tmp_path / "a.yaml"))
    assert loop.exit_code == 1
    assert "symbolic link to 'b.yaml', which leads back into a loop of links" in loop.output
