"""`select` of any dim: dim 0 of a sequence-first RNN's output (`out[-1]`, torch's `h[-1]`)
and negative dims, with exact symbolic shapes; and the import of `h[-1]`, `out[-1]` and
`x[0, ...]`, which were E309 ('dim: 0 is below the minimum 1'), E903 ('no layer kind
computes the operator getitem', 'takes one position of the batch dim') and E904 ('reads
its final state')."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError
from tests.ops_cases import same_as_emitted

SEQ_FIRST = """\
archspec: 1
name: seq_first
input: [L, N, 32]
layers:
  - {name: rnn, type: gru, hidden_size: 64, batch_first: false}
  - {name: last, type: select, dim: DIM, index: INDEX}
  - {name: fc, type: linear, out_features: 10}
"""


def test_the_last_step_of_a_sequence_first_rnn_is_a_select_of_dim_0() -> None:
    text = SEQ_FIRST.replace("DIM", "0").replace("INDEX", "-1")
    result = archspec.check(text)
    assert result.ok and not result.warnings, result.render()
    assert [str(d) for d in result.symbolic_outputs[0]] == ["N", "10"]  # for any L
    model = archspec.compile(text).eval()
    x = torch.rand(6, 3, 32)
    with torch.no_grad():
        want = model.fc(model.rnn(x)[-1])
        torch.testing.assert_close(model(x), want, rtol=0, atol=0)
    source = archspec.emit(text)
    assert "        x = x[-1]  # (N, 64)\n" in source
    same_as_emitted(text, x)


@pytest.mark.parametrize(("dim", "index", "form"), [(-3, -1, "x.select(-3, -1)"), (-2, 0, "")])
def test_a_negative_dim_counts_from_the_end(dim: int, index: int, form: str) -> None:
    text = SEQ_FIRST.replace("DIM", str(dim)).replace("INDEX", str(index))
    out = ["N", "10"] if dim == -3 else ["L", "10"]  # the last step; the first sequence
    assert [str(d) for d in archspec.check(text).symbolic_outputs[0]] == out
    assert f"x = {form or 'x.select(-2, 0)'}  #" in archspec.emit(text)
    same_as_emitted(text, torch.rand(5, 2, 32))


@pytest.mark.parametrize(("dim", "code"), [(3, "E401"), (-4, "E401")])
def test_a_dim_the_input_lacks_is_e401_at_dim(dim: int, code: str) -> None:
    text = SEQ_FIRST.replace("DIM", str(dim)).replace("INDEX", "0")
    with pytest.raises(ArchSpecError) as exc:
        archspec.compile(text, device="meta")
    diag = exc.value.diagnostics[0]
    assert diag.code == code and f"select dim {dim} is out of range" in diag.message
    assert diag.span is not None and diag.span.line == 6


class LastState(nn.Module):
    def __init__(self, cell: type[nn.Module], bidirectional: bool, how: str) -> None:
        super().__init__()
        self.rnn = cell(16, 12, num_layers=2, bidirectional=bidirectional)
        self.fc = nn.Linear(24 if bidirectional else 12, 5)
        self.bidirectional, self.how, self.lstm = bidirectional, how, cell is nn.LSTM

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, h = self.rnn(x)
        if self.lstm:
            h = h[0]
        if self.how == "out":
            return self.fc(out[-1])
        if self.bidirectional:
            return self.fc(torch.cat([h[-2], h[-1]], dim=1))
        return self.fc(h[-1])


@pytest.mark.parametrize("cell", [nn.GRU, nn.LSTM, nn.RNN])
@pytest.mark.parametrize(("bidirectional", "how"), [(False, "h"), (True, "h"), (False, "out")])
def test_a_sequence_first_final_state_imports_exactly(
    cell: type[nn.Module], bidirectional: bool, how: str
) -> None:
    model = LastState(cell, bidirectional, how).eval()
    text = archspec.from_module(model, torch.rand(7, 2, 16))
    assert "batch_first: false" in text and "type: select, dim: 0" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    x = torch.rand(9, 3, 16)  # another length and batch
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=0, atol=0)
