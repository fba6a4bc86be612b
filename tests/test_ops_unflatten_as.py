"""`unflatten_as`: a dim split into the sizes of another tensor's dims, read in forward.

timm's Sequencer runs an LSTM along the rows of an (N, H, W, C) map as a batch of N * H
sequences and folds the output back with `x.reshape(B, H, W, -1)`, B and H read from the
map's shape; PVT folds (N, L, C) tokens back into their (H, W) map the same way. A
`reshape` or `unflatten` takes its sizes as numbers, so a spec held for one input size
(W403 at the first join of the folded map with one that kept its sizes, "archspec cannot
check other input sizes"); session 37's new user found it writing sequencer2d_s
(tests/newuser37/sequencer2d_s.yaml)."""

from __future__ import annotations

import textwrap
import types

import pytest
import torch
from torch import nn

import archspec

LSTM2D = textwrap.dedent(
    """
    archspec: 1
    name: lstm2d
    input: [N, H, W, 8]
    register_order: [fc, rnn_v, rnn_h]
    layers:
      - {name: columns, type: permute, dims: [0, 2, 1, 3]}
      - {name: v_seq, type: flatten, start_dim: 0, end_dim: 1}
      - {name: rnn_v, type: lstm, hidden_size: 4, bidirectional: true}
      - {name: v_map, type: unflatten_as, dim: 0, dims: [0, 1], from: [rnn_v, columns]}
      - {name: v, type: permute, dims: [0, 2, 1, 3]}
      - {name: h_seq, type: flatten, start_dim: 0, end_dim: 1, from: input}
      - {name: rnn_h, type: lstm, hidden_size: 4, bidirectional: true}
      - {name: h, type: unflatten_as, dim: 0, dims: [0, 1], from: [rnn_h, input]}
      - {name: cat, type: concat, dim: -1, from: [v, h]}
      - {name: fc, type: linear, out_features: 8}
    """
)


class LSTM2d(nn.Module):
    """timm's `LSTM2d` (sequencer.py), union "cat" with its fc."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(16, 8)
        self.rnn_v = nn.LSTM(8, 4, batch_first=True, bidirectional=True)
        self.rnn_h = nn.LSTM(8, 4, batch_first=True, bidirectional=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        v = x.permute(0, 2, 1, 3).reshape(-1, H, C)
        v, _ = self.rnn_v(v)
        v = v.reshape(B, W, H, -1).permute(0, 2, 1, 3)
        h, _ = self.rnn_h(x.reshape(-1, W, C))
        h = h.reshape(B, H, W, -1)
        return self.fc(torch.cat([v, h], dim=-1))


def test_a_row_and_column_lstm_folds_back_at_every_size_compiled_and_emitted() -> None:
    report = archspec.check(LSTM2D)
    assert report.ok and not report.diagnostics, report.diagnostics
    assert report.domain_text == "lstm2d accepts (N, H, W, 8) with H, W >= 1"
    ours, theirs = archspec.compile(LSTM2D).eval(), LSTM2d().eval()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()
    ]
    ours.load_state_dict(theirs.state_dict(), strict=True)
    source = archspec.emit(LSTM2D)
    assert "rnn_v.unflatten(0, (columns.shape[0], columns.shape[1]))" in source
    module = types.ModuleType("emitted_lstm2d")
    exec(compile(source, "<emitted>", "exec"), module.__dict__)
    emitted = module.Lstm2d().eval()
    emitted.load_state_dict(theirs.state_dict(), strict=True)
    sizes = [(2, 5, 7), (1, 1, 1), (3, 4, 2)]
    for n, h, w in sizes:
        x = torch.randn(n, h, w, 8, generator=torch.Generator().manual_seed(n * h * w))
        with torch.no_grad():
            want = theirs(x)
            assert torch.equal(ours(x), want)
            assert torch.equal(emitted(x), want)
    assert len(sizes) == 3


TOKENS = textwrap.dedent(
    """
    archspec: 1
    name: tokens_back
    input: [N, 3, H, W]
    layers:
      - {name: patch_embed, type: conv2d, out_channels: 16, kernel_size: 4, stride: 4}
      - {name: patches, type: flatten, start_dim: 2}
      - {name: tokens, type: permute, dims: [0, 2, 1]}
      - {name: mlp, type: linear, out_features: 16}
      - {name: tokens_t, type: permute, dims: [0, 2, 1]}
      - {name: as_map, type: unflatten_as, dim: 2, dims: [2, 3], from: [tokens_t, patch_embed]}
      - {name: out, type: add, from: [as_map, patch_embed]}
    """
)


def test_tokens_fold_back_into_the_map_they_came_from_for_any_size() -> None:
    report = archspec.check(TOKENS)
    assert report.ok and not report.diagnostics, report.diagnostics
    assert report.domain_text == "tokens_back accepts (N, 3, H, W) with H, W >= 4"
    model = archspec.compile(TOKENS).eval()
    for h, w in [(8, 12), (17, 5)]:
        x = torch.randn(2, 3, h, w)
        with torch.no_grad():
            m = model.patch_embed(x)
            t = model.mlp(m.flatten(2).transpose(1, 2)).transpose(1, 2)
            assert torch.equal(model(x), t.reshape(m.shape) + m)


@pytest.mark.parametrize(
    ("old", "new", "code", "words"),
    [
        # the rows are N * H: H and W multiply to another size for some inputs
        (
            "dims: [0, 1], from: [rnn_h, input]",
            "dims: [1, 2], from: [rnn_h, input]",
            "E404",
            "of size N*H, into dims [1, 2] of (N, H, W, 8), whose sizes multiply to H*W",
        ),
        (
            "dims: [0, 1], from: [rnn_h, input]",
            "dims: [0, 4], from: [rnn_h, input]",
            "E401",
            "unflatten_as dims [0, 4] are out of range for the second input (N, H, W, 8)",
        ),
        (
            "dim: 0, dims: [0, 1], from: [rnn_h",
            "dim: 3, dims: [0, 1], from: [rnn_h",
            "E401",
            "unflatten_as dim 3 is out of range for (N*H, W, 8)",
        ),
        (
            "dims: [0, 1], from: [rnn_h, input]",
            "dims: [], from: [rnn_h, input]",
            "E401",
            "unflatten_as needs a list of the second input's dims",
        ),
    ],
)
def test_dims_that_do_not_multiply_to_the_dim_are_located_errors(
    old: str, new: str, code: str, words: str
) -> None:
    assert old in LSTM2D
    report = archspec.check(LSTM2D.replace(old, new))
    assert [d.code for d in report.diagnostics] == [code]
    (diagnostic,) = report.diagnostics
    assert words in diagnostic.message
    assert diagnostic.span is not None and diagnostic.span.line == 14


def test_at_a_concrete_size_the_products_are_compared_as_numbers() -> None:
    text = TOKENS.replace("input: [N, 3, H, W]", "input: [N, 3, 32, 32]")
    assert archspec.check(text).ok
    wrong = text.replace(
        "dims: [2, 3], from: [tokens_t, patch_embed]", "dims: [1, 2], from: [tokens_t, patch_embed]"
    )
    report = archspec.check(wrong)
    assert [d.code for d in report.diagnostics] == ["E404"]
    assert "whose sizes multiply to 128" in report.diagnostics[0].message


def test_archspec_import_reads_timms_fold_back_as_unflatten_as_for_any_size() -> None:
    """`v.reshape(B, W, H, -1)` of the LSTM's (N * W, H, 2 hidden) output, B, H and W read off
    the input, was E903 ("takes sizes read from tensor shapes that no spec step states for
    every input"): it is an `unflatten_as` of dims 0 and 2 of the input."""
    theirs = LSTM2d().eval()
    text = archspec.from_module(theirs, torch.randn(2, 5, 7, 8))
    assert "dims: [0, 2]" in text and "dims: [0, 1]" in text
    # an (N, H, W, C) input as the import writes it, (N, 5, 7, 8): check reads its last two
    # dims as H and W, so its domain is unknown past the LSTM's D (W403); the sizes it folds
    # are followed all the same, as the spec's `input: [N, H, W, 8]` above shows
    assert archspec.check(text).ok
    symbolic = text.replace("input: [N, 5, 7, 8]", "input: [N, H, W, 8]")
    assert archspec.check(symbolic).domain_text == "lstm2d accepts (N, H, W, 8) with H, W >= 1"
    ours = archspec.compile(text).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    sizes = [(2, 5, 7), (3, 4, 2), (1, 1, 1)]
    for n, h, w in sizes:
        x = torch.randn(n, h, w, 8)
        with torch.no_grad():
            assert torch.equal(ours(x), theirs(x))
    assert len(sizes) == 3


class Regrouped(nn.Module):
    """H and W swapped in the fold: torch's reshape reads the (N * H, W) rows as (N, W, H),
    which a `flatten` of them and an `unflatten_as` of dims 0, 2 and 1 compute alike."""

    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.LSTM(8, 4, batch_first=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        h, _ = self.rnn(x.reshape(-1, W, C))
        return h.reshape(B, W, H, -1)


class HalfWidth(Regrouped):
    """A fold whose last run cuts W // 2 and a -1 from W and the LSTM's width: E903."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        h, _ = self.rnn(x.reshape(-1, W, C))
        return h.reshape(B, H, W // 2, -1)


def test_a_regrouping_fold_is_torchs_reshape_and_an_unproven_run_stays_refused() -> None:
    from archspec.errors import ImportFailure

    theirs = Regrouped().eval()
    text = archspec.from_module(theirs, torch.randn(2, 5, 7, 8))
    assert "dims: [0, 2, 1]" in text
    ours = archspec.compile(text).eval()
    ours.load_state_dict(theirs.state_dict(), strict=True)
    x = torch.randn(3, 4, 6, 8)
    with torch.no_grad():
        assert torch.equal(ours(x), theirs(x))
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(HalfWidth().eval(), torch.randn(2, 5, 8, 8))
    assert err.value.diagnostics[0].code == "E903"
    assert "unflatten_as" in (err.value.diagnostics[0].hint or "")
