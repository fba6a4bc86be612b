"""archspec import of a recurrent classifier that reads its final hidden state, as the
tutorials write it (`_, (h, c) = self.lstm(x)` then `self.fc(h[-1])`; `_, h =
self.gru(x)`; a bidirectional LSTM's `torch.cat((h[-2], h[-1]), 1)`). It was E904 'reads its
final state'; the last layer's final hidden state is a position of the output sequence, so
it imports bit for bit. The cell state and an earlier layer's state stay refused."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure


class Recurrent(nn.Module):
    def __init__(self, kind: str, layers: int, bidirectional: bool, read: str) -> None:
        super().__init__()
        self.read = read
        cls = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}[kind]
        self.rnn = cls(6, 8, layers, batch_first=True, bidirectional=bidirectional)
        self.fc = nn.Linear(16 if bidirectional else 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, state = self.rnn(x)
        h, c = state if isinstance(self.rnn, nn.LSTM) else (state, None)
        if self.read == "last":
            return self.fc(h[-1])
        if self.read == "both":
            return self.fc(torch.cat((h[-2, :, :], h[-1, :, :]), dim=1))
        if self.read == "squeeze":
            return self.fc(h.squeeze(0))
        if self.read == "cell":
            return self.fc(c[-1])
        return self.fc(h[0])  # "first": layer 0's state


@pytest.mark.parametrize(
    ("kind", "layers", "bidirectional", "read"),
    [
        ("lstm", 1, False, "last"),
        ("lstm", 2, False, "last"),
        ("gru", 2, False, "last"),
        ("rnn", 1, False, "squeeze"),
        ("lstm", 2, True, "both"),
        ("gru", 1, True, "both"),
    ],
)
def test_the_last_layers_final_hidden_state_is_read_off_the_output(
    kind: str, layers: int, bidirectional: bool, read: str
) -> None:
    model = Recurrent(kind, layers, bidirectional, read).eval()
    text = archspec.from_module(model, torch.rand(2, 7, 6))
    assert "type: select" in text
    twin = archspec.compile(text).eval()
    assert list(twin.state_dict()) == list(model.state_dict())
    twin.load_state_dict(model.state_dict())
    for shape in ((2, 7, 6), (3, 4, 6)):
        x = torch.rand(shape)
        with torch.no_grad():
            torch.testing.assert_close(twin(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("read", ["cell", "first"])
def test_a_state_no_output_holds_stays_refused(read: str) -> None:
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(Recurrent("lstm", 2, False, read), torch.rand(2, 7, 6))
    (diag,) = info.value.diagnostics
    assert diag.code == "E904" and "reads its final state" in diag.message
    assert "no cell state nor an earlier layer's" in diag.hint
