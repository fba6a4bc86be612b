"""An example input the model reads unbatched (torch's attention and recurrent layers take
(L, E)): the import's E904 said 'if the model runs on it, report this', though no spec
states an input without a batch dim. The hint now says where to add the batch, and the
import it names works."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure


class Attends(nn.Module):
    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.att = nn.MultiheadAttention(32, 4, batch_first=batch_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.att(x, x, x)[0]


class Recurs(nn.Module):
    def __init__(self, batch_first: bool) -> None:
        super().__init__()
        self.gru = nn.GRU(32, 16, batch_first=batch_first)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gru(x)[0]


@pytest.mark.parametrize("cls", [Attends, Recurs])
@pytest.mark.parametrize("batch_first", [False, True])
def test_an_unbatched_input_gets_a_hint_that_names_the_batch(cls: type, batch_first: bool) -> None:
    model = cls(batch_first).eval()
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(model, torch.rand(7, 32))
    diag = info.value.diagnostics[0]
    dim = 0 if batch_first else 1
    sizes = "1,7,32" if batch_first else "7,1,32"
    assert diag.code == "E904" and "report this" not in (diag.hint or "")
    assert f"(--input {sizes}) and call the twin on batched inputs (x.unsqueeze({dim}))" in (
        diag.hint or ""
    )
    # what the hint says works: the twin on the input with its batch is the model on it
    text = archspec.from_module(model, torch.rand(*map(int, sizes.split(","))))
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.rand(9, 32)
    with torch.no_grad():
        torch.testing.assert_close(twin(x.unsqueeze(dim)).squeeze(dim), model(x))
