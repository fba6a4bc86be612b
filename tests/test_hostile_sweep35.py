"""Session 35's independent hostile sweep: what a model, a checkpoint or the command line
hands archspec, each said as a located error or done, never failing as archspec's own fault."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.errors import ArchSpecError
from archspec.importer.where import DESCRIBE_LIMIT

from .conftest import ROOT


class _Small(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def test_a_model_class_of_a_very_long_name_imports() -> None:
    """type() takes a class name of any length: one of 20,000 letters made the imported
    spec's description ('imported from __main__.aaa...') pass the schema's 10,000 characters,
    and the import failed with E904 'please report this model', the importer blamed."""
    model = type("a" * 20_000, (_Small,), {})()
    text = archspec.from_module(model, torch.zeros(1, 3))
    description = next(line for line in text.splitlines() if line.startswith("description:"))
    assert len(description) < DESCRIBE_LIMIT + 60
    assert description.count("a") > DESCRIBE_LIMIT // 2
    rebuilt = archspec.compile(text)
    assert list(rebuilt.state_dict()) == list(model.state_dict())


def test_check_of_a_huge_argument_prints_a_short_status_line() -> None:
    """`archspec check <100,000 letters>` cut the name in its status line but printed the
    file part, the argument again, whole: 100 KB on stdout for one line."""
    result = CliRunner().invoke(app, ["check", "x" * 100_000])
    assert result.exit_code == 1
    assert "error[E100]" in result.stderr
    assert len(result.stdout) < 5_000, len(result.stdout)
    assert "(100,000 characters)" in result.stdout


HIDDEN_LAYER = (
    "archspec: 1\nname: hid\ninput: [N, 3, 8, 8]\nlayers:\n"
    "  - {name: c, type: conv2d, out_channels: 4, kernel_size: 1}  # all good"
    "\r  - {name: x, type: dropout, p: 0.9}\n"
)


def test_a_lone_carriage_return_in_a_file_of_lf_lines_is_e105(tmp_path: Path) -> None:
    """YAML reads a lone CR as a line break, where a terminal returns to the line's start
    and an editor of LF lines shows it inside the line (vim's `^M`): a layer written after
    one in a comment was built, though `cat` and the editor showed it as part of the
    comment, as U+2028 and U+0085 would (refused since, E105)."""
    spec = tmp_path / "hidden.yaml"
    spec.write_bytes(HIDDEN_LAYER.encode())
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(spec)
    first = info.value.diagnostics[0]
    assert first.code == "E105" and "CARRIAGE RETURN" in first.message
    before = HIDDEN_LAYER.split("\r")[0].splitlines()[-1]  # the comment's line, to the CR
    assert (first.span.line, first.span.col) == (5, len(before) + 1)
    with pytest.raises(ArchSpecError, match="CARRIAGE RETURN"):
        archspec.compile(HIDDEN_LAYER)  # given as text, read by the same loader


@pytest.mark.parametrize("newline", ["\r", "\r\n"])
def test_a_file_of_one_kind_of_line_break_still_reads(tmp_path: Path, newline: str) -> None:
    """CR alone (an old Mac's) and CRLF (Windows') are line breaks, as docs/errors.md says."""
    spec = tmp_path / "breaks.yaml"
    text = (ROOT / "specs" / "lenet5.yaml").read_text()
    spec.write_bytes(text.replace("\n", newline).encode())
    assert type(archspec.compile(spec)).__name__ == "LeNet5"


@pytest.mark.parametrize("kind", ["add", "mul"])
def test_a_join_of_thousands_of_inputs_emits_source_python_parses(kind: str) -> None:
    """`{type: add, from: [c, c, ... 3,000 times]}` checked fine, and emit wrote
    `x = c + c + ...`, one nesting level of Python's parser per operator: past ~3,000 the
    emitted module did not parse ('maximum recursion depth exceeded during ast construction'),
    E601 at 1:1 calling it a bug of the emitter. A long join is a fold over a list now,
    computed in the same order (left to right), so the module builds what compile does."""
    from archspec.backends.selfcheck import check_emitted_source

    many = ", ".join(["c"] * 3000)
    text = (
        f"archspec: 1\nname: joins\ninput: [N, 3, 8, 8]\nlayers:\n"
        f"  - {{name: c, type: conv2d, out_channels: 2, kernel_size: 1}}\n"
        f"  - {{name: j, type: {kind}, from: [{many}]}}\n"
    )
    source = archspec.emit(text)
    assert "functools.reduce(" in source and "import operator" in source
    check_emitted_source(source, archspec.api.build_graph(text))
