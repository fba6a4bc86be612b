"""Hostile inputs found by an independent review, beyond the corpus of tests/hostile/.

Each test names the failure it guards against: what the input did before it was fixed.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.dims import Dim
from archspec.errors import ArchSpecError
from archspec.loader import MAX_TEXT

runner = CliRunner()


def test_floors_of_powers_of_two_hash_apart() -> None:
    """An int hashes modulo 2**61 - 1, so H // 2**k and H // 2**(k + 61) hashed alike, and
    the requirement sets of a 9,000-pooling chain collided: its check took 6 s of CPU,
    quadratic in the depth. Every floor now hashes apart, and survives a pickle."""
    h = Dim.of("H")
    floors = [h // 2**k for k in range(1, 1001)]
    assert len({hash(f) for f in floors}) == len(floors)
    again = pickle.loads(pickle.dumps(floors[500]))
    assert again == floors[500] and hash(again) == hash(floors[500])


def test_a_deep_pooling_chain_checks_in_linear_time() -> None:
    """The same chain, end to end: 2,000 and 8,000 poolings cost about the same per layer.
    Each run pads its input by a width of its own first, so no run meets the extents an
    earlier one made (ops/conv.py keeps symbolic extents across checks: a repeated run
    would time the memo, not the chain)."""
    runs = iter(range(1, 100))

    def seconds(n: int) -> float:
        cfg = ", ".join(["M"] * n)
        spec = (
            "archspec: 1\nname: t\ninput: [N, 3, 16, 16]\n"
            f"layers:\n  - {{type: zero_pad2d, padding: {next(runs)}}}\n"
            f"  - {{type: vgg_cfg, cfg: [{cfg}]}}\n"
        )
        start = time.process_time()
        result = archspec.check(spec)
        assert not result.ok and result.diagnostics[0].code == "E405"
        return time.process_time() - start

    small, large = min(seconds(2000) for _ in range(2)), min(seconds(8000) for _ in range(2))
    assert large < 8 * small, (small, large)  # quadratic was 16 times, linear is 4


def test_python_data_is_held_to_the_text_limit() -> None:
    """A spec given as a mapping held any amount of text (100 MB of description was copied,
    rendered and emitted); it is refused as the same text in a file would be."""
    spec = {
        "archspec": 1,
        "name": "t",
        "description": "x" * (MAX_TEXT + 1),
        "input": [1, 3, 8, 8],
        "layers": [{"type": "relu"}],
    }
    with pytest.raises(ArchSpecError) as info:
        archspec.emit(spec)
    assert info.value.codes == ["E104"]
    assert "characters of text" in str(info.value)


def _write(tmp_path: Path, layers: str) -> Path:
    spec = tmp_path / "huge_input.yaml"
    spec.write_text(
        "archspec: 1\nname: t\ninput: [N, 3, 1000000000000000, 1000000000000000]\n"
        f"layers:\n{layers}"
    )
    return spec


def test_compile_of_an_input_larger_than_a_tensor(tmp_path: Path) -> None:
    """A declared input of 3 * 10^30 elements: `compile`'s self-check made it a meta tensor,
    which torch refused ("Storage size calculation overflowed"): an internal error, exit 3.
    The forward is now checked at the smallest input the network accepts."""
    spec = _write(tmp_path, "  - {type: conv2d, out_channels: 4, kernel_size: 3}\n")
    out = tmp_path / "out.py"
    result = runner.invoke(app, ["compile", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.stderr and out.is_file()


def test_compile_of_a_layer_larger_than_torch_can_count(tmp_path: Path) -> None:
    """A linear layer reading 4 * 10^30 features: the self-check built it and quoted torch's
    C++ stack as an emitter bug (E601). It is E501 at the layer, as archspec.compile says."""
    spec = _write(
        tmp_path,
        "  - {type: conv2d, out_channels: 4, kernel_size: 3}\n"
        "  - {type: flatten}\n"
        "  - {type: linear, out_features: 3}\n",
    )
    out = tmp_path / "out.py"
    result = runner.invoke(app, ["compile", str(spec), "-o", str(out)])
    assert result.exit_code == 1, result.output
    assert f"{spec}:7:5: error[E501]" in result.stderr
    assert "frame #" not in result.stderr and "bug in archspec" not in result.stderr
    assert not out.exists()


KEYS_SPEC = """archspec: 1
name: keys
input: [N, 3, 16, 16]
layers:
  - {key: "a|b", type: conv2d, out_channels: 4, kernel_size: 3}
  - {key: "<b>&amp;</b>", type: relu}
"""


def test_keys_stay_text_in_markdown_and_mermaid(tmp_path: Path) -> None:
    """A key may hold `|`, `<`, `>` and `&`: the `|` split the Markdown table's row into an
    extra column, and Mermaid showed `&amp;` as `&` (its entity codes were not escaped)."""
    spec = tmp_path / "keys.yaml"
    spec.write_text(KEYS_SPEC)
    table = runner.invoke(app, ["summary", str(spec), "-f", "markdown"])
    assert table.exit_code == 0, table.output
    row = next(line for line in table.stdout.splitlines() if "a\\|b" in line)
    assert row.replace("\\|", "").count("|") == 7  # six cells
    out = tmp_path / "keys.mmd"
    picture = runner.invoke(app, ["graph", str(spec), "-o", str(out)])
    assert picture.exit_code == 0, picture.output
    assert '"#lt;b#gt;#amp;amp;#lt;/b#gt;: relu"' in out.read_text()


PARAM_TEXT_SPEC = """archspec: 1
name: t
input: [N, 3, 16, 16]
params:
  s: relu
  rows: [a]
layers:
  - {type: conv2d, out_channels: 4, kernel_size: 3}
"""


@pytest.mark.parametrize(
    "params",
    [{"s": "x" * (MAX_TEXT + 1)}, {"rows": ["x" * 10_000] * (MAX_TEXT // 10_000 + 1)}],
    ids=["one_text", "many_texts"],
)
def test_param_text_from_python_meets_the_text_limit(params: dict) -> None:
    """A str param given from Python was unbounded: 10 MB of it took 12 s to emit (written
    twice into the module), 100 MB minutes. It is E309, as the same text in a file would be
    refused (E104)."""
    with pytest.raises(ArchSpecError) as info:
        archspec.emit(PARAM_TEXT_SPEC, **params)
    assert info.value.codes == ["E309"]
    assert "characters of text" in str(info.value)


@pytest.mark.parametrize("command", [["emit", "lenet5"], ["summary", "lenet5"], ["list"]])
def test_a_full_stdout_is_one_line_and_exit_1(command: list[str]) -> None:
    """`archspec emit lenet5 > /dev/full` was "internal error (OSError)", exit 3: a full
    device is no bug of archspec's. It says so in one line and exits 1, as `cat` does."""
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "archspec", *command],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 1, done.stderr
    assert done.stderr == "archspec: cannot write the output: No space left on device\n"


FAMILY_SPEC = """archspec: 1
name: fam
input: [N, 3, 16, 16]
blocks:
  Blk:
    params:
      w: {type: int, default: 4}
    layers: [{type: conv2d, out_channels: w, kernel_size: 1}]
variants:
  a: {}
  b: {class_name: Blk}
layers:
  - {type: Blk}
"""


def test_a_variant_class_named_like_a_block(tmp_path: Path) -> None:
    """A variant whose class name is a block's (`b: {class_name: Blk}` beside a block `Blk`,
    or a variant `blk`): the family module gave both classes the name, and compile failed
    with E601 ("differs from the class of that name"), an emitter bug report. A single
    variant already renamed the block (`Blk_2`); the family module does too."""
    spec = tmp_path / "fam.yaml"
    spec.write_text(FAMILY_SPEC)
    out = tmp_path / "fam.py"
    result = runner.invoke(app, ["compile", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    classes = [line.split("(")[0] for line in out.read_text().splitlines() if line[:6] == "class "]
    assert classes == ["class Blk_2", "class A", "class Blk"]


@pytest.mark.parametrize("target", ["nowhere.yaml", "loop.yaml"])
def test_a_link_to_nothing_says_why_it_cannot_be_read(tmp_path: Path, target: str) -> None:
    """A spec path that is a symbolic link to nothing, or a loop, was "no spec file or
    built-in spec named 'loop.yaml'" (the link is there); it is the reason the OS gives."""
    link = tmp_path / "loop.yaml"
    link.symlink_to(tmp_path / target)
    result = runner.invoke(app, ["check", str(link)])
    assert result.exit_code == 1, result.output
    assert f"error[E100]: cannot read {link}: " in result.stderr


def test_a_factory_that_calls_exit_is_e901() -> None:
    """`archspec import sys:exit`: the factory's SystemExit ended archspec with status 0 and
    nothing printed, as if all went well. It is E901, as any factory that raises."""
    result = runner.invoke(app, ["import", "sys:exit"])
    assert result.exit_code == 1, result.output
    assert "error[E901]: sys:exit() raised SystemExit" in result.stderr


def test_a_file_whose_name_holds_a_line_break_is_read(tmp_path: Path) -> None:
    """A spec file named `a<newline>b.yaml` was read as YAML text (its name), and refused as
    "this file holds a string" (E202). A str that names a file is that file; its name in
    the emitted header stays a comment."""
    spec = tmp_path / "a\nimport os\n#.yaml"
    spec.write_text(
        "archspec: 1\nname: t\ninput: [N, 3, 16, 16]\n"
        "layers:\n  - {type: conv2d, out_channels: 4, kernel_size: 3}\n"
    )
    assert archspec.check(str(spec)).ok
    source = archspec.emit(str(spec))
    assert "import os" not in source.splitlines()[0].split("#", 1)[0]
    assert "\nimport os" not in source


def test_an_import_example_input_larger_than_a_tensor_is_e901() -> None:
    """`archspec import ... --input 1,3,10^15,10^15`: each dim is below 2**62 but not their
    product, and torch.empty on the meta device failed: internal error, exit 3."""
    shape = "1,3,1000000000000000,1000000000000000"
    result = runner.invoke(app, ["import", "torch.nn:Identity", "--input", shape])
    assert result.exit_code == 1, result.output
    assert "error[E901]: the example input (1, 3, 1000000000000000" in result.stderr
    assert "more elements than a tensor can hold" in result.stderr


def test_diff_of_a_symbolic_spec_without_macs(tmp_path: Path) -> None:
    """A spec with symbolic sizes whose MACs are 0 whatever they are (only poolings): its
    MACs count as concrete, so diff read the symbolic input as numbers: internal error."""
    spec = tmp_path / "pools.yaml"
    spec.write_text(
        "archspec: 1\nname: pools\ninput: [N, 3, H, W]\n"
        "layers:\n  - {type: maxpool2d, kernel_size: 3}\n"
    )
    result = runner.invoke(app, ["diff", str(spec), str(spec)])
    assert result.exit_code == 0, result.output
    assert "MACs per sample: 0 -> 0 (0)" in result.stdout


def test_a_family_over_the_variant_limit_is_one_error(tmp_path: Path) -> None:
    """A family of 300 variants (the limit is 256): check listed each variant and reported
    the same E113 300 times (1,200 lines); it is one error, once."""
    spec = tmp_path / "many.yaml"
    variants = "".join(f"  v{i}: {{params: {{w: {i % 7 + 1}}}}}\n" for i in range(300))
    spec.write_text(
        "archspec: 1\nname: many\ninput: [N, 3, 16, 16]\nparams: {w: 4}\n"
        f"variants:\n{variants}layers:\n  - {{type: conv2d, out_channels: w, kernel_size: 3}}\n"
    )
    result = runner.invoke(app, ["check", str(spec)])
    assert result.exit_code == 1, result.output
    assert result.stderr.count("error[E113]") == 1
    assert f"{spec}:5:1: error[E113]" in result.stderr


def test_a_family_module_is_run_once_for_all_its_variants(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """compile's self-check parsed, compiled and ran the whole family module once per
    variant: quadratic in the variants (64 took 23 s, 256 more than five minutes)."""
    from archspec.backends import selfcheck

    calls: list[str] = []
    real = selfcheck.load_emitted

    def counted(source: str, name: str) -> object:
        calls.append(name)
        return real(source, name)

    monkeypatch.setattr(selfcheck, "load_emitted", counted)
    variants = "".join(f"  v{i}: {{params: {{w: {i + 1}}}}}\n" for i in range(6))
    spec = tmp_path / "six.yaml"
    spec.write_text(
        "archspec: 1\nname: six\ninput: [N, 3, 16, 16]\nparams: {w: 4}\n"
        f"variants:\n{variants}layers:\n  - {{type: conv2d, out_channels: w, kernel_size: 1}}\n"
    )
    result = runner.invoke(app, ["compile", str(spec), "-o", str(tmp_path / "six.py")])
    assert result.exit_code == 0, result.output
    assert "6 variants" in result.stdout and len(calls) == 1


def test_a_broken_file_whose_name_holds_a_line_break_is_named_as_that_file(
    tmp_path: Path,
) -> None:
    """check's result names the file it read, as reading it did (catalog.is_spec_text), not
    `<string>` because the path holds a line break."""
    path = tmp_path / "odd\nname.yaml"
    path.write_text("archspec: 1\nname: odd\ninput: [N, 3]\nlayers: [{type: nosuch}]\n")
    result = archspec.check(str(path))
    assert not result.ok
    assert result.file == str(path) and result.name == "odd"


def test_a_class_name_emitted_code_cannot_define_is_refused_by_every_command() -> None:
    """A variant named `F` (its class `F` would hide torch.nn.functional in the emitted
    file): `archspec check` and archspec.compile said ok, emit and the CLI compile said
    E602. The rule is now the lowering's, so every command gives the same error."""
    text = (
        "archspec: 1\nname: fam\ninput: [N, 3, 8, 8]\n"
        "variants:\n  F: {}\n  g: {}\n"
        "layers:\n  - {name: c, type: conv2d, out_channels: 2, kernel_size: 1}\n"
    )
    result = archspec.check(text, variant="F")
    assert [d.code for d in result.errors] == ["E602"]
    assert (result.errors[0].span.line, result.errors[0].span.col) == (5, 3)
    for command in (archspec.compile, archspec.emit, archspec.summary):
        with pytest.raises(ArchSpecError) as info:
            command(text, variant="F")
        assert info.value.codes == ["E602"], command
    assert archspec.check(text, variant="g").ok
    # a variant `any` is class `Any`, which a family's file imports from typing
    family = text.replace("  F: {}", "  any: {}")
    assert [d.code for d in archspec.check(family, variant="any").errors] == ["E602"]
    with pytest.raises(ArchSpecError) as info:
        archspec.emit(family)
    assert info.value.codes == ["E602"]
