"""Blocks of several outputs (`outputs: [a, b]`), read apart by the call's `names: [p, q]`.

An HRNet-like exchange of two branches and a PiT-like transformer stage returning (tokens,
cls tokens) are each built three ways (compiled, emitted, and a torch module written here)
and must agree on keys, parameters, MACs and numbers; their shapes are checked over a
symbolic input; wrong calls and reads are located errors.
"""

from __future__ import annotations

import ast
import textwrap

import pytest
import torch
from torch import nn

import archspec
import archspec.passes.shapes as shapes_pass
from archspec.api import build_graph
from archspec.errors import ArchSpecError
from archspec.graph import render

from .emit_helpers import _load, matches_compile

EXCHANGE = textwrap.dedent(
    """\
    archspec: 1
    name: hr_exchange
    input: [N, 8, H, W]
    blocks:
      Exchange:
        inputs: [hi, lo]
        params: {c_hi: int, c_lo: int}
        layers:
          - {name: conv_hi, type: conv2d, from: hi, out_channels: c_hi, kernel_size: 3, padding: 1}
          - {name: conv_lo, type: conv2d, from: lo, out_channels: c_lo, kernel_size: 3, padding: 1}
          - {name: down, type: conv2d, from: conv_hi, out_channels: c_lo, kernel_size: 3,
             stride: 2, padding: 1}
          - {name: up_conv, type: conv2d, from: conv_lo, out_channels: c_hi, kernel_size: 1}
          - {name: up, type: upsample, scale_factor: 2, mode: nearest}
          - {name: out_hi, type: add, from: [conv_hi, up]}
          - {name: out_lo, type: add, from: [conv_lo, down]}
        outputs: [out_hi, out_lo]
    layers:
      - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
      - {name: lo, type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1,
         from: stem}
      - {name: stage1, type: Exchange, c_hi: 8, c_lo: 16, from: [stem, lo], names: [hi1, lo1]}
      - {name: stage2, type: Exchange, c_hi: 12, c_lo: 24, from: [hi1, lo1], names: [hi2, lo2]}
      - {name: head, type: conv2d, out_channels: 4, kernel_size: 1, from: lo2}
    outputs: [hi2, head]
    """
)


class Exchange(nn.Module):
    def __init__(self, cin_hi: int, cin_lo: int, c_hi: int, c_lo: int) -> None:
        super().__init__()
        self.conv_hi = nn.Conv2d(cin_hi, c_hi, 3, padding=1)
        self.conv_lo = nn.Conv2d(cin_lo, c_lo, 3, padding=1)
        self.down = nn.Conv2d(c_hi, c_lo, 3, stride=2, padding=1)
        self.up_conv = nn.Conv2d(c_lo, c_hi, 1)
        self.up = nn.Upsample(scale_factor=2.0, mode="nearest")

    def forward(self, hi: torch.Tensor, lo: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        hi, lo = self.conv_hi(hi), self.conv_lo(lo)
        return hi + self.up(self.up_conv(lo)), lo + self.down(hi)


class HRNetLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(8, 8, 3, padding=1)
        self.lo = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.stage1 = Exchange(8, 16, 8, 16)
        self.stage2 = Exchange(8, 16, 12, 24)
        self.head = nn.Conv2d(24, 4, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        stem = self.stem(x)
        hi, lo = self.stage1(stem, self.lo(stem))
        hi, lo = self.stage2(hi, lo)
        return hi, self.head(lo)


PIT = textwrap.dedent(
    """\
    archspec: 1
    name: pit_like
    input: [N, 16, H, W]
    blocks:
      Stage:
        inputs: [x, cls_tokens]
        params: {heads: int}
        layers:
          - {name: joined, type: concat, dim: 1, from: [cls_tokens, x]}
          - {name: norm, type: layer_norm}
          - {name: attn, type: multihead_attention, num_heads: heads}
          - {name: res, type: add, from: [attn, joined]}
          - {name: cls_out, type: slice, dim: 1, end: 1}
          - {name: fc, type: linear, out_features: in_features, from: res}
          - {name: tokens, type: slice, dim: 1, start: 1}
        outputs: [tokens, cls_out]
    layers:
      - {name: patches, type: flatten, start_dim: 2}
      - {name: seq, type: permute, dims: [0, 2, 1]}
      - {name: cls_token, type: parameter, shape: [1, 1, 16]}
      - {name: cls, type: expand, from: [cls_token, seq]}
      - {name: stage1, type: Stage, heads: 4, from: [seq, cls], names: [tokens, cls_tokens]}
      - {name: stage2, type: Stage, heads: 2, from: [tokens, cls_tokens], names: [tokens2, cls2]}
      - {name: pooled, type: select, dim: 1, index: 0, from: cls2}
      - {name: head, type: linear, out_features: 10}
    outputs: [head, tokens2]
    """
)


class PiTStage(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.fc = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, cls: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        joined = torch.cat([cls, x], 1)
        y = self.norm(joined)
        res = self.attn(y, y, y, need_weights=False)[0] + joined
        return self.fc(res)[:, 1:], res[:, :1]


class PiTLike(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 16))
        self.stage1 = PiTStage(16, 4)
        self.stage2 = PiTStage(16, 2)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        seq = x.flatten(2).permute(0, 2, 1)
        cls = self.cls_token.expand(seq.shape[0], -1, -1)
        tokens, cls = self.stage1(seq, cls)
        tokens, cls = self.stage2(tokens, cls)
        return self.head(cls[:, 0]), tokens


def _error(text: str) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        build_graph(text)
    return info.value


def _same_numbers(text: str, ref: nn.Module, shape: tuple[int, ...]) -> None:
    compiled = archspec.compile(text).eval()
    ref = ref.eval()
    assert [(k, v.shape) for k, v in ref.state_dict().items()] == [
        (k, v.shape) for k, v in compiled.state_dict().items()
    ]
    torch.manual_seed(3)
    for p in compiled.parameters():  # no zero class token: every path is exercised
        nn.init.normal_(p, std=0.2)
    ref.load_state_dict(compiled.state_dict())
    x = torch.randn(shape)
    with torch.no_grad():
        got, want = compiled(x), ref(x)
    assert isinstance(got, tuple) and len(got) == 2
    torch.testing.assert_close(got, want)


def test_an_hrnet_exchange_returns_both_branches() -> None:
    _same_numbers(EXCHANGE, HRNetLike(), (2, 8, 12, 10))
    report = archspec.check(EXCHANGE)
    assert report.ok, report.diagnostics
    shapes = report.to_dict()["shapes"]
    assert shapes["hi1"] == "(N, 8, 2*((H + 1)//2), 2*((W + 1)//2))", shapes
    assert shapes["lo1"] == "(N, 16, (H + 1)//2, (W + 1)//2)", shapes
    assert shapes["lo2"] == "(N, 24, (H + 1)//2, (W + 1)//2)", shapes
    assert shapes["head"] == "(N, 4, (H + 1)//2, (W + 1)//2)", shapes
    # the sums hold where the upsampled low branch meets the high one: even sizes (or 1)
    assert report.domain_text.endswith("with (H = 1 or even H) and (W = 1 or even W)")
    assert not archspec.check(EXCHANGE, input=(1, 8, 7, 8)).ok
    mine = archspec.summary(EXCHANGE, input=(1, 8, 16, 16))
    theirs = archspec.summary(HRNetLike(), input_size=(1, 8, 16, 16))
    assert mine.params == theirs.params == sum(p.numel() for p in HRNetLike().parameters())
    assert mine.macs.value == theirs.macs.value > 0


def test_the_exchange_emits_a_tuple_and_its_unpacking() -> None:
    source = matches_compile(EXCHANGE.replace("[N, 8, H, W]", "[N, 8, 8, 8]"), (2, 8, 8, 8))
    ast.parse(source)
    assert "        hi1, lo1 = self.stage1(stem, lo)\n" in source
    assert "        hi2, lo2 = self.stage2(hi1, lo1)\n" in source
    assert "        return out_hi, out_lo\n" in source
    assert "-> tuple[torch.Tensor, torch.Tensor]:" in source
    assert source.count("class Exchange(nn.Module)") == 1  # one class for both widths
    # the emitted class takes other widths, and computes the hand-written module's numbers
    cls = _load(source, "exchange_class").Exchange
    block, ref = cls(8, 16, 8, 16).eval(), Exchange(8, 16, 8, 16).eval()
    ref.load_state_dict(block.state_dict())
    hi, lo = torch.randn(1, 8, 6, 6), torch.randn(1, 16, 3, 3)
    with torch.no_grad():
        torch.testing.assert_close(block(hi, lo), ref(hi, lo))


GATED = """\
archspec: 1
name: gated
input: [N, 8, 16]
blocks:
  Gate:
    layers:
      - {name: pad, type: zero_pad1d, padding: [1, 0]}
      - {name: conv, type: conv1d, out_channels: 16, kernel_size: 2}
      - {type: chunk, chunks: 2, names: [a, b]}
      - {name: z, type: mul, from: [a, b]}
      - {name: out, type: add, from: [input, z]}
      - {name: skip, type: conv1d, out_channels: 4, kernel_size: 1, from: z}
    outputs: [out, skip]
layers:
  - {name: g, type: Gate, names: [y, s]}
  - {name: head, type: add, from: [y, y]}
outputs: [head, s]
"""


def test_an_output_named_out_keeps_its_name_in_emitted_code() -> None:
    """WaveNet's `outputs: [out, skip]` emitted `out_2 = x + z; return out_2, skip`, the
    running variable `out` holding the chain before it; the chain now takes node names."""
    source = matches_compile(GATED, (2, 8, 16))
    assert "        out = x + z  # (N, in_channels, L)\n" in source, source
    assert "        return out, skip\n" in source and "out_2" not in source


def test_a_pit_stage_returns_tokens_and_class_tokens() -> None:
    _same_numbers(PIT, PiTLike(), (2, 16, 4, 3))
    report = archspec.check(PIT)
    assert report.ok, report.diagnostics
    shapes = report.to_dict()["shapes"]
    assert shapes["tokens"] == "(N, H*W, 16)" and shapes["cls_tokens"] == "(N, 1, 16)", shapes
    assert report.to_dict()["symbolic_outputs"] == ["(N, 10)", "(N, H*W, 16)"]
    source = matches_compile(PIT.replace("[N, 16, H, W]", "[N, 16, 4, 4]"), (2, 16, 4, 4))
    assert "        tokens, cls_tokens = self.stage1(seq, cls)" in source
    assert "        return tokens, cls_out\n" in source
    # a token output's features are its last dim: the head after `cls2` reads 16 of them
    assert "self.head = nn.Linear(16, 10)" in source


NESTED = textwrap.dedent(
    """\
    archspec: 1
    name: nested_outputs
    input: [N, 8, 16, 16]
    blocks:
      Two:
        params: {w: int}
        layers:
          - {name: a, type: conv2d, out_channels: w, kernel_size: 1}
          - {name: b, type: conv2d, out_channels: w * 2, kernel_size: 3, stride: 2, padding: 1}
        outputs: [a, b]
      Outer:
        params: {w: int}
        layers:
          - {name: two, type: Two, w: w, names: [a, b]}
          - {name: head, type: conv2d, out_channels: w, kernel_size: 1, from: b}
          - {name: up, type: upsample, scale_factor: 2, mode: nearest}
          - {name: out, type: concat, from: [a, up]}
    layers:
      - {name: o1, type: Outer, w: 4}
      - {name: o2, type: Outer, w: 6}
    """
)


def test_a_block_reads_the_outputs_of_a_block_it_calls() -> None:
    source = matches_compile(NESTED, (2, 8, 16, 16))
    # inside the class, the second output's width is the class's own expression
    assert "self.head = nn.Conv2d(w * 2, w, kernel_size=1)" in source
    assert "a, b = self.two(x)" in source
    graph = build_graph(NESTED)
    assert [n.name for n in graph.root.nodes[1].child.nodes] == [
        "two",
        "a",
        "b",
        "head",
        "up",
        "out",
    ]
    assert graph.output_shapes[0][1].value == 12


def test_the_graph_and_summary_show_each_output() -> None:
    for depth in (None, 1):  # the instances opened, and closed
        text = render(build_graph(EXCHANGE), "mermaid", depth).decode()
        assert "hi1" in text and "lo2" in text, text
    # opened, each output's box reads its own join inside the instance, not the first one
    lines = text.splitlines()
    box = {n: ln.split("[")[0].strip() for ln in lines for n in ("hi1", "lo1") if f'"{n}:' in ln}
    source = {
        n: next(ln.split()[0] for ln in lines if ln.endswith("| " + b)) for n, b in box.items()
    }
    assert source["hi1"] != source["lo1"], text
    rows = {r.path: r for r in archspec.summary(EXCHANGE).rows}
    assert rows["lo1"].params == 0 and rows["stage1.down"].params > 0
    # the instance's own row shows every output it returns (it showed its first alone)
    for depth in (None, 1):
        rows = {r.path: r for r in archspec.summary(EXCHANGE, depth=depth).rows}
        assert rows["stage1"].shape_text == f"{rows['hi1'].shape_text}, {rows['lo1'].shape_text}"
        assert rows["hi1"].shape_text != rows["lo1"].shape_text


_CALL = "  - {name: stage1, type: Exchange, c_hi: 8, c_lo: 16, from: [stem, lo], names: [hi1, lo1]}"


@pytest.mark.parametrize(
    ("old", "new", "line", "col", "said"),
    [
        # the call names too few outputs
        (_CALL, _CALL.replace("[hi1, lo1]", "[hi1, lo1, x1]"), 22, 80, "`names` names 3"),
        # no `names` for a block of several outputs
        (_CALL, _CALL.replace(", names: [hi1, lo1]", ""), 22, 5, "does not name them"),
        # an output name nobody gave: a close name is offered
        ("from: [hi1, lo1], names: [hi2", "from: [hi1, lo_1], names: [hi2", 23, 68, "lo_1"),
        # reading the instance itself, a tuple
        ("from: lo2}", "from: stage2}", 24, 71, "`stage2` is a block instance of 2 outputs"),
        # the network returning the instance itself
        ("outputs: [hi2, head]", "outputs: [stage2, head]", 25, 11, "block instance of 2"),
        # `names` for a block of one output
        ("    outputs: [out_hi, out_lo]\n", "", 21, 80, "returns one output; `names` names 2"),
    ],
)
def test_wrong_calls_and_reads_are_located(
    old: str, new: str, line: int, col: int, said: str
) -> None:
    text = EXCHANGE.replace(old, new)
    assert text != EXCHANGE
    err = _error(text)
    d = next(d for d in err.diagnostics if said in d.message)
    assert d.code == "E305", d
    assert d.span is not None and (d.span.line, d.span.col) == (line, col), d
    assert d.hint


def test_an_output_a_when_removes_is_an_error_at_outputs() -> None:
    text = NESTED.replace("stride: 2, padding: 1}", "stride: 2, padding: 1, when: w > 4}")
    err = _error(text)
    (d,) = [d for d in err.diagnostics if d.code == "E305"]
    assert "output `b` is switched off" in d.message
    assert d.span is not None and (d.span.line, d.span.col) == (10, 18), d


def test_names_repeating_a_name_are_refused() -> None:
    err = _error(EXCHANGE.replace("names: [hi1, lo1]", "names: [hi1, hi1]"))
    assert "repeat a name" in str(err)


SWITCHED = textwrap.dedent(
    """\
    archspec: 1
    name: switched_call
    input: [N, 8, 16, 16]
    blocks:
      Two:
        params: {w: int}
        layers:
          - {name: a, type: conv2d, out_channels: w, kernel_size: 1}
          - {name: b, type: conv2d, out_channels: w, kernel_size: 3, padding: 1, from: input}
        outputs: [a, b]
      Outer:
        params: {use: bool}
        layers:
          - {name: pre, type: conv2d, out_channels: 8, kernel_size: 1}
          - {name: two, type: Two, w: 4, names: [p, q], when: use}
          - {name: cat, type: concat, from: [p, q], when: use}
          - {name: out, type: relu}
    layers:
      - {name: o1, type: Outer, use: true}
      - {name: o2, type: Outer, use: false}
    """
)


def test_a_call_under_when_is_one_class_with_its_unpacking_under_if() -> None:
    source = matches_compile(SWITCHED, (2, 8, 16, 16))
    assert "        if self.use:\n            p, q = self.two(x)" in source
    assert source.count("class Outer(nn.Module)") == 1


def test_a_training_only_output_of_several_is_refused() -> None:
    text = NESTED.replace("- {name: b, type: conv2d", "- {name: b, train_only: true, type: conv2d")
    err = _error(text)
    d = next(d for d in err.diagnostics if "only in training" in d.message)
    assert d.code == "E305" and d.span is not None and d.span.line == 10, d


def test_block_output_is_not_written_by_hand() -> None:
    err = _error(NESTED.replace("  - {name: o2, type: Outer, w: 6}", "  - {type: block_output}"))
    assert "made by a block call's `names`" in str(err)


AGAIN = textwrap.dedent(
    """\
    archspec: 1
    name: called_again
    input: [N, 8, H, W]
    blocks:
      Two:
        layers:
          - {name: a, type: conv2d, out_channels: 8, kernel_size: 1}
          - {name: b, type: conv2d, out_channels: 6, kernel_size: 3, stride: 2, padding: 1,
             from: input}
        outputs: [a, b]
    layers:
      - {name: t1, type: Two, names: [p1, q1]}
      - {name: t2, type: Two, names: [p2, q2], from: p1}
      - {name: t3, type: Two, names: [p3, q3], from: p2}
      - {name: cat, type: concat, from: [q1, q2, q3]}
    """
)


def test_a_copy_of_an_instance_of_several_outputs_gives_each_its_shape(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # t2 and t3 are t1 again (same block, same input): the lowering memo copies them and the
    # shape pass replays the first walk; each output keeps its own shape through both
    graph = build_graph(AGAIN)
    assert graph.root.node("t2").child.copy_of is not None
    replayed: list[str] = []
    real = shapes_pass.replay
    monkeypatch.setattr(
        shapes_pass, "replay", lambda kept, *a: replayed.append(a[1]) or real(kept, *a)
    )
    shapes = archspec.check(AGAIN).to_dict()["shapes"]
    assert replayed == ["t2", "t3"]
    for k in (1, 2, 3):
        assert shapes[f"p{k}"] == "(N, 8, H, W)", shapes
        assert shapes[f"q{k}"] == "(N, 6, (H + 1)//2, (W + 1)//2)", shapes
    assert shapes["cat"] == "(N, 18, (H + 1)//2, (W + 1)//2)", shapes
    matches_compile(AGAIN.replace("[N, 8, H, W]", "[N, 8, 9, 7]"), (2, 8, 9, 7))


IDS = textwrap.dedent(
    """\
    archspec: 1
    name: ids
    input: [N, 8]
    input_dtype: int64
    blocks:
      Halves:
        layers:
          - {type: split, split_size: [3, 5], names: [head, tail]}
          - {name: left, type: reshape, shape: [-1, 3], from: head}
          - {name: right, type: reshape, shape: [-1, 5], from: tail}
        outputs: [left, right]
    layers:
      - {name: halves, type: Halves, names: [l, r]}
      - {name: el, type: embedding, num_embeddings: 100, embedding_dim: 4, from: l}
      - {name: er, type: embedding, num_embeddings: 100, embedding_dim: 4, from: r}
      - {name: both, type: concat, dim: 1, from: [el, er]}
    """
)


def test_int64_outputs_stay_indices_each_on_its_own() -> None:
    # both outputs are token ids: each is looked up, nothing computes on ids in float
    report = archspec.check(IDS)
    assert report.ok, report.render()
    # ...and a float layer on one of them is the E401 it would be without the block
    err = _error(IDS + "  - {name: fl, type: linear, out_features: 2, from: r}\n")
    (d,) = err.diagnostics
    assert d.code == "E401" and d.message.startswith("fl: linear reads `r`"), d


def test_an_output_left_unread_beside_one_read_is_no_warning() -> None:
    # PiT's last stage: the head reads the class token, the tokens are left
    assert archspec.check(PIT.replace("outputs: [head, tokens2]", "outputs: [head]")).ok
    report = archspec.check(PIT.replace("outputs: [head, tokens2]", "outputs: [head]"))
    assert not report.warnings, report.render()
    # a call none of whose outputs is read is still W401, at the call
    text = NESTED.replace("from: b}", "from: input}").replace("from: [a, up]", "from: [up, up]")
    warned = [d for d in archspec.check(text).warnings if d.code == "W401"]
    assert warned and warned[0].span is not None and warned[0].span.line == 14, warned


def test_a_reuse_of_an_instance_of_several_outputs_is_refused() -> None:
    # compile's forward would hand the tuple to the next layer (a TypeError at run time)
    text = AGAIN.replace(
        "  - {name: cat,", "  - {name: again, type: reuse, node: t3, from: p3}\n  - {name: cat,"
    )
    (d,) = _error(text).diagnostics
    assert d.code == "E314" and "a block of several outputs" in d.message, d
    assert d.span is not None and (d.span.line, d.span.col) == (15, 38), d


def test_a_computed_from_naming_the_instance_is_refused() -> None:
    # `from: "t{k}"` gives `t1` where the node is: the tuple, as a written `from: t1` would
    text = AGAIN.replace("from: p1}", 'from: "t{k}"}').replace(
        "input: [N, 8, H, W]", "input: [N, 8, H, W]\nparams: {k: 1}"
    )
    (d,) = _error(text).diagnostics
    assert d.code == "E305" and "`t1` is a block instance of 2 outputs" in d.message, d
    assert d.span is not None and (d.span.line, d.span.col) == (14, 50), d


CHAINED = textwrap.dedent(
    """\
    archspec: 1
    name: chained
    input: [N, 8, H, W]
    params: {k: 3}
    blocks:
      Exchange:
        inputs: [hi, lo]
        params: {c_hi: int, c_lo: int}
        layers:
          - {name: conv_hi, type: conv2d, from: hi, out_channels: c_hi, kernel_size: 3, padding: 1}
          - {name: conv_lo, type: conv2d, from: lo, out_channels: c_lo, kernel_size: 3, padding: 1}
          - {name: down, type: conv2d, from: conv_hi, out_channels: c_lo, kernel_size: 3,
             stride: 2, padding: 1}
          - {name: up_conv, type: conv2d, from: conv_lo, out_channels: c_hi, kernel_size: 1}
          - {name: up, type: upsample, scale_factor: 2, mode: nearest}
          - {name: out_hi, type: add, from: [conv_hi, up]}
          - {name: out_lo, type: add, from: [conv_lo, down]}
        outputs: [out_hi, out_lo]
    layers:
      - {name: hi0, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
      - {name: lo0, type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
      - type: repeat
        count: k
        flat: true
        names: "module{i}"
        layer: {type: Exchange, c_hi: 8, c_lo: 16, from: ["hi{i}", "lo{i}"],
                names: ["hi{i + 1}", "lo{i + 1}"]}
      - {name: head, type: conv2d, out_channels: 4, kernel_size: 1, from: "lo{k}"}
    outputs: [hi3, head]
    """
)


def test_template_names_chain_the_copies_of_a_flat_repeat() -> None:
    graph = build_graph(CHAINED)
    names = [n.name for n in graph.root.nodes]
    assert names[2:8] == ["module0", "hi1", "lo1", "module1", "hi2", "lo2"], names
    assert archspec.check(CHAINED).ok
    source = matches_compile(CHAINED.replace("[N, 8, H, W]", "[N, 8, 8, 6]"), (2, 8, 8, 6))
    assert "        hi3, lo3 = self.module2(hi2, lo2)\n" in source
    # the modules' keys follow the repeat's names
    assert "module2.down.weight" in archspec.compile(CHAINED).state_dict()


@pytest.mark.parametrize(
    ("names", "code", "said", "line"),
    [
        ('["hi{i + 1}", "hi{i + 1}"]', "E204", "repeat a name", 27),
        ('["hi{i + 1}", "lo{i + 1}-"]', "E204", "'lo1-' is not a valid name", 27),
        # a name the list has already: at the call, naming where the other is
        ('["hi{i + 1}", "lo{i}"]', "E304", "duplicate name `lo0`", 26),
    ],
)
def test_template_names_that_give_bad_names_are_located(
    names: str, code: str, said: str, line: int
) -> None:
    text = CHAINED.replace('names: ["hi{i + 1}", "lo{i + 1}"]', f"names: {names}")
    assert text != CHAINED
    err = _error(text)
    d = next(d for d in err.diagnostics if said in d.message)
    assert d.code == code and d.span is not None and d.span.line == line, d


@pytest.mark.parametrize(
    ("model", "shape", "call"),
    [
        (HRNetLike, (1, 8, 16, 16), "{name: stage1, type: Exchange, from: [stem, lo], names: "),
        (PiTLike, (1, 16, 4, 4), "{name: stage1, type: PiTStage, from: [permute, expand], names: "),
    ],
)
def test_import_writes_a_child_returning_several_tensors_as_such_a_block(
    model: type[nn.Module], shape: tuple[int, ...], call: str
) -> None:
    # `hi, lo = self.stage1(...)`: the child's block lists its outputs, the call names them
    ref = model().eval()
    torch.manual_seed(5)
    for p in ref.parameters():
        nn.init.normal_(p, std=0.2)
    text = archspec.from_module(ref, torch.randn(shape))
    assert call in text, text
    assert "    outputs: [" in text, text
    built = archspec.compile(text).eval()
    built.load_state_dict(ref.state_dict())
    x = torch.randn(shape)
    with torch.no_grad():
        torch.testing.assert_close(built(x), ref(x))


PASS_ON = """\
archspec: 1
name: pass_on
input: [N, 4, 8, 8]
blocks:
  Pass:
    layers:
      - {name: b, type: conv2d, out_channels: 4, kernel_size: 1}
      - {name: id, type: identity, from: input}
    outputs: [OUTS]
layers:
  - {name: stem, type: conv2d, out_channels: 4, kernel_size: 1}
  - {name: two, type: Pass, names: [p, q]}
  - {name: act, type: relu, inplace: true, from: READ}
  - {name: sum, type: add, from: [stem, act]}
"""


@pytest.mark.parametrize(
    ("outs", "read", "shared"),
    [
        ("input, b", "p", True),  # p is stem itself
        ("id, b", "p", True),  # through an identity inside the block
        ("b, input", "q", True),
        ("input, b", "q", False),  # q is the block's own conv's output
        ("b, id", "p", False),
    ],
)
def test_an_output_that_is_the_block_s_input_shares_its_memory(
    outs: str, read: str, shared: bool
) -> None:
    """A block that returns its input as one of its outputs hands the caller's tensor back:
    an in-place layer on that output overwrites the tensor the caller reads again (E311,
    as for a view); the check passed it, and compile's module added the overwritten values."""
    text = PASS_ON.replace("OUTS", outs).replace("READ", read)
    report = archspec.check(text)
    found = [(d.code, d.span.line if d.span else None) for d in report.errors]
    assert found == ([("E311", 13)] if shared else []), report.render()
    if shared:
        assert "whose memory is `stem`'s" in report.errors[0].message
