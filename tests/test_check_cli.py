"""`archspec check` and `archspec summary` from the command line: exit codes, located errors
for the broken specs in tests/broken/, output formats, and no torch import."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archspec.cli import app

from .conftest import ROOT, SPECS, spec_names

BROKEN = ROOT / "tests" / "broken"

#: Every broken spec: the errors it must produce, as (code, line, col), in order.
EXPECTED = {
    "residual_channels": [("E402", 6, 5)],
    "linear_features": [("E404", 11, 43)],
    "unknown_type": [("E205", 6, 23)],
    "misspelled_param": [("E201", 5, 49)],
    "bad_type": [("E202", 5, 46)],
    "missing_block": [("E205", 11, 25)],
    "cycle": [("E306", 5, 80)],
    "several_errors": [("E205", 7, 23), ("E305", 8, 57), ("E404", 10, 63)],
}

runner = CliRunner()


def run(*args: str) -> tuple[int, str, str]:
    # a wide terminal: each table row and the summary's footer on one line
    result = runner.invoke(app, list(args), env={"COLUMNS": "400"})
    return result.exit_code, result.stdout, result.stderr


def test_every_broken_spec_is_listed() -> None:
    assert {p.stem for p in BROKEN.glob("*.yaml")} == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_spec_reports_code_and_position(name: str) -> None:
    code, out, err = run("check", str(BROKEN / f"{name}.yaml"))
    assert code == 1
    expected = EXPECTED[name]
    heads = [line for line in err.splitlines() if ": error[" in line]
    assert [h.split(": error[")[0] for h in heads] == [
        f"{BROKEN / name}.yaml:{line}:{col}" for _, line, col in expected
    ]
    assert [h.split("error[")[1][:4] for h in heads] == [c for c, _, _ in expected]
    n = len(expected)
    assert f"({BROKEN / name}.yaml): {n} error{'s' if n > 1 else ''}" in out
    # every error shows its source line and a caret under the offending node
    carets = [line for line in err.splitlines() if line.lstrip().startswith("| ")]
    assert sum("^" in line for line in carets) == n


def test_broken_specs_explain_the_fix() -> None:
    _, _, err = run("check", str(BROKEN / "linear_features.yaml"))
    assert "c5: linear expects 400 input features, the input gives 256 (N, 256)" in err
    assert (
        "hint: linear_features accepts (N, 1, H, W) with 16 <= H <= 19 and 112 <= W <= 115, "
        "or 32 <= H <= 35 and 32 <= W <= 35, or 112 <= H <= 115 and 16 <= W <= 19. "
        "Change the input size, or put an adaptive pool before the flatten"
    ) in err
    _, _, err = run("check", str(BROKEN / "residual_channels.yaml"))
    assert "add joins inputs whose channels differ: 384 vs 256" in err
    assert "add a projection shortcut" in err
    _, _, err = run("check", str(BROKEN / "misspelled_param.yaml"))
    assert "did you mean `kernel_size`?" in err


def test_check_every_spec_in_one_run() -> None:
    names = spec_names()
    code, out, err = run("check", *names)
    assert code == 0, err
    assert out.count(": ok") == len(names)
    assert f"checked {len(names)} specs: {len(names)} ok" in out
    assert "  domain  vgg16 accepts (N, 3, H, W) with H, W >= 32" in out
    assert "  domain  lenet5 accepts (N, 1, H, W) with one of:\n" in out
    assert "            32 <= H <= 35 and 32 <= W <= 35\n" in out


def test_errors_in_several_specs_are_all_reported_and_good_ones_still_checked() -> None:
    code, out, err = run(
        "check",
        str(BROKEN / "cycle.yaml"),
        str(SPECS / "lenet5.yaml"),
        str(BROKEN / "bad_type.yaml"),
    )
    assert code == 1
    assert "error[E306]" in err and "error[E202]" in err
    assert "lenet5 (" in out and "checked 3 specs: 1 ok, 2 with errors" in out


def test_concrete_input_names_the_first_layer_that_breaks() -> None:
    code, out, err = run("check", str(SPECS / "alexnet.yaml"), "--input", "1,3,260,260")
    assert code == 1
    line = next(
        i
        for i, t in enumerate((SPECS / "alexnet.yaml").read_text().splitlines(), 1)
        if "name: fc6" in t
    )
    assert err.startswith(
        f"{SPECS / 'alexnet.yaml'}:{line}:9: error[E404]: classifier.fc6: linear expects "
        "9216 input features, the input gives 12544 (1, 12544)"
    )
    code, out, _ = run("check", str(SPECS / "alexnet.yaml"), "--input", "1x3x227x240")
    assert code == 0
    assert "  input   (1, 3, 227, 240)\n  output  (1, 1000)\n" in out


def test_params_and_json() -> None:
    code, out, _ = run("check", "lenet5", "--set", "num_classes=7", "--json")
    assert code == 0
    (data,) = json.loads(out)
    assert data["ok"] and data["outputs"] == ["(N, 7)"]
    assert data["symbolic_input"] == "(N, 1, H, W)"
    code, _, err = run("check", "lenet5", "--set", "num_clases=7")
    assert code == 1 and "error[E302]" in err and "did you mean `num_classes`?" in err


def test_usage_errors_exit_2() -> None:
    assert run("check", "lenet5", "--input", "1,a,3")[0] == 2
    assert run("summary", "lenet5", "--depth", "0")[0] == 2
    assert run("summary", "lenet5", "--format", "xml")[0] == 2


def test_help_has_examples() -> None:
    for cmd in ("check", "summary"):
        code, out, _ = run(cmd, "--help")
        assert code == 0 and "Examples:" in out and f"archspec {cmd} " in out


def test_summary_formats() -> None:
    code, out, _ = run("summary", "resnet50", "--input", "1,3,224,224", "--depth", "1")
    assert code == 0
    assert "25,557,032" in out and "4,089,184,256 MACs (4.09 G)" in out
    code, out, _ = run("summary", "resnet50", "-f", "json", "--input", "1,3,224,224")
    total = json.loads(out)["total"]
    assert (total["params"], total["macs"]) == (25_557_032, 4_089_184_256)
    assert total["connections"] > total["macs"]  # every MAC plus one bias link per unit
    code, out, _ = run("summary", "lenet5", "--format", "csv", "--depth", "1")
    assert out.splitlines()[0] == "path,name,type,depth,output_shape,params,macs,connections"
    assert len(out.splitlines()) == 4
    code, out, _ = run("summary", "vgg16", "--format", "markdown", "--input", "1,3,224,224")
    assert "| **Total** | | | **138,357,544** | **15,470,264,320** |" in out
    code, out, _ = run("summary", "lenet5")
    assert "150*N*(H - 4)*(W - 4)" in out  # a layer's MACs: k * its output's size
    # the total is factored at the declared input, never the expanded polynomial
    flat = " ".join(out.split())
    assert "0.42 M MACs x N at (N, 1, 32, 32) (416,520 per sample)" in flat
    assert "│ 0.42 M x N │" in out.replace("  ", "")
    assert "14400*N" not in out


def test_summary_of_an_impossible_input_is_a_located_error() -> None:
    code, _, err = run("summary", "vgg16", "--input", "1,3,16,16")
    assert code == 1
    assert "error[E405]: features.30: maxpool2d makes the H extent 0" in err


def test_check_cli_never_imports_torch() -> None:
    specs = [str(p) for p in sorted(SPECS.glob("*.yaml"))]
    code = textwrap.dedent(
        """
        import sys
        from archspec.cli import main
        sys.argv = ["archspec", "check", *sys.argv[1:]]
        try:
            main()
        except SystemExit as exc:
            status = exc.code
        print("torch imported:", "torch" in sys.modules, "status:", status)
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code, *specs], cwd=ROOT, capture_output=True, text=True
    )
    assert out.stdout.strip().endswith("torch imported: False status: 0"), out.stderr


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("1,1,x,32", "an empty dim: `x` separates dims, as in 1x3x224x224"),
        ("x", "an empty dim: `x` separates dims"),
        ("1,1,32,32,", "an empty dim"),
        ("1,1,3.5,32", "'3.5' is not a positive integer"),
        ("1,1,-3,32", "'-3' is not a positive integer"),
        ("1,1,0,32", "every dim must be >= 1"),
        ("1,1,99999999999999999999999,32", "each below 2**62"),
    ],
)
def test_a_malformed_input_is_a_usage_error_not_a_guess(text: str, why: str) -> None:
    """`--input` never drops or reinterprets a field: a typo is exit 2 with the reason."""
    result = runner.invoke(app, ["check", "lenet5", "--input", text])
    assert result.exit_code == 2, result.output
    assert why in result.output


@pytest.mark.parametrize("text", ["1,1,32,32", "1x1x32x32", "1, 1, 32, 32", "1 1 32 32"])
def test_input_spellings(text: str) -> None:
    result = runner.invoke(app, ["check", "lenet5", "--input", text])
    assert result.exit_code == 0, result.output


def test_check_escapes_control_characters_of_a_file_name(tmp_path: Path) -> None:
    """The `name (file): ok` line shows a file name's control characters as escapes."""
    spec = tmp_path / "a\x1b]0;pwn\x07.yaml"
    spec.write_text("archspec: 1\nname: x\ninput: [1, 3, 8, 8]\nlayers:\n  - {type: relu}\n")
    done = subprocess.run(
        [sys.executable, "-m", "archspec", "check", str(spec)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "\x1b" not in done.stdout and "\x07" not in done.stdout
    assert "a\\x1b]0;pwn\\x07.yaml): ok" in done.stdout


@pytest.mark.parametrize(
    ("name_line", "shown"),
    [("name: my_net", "my_net"), ("name: 'not a name'", "wrongly"), ("name: [1]", "wrongly")],
)
def test_a_spec_that_fails_to_validate_is_reported_by_its_name(
    tmp_path: Path, name_line: str, shown: str
) -> None:
    """The status line says the spec's `name:` (as it does once a spec validates), not the
    file's stem, when the YAML reads and the name is one; else the stem."""
    spec = tmp_path / "wrongly.yaml"
    spec.write_text(
        f"archspec: 1\n{name_line}\ninput: [N, 3, 8, 8]\n"
        "layers:\n  - {name: conv, type: conv2d, out_channels: 8.5, kernel_size: 3}\n"
    )
    result = CliRunner().invoke(app, ["check", str(spec)])
    assert result.exit_code == 1
    assert result.stdout.startswith(f"{shown} ({spec}): ")
    data = json.loads(CliRunner().invoke(app, ["check", "--json", str(spec)]).stdout)
    assert data[0]["name"] == shown and not data[0]["ok"]


def test_a_directory_is_checked_as_its_yaml_files(tmp_path: Path) -> None:
    """`archspec check DIR` checks DIR's .yaml and .yml files in name order, as the glob
    does; subdirectories and other files are left out."""
    spec = "archspec: 1\nname: {}\ninput: [N, 3, 8, 8]\nlayers:\n  - {{type: relu}}\n"
    (tmp_path / "b.yml").write_text(spec.format("b"))
    (tmp_path / "a.yaml").write_text(spec.format("a"))
    (tmp_path / "notes.txt").write_text("not a spec")
    (tmp_path / "sub.yaml").mkdir()  # a directory, whatever its name
    (tmp_path / "sub.yaml" / "c.yaml").write_text(spec.format("c"))
    code, out, _ = run("check", str(tmp_path))
    assert code == 0, out
    named = [line.split(" (")[0] for line in out.splitlines() if line.endswith(": ok")]
    assert named == ["a", "b"]
    assert out.splitlines()[-1] == "checked 2 specs: 2 ok"
    files = [str(tmp_path / "a.yaml"), str(tmp_path / "b.yml")]
    assert run("check", *files)[1] == out


def test_a_directory_of_no_specs_is_e100(tmp_path: Path) -> None:
    (tmp_path / "readme.md").write_text("# not a spec")
    code, _, err = run("check", str(tmp_path))
    assert code == 1
    assert "error[E100]: the directory" in err and "holds no spec file (*.yaml, *.yml)" in err
    assert "hint: pass spec files" in err


def test_text_that_is_no_path_is_not_taken_for_a_directory() -> None:
    """A name longer than the system allows is no directory (os.path.isdir, never OSError)."""
    code, _, err = run("check", "x" * 5000)
    assert code == 1
    assert "E100" in err and "Traceback" not in err


def test_a_directorys_odd_entries_are_each_refused_at_their_path(tmp_path: Path) -> None:
    """A FIFO, a symlink loop and a dangling link named *.yaml are listed (is_dir of a loop
    raised, and the whole directory was 'cannot list'), then refused unopened, each E100."""
    import os

    (tmp_path / "ok.yaml").write_text(
        "archspec: 1\nname: ok\ninput: [N, 3, 8, 8]\nlayers:\n  - {type: relu}\n"
    )
    os.mkfifo(tmp_path / "fifo.yaml")
    (tmp_path / "loop.yaml").symlink_to("loop.yaml")
    (tmp_path / "gone.yaml").symlink_to("missing.yaml")
    code, out, err = run("check", str(tmp_path))
    assert code == 1
    assert out.splitlines()[-1] == "checked 4 specs: 1 ok, 3 with errors"
    assert (
        err.count("error[E100]") == 3
        and "FIFO" in err
        and "loop of links" in err
        and "does not exist" in err
    )


LIBRARY = (
    "archspec: 1\nblocks:\n  Stem:\n    layers:\n"
    "      - {type: conv2d, out_channels: 4, kernel_size: 3}\n"
)


def test_a_block_library_in_a_directory_is_passed_over(tmp_path: Path) -> None:
    """A folder may keep the blocks its specs import beside them: `check DIR` names the
    library on stderr and checks the rest (it was three E203s, `name`, `input` and
    `layers` missing, and exit 1 for a folder of sound files)."""
    (tmp_path / "lib.yaml").write_text(LIBRARY)
    (tmp_path / "net.yaml").write_text(
        "archspec: 1\nname: net\ninput: [N, 3, 8, 8]\n"
        "use:\n  - {from: lib.yaml, blocks: [Stem]}\nlayers:\n  - {name: stem, type: Stem}\n"
    )
    code, out, err = run("check", str(tmp_path))
    assert code == 0, err
    assert out.startswith(f"net ({tmp_path / 'net.yaml'}): ok")
    assert f"{tmp_path / 'lib.yaml'}: a block library, passed over" in err
    assert "error" not in err and "E203" not in err
    data = json.loads(run("check", "--json", str(tmp_path))[1])
    assert [d["name"] for d in data] == ["net"]


def test_a_block_library_named_as_a_spec_is_one_located_e116(tmp_path: Path) -> None:
    lib = tmp_path / "lib.yaml"
    lib.write_text(LIBRARY)
    for command in ("check", "show", "summary"):
        code, _, err = run(command, str(lib))
        assert code == 1, command
        assert err.count("error[") == 1, err
        assert f"{lib}:2:1: error[E116]: {lib} is a block library" in err
        assert "hint: its blocks are checked in the specs that import them" in err


def test_a_broken_block_library_in_a_directory_is_still_an_error(tmp_path: Path) -> None:
    """Passed over is only a library that reads: one whose import fails is reported."""
    (tmp_path / "lib.yaml").write_text(LIBRARY + "use:\n  - {from: gone.yaml, blocks: [X]}\n")
    code, _, err = run("check", str(tmp_path))
    assert code == 1
    assert "passed over" not in err and "error[E1" in err


def test_a_built_in_spec_that_fails_names_its_file() -> None:
    """A param the spec lacks, for a spec named by its built-in name: the status line said
    `lenet5 (lenet5)`, the name where the file goes, as `ok` runs say `specs/lenet5.yaml`."""
    result = CliRunner().invoke(app, ["check", "lenet5", "--set", "foo=1"])
    assert result.exit_code == 1
    assert "lenet5 (specs/lenet5.yaml): 1 error" in result.output
    shown = json.loads(
        CliRunner().invoke(app, ["check", "lenet5", "--set", "foo=1", "--json"]).stdout
    )
    assert shown[0]["file"] == "specs/lenet5.yaml"


@pytest.mark.parametrize(
    ("args", "status"),
    [
        (["lenet5", "--variant", "foo"], "lenet5 (specs/lenet5.yaml): 1 error"),
        (["specs/resnet.yaml", "--variant", "foo"], "resnet (specs/resnet.yaml): 1 error"),
        (["specs/resnet.yaml", "--variant", "resnet50", "--set", "depth=x"], "resnet50 ("),
    ],
)
def test_a_variant_the_spec_lacks_names_the_spec_not_the_variant(
    args: list[str], status: str
) -> None:
    """`check lenet5 --variant foo` said `foo (lenet5): 1 error`: a network named after the
    variant that does not exist, where the file goes the built-in name."""
    result = CliRunner().invoke(app, ["check", *args])
    assert result.exit_code == 1
    assert status in result.output


def test_an_empty_spec_argument_is_named_as_given() -> None:
    """`archspec check ''` printed the line ` (): 1 error`, naming nothing."""
    code, out, err = run("check", "")
    assert code == 1 and "E100" in err
    assert out.splitlines()[0] == "'' (''): 1 error"
