"""multihead_attention of a query and a key and value of their own (`from: [q, kv]`,
`[q, k, v]`): a learned query pooling a sequence, Perceiver's and DETR's head. The kind
took one input only (E305 'takes one input'), and import refused `self.attn(q, x, x)`."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError
from tests.emit_helpers import matches_compile
from tests.test_importer import roundtrip

POOL = """\
archspec: 1
name: query_pool
input: [N, L, 32]
layers:
  - {name: query, type: parameter, shape: [1, 4, 32]}
  - {name: queries, type: expand, from: [query, input]}
  - {name: attn, type: multihead_attention, num_heads: 4, from: [queries, input]}
  - {name: k, type: linear, out_features: 32, from: input}
  - {name: attn3, type: multihead_attention, num_heads: 4, from: [queries, k, input]}
  - {name: both, type: add, from: [attn, attn3]}
"""


def test_the_query_attends_to_the_key_and_value_as_torch_computes() -> None:
    model = archspec.compile(POOL).eval()
    x = torch.rand(3, 9, 32)
    with torch.no_grad():
        model.query.normal_()
        q = model.query.expand(3, -1, -1)
        ref = nn.MultiheadAttention(32, 4, batch_first=True).eval()
        ref.load_state_dict(model.attn.state_dict())
        ref3 = nn.MultiheadAttention(32, 4, batch_first=True).eval()
        ref3.load_state_dict(model.attn3.state_dict())
        want = ref(q, x, x)[0] + ref3(q, model.k(x), x)[0]
        torch.testing.assert_close(model(x), want)
    source = matches_compile(POOL, (3, 9, 32))
    assert "out = self.attn(queries, x)  # (N, 4, 32)" in source
    assert "self.attn3(queries, k, x)" in source


def test_shapes_and_macs_follow_the_query_and_the_keys() -> None:
    report = archspec.check(POOL)
    assert report.ok and [tuple(map(str, s)) for s in report.outputs] == [("N", "4", "32")]
    rows = {r.name: r for r in archspec.summary(POOL, input=(2, 9, 32)).rows}
    n, lq, lk, d = 2, 4, 9, 32
    assert int(rows["attn"].macs) == n * d * (2 * lq * d + 2 * lk * d + 2 * lq * lk)


HEAD = "\n".join(POOL.splitlines()[:6]) + "\n"


@pytest.mark.parametrize(
    ("layers", "code", "words"),
    [
        ("from: [queries, input, input, input]}", "E305", "takes 1 to 3 inputs, `from` names 4"),
        (
            "from: [queries, narrow]}",
            "E404",
            "multihead_attention features differ: 32 vs 16",
        ),
        ("from: [queries, input, shorter]}", "E404", "key and value lengths differ"),
    ],
)
def test_inputs_that_do_not_fit_are_located(layers: str, code: str, words: str) -> None:
    text = HEAD + "  - {name: narrow, type: linear, out_features: 16, from: input}\n"
    text += "  - {name: shorter, type: slice, dim: 1, start: 1, from: input}\n"
    text += "  - {name: attn, type: multihead_attention, num_heads: 4, " + layers + "\n"
    with pytest.raises(ArchSpecError) as exc:
        archspec.compile(text, device="meta")
    diag = exc.value.diagnostics[0]
    assert diag.code == code and words in diag.message, diag.message
    assert diag.span is not None and diag.span.line == len(text.splitlines())


class Pooled(nn.Module):
    """A learned query pooling the sequence, as a Perceiver or DETR head writes it."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(16, 32)
        self.query = nn.Parameter(torch.randn(1, 4, 32))
        self.attn = nn.MultiheadAttention(32, 4, batch_first=True)
        self.fc = nn.Linear(32, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        out, _ = self.attn(self.query.expand(x.shape[0], -1, -1), x, x)
        return self.fc(out.mean(1))


class ThreeInputs(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.q, self.k, self.v = nn.Linear(16, 32), nn.Linear(16, 32), nn.Linear(16, 32)
        self.attn = nn.MultiheadAttention(32, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(self.q(x), self.k(x), self.v(x), need_weights=False)[0]


def test_cross_attention_imports() -> None:
    text = roundtrip(Pooled(), (2, 7, 16))
    assert "{name: expand, type: expand, from: [query, proj]}" in text
    assert (
        "{name: attn, type: multihead_attention, from: [expand, proj], num_heads: 4, "
        "need_weights: true}" in text  # the default call, `out, _ = self.attn(q, x, x)`
    )
    matches_compile(text, (3, 5, 16))
    text = roundtrip(ThreeInputs(), (7, 2, 16))
    assert "from: [q, k, v], num_heads: 4, batch_first: false}" in text
