"""`archspec list | new | graph` and the root help, run as a user would through the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import archspec
from archspec.api import human
from archspec.backends.pysource import render_module
from archspec.cli import app
from archspec.cli.tools import first_sentence, scaffold
from archspec.passes.costs import graph_cost

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    # a wide terminal, so that each table row is one line (tests/test_terminal.py checks 80)
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})
    return result.exit_code, result.stdout, result.stderr


def test_list_shows_each_builtin_with_size_and_cost() -> None:
    code, out, _ = run("list")
    assert code == 0
    for name in archspec.builtin_specs():
        assert f" {name} " in out
    row = next(line for line in out.splitlines() if " resnet18 " in line)
    assert "11.69 M" in row and "1.81 G" in row and "num_classes=1000" in row
    assert "ResNet-18 (He et al., 2015)" in row


def test_list_layers_names_every_kind_and_construct() -> None:
    code, out, _ = run("list", "--layers")
    assert code == 0
    for kind in ("conv2d", "batchnorm2d", "linear", "add", "concat", "repeat", "parallel"):
        assert f" {kind} " in out
    row = next(line for line in out.splitlines() if " conv2d " in line)
    assert "out_channels kernel_size stride?" in row and "in_channels" not in row
    # each construct's row is its registry entry's own summary (no list kept in the CLI)
    from archspec.constructs import CONSTRUCTS

    assert len(CONSTRUCTS) >= 5
    for kind, construct in CONSTRUCTS.items():
        row = next(line for line in out.splitlines() if line.split()[1:2] == [kind])
        assert construct.summary in row and "construct" in row


def test_first_sentence_and_human() -> None:
    assert first_sentence("A (b. c) d. E f.") == "A (b. c) d."
    assert first_sentence("GoogLeNet as torchvision builds it: nine modules.") == (
        "GoogLeNet as torchvision builds it"
    )
    assert first_sentence("no stop") == "no stop"
    assert (human(11_689_512), human(999), human(1_814_073_344)) == ("11.69 M", "999", "1.81 G")
    # a decade early, as summaries quote MACs (`0.71 G`): one formatter for both
    assert (human(714_000_000, early=True), human(99, early=True)) == ("0.71 G", "99")


def test_new_scaffold_checks_clean_and_compiles(tmp_path: Path) -> None:
    out = tmp_path / "mynet.yaml"
    code, _, err = run("new", "mynet", "-o", str(out))
    assert code == 0, err
    text = out.read_text()
    assert text.startswith("# yaml-language-server: $schema=archspec.schema.json\n")
    assert (tmp_path / "archspec.schema.json").is_file()
    assert text.count("\n#") > 20  # it teaches
    result = archspec.check(out)
    assert result.ok and not result.diagnostics
    model = archspec.compile(out, num_classes=7)
    import torch

    assert model.eval()(torch.randn(2, 3, 32, 32)).shape == (2, 7)
    # a second run refuses to overwrite: a spec is its author's, even one `new` wrote
    code, _, err = run("new", "mynet", "-o", str(out))
    assert code == 1 and "error[E603]" in err and "--force" in err
    code, _, err = run("new", "mynet", "-o", str(out), "--force")
    assert code == 0, err


def test_new_refuses_a_bad_name_before_looking_at_the_target(tmp_path: Path) -> None:
    # a name no spec can have is the mistake to report, even where a file of that name
    # exists: E603 ("pass --force") first led to a second refusal after --force
    out = tmp_path / "ünï.yaml"
    out.write_text("mine\n")
    for extra in ((), ("--force",)):
        code, _, err = run("new", "ünï", "-o", str(out), *extra)
        assert code == 2 and "is not an ASCII name" in err and "E603" not in err, err
    assert out.read_text() == "mine\n"


def test_new_points_at_the_nearest_schema_instead_of_copying_it(tmp_path: Path) -> None:
    """One schema per project: a spec started in a subfolder points at the one above it; a
    repository's root is as far as the search goes."""
    assert run("new", "first", "-o", str(tmp_path / "first.yaml"))[0] == 0
    nested = tmp_path / "models" / "vision"
    nested.mkdir(parents=True)
    code, _, err = run("new", "second", "-o", str(nested / "second.yaml"))
    assert code == 0, err
    text = (nested / "second.yaml").read_text()
    assert text.startswith("# yaml-language-server: $schema=../../archspec.schema.json\n")
    assert not (nested / "archspec.schema.json").exists() and "editor completion" not in err
    assert archspec.check(nested / "second.yaml").ok
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    assert run("new", "third", "-o", str(repo / "third.yaml"))[0] == 0
    assert (repo / "archspec.schema.json").is_file()  # the schema above the repo is not used
    assert (
        (repo / "third.yaml")
        .read_text()
        .startswith("# yaml-language-server: $schema=archspec.schema.json\n")
    )


def test_new_from_builtin_keeps_the_network(tmp_path: Path) -> None:
    out = tmp_path / "myres.yaml"
    code, _, err = run("new", "myres", "--from", "resnet18", "-o", str(out))
    assert code == 0, err
    text = out.read_text()
    assert "\nname: myres\n" in text and "class_name:" not in text
    assert "# myres: a copy of archspec's `resnet18` spec" in text
    g = archspec.build_graph(out)
    assert g.name == "myres" and g.class_name == "Myres"
    assert graph_cost(g).params == graph_cost(archspec.build_graph("resnet18")).params


def test_new_from_a_family_file_copies_the_family(tmp_path: Path) -> None:
    """A family file (one with `variants:`) is copied whole; it used to be E113 whose hint,
    `--variant`, names an option `new` does not have."""
    fam = tmp_path / "fam.yaml"
    fam.write_text(
        "archspec: 1\nname: fam\ninput: [N, 3, 8, 8]\nparams: {w: 4}\n"
        "variants:\n  fam_s: {params: {w: 2}}\n  fam_l: {params: {w: 8}}\n"
        "layers: [{name: conv, type: conv2d, out_channels: w, kernel_size: 1}]\n"
    )
    out = tmp_path / "mine.yaml"
    code, _, err = run("new", "mine", "--from", str(fam), "-o", str(out))
    assert code == 0, err
    text = out.read_text()
    assert "# mine: a copy of the `fam` spec" in text and "archspec's" not in text
    assert "\nname: mine\n" in text and "fam_l: {params: {w: 8}}" in text
    assert archspec.compile(out, variant="fam_l").conv.out_channels == 8


def test_new_rejects_a_bad_name() -> None:
    code, _, err = run("new", "my-net")
    assert code == 2 and "not a valid name" in err
    with pytest.raises(typer.BadParameter, match="keyword"):
        scaffold("class")


@pytest.mark.parametrize(("suffix", "start"), [(".dot", "digraph"), (".mmd", "flowchart")])
def test_graph_writes_text_formats(tmp_path: Path, suffix: str, start: str) -> None:
    out = tmp_path / f"g{suffix}"
    code, _, err = run("graph", "lenet5", "-o", str(out), "--set", "num_classes=3")
    assert code == 0, err
    text = out.read_text()
    assert text.startswith(start) and "(N, 3)" in text


def test_graph_prints_dot_and_reports_spec_errors(tmp_path: Path) -> None:
    code, out, _ = run("graph", "resnet18", "--depth", "0")
    assert code == 0 and out.startswith('digraph "resnet18"') and "cluster:layer1.0" not in out
    code, _, err = run("graph", "lenet5", "-o", str(tmp_path / "g.jpg"))
    assert code == 1 and "error[E702]" in err
    code, _, err = run("graph", "no_such_spec")
    assert code == 1 and "E100" in err
    code, _, err = run("graph", "lenet5", "--set", "num_classes=0")
    assert code == 1


@pytest.mark.parametrize("command", ["list", "schema", "new", "graph"])
def test_help_has_an_example(command: str) -> None:
    code, out, _ = run(command, "--help")
    assert code == 0
    assert "Examples:" in out and f"archspec {command}" in out.split("Examples:")[1]


def test_root_help_offers_shell_completion() -> None:
    code, out, _ = run("--help")
    assert code == 0
    assert "--install-completion" in out and "--show-completion" in out
    for command in ("list", "schema", "new", "graph"):
        assert f"  {command} " in out


@pytest.mark.parametrize(
    "args",
    [
        ["schema", "-o", "{dir}"],
        ["graph", "lenet5", "-o", "{dir}/sub.py/x.dot"],
        ["new", "foo", "-o", "{dir}", "--force"],
        ["compile", "lenet5", "-o", "{dir}/sub.py/x.py"],
    ],
    ids=["schema-to-a-dir", "graph-under-a-file", "new-over-a-dir", "compile-under-a-file"],
)
def test_unwritable_outputs_are_e604_not_a_traceback(tmp_path: Path, args: list[str]) -> None:
    (tmp_path / "sub.py").write_text("# a file where a directory is needed\n")
    before = sorted(p.name for p in tmp_path.iterdir())
    result = runner.invoke(app, [a.replace("{dir}", str(tmp_path)) for a in args])
    assert result.exit_code == 1, result.output
    assert "error[E604]" in result.output or "error[E604]" in result.stderr
    assert "internal error" not in result.output and "Traceback" not in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written or left


def test_write_atomic_keeps_the_old_file_when_interrupted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from archspec.files import write_atomic

    target = tmp_path / "schema.json"
    target.write_text("old")

    def interrupted(*args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(target, "new" * 100_000, force=True)
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schema.json"]
    monkeypatch.undo()
    write_atomic(target, "new", force=True)
    assert target.read_text() == "new"


@pytest.mark.parametrize(
    "argv",
    [
        ["compile", "lenet5"],
        ["schema"],
        ["new", "tiny"],
        ["graph", "lenet5"],
        ["import", "torch.nn:Identity", "--input", "1,2"],
    ],
    ids=lambda argv: argv[0],
)
def test_an_empty_output_path_is_a_usage_error_naming_o(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-o ''` names no file: a usage error about -o, not "cannot write .: a directory"
    (Path("") is the current directory); nothing is written."""
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, [*argv, "-o", ""])
    assert result.exit_code == 2, result.output
    assert "an empty path names no file" in result.output
    assert "directory" not in result.output
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("argv", [["schema"], ["graph", "lenet5"]], ids=lambda a: a[0])
def test_dash_output_prints_as_no_output_does(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`-o -` is standard output, as for most tools: it prints; no file named `-`."""
    monkeypatch.chdir(tmp_path)
    printed = runner.invoke(app, argv)
    dashed = runner.invoke(app, [*argv, "-o", "-"])
    assert dashed.exit_code == 0 == printed.exit_code, dashed.output
    assert dashed.stdout == printed.stdout and dashed.stdout
    assert list(tmp_path.iterdir()) == []


def test_compile_to_dash_writes_the_checked_module_to_stdout(tmp_path: Path) -> None:
    """`archspec compile SPEC -o -` writes the module, checked as ever, through standard
    output (as -o /dev/stdout does), not to a file named `-`."""
    done = subprocess.run(
        [sys.executable, "-m", "archspec", "compile", "lenet5", "-o", "-"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == render_module(archspec.build_graph("lenet5"))
    assert list(tmp_path.iterdir()) == []


def test_a_misspelt_name_is_first_among_its_suggestions() -> None:
    """Names sharing the typed start come closest first: resnt50 suggests resnet50 before
    resnet18 (it listed them in catalog order)."""
    result = runner.invoke(app, ["list", "resnt50"])
    assert result.exit_code == 1
    assert "did you mean resnet50," in result.output, result.output


def test_new_to_stdout_redirected_to_a_file_writes_nothing_beside_dev(tmp_path: Path) -> None:
    """`archspec new tiny -o - > tiny.yaml`: stdout is a regular file whose path is
    /dev/stdout, so the schema `new` writes beside a spec would land in /dev (it did, as
    root); only the spec is written, and no `next: archspec check /dev/stdout`."""
    before = os.path.lexists("/dev/archspec.schema.json")
    out = tmp_path / "tiny.yaml"
    with out.open("w") as f:
        done = subprocess.run(
            [sys.executable, "-m", "archspec", "new", "tiny", "-o", "-"],
            stdout=f,
            stderr=subprocess.PIPE,
            text=True,
            cwd=tmp_path,
            timeout=120,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
        )
    assert done.returncode == 0, done.stderr
    assert os.path.lexists("/dev/archspec.schema.json") == before
    assert "next:" not in done.stderr
    assert archspec.check(out).ok
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tiny.yaml"]
    # its schema line names a file nobody wrote: said, with the command that writes it
    assert out.read_text().startswith("# yaml-language-server: $schema=archspec.schema.json\n")
    assert "archspec schema -o archspec.schema.json" in done.stderr


def test_new_to_stdout_points_at_the_schema_of_the_current_folders(tmp_path: Path) -> None:
    """Printed, the spec goes where its reader redirects it, most likely the current folder:
    its schema line names the nearest schema above that (it named `archspec.schema.json`
    beside the spec, never written), and no note is needed."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "archspec.schema.json").write_text("{}")
    (tmp_path / "specs").mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "archspec", "new", "tiny", "-o", "-"],
        capture_output=True,
        text=True,
        cwd=tmp_path / "specs",
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("# yaml-language-server: $schema=../archspec.schema.json\n")
    assert "note:" not in done.stderr


def test_new_from_a_block_library_is_e116(tmp_path: Path) -> None:
    """A file of blocks is no spec to start from: its copy was written, and `check` of it
    was then E116 (three E203s before that); a spec without layers yet is copied as ever."""
    lib = tmp_path / "lib.yaml"
    lib.write_text("archspec: 1\nblocks:\n  B:\n    layers: [{type: relu}]\n")
    out = tmp_path / "mine.yaml"
    code, _, err = run("new", "mine", "--from", str(lib), "-o", str(out))
    assert code == 1 and not out.exists()
    assert f"{lib}:2:1: error[E116]" in err
    half = tmp_path / "half.yaml"
    half.write_text("archspec: 1\nname: half\nparams: {a: 1}\n")
    code, _, err = run("new", "mine", "--from", str(half), "-o", str(out))
    assert code == 0, err
    assert "\nname: mine\n" in out.read_text()
