"""The batch is where a declared input names it: tokens sequence first, `[L, N, 32]` (as
nn.LSTM and nn.Transformer read them without batch_first), hold it at dim 1. Every pass read
dim 0 as the batch, so check said `accepts (L, N, 32) with N >= 1`, the summary's per-sample
Connections were formulas in N (L set to 1), `diff --json` and `list` gave no MACs (or MACs
in N) for `[10, N, 32]`, whose length 10 was taken for its batch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

import archspec
from archspec import api
from archspec.dims import Dim, shape_of
from archspec.inputlayout import batch_dim, batch_of_one, channel_dim, size_dims
from archspec.passes.costs import footprint

from .conftest import ROOT

# the docs' sequence-first classifier (docs/spec-language.md), an LSTM in place of the GRU
LSTM = """\
archspec: 1
name: seq_first_classifier
input: [L, N, 32]
layers:
  - {name: rnn, type: lstm, hidden_size: 64, num_layers: 2, batch_first: false}
  - {name: last, type: select, dim: 0, index: -1}
  - {name: fc, type: linear, out_features: 10}
"""

# the docs' sequence-first encoder (PyTorch's transformer tutorial)
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
  - {name: norm, type: layer_norm}
"""


class TorchLSTM(nn.Module):
    """The hand-written reference of LSTM."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(32, 64, num_layers=2)
        self.fc = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.fc(out[-1])


class TorchEncoder(nn.Module):
    """The hand-written reference of ENCODER."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("pe", torch.zeros(64, 1, 32))
        self.self_attn = nn.MultiheadAttention(32, 4)
        self.norm = nn.LayerNorm(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        embedded = x + self.pe[: x.size(0)]
        attended = self.self_attn(embedded, embedded, embedded, need_weights=False)[0]
        return self.norm(attended + embedded)


def _at(text: str, length: int) -> str:
    return text.replace("[L, N, 32]", f"[{length}, N, 32]")


def _batch_first(text: str) -> str:
    """The same network batch first: the twin whose per-sample figures were right."""
    return (
        text.replace("[L, N, 32]", "[N, L, 32]")
        .replace("batch_first: false", "batch_first: true")
        .replace("dim: 0, index", "dim: 1, index")
    )


def test_the_layout_of_a_declared_input() -> None:
    cases = {
        # shape: (batch, channels, sizes)
        ("N", 3, "H", "W"): (0, 1, (2, 3)),
        (1, 3, 224, 224): (0, 1, (2, 3)),
        ("N", "L", 32): (0, 2, (1,)),
        ("N", "H", "W", 3): (0, 3, (1, 2)),
        ("L", "N", 32): (1, 2, (0,)),
        (10, "N", 32): (1, 2, (0,)),
        ("T", "B", 64): (1, 2, (0,)),
        ("B", "N", 64): (0, 2, (1,)),  # `B, N, C = x.shape`: N tokens, batch B
        ("L", "N"): (1, 0, ()),  # token ids sequence first
        ("N", 20): (0, 1, ()),
        ("L", 32): (0, 1, ()),  # no batch named: dim 0, as for any input
    }
    for dims, (b, c, sizes) in cases.items():
        shape = shape_of(dims)
        assert (batch_dim(shape), channel_dim(shape), size_dims(shape)) == (b, c, sizes), dims
    assert batch_of_one(shape_of((10, "N", 32))) == (10, 1, 32)
    assert batch_of_one(shape_of(("L", "N", 32))) is None


def test_check_states_the_length_of_tokens_sequence_first_not_the_batch() -> None:
    assert archspec.check(LSTM).domain_text == "seq_first_classifier accepts (L, N, 32) with L >= 1"
    assert archspec.check(_at(LSTM, 10)).domain_text == (
        "seq_first_classifier accepts (L, N, 32) with L >= 1"
    )
    assert archspec.check(ENCODER).domain_text == (
        "seq_first_encoder accepts (L, N, 32) with 1 <= L <= 64"
    )
    # fairseq's (T, B, C) names its batch B; `B, N, C` keeps B first
    tbc = "archspec: 1\nname: tbc\ninput: [T, B, 64]\nlayers:\n" + (
        "  - {name: attn, type: multihead_attention, num_heads: 4, batch_first: false}\n"
    )
    assert archspec.check(tbc).domain_text == "tbc accepts (T, B, 64) with T >= 1"
    bnc = tbc.replace("[T, B, 64]", "[B, N, 64]").replace("batch_first: false", "batch_first: true")
    assert archspec.check(bnc).domain_text == "tbc accepts (B, N, 64) with N >= 1"


def test_an_input_given_is_checked_at_its_features_not_its_batch() -> None:
    assert archspec.check(LSTM, input=(7, 2, 32)).ok
    report = archspec.check(LSTM, input=(7, 2, 16))
    assert not report.ok
    assert "the input has 16 features" in report.diagnostics[0].message


@pytest.mark.parametrize("text", [LSTM, ENCODER], ids=["lstm", "encoder"])
def test_connections_per_sample_are_those_of_the_batch_first_twin(text: str) -> None:
    seq = archspec.summary(text)
    twin = archspec.summary(_batch_first(text))
    got = [(r.name, r.connections) for r in seq.rows]
    assert got == [(r.name, r.connections) for r in twin.rows]
    assert seq.connections == twin.connections
    assert "N" not in seq.connections.symbols and "L" in seq.connections.symbols


def test_the_summary_of_a_declared_length_gives_macs_per_sample() -> None:
    s = archspec.summary(_at(LSTM, 10))
    per_sample = TorchLSTMCounts.macs(10)
    assert s.example_macs == per_sample
    assert s.macs.subs({"L": 10}) == Dim.of("N") * per_sample
    text = str(s)
    assert f"({per_sample:,} per" in text and "MACs x N at (10, N, 32)" in text
    # the Total row's Connections: one sample's number, as for the batch-first twin
    assert s.connections.subs({"L": 10}).is_const


class TorchLSTMCounts:
    """MACs of the reference at a length, counted as archspec counts them (gates' products)."""

    @staticmethod
    def macs(length: int) -> int:
        first = length * 4 * 64 * (32 + 64)
        second = length * 4 * 64 * (64 + 64)
        return first + second + 64 * 10


def test_list_and_compile_count_macs_per_sample_at_the_batch() -> None:
    graph = archspec.build_graph(_at(LSTM, 10))
    params, macs = api.sample_cost(graph)
    assert macs == Dim.of(TorchLSTMCounts.macs(10)) and params == sum(
        p.numel() for p in TorchLSTM().parameters()
    )
    # activations of one sample: the batch-first twin's
    twin = archspec.build_graph(_batch_first(LSTM).replace("[N, L, 32]", "[N, 10, 32]"))
    assert footprint(graph).activations == footprint(twin).activations


def test_diff_json_gives_the_macs_of_a_sample(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text(_at(LSTM, 10))
    b.write_text(_at(LSTM, 10).replace("out_features: 10", "out_features: 12"))
    out = subprocess.run(
        [sys.executable, "-m", "archspec", "diff", "--json", str(a), str(b)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["a"]["macs"] == TorchLSTMCounts.macs(10)
    assert data["a"]["input"] == [10, 1, 32]
    assert data["macs_delta"] == 2 * 64


@pytest.mark.parametrize(
    ("text", "reference", "length"),
    [(LSTM, TorchLSTM, 9), (ENCODER, TorchEncoder, 64)],
    ids=["lstm", "encoder"],
)
def test_compile_matches_the_hand_written_reference(
    text: str, reference: type, length: int
) -> None:
    torch.manual_seed(0)
    model = archspec.compile(text).eval()
    ref = reference().eval()
    assert list(model.state_dict()) == list(ref.state_dict())
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p))
        if hasattr(model, "pe"):
            model.pe.copy_(torch.randn_like(model.pe))
    ref.load_state_dict(model.state_dict(), strict=True)
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(length, 3, 32)
    with torch.no_grad():
        assert torch.equal(model(x), ref(x))
    # one past the encoder's table: refused by check, and by torch
    if reference is TorchEncoder:
        assert not archspec.check(ENCODER, input=(65, 3, 32)).ok
        with pytest.raises(RuntimeError):
            ref(torch.randn(65, 3, 32))


def test_an_unbatched_sequence_is_refused_with_the_batch_of_one_to_write() -> None:
    text = LSTM.replace("[L, N, 32]", "[L, 32]")
    report = archspec.check(text)
    (d,) = report.diagnostics
    assert d.code == "E401" and "reads tokens (L, N, D), got rank 2 (L, 32)" in d.message
    assert "`input: [L, 1, D]`" in d.hint
    # dim 0 is the batch of an input that names none: a linear's rows
    rows = (
        "archspec: 1\nname: rows\ninput: [L, 32]\nlayers:\n  - {type: linear, out_features: 10}\n"
    )
    s = archspec.summary(rows)
    assert s.connections == Dim.of(32 * 10 + 10)
    assert str(s.macs) == "320*L"


def test_onnx_export_keeps_the_batch_symbolic_where_the_input_holds_it(tmp_path: Path) -> None:
    """export_onnx made dim 0 dynamic: a sequence-first model's length was called the batch
    and its batch was fixed at the example's."""
    import onnx

    from archspec.interop import export_onnx

    text = "archspec: 1\nname: seqlin\ninput: [L, N, 32]\nlayers:\n"
    text += "  - {name: fc, type: linear, out_features: 10}\n"
    path = export_onnx(archspec.compile(text).eval(), torch.randn(7, 2, 32), tmp_path / "s.onnx")
    graph = onnx.load(path).graph

    def dims(value: onnx.ValueInfoProto) -> list[int | str]:
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    assert dims(graph.input[0]) == [7, "batch", 32]
    assert dims(graph.output[0]) == [7, "batch", 10]
    # the emitted class says it too; a batch-first network's says nothing (dim 0)
    assert "    _archspec_batch_dims = (1,)\n" in archspec.emit(text)
    assert "_archspec_batch_dims" not in archspec.emit(text.replace("[L, N, 32]", "[N, L, 32]"))


def test_a_short_position_table_bounds_the_length_not_the_batch() -> None:
    """With a table of 4 positions, the length L was taken for the batch: W406 'runs only at
    a batch of L in [1, 2, 3]', with a hint to broadcast a learned tensor over the batch."""
    report = archspec.check(ENCODER.replace("[64, 1, 32]", "[4, 1, 32]"))
    assert report.ok and not report.diagnostics, report.diagnostics
    assert report.domain_text == "seq_first_encoder accepts (L, N, 32) with 1 <= L <= 4"


def test_two_inputs_sequence_first_share_one_batch() -> None:
    """A decoder's target and memory, (T, N, 32) and (S, N, 32): the domain named N, the
    lengths T and S not at all."""
    text = """\
archspec: 1
name: cross
inputs:
  tgt: [T, N, 32]
  memory: [S, N, 32]
layers:
  - {name: attn, type: multihead_attention, num_heads: 4, batch_first: false, from: [tgt, memory]}
  - {name: fc, type: linear, out_features: 10}
"""
    report = archspec.check(text)
    assert report.domain_text == ("cross accepts tgt (T, N, 32), memory (S, N, 32) with T, S >= 1")
    s = archspec.summary(
        text.replace("[T, N, 32]", "[5, N, 32]").replace("[S, N, 32]", "[7, N, 32]")
    )
    # per sample: in_proj of q (5 rows) and of k, v (7 rows each), scores and weights V,
    # out_proj, fc; counted at N = 1
    per_sample = 5 * 32 * 32 + 2 * 7 * 32 * 32 + 2 * 5 * 7 * 32 + 5 * 32 * 32 + 5 * 32 * 10
    assert s.example_macs == per_sample
    assert s.macs.subs({"L": 5, "L2": 7}) == Dim.of("N") * per_sample
    assert f"({per_sample:,} per sample)" in str(s).replace("\n", " ")


def test_the_summary_of_a_compiled_sequence_first_model_names_its_batch() -> None:
    """archspec.summary(model, (7, 2, 32)) of the compiled LSTM said 'at these inputs': an
    nn.LSTM without batch_first hides where the batch is, which the spec says."""
    model = archspec.compile(LSTM)
    text = str(archspec.summary(model, (7, 2, 32)))
    assert "Memory of a training step at batch 2:" in text.replace("\n", " ")
    assert archspec.summary(model, (7, 2, 32)).module.memory.batch == 2  # type: ignore[union-attr]
    # a torch module alone keeps saying it cannot tell
    assert archspec.summary(TorchLSTM(), (7, 2, 32)).module.memory.batch is None  # type: ignore[union-attr]
