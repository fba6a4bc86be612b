"""`lstm`, `gru` and `rnn`: torch's recurrent layers over (N, L, D) tokens, batch first,
giving the output sequence. Params, keys and outputs are torch's own modules'; emitted source
computes what compile does; a spec of token ids (`input_dtype: int64`) reads them after an
embedding."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

import archspec

from .emit_helpers import matches_compile


def _spec(kind: str, extra: str = "", input_line: str = "input: [N, L, 12]") -> str:
    return textwrap.dedent(
        f"""\
        archspec: 1
        name: seq
        {input_line}
        layers:
          - {{name: rec, type: {kind}, hidden_size: 8{extra}}}
        """
    )


CASES = [
    ("lstm", "", nn.LSTM, {}),
    (
        "lstm",
        ", num_layers: 2, bidirectional: true",
        nn.LSTM,
        {"num_layers": 2, "bidirectional": True},
    ),
    ("gru", ", bias: false", nn.GRU, {"bias": False}),
    ("gru", ", num_layers: 3", nn.GRU, {"num_layers": 3}),
    (
        "rnn",
        ", nonlinearity: relu, bidirectional: true",
        nn.RNN,
        {"nonlinearity": "relu", "bidirectional": True},
    ),
]


@pytest.mark.parametrize(("kind", "extra", "cls", "kwargs"), CASES)
def test_keys_params_and_outputs_are_torch_s(kind, extra, cls, kwargs) -> None:
    text = _spec(kind, extra)
    torch.manual_seed(0)
    ref = cls(12, 8, batch_first=True, **kwargs).eval()
    ours = archspec.compile(text).eval()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (f"rec.{k}", v.shape) for k, v in ref.state_dict().items()
    ]
    ours.load_state_dict({f"rec.{k}": v for k, v in ref.state_dict().items()}, strict=True)
    x = torch.randn(3, 5, 12, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x)[0])
    summary = archspec.summary(text, input=(3, 5, 12))
    assert summary.params == sum(p.numel() for p in ref.parameters())
    dirs = 2 if kwargs.get("bidirectional") else 1
    assert archspec.check(text).outputs[0][2].value == 8 * dirs


def test_macs_are_the_gates_products_at_every_step() -> None:
    """An LSTM of 12 features into 8: 4 gates of 8, (12 + 8) inputs each, per step."""
    summary = archspec.summary(_spec("lstm"), input=(2, 5, 12))
    assert summary.macs.value == 2 * 5 * 4 * 8 * (12 + 8)


@pytest.mark.parametrize(("kind", "extra"), [(c[0], c[1]) for c in CASES])
def test_emitted_source_computes_what_compile_does(kind: str, extra: str) -> None:
    source = matches_compile(_spec(kind, extra), (2, 5, 12))
    assert f"class Sequence{kind.upper() if kind != 'lstm' else 'LSTM'}(nn." in source
    assert "batch_first=True" in source


def test_a_text_classifier_of_token_ids_reads_them_after_an_embedding() -> None:
    text = textwrap.dedent(
        """\
        archspec: 1
        name: tagger
        input: [N, L]
        input_dtype: int64
        layers:
          - {name: embed, type: embedding, num_embeddings: 50, embedding_dim: 12}
          - {name: lstm, type: lstm, hidden_size: 8, bidirectional: true}
          - {name: last, type: select, index: -1}
          - {name: fc, type: linear, out_features: 3}
        """
    )
    result = archspec.check(text)
    assert result.ok and result.domain_text == "tagger accepts (N, L) int64"
    model = archspec.compile(text).eval()
    with torch.no_grad():
        assert model(torch.randint(0, 50, (4, 7))).shape == (4, 3)
    # the ids themselves are no features: an lstm reading them is E401
    bad = text.replace(
        "  - {name: embed, type: embedding, num_embeddings: 50, embedding_dim: 12}\n", ""
    )
    (diag,) = archspec.check(bad.replace("input: [N, L]", "input: [N, L, 12]")).errors
    assert diag.code == "E401" and "int64" in diag.message


def test_what_a_recurrent_layer_refuses() -> None:
    (diag,) = archspec.check(_spec("gru", input_line="input: [N, 3, 8, 8]")).errors
    assert diag.code == "E401" and "tokens (N, L, D)" in diag.message
    (diag,) = archspec.check(_spec("lstm", ", input_size: 10")).errors
    assert diag.code == "E402" and "input_size=10" in diag.message
    (diag,) = archspec.check(_spec("rnn", ", nonlinearity: sigmoid")).errors
    assert diag.code == "E204"
    # torch makes each layer in a Python loop, even on the meta device: a stack past 1024
    # layers is refused rather than built for minutes (a fuzz case took 2**31 - 1)
    (diag,) = archspec.check(_spec("gru", ", num_layers: 2147483647")).errors
    assert diag.code == "E309" and "1024 at most" in diag.message + (diag.hint or "")
