"""`archspec new NAME --from FILE -o ELSEWHERE` of a spec that reads files by paths from its
own folder (`use:` of `lib/stems.yaml`, `extends: base.yaml`): a verbatim copy in another
folder would not find them (E100 at the next `check`), so the copy there is the resolved
spec; beside its source it stays the verbatim copy, comments and all."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

import archspec
from archspec.cli import app

STEMS = """archspec: 1
blocks:
  Stem:
    params: {c: int}
    layers:
      - {type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
      - {type: relu}
"""

SPEC = """archspec: 1
name: withstem
input: [N, 3, 8, 8]
use:
  - {from: lib/stems.yaml, blocks: [Stem]}
layers:
  - {type: Stem, c: 4}   # the stem
  - {type: flatten}
  - {type: linear, out_features: 10}
"""


def _new(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["new", *args], env={"NO_COLOR": "1", "COLUMNS": "200"})
    return result.exit_code, result.stderr


def _source(tmp_path: Path, text: str = SPEC) -> Path:
    (tmp_path / "src" / "lib").mkdir(parents=True)
    (tmp_path / "src" / "lib" / "stems.yaml").write_text(STEMS)
    (tmp_path / "src" / "spec.yaml").write_text(text)
    (tmp_path / "elsewhere").mkdir()
    return tmp_path / "src" / "spec.yaml"


def test_a_copy_in_another_folder_has_what_it_reads_copied_in(tmp_path: Path) -> None:
    source = _source(tmp_path)
    out = tmp_path / "elsewhere" / "mine.yaml"
    code, err = _new("mine", "--from", str(source), "-o", str(out))
    assert code == 0, err
    text = out.read_text()
    assert "use:" not in text and "\n  Stem:\n" in text and "\nname: mine\n" in text
    assert "stems.yaml is copied in (resolved)" in text
    assert archspec.check(out).ok
    ours, theirs = archspec.compile(out), archspec.compile(source)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_a_copy_beside_its_source_stays_verbatim(tmp_path: Path) -> None:
    source = _source(tmp_path)
    out = source.parent / "mine.yaml"
    code, err = _new("mine", "--from", str(source), "-o", str(out))
    assert code == 0, err
    text = out.read_text()
    assert "  - {from: lib/stems.yaml, blocks: [Stem]}\n" in text and "# the stem" in text
    assert "copied in" not in text and archspec.check(out).ok


def test_a_spec_that_reads_only_builtins_is_copied_verbatim_anywhere(tmp_path: Path) -> None:
    """`extends: resnet18` and the block library are found from any folder."""
    (tmp_path / "src").mkdir()
    source = tmp_path / "src" / "net.yaml"
    source.write_text(
        "archspec: 1\nextends: resnet18\nname: net\nparams: {num_classes: 10}\n"
        "use:\n  - {from: 'archspec:blocks/resnet', blocks: [BasicBlock]}\n"
    )
    out = tmp_path / "mine.yaml"
    code, err = _new("mine", "--from", str(source), "-o", str(out))
    assert code == 0, err
    text = out.read_text()
    assert "\nextends: resnet18\n" in text and "archspec:blocks/resnet" in text
    assert archspec.check(out).ok


def test_a_family_that_reads_files_is_refused_elsewhere_with_the_cure(tmp_path: Path) -> None:
    source = _source(
        tmp_path,
        SPEC.replace("layers:", "variants:\n  small: {}\n  big: {}\nlayers:", 1),
    )
    out = tmp_path / "elsewhere" / "mine.yaml"
    code, err = _new("mine", "--from", str(source), "-o", str(out))
    assert code == 2 and not out.exists()
    assert "lib/stems.yaml" in err and "write the copy beside it" in err


def test_a_spec_that_does_not_check_is_refused_elsewhere(tmp_path: Path) -> None:
    source = _source(tmp_path, SPEC.replace("input: [N, 3, 8, 8]", "input: 7"))
    out = tmp_path / "elsewhere" / "mine.yaml"
    code, err = _new("mine", "--from", str(source), "-o", str(out))
    assert code == 2 and not out.exists()
    assert "does not check" in err and "write the copy beside it" in err


def test_a_copy_of_a_crlf_file_keeps_crlf_breaks_throughout(tmp_path: Path) -> None:
    """Its header, schema line and added `class_name:` line took LF: a file of mixed breaks."""
    source = tmp_path / "crl.yaml"
    source.write_bytes(
        b"archspec: 1\r\nname: crl\r\ninput: [N, 3, 8, 8]\r\n"
        b"layers:\r\n  - {type: conv2d, out_channels: 4, kernel_size: 3}\r\n"
    )
    out = tmp_path / "f.yaml"  # `f` makes class `F`, taken: the copy adds a class_name line
    code, err = _new("f", "--from", str(source), "-o", str(out))
    assert code == 0, err
    raw = out.read_bytes()
    assert raw.count(b"\n") == raw.count(b"\r\n") > 8
    assert b"\r\nclass_name: FNet" in raw and archspec.check(out).ok
