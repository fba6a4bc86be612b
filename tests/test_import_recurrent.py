"""`archspec import` of text models: an nn.Embedding of int64 token ids, then an nn.LSTM, GRU or
RNN called as `out, _ = self.lstm(x)`; what a spec's recurrent kinds cannot state (an initial
state, the final state read, a sequence-first module) is refused at the call."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.importer import ImportFailure


class _Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.lstm = nn.LSTM(16, 12, num_layers=2, batch_first=True, bidirectional=True)
        self.fc = nn.Linear(24, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        out, _ = self.lstm(self.embed(ids))
        return self.fc(out[:, -1])


class _GruMean(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(100, 16)
        self.gru = nn.GRU(16, 12, batch_first=True)
        self.rnn = nn.RNN(12, 8, batch_first=True, nonlinearity="relu")
        self.fc = nn.Linear(8, 3)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.gru(self.embed(ids))[0]
        x, _ = self.rnn(x)
        return self.fc(x.mean(1))


@pytest.mark.parametrize("cls", [_Tagger, _GruMean])
def test_a_recurrent_text_model_imports_exactly(cls: type[nn.Module]) -> None:
    torch.manual_seed(0)
    model = cls().eval()
    ids = torch.randint(0, 100, (2, 9), generator=torch.Generator().manual_seed(1))
    text = archspec.from_module(model, ids)
    assert "input_dtype: int64" in text
    assert ("type: lstm" in text) == (cls is _Tagger) and ("type: rnn" in text) != (cls is _Tagger)
    twin = archspec.compile(text).eval()
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(twin(ids), model(ids), rtol=1e-5, atol=1e-6)


class _FinalState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 12, batch_first=True)
        self.fc = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (_h, c) = self.lstm(x)  # the cell state (`h[-1]` imports: round38_states)
        return self.fc(c[-1])


class _InitialState(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gru = nn.GRU(16, 12, batch_first=True)
        self.h0 = nn.Parameter(torch.zeros(1, 2, 12))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.gru(x, self.h0)[0]


class _Projected(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.lstm = nn.LSTM(16, 12, batch_first=True, proj_size=6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lstm(x)[0]


@pytest.mark.parametrize(
    ("cls", "code", "words"),
    [
        (_FinalState, "E904", "calls `self.lstm` and reads its final state"),
        (_InitialState, "E904", "calls `self.gru` with an initial state"),
        (_Projected, "E903", "builds it with proj_size=0 where the model has 6"),
    ],
)
def test_what_a_spec_s_recurrent_layer_cannot_state_is_refused(cls, code, words) -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(cls().eval(), torch.randn(2, 5, 16))
    diag = info.value.diagnostics[0]
    assert diag.code == code and words in diag.message, diag.message
