"""Tokens sequence first, (L, N, D), torch's default: `multihead_attention` with
`batch_first: false`, a positional table cut on dim 0 (`slice_as` with `dim: 0`), and the
import of torch's nn.MultiheadAttention and nn.TransformerEncoderLayer built without
batch_first, which were refused (E903, E904) though the language computes them."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError
from tests.emit_helpers import matches_compile
from tests.test_importer import roundtrip

ENCODER = """\
archspec: 1
name: seq_first_encoder
input: [L, N, 32]
layers:
  - {name: pe, type: buffer, shape: [64, 1, 32]}
  - {name: pos, type: slice_as, from: [pe, input], dim: 0}
  - {name: embedded, type: add, from: [input, pos]}
  - {name: self_attn, type: multihead_attention, num_heads: 4, batch_first: false}
  - {name: attended, type: add, from: [self_attn, embedded]}
"""


def test_the_attention_is_torchs_sequence_first_one() -> None:
    model = archspec.compile(ENCODER).eval()
    ref = nn.MultiheadAttention(32, 4).eval()  # batch_first=False, torch's default
    ref.load_state_dict(model.self_attn.state_dict())
    model.pe.normal_()
    x = torch.rand(9, 3, 32)
    e = x + model.pe[:9]
    with torch.no_grad():
        torch.testing.assert_close(model(x), ref(e, e, e, need_weights=False)[0] + e)
    source = matches_compile(ENCODER, (9, 3, 32))
    assert "MultiheadSelfAttention(32, 4, batch_first=False)" in source
    assert "pos = self.pe[: x.shape[0]]  # (L, 1, 32)" in source


def test_shapes_domain_and_macs_read_l_first() -> None:
    report = archspec.check(ENCODER)
    assert report.ok and [tuple(map(str, s)) for s in report.outputs] == [("L", "N", "32")]
    with pytest.raises(ArchSpecError) as exc:  # the table holds 64 positions
        archspec.compile(ENCODER.replace("[L, N, 32]", "[65, N, 32]"), device="meta")
    assert exc.value.diagnostics[0].code == "E405"
    first = ENCODER.replace(", batch_first: false", "")
    attn_first = archspec.summary(first, input=(5, 7, 32)).rows[3]
    attn_seq = archspec.summary(ENCODER, input=(7, 5, 32)).rows[3]
    assert attn_seq.name == attn_first.name == "self_attn"
    n, seq, d = 5, 7, 32  # batch 5 of 7 tokens either way: L D (4 D + 2 L) per sample
    assert int(attn_seq.macs) == int(attn_first.macs) == n * seq * d * (4 * d + 2 * seq)


class PositionalEncoding(nn.Module):
    """The PyTorch tutorial's, sequence first."""

    def __init__(self, d_model: int, max_len: int = 64) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p=0.1)
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, 1, d_model)
        pe[:, 0, 0::2] = torch.sin(position * div_term)
        pe[:, 0, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.pe[: x.size(0)]
        return self.dropout(x)


class TutorialModel(nn.Module):
    """The tutorial's TransformerModel: torch's layers at their defaults, sequence first."""

    def __init__(self) -> None:
        super().__init__()
        self.pos_encoder = PositionalEncoding(32)
        layer = nn.TransformerEncoderLayer(32, 4, 64, 0.1)
        self.transformer_encoder = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.linear = nn.Linear(32, 10)

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        return self.linear(self.transformer_encoder(self.pos_encoder(src)))


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(32, 4)
        self.fc = nn.Linear(32, 32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.attn(x, x, x)
        return self.fc(y)


def test_torchs_sequence_first_layers_import() -> None:
    text = roundtrip(Attention(), (10, 2, 32))
    assert "input: [L, N, 32]" in text
    assert (  # the default call: torch's need_weights=True path
        "{name: attn, type: multihead_attention, num_heads: 4, batch_first: false, "
        "need_weights: true}" in text
    )
    text = roundtrip(TutorialModel(), (10, 2, 32))
    assert "input: [L, N, 32]" in text
    assert "{name: getitem, type: slice_as, from: [pe, input], dim: 0}" in text
    assert "type: multihead_attention, num_heads: 4, dropout: 0.1, batch_first: false}" in text
    matches_compile(text, (10, 3, 32))
    text = roundtrip(PositionalEncoding(32), (10, 2, 32))  # no attention: dim 0 stays N
    assert "input: [N, 2, 32]" in text and "dim: 0}" in text


class OneSequence(nn.Module):
    """One unbatched sequence (L, E), given the batch dim of one the attention reads."""

    def __init__(self) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = x.unsqueeze(1)
        return self.attn(y, y, y, need_weights=False)[0]


def test_an_input_of_rank_two_keeps_its_features_as_a_number() -> None:
    text = roundtrip(OneSequence(), (10, 32))
    assert "input: [N, 32]" in text


class QueryHead(nn.Module):
    """DETR in small: an image's features made tokens sequence first, an encoder at torch's
    defaults, and learned queries (Q, 1, D) expanded over the batch, dim 1, attending to
    them. The image keeps its batch first."""

    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Conv2d(3, 32, 8, stride=8)
        layer = nn.TransformerEncoderLayer(32, 4, 64, 0.0)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.query = nn.Parameter(torch.randn(5, 1, 32))
        self.attn = nn.MultiheadAttention(32, 4)
        self.cls = nn.Linear(32, 7)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.enc(self.backbone(x).flatten(2).permute(2, 0, 1))  # (HW, N, D)
        out, _ = self.attn(self.query.expand(-1, f.shape[1], -1), f, f)
        return self.cls(out)


class TokenIds(nn.Module):
    """The tutorial's model on (L, N) int64 token ids."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 32)
        layer = nn.TransformerEncoderLayer(32, 4, 64, 0.0)
        self.enc = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.out = nn.Linear(32, 100)

    def forward(self, src: torch.Tensor) -> torch.Tensor:
        return self.out(self.enc(self.emb(src) * math.sqrt(32)))


def test_the_batch_is_found_where_the_input_reaches_the_attention() -> None:
    text = roundtrip(QueryHead(), (2, 3, 32, 32))
    assert "input: [N, 3, 32, 32]" in text
    assert "{name: expand, type: expand, from: [query, enc], dim: 1}" in text
    assert "{name: attn, type: multihead_attention, from: [expand, enc]" in text
    source = matches_compile(text, (3, 3, 32, 32))
    assert "expand = self.query.expand(-1, enc.shape[1], -1)" in source
    model = TokenIds().eval()
    ids = torch.randint(0, 100, (10, 2))
    text = archspec.from_module(model, ids)
    assert "input: [L, N]" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    more = torch.randint(0, 100, (10, 5))
    with torch.no_grad():
        torch.testing.assert_close(twin(more), model(more))


CRNN_HEAD = """\
archspec: 1
name: crnn_head
input: [N, 32, 8, W]
layers:
  - {name: pool, type: adaptive_avgpool2d, output_size: [1, null]}
  - {name: squeeze, type: squeeze, dim: 2}
  - {name: seq, type: permute, dims: [2, 0, 1]}
  - {name: rnn, type: lstm, hidden_size: 24, bidirectional: true, batch_first: false}
  - {name: fc, type: linear, out_features: 11}
"""


def test_a_recurrent_layer_reads_the_sequence_first() -> None:
    model = archspec.compile(CRNN_HEAD).eval()
    ref = nn.LSTM(32, 24, bidirectional=True).eval()  # torch's default: sequence first
    ref.load_state_dict(model.rnn.state_dict())
    x = torch.rand(2, 32, 8, 13)
    seq = x.mean(2).permute(2, 0, 1)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.fc(ref(seq)[0]))
    source = matches_compile(CRNN_HEAD, (3, 32, 8, 13))
    assert "SequenceLSTM(32, 24, batch_first=False, bidirectional=True)" in source
    report = archspec.check(CRNN_HEAD)
    assert [tuple(map(str, s)) for s in report.outputs] == [("W", "N", "11")]
    rows = {r.name: r for r in archspec.summary(CRNN_HEAD, input=(2, 32, 8, 13)).rows}
    first = CRNN_HEAD.replace(", batch_first: false", "").replace("[2, 0, 1]", "[0, 2, 1]")
    same = {r.name: r for r in archspec.summary(first, input=(2, 32, 8, 13)).rows}
    assert int(rows["rnn"].macs) == int(same["rnn"].macs) > 0


class CRNN(nn.Module):
    """A text recogniser: its map's height pooled away, the columns a sequence for
    torch's LSTM at its default, sequence first."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d((1, None))
        )
        self.rnn = nn.LSTM(16, 24, bidirectional=True)
        self.fc = nn.Linear(48, 11)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(self.cnn(x).squeeze(2).permute(2, 0, 1))
        return self.fc(out).log_softmax(2)


class Tagger(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(50, 16)
        self.gru = nn.GRU(16, 8, num_layers=2)
        self.fc = nn.Linear(8, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.gru(self.emb(x))[0])


def test_torchs_sequence_first_recurrent_layers_import() -> None:
    text = roundtrip(CRNN(), (2, 1, 16, 20))
    assert "input: [N, 1, 16, 20]" in text
    assert "{type: adaptive_avgpool2d, output_size: [1, null]}" in text
    assert "type: lstm, hidden_size: 24, bidirectional: true, batch_first: false}" in text
    matches_compile(text, (3, 1, 16, 20))
    model = Tagger().eval()
    text = archspec.from_module(model, torch.randint(0, 50, (9, 2)))
    assert "input: [L, N]" in text and "num_layers: 2, batch_first: false}" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict())
    ids = torch.randint(0, 50, (9, 4))
    with torch.no_grad():
        torch.testing.assert_close(twin(ids), model(ids))
