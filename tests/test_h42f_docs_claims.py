"""Claims of the docs that test_docs.py runs no block for, checked against what the code does.

Found by reading the docs as a torchinfo user: the tutorial said in one place that a module
run several times shows its first run's output shape, and in another its last call's.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
import torch.nn as nn

import archspec

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]


class _TwoShapes(nn.Module):
    """One ReLU run on (2, 4) and then on (2, 3): its two runs have two output shapes."""

    def __init__(self) -> None:
        super().__init__()
        self.act = nn.ReLU()
        self.fc = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(self.act(x)))


def test_every_page_says_which_runs_output_shape_a_row_shows_as_the_code_does() -> None:
    rows = {row.name: row for row in archspec.summary(_TwoShapes(), (2, 4)).rows}
    shown = "first" if rows["act"].shape_text == "(2, 4)" else "last"
    claims = [
        (page.name, m.group(0))
        for page in PAGES
        for m in re.finditer(
            r"output\s+shape\s+(?:is\s+)?the\s+(first|last)\s+(?:run|call)'s",
            page.read_text(encoding="utf-8"),
        )
    ]
    assert claims, "the docs no longer say which run's output shape a row shows"
    wrong = [(page, text) for page, text in claims if shown not in text]
    assert not wrong, f"the summary shows the {shown} run's output shape, the docs say {wrong}"
