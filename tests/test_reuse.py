"""`reuse`: one module called twice (CBAM's shared MLP, a Siamese tower, a tied head).

One module, one set of state_dict keys where the first node is, parameters counted once and
MACs per call; the second call's shapes come from the reused module's rules on its own input;
compile and emit both call the one submodule twice; `archspec import` writes the second call
of a child as a `reuse`; every reference that cannot be followed is a located error.
"""

from __future__ import annotations

import textwrap
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
import archspec.api as api
from archspec.dims import Dim
from archspec.ir import iter_nodes
from archspec.passes.costs import footprint, graph_cost, node_cost

from .ops_cases import emitted, error_of

CBAM = """\
archspec: 1
name: cbam_channel
input: [N, 64, H, W]
layers:
  - {name: avgpool, type: adaptive_avgpool2d, output_size: 1}
  - name: mlp
    type: sequential
    layers:
      - {type: conv2d, out_channels: 4, kernel_size: 1, bias: false}
      - {type: relu}
      - {type: conv2d, out_channels: 64, kernel_size: 1, bias: false}
  - {name: maxpool, type: adaptive_maxpool2d, output_size: 1, from: input}
  - {name: mlp_max, type: reuse, node: mlp, from: maxpool}
  - {name: summed, type: add, from: [mlp, mlp_max]}
  - {name: gate, type: sigmoid}
  - {name: scaled, type: mul, from: [input, gate]}
"""


class ChannelAttention(nn.Module):
    """CBAM's channel attention in plain torch: one MLP over both pooled maps."""

    def __init__(self, channels: int = 64, hidden: int = 4) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1, bias=False),
            nn.ReLU(),
            nn.Conv2d(hidden, channels, 1, bias=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.mlp(F.adaptive_avg_pool2d(x, 1))
        m = self.mlp(F.adaptive_max_pool2d(x, 1))
        return x * torch.sigmoid(a + m)


def _located(text: str, code: str, at: str) -> Any:
    """The first diagnostic: `code`, on the line of the reuse named `b` (or the last line),
    its caret on the text `at`."""
    diag = error_of(text).diagnostics[0]
    assert diag.code == code, (diag.code, diag.message)
    lines = text.splitlines()
    want = next((i for i, ln in enumerate(lines, 1) if "{name: b, type: reuse" in ln), len(lines))
    assert diag.span is not None and diag.span.line == want, (diag.span, text)
    assert lines[want - 1][diag.span.col - 1 :].startswith(at), (lines[want - 1], diag.span)
    return diag


def _spec(layers: str, input_shape: str = "[N, 8, 16, 16]", blocks: str = "") -> str:
    head = f"archspec: 1\nname: net\ninput: {input_shape}\n"
    return head + textwrap.dedent(blocks) + "layers:\n" + textwrap.dedent(layers)


def test_compiled_cbam_has_one_mlp_and_agrees_with_torch() -> None:
    model = archspec.compile(CBAM)
    ref = ChannelAttention()
    assert list(model.state_dict()) == ["mlp.0.weight", "mlp.2.weight"]
    assert sum(p.numel() for p in model.parameters()) == 512
    assert [n for n, _ in model.named_children()] == ["avgpool", "mlp", "maxpool", "gate"]
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(3, 64, 5, 7)
    assert torch.equal(model(x), ref(x))
    model(x).sum().backward()  # both calls train the one MLP
    ref(x).sum().backward()
    for mine, theirs in zip(model.parameters(), ref.parameters(), strict=True):
        assert torch.allclose(mine.grad, theirs.grad)


def test_emitted_cbam_calls_self_mlp_twice_and_loads_the_same_weights() -> None:
    source = archspec.emit(CBAM)
    calls = [ln.split("#")[0].strip() for ln in source.splitlines() if "self.mlp(" in ln]
    assert calls == ["out = self.mlp(out)", "mlp_max = self.mlp(maxpool)"]
    module = emitted(CBAM)
    ref = ChannelAttention()
    assert [n for n, _ in module.named_children()] == ["avgpool", "mlp", "maxpool", "gate"]
    module.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, 64, 6, 6)
    assert torch.equal(module(x), ref(x))


def test_params_once_macs_and_activations_per_call() -> None:
    graph = api.build_graph(CBAM)
    nodes = {n.name: n for n in graph.root.nodes}
    first, second = node_cost(nodes["mlp"]), node_cost(nodes["mlp_max"])
    assert (first.params, second.params) == (512, 0)
    assert first.macs == second.macs == Dim.of(512) * Dim.of("N")
    assert first.activations == second.activations  # (4 + 4 + 64) per sample, each call
    cost = graph_cost(graph)
    assert cost.params == 512 and cost.macs == Dim.of(1024) * Dim.of("N")
    summary = archspec.summary(CBAM, input=(1, 64, 8, 8))
    rows = {r.path: r for r in summary.rows}
    assert rows["mlp_max"].params == 0 and rows["mlp_max"].macs == Dim.of(512)
    assert summary.params == 512 and summary.macs == Dim.of(1024)
    # the compiled module's own count (hooks on one forward) sees both calls as well
    measured = archspec.summary(archspec.compile(CBAM), input=(1, 64, 8, 8))
    assert (measured.params, str(measured.macs)) == (512, "1024")


def test_a_reused_tower_on_a_smaller_map_counts_its_own_macs_and_domain() -> None:
    text = _spec(
        """\
        - {name: tower, type: conv2d, out_channels: 4, kernel_size: 5}
        - {name: small, type: maxpool2d, kernel_size: 2, from: input}
        - {name: again, type: reuse, node: tower, from: small}
        """
    )
    graph = api.build_graph(text)
    again = graph.root.node("again")
    assert [d.value for d in again.shape[1:]] == [4, 4, 4]  # 8 -> 4, minus the 5x5 kernel
    assert node_cost(again).macs == Dim.of(4 * 4 * 4 * 8 * 25) * Dim.of("N")
    result = archspec.check(text)
    # the second call needs H // 2 >= 5: the domain is the reuse's, not the first call's
    assert "H, W >= 10" in result.domain_text, result.domain_text
    model = archspec.compile(text)
    x = torch.randn(2, 8, 16, 16)
    want = model.tower(F.max_pool2d(x, 2))
    assert torch.equal(model(x)[0] if isinstance(model(x), tuple) else model(x), want)


def test_a_tied_linear_head_and_a_siamese_block() -> None:
    text = _spec(
        """\
        - {name: tower, type: Tower}
        - {name: view, type: maxpool2d, kernel_size: 2, from: input}
        - {name: right, type: reuse, node: tower, from: view}
        - {name: pa, type: adaptive_avgpool2d, output_size: 1, from: tower}
        - {name: pb, type: adaptive_avgpool2d, output_size: 1, from: right}
        - {name: both, type: add, from: [pa, pb]}
        - {name: flat, type: flatten}
        - {name: head, type: linear, out_features: 6}
        - {name: head2, type: reuse, node: head}
        """,
        blocks="""\
        blocks:
          Tower:
            layers:
              - {type: conv2d, out_channels: 6, kernel_size: 3, padding: 1}
              - {type: relu}
        """,
    )
    model = archspec.compile(text)
    assert list(model.state_dict()) == [
        "tower.0.weight",
        "tower.0.bias",
        "head.weight",
        "head.bias",
    ]
    x = torch.randn(2, 8, 16, 16)
    pooled = model.tower(x).mean((2, 3)) + model.tower(F.max_pool2d(x, 2)).mean((2, 3))
    assert torch.allclose(model(x), model.head(model.head(pooled)), atol=1e-6)
    module = emitted(text)
    module.load_state_dict(model.state_dict(), strict=True)
    assert torch.allclose(module(x), model(x), atol=1e-6)
    source = archspec.emit(text)
    assert "self.tower(x)" in source and source.count("self.head(") == 2


def test_a_flat_repeat_of_a_reuse_ties_one_layer_across_depth() -> None:
    text = _spec(
        """\
        - {name: fc, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
        - {type: repeat, count: 3, flat: true, names: "r{i}", layer: {type: reuse, node: fc}}
        """
    )
    model = archspec.compile(text)
    assert list(model.state_dict()) == ["fc.weight", "fc.bias"]
    x = torch.randn(2, 8, 6, 6)
    assert torch.equal(model(x), model.fc(model.fc(model.fc(model.fc(x)))))
    assert archspec.emit(text).count("= self.fc(x)") == 4
    assert graph_cost(api.build_graph(text)).macs == Dim.of(4 * 576 * 16 * 16) * Dim.of("N")


def test_a_block_of_cbam_with_two_widths_is_one_class() -> None:
    text = _spec(
        """\
        - {name: g1, type: Gate}
        - {name: wide, type: conv2d, out_channels: 32, kernel_size: 1}
        - {name: g2, type: Gate, hidden: 8}
        """,
        blocks="""\
        blocks:
          Gate:
            params: {hidden: 2}
            let: {channels: in_channels}
            layers:
              - {name: avg, type: adaptive_avgpool2d, output_size: 1}
              - name: mlp
                type: sequential
                layers:
                  - {type: conv2d, out_channels: hidden, kernel_size: 1}
                  - {type: relu}
                  - {type: conv2d, out_channels: channels, kernel_size: 1}
              - {name: mx, type: adaptive_maxpool2d, output_size: 1, from: input}
              - {name: mlp_max, type: reuse, node: mlp, from: mx}
              - {name: gate, type: add, from: [mlp, mlp_max]}
              - {name: out, type: mul, from: [input, gate]}
        """,
    )
    source = archspec.emit(text)
    assert source.count("class Gate") == 1 and source.count("self.mlp(") == 2
    model = archspec.compile(text)
    module = emitted(text)
    module.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 8, 5, 5)
    assert torch.allclose(module(x), model(x), atol=1e-6)


def test_block_instances_that_differ_in_a_param_do_not_share_a_stale_target() -> None:
    """`groups` keeps the conv's shape and changes its MACs: whatever lowering makes of a
    block instance like a kept one (a copy, or no shortcut: rebind.py and reshape.py take
    no block holding a reuse), each reuse calls its own instance's conv."""
    text = _spec(
        """\
        - {name: a, type: Tied}
        - {name: b, type: Tied, g: 2}
        - {name: c, type: Tied, g: 4}
        """,
        blocks="""\
        blocks:
          Tied:
            params: {g: 1}
            layers:
              - {name: fc, type: conv2d, out_channels: 8, kernel_size: 1, groups: g}
              - {name: again, type: reuse, node: fc}
        """,
    )
    graph = api.build_graph(text)
    for name in "abc":
        child = graph.root.node(name).child
        assert node_cost(child.node("again")).macs == node_cost(child.node("fc")).macs
    assert footprint(graph).params == sum(
        n.attrs.get("out_channels", 0) * 8 // n.attrs["groups"] + 8
        for _, n in iter_nodes(graph.root)
        if n.kind == "conv2d"
    )


@pytest.mark.parametrize(
    ("layers", "code", "at", "words"),
    [
        (
            "- {name: a, type: conv2d, out_channels: 8, kernel_size: 1}\n"
            "- {name: b, type: reuse, node: aa}\n",
            "E305",
            "aa",
            "did you mean `a`",
        ),
        (
            "- {name: b, type: reuse, node: a}\n"
            "- {name: a, type: conv2d, out_channels: 8, kernel_size: 1}\n",
            "E305",
            "a}",
            "later",
        ),
        (
            "- {name: a, type: conv2d, out_channels: 8, kernel_size: 1}\n"
            "- {name: s, type: add, from: [a, input]}\n"
            "- {name: b, type: reuse, node: s}\n",
            "E314",
            "s}",
            "no module",
        ),
        (
            "- {name: seq, type: sequential, layers: [{name: c, type: conv2d, out_channels: 8, "
            "kernel_size: 1}]}\n- {name: b, type: reuse, node: c}\n",
            "E305",
            "c}",
            "seq.c",
        ),
        (
            "- {name: c, type: conv2d, out_channels: 8, kernel_size: 1}\n"
            "- {name: seq, type: sequential, layers: [{name: b, type: reuse, node: c}]}\n",
            "E305",
            "c}",
            "enclosing",
        ),
        (
            "- {name: c, type: conv2d, out_channels: 8, kernel_size: 1, when: false}\n"
            "- {name: b, type: reuse, node: c}\n",
            "E305",
            "c}",
            "switched off",
        ),
        (
            "- {name: c, type: conv2d, out_channels: 8, kernel_size: 1}\n"
            "- {name: r, type: reuse, node: c}\n- {name: b, type: reuse, node: r}\n",
            "E314",
            "r}",
            "itself a reuse",
        ),
        (
            "- {name: p, type: parameter, shape: [8, 1, 1]}\n- {name: b, type: reuse, node: p}\n",
            "E314",
            "p}",
            "a learned tensor",
        ),
        ("- {name: b, type: reuse, node: input}\n", "E314", "input", "input"),
        ("- {name: f, type: flatten}\n- {name: b, type: reuse, node: f}\n", "E314", "f}", ""),
        (
            "- {name: c, type: conv2d, out_channels: 4, kernel_size: 1}\n"
            "- {name: b, type: reuse, node: c}\n",
            "E402",
            "{name: b",
            "called again",
        ),
        (
            "- {name: c, type: conv2d, out_channels: 8, kernel_size: 1}\n"
            "- {name: b, type: reuse, node: c, from: [input, c]}\n",
            "E305",
            "[input",
            "",
        ),
    ],
)
def test_a_reuse_that_cannot_be_made_is_located(
    layers: str, code: str, at: str, words: str
) -> None:
    diag = _located(_spec(layers), code, at)
    assert words in diag.message + diag.hint and diag.hint


def test_a_reuse_of_a_module_that_failed_reports_only_that_failure() -> None:
    """Found by the fuzz: the reused module's output failed, the reuse reads another node."""
    text = _spec(
        """\
        - name: seq
          type: sequential
          layers:
            - {type: conv2d, out_channels: 8, kernel_size: 1}
            - {type: batchnorm1d}
        - {name: b, type: reuse, node: seq, from: input}
        """
    )
    diags = error_of(text).diagnostics
    assert [(d.code, d.span.line) for d in diags] == [("E401", 9)]


def test_reuses_count_the_layers_they_run_again_against_the_expansion_limit() -> None:
    """Each reuse runs its module's layers again in every later stage: 200 reuses of a
    module of 50 layers are 10,000 layer items, past a limit of 5,000 (E310 at the reuse),
    as 200 copies would be; not a walk of every copy's layers at every stage."""
    text = _spec(
        """\
        - {name: big, type: repeat, count: 50, layer: {type: relu6}}
        - {type: repeat, count: 200, flat: true, names: "r{i}", layer: {type: reuse, node: big}}
        """
    )
    report = archspec.check(text, max_layers=5000)
    (diag,) = report.errors
    assert diag.code == "E310" and diag.span.line == 6
    assert "reuse" in diag.message
    assert archspec.check(text, max_layers=20_000).ok


def test_reuses_of_reuses_count_what_they_run() -> None:
    """A module holding 20 reuses of a 20-layer one runs 420 layers a call: 20 reuses of it
    are 8,400 layer items (E310 under 5,000), not the 41 nodes it holds each."""
    text = _spec(
        """\
        - name: outer
          type: sequential
          layers:
            - {name: inner, type: repeat, count: 20, layer: {type: relu6}}
            - type: repeat
              count: 20
              flat: true
              names: "i{i}"
              layer: {type: reuse, node: inner}
        - {type: repeat, count: 20, flat: true, names: "o{i}", layer: {type: reuse, node: outer}}
        """
    )
    (diag,) = archspec.check(text, max_layers=5000).errors
    assert diag.code == "E310" and diag.span.line == 14
    assert archspec.check(text, max_layers=20_000).ok


def test_a_reuse_of_a_block_of_several_inputs_given_one_is_refused() -> None:
    # a block of several inputs is called again on as many (test_reuse_several_inputs.py)
    text = _spec(
        """\
        - {name: j, type: Join, from: [input, input]}
        - {name: b, type: reuse, node: j, from: j}
        """,
        blocks="""\
        blocks:
          Join:
            inputs: [x, skip]
            layers:
              - {name: c, type: conv2d, out_channels: 8, kernel_size: 1}
              - {name: s, type: add, from: [c, skip]}
        """,
    )
    message = _located(text, "E305", "j}").message
    assert "which takes 2 inputs (x, skip), and `from` names 1" in message


def test_import_writes_the_second_call_of_a_child_as_a_reuse() -> None:
    model = ChannelAttention().eval()
    text = api.from_module(model, torch.randn(1, 64, 8, 8))
    assert "type: reuse, node: mlp" in text
    twin = archspec.compile(text)
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 64, 4, 4)
    assert torch.equal(twin(x), model(x))


class _KeyedTwice(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.add_module("odd-name", nn.Linear(8, 8))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layer = getattr(self, "odd-name")
        return layer(torch.relu(layer(x)))


def test_import_of_a_keyed_child_called_twice_round_trips() -> None:
    model = _KeyedTwice().eval()
    text = api.from_module(model, torch.randn(1, 8))
    assert "type: reuse, node: odd-name" in text
    twin = archspec.compile(text)
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(3, 8)
    assert torch.equal(twin(x), model(x))


def test_a_second_call_with_no_node_to_reuse_is_still_refused() -> None:
    from archspec.importer.trace import Item
    from archspec.importer.tying import reuse_item, second_call

    spliced = [Item("conv_bn", "conv2d_norm", is_module=True)]  # `conv` merged into it
    assert reuse_item(spliced, "conv", "conv_1", ("x",)) is None
    made = reuse_item([Item("conv", "conv2d")], "conv", "conv_1", ("x",))
    assert made is not None and made.kind == "reuse" and made.fields == {"node": "conv"}
    message, hint = second_call(model=_KeyedTwice(), target="conv")
    assert "a second time" in message and "reuse" in hint


def test_a_reused_key_that_is_no_identifier_is_called_through_getattr() -> None:
    text = _spec(
        """\
        - {key: "odd-name", type: conv2d, out_channels: 8, kernel_size: 1}
        - {name: b, type: reuse, node: odd-name}
        """
    )
    source = archspec.emit(text)
    assert source.count('getattr(self, "odd-name")(x)') == 2
    model = archspec.compile(text)
    module = emitted(text)
    module.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(1, 8, 4, 4)
    assert torch.equal(module(x), model(x))


def test_a_reused_list_entry_is_called_as_its_own_line_calls_it() -> None:
    """A dotted key registers an entry of an nn.ModuleList: its reuse is `self.convs[0](x)`."""
    text = _spec(
        """\
        - {key: convs.0, type: conv2d, out_channels: 8, kernel_size: 1}
        - {key: convs.1, type: conv2d, out_channels: 8, kernel_size: 1}
        - {name: b, type: reuse, node: convs.0}
        """
    )
    assert archspec.emit(text).count("= self.convs[0](x)") == 2
    model = archspec.compile(text)
    assert list(model.state_dict())[::2] == ["convs.0.weight", "convs.1.weight"]
    module = emitted(text)
    module.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(1, 8, 4, 4)
    assert torch.equal(module(x), model(x))
    assert torch.equal(model(x), model.convs[0](model.convs[1](model.convs[0](x))))


def test_a_node_text_that_is_code_is_only_a_name_not_found() -> None:
    text = _spec(
        """\
        - {name: a, type: conv2d, out_channels: 8, kernel_size: 1}
        - {name: b, type: reuse, node: "a(x); __import__('os').system('false') #"}
        """
    )
    assert "no node of this layer list" in _located(text, "E305", '"a(x)').message


def test_schema_error_for_a_reuse_without_node() -> None:
    exc = error_of(_spec("- {name: b, type: reuse}\n"))
    assert exc.diagnostics[0].code == "E203"
