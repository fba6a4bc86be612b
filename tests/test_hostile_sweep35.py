"""Session 35's independent hostile sweep: what a model, a checkpoint or the command line
hands archspec, each said as a located error or done, never failing as archspec's own fault."""

from __future__ import annotations

import torch
from torch import nn
from typer.testing import CliRunner

import archspec
from archspec.cli import app
from archspec.importer.where import DESCRIBE_LIMIT


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
