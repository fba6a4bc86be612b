"""Torch modules of the recurrent ops; copied verbatim into emitted files."""

from __future__ import annotations

import torch
from torch import nn


class SequenceLSTM(nn.LSTM):
    """nn.LSTM over (N, L, D) tokens (batch first; (L, N, D) built with batch_first=False)
    that returns the output sequence alone, as `out, _ = self.lstm(x)` keeps it; same
    state_dict keys."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)[0]


class SequenceGRU(nn.GRU):
    """nn.GRU over (N, L, D) tokens (batch first; (L, N, D) built with batch_first=False)
    that returns the output sequence alone, as `out, _ = self.gru(x)` keeps it; same
    state_dict keys."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)[0]


class SequenceRNN(nn.RNN):
    """nn.RNN over (N, L, D) tokens (batch first; (L, N, D) built with batch_first=False)
    that returns the output sequence alone, as `out, _ = self.rnn(x)` keeps it; same
    state_dict keys."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)[0]


__all__ = ["SequenceGRU", "SequenceLSTM", "SequenceRNN"]
