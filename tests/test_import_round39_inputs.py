"""An example input the model does not run on, said in torch's words where the import needed
the run: Kim's text CNN pools each conv over its whole length, `F.max_pool1d(c, c.size(2))`,
whose window only the run tells; given float ids (`--input 2,20` without `--input-dtype
int64`) or ids fewer than its widest window, the import said 'no layer kind computes
`torch.nn.functional.max_pool1d` as called here', as if the call were the fault. The int64
hint of a refused example input is given only where the input is float."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from tests.newuser39.references import TextCNN


class Ids(nn.Module):
    """Token ids looked up and convolved with a window of 5, no size read in forward."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(50, 8)
        self.conv = nn.Conv1d(8, 4, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(self.embedding(x).permute(0, 2, 1))


@pytest.mark.parametrize(
    ("example", "said", "int64_hint"),
    [
        (torch.zeros(2, 20), "'indices' to have one of the following scalar types", True),
        (torch.zeros(2, 3, dtype=torch.long), "Kernel size can't be greater", False),
    ],
)
def test_a_window_read_off_a_run_the_model_refused_says_why(
    example: torch.Tensor, said: str, int64_hint: bool
) -> None:
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.from_module(TextCNN().eval(), example)
    first = caught.value.diagnostics[0]
    assert first.code == "E903" and first.message.startswith("F.max_pool1d takes a window")
    assert "the model does not run on (2, " in first.message and said in first.message
    assert first.hint is not None and "--input" in first.hint
    assert ("--input-dtype int64" in first.hint) is int64_hint


def test_int64_ids_the_model_refuses_get_no_word_on_dtypes() -> None:
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.from_module(Ids().eval(), torch.zeros(2, 3, dtype=torch.long))
    (diag,) = caught.value.diagnostics
    assert diag.code == "E904" and "refuses the example input (2, 3)" in diag.message
    assert diag.hint is not None and "int64" not in diag.hint
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.from_module(Ids().eval(), torch.zeros(2, 3))
    assert "`--input-dtype int64`" in (caught.value.diagnostics[0].hint or "")
