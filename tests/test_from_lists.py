"""`from` lists a spec computes: name templates (`"layer{k - 1}"`) and computed entries
(`{each: "conv{j}", for: j, in: n, when: ...}`). VoVNet's OSA stage and a HarDNet block
against plain-torch references written here (keys, parameter counts, outputs), emitted
code equal to compile, the memo telling apart copies that read different nodes, and each
error at the entry that caused it."""

from __future__ import annotations

import textwrap
from collections import OrderedDict

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError
from tests.emit_helpers import matches_compile


def spec(body: str, header: str = "input: [N, 8, 16, 16]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body)


def errors(text: str) -> list[tuple[str, int, int, str, str]]:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    return [
        (d.code, d.span.line, d.span.col, d.message, d.hint or "")
        for d in info.value.diagnostics
        if d.span is not None
    ]


def same_model(ours: nn.Module, ref: nn.Module, shape: tuple[int, ...]) -> None:
    """`ref` holds `ours`'s state_dict keys, shapes and parameter count, and with its
    weights computes the same outputs."""
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in ref.state_dict().items()
    ]
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    with torch.no_grad():  # batch norms with statistics of their own
        for k, v in ours.state_dict().items():
            if k.endswith(("running_mean", "running_var")):
                v.uniform_(0.5, 1.5)
    ref.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(ours.eval()(x), ref.eval()(x))


# --- VoVNet: an OSA module concatenates its input and each of its `n` chained convs ------

OSA = spec(
    """
    params: {layers_per_block: 3}
    blocks:
      ConvNormAct:
        params: {out: int, k: 3}
        layers:
          - {name: conv, type: conv2d, out_channels: out, kernel_size: k, padding: (k - 1) // 2,
             bias: false}
          - {name: bn, type: batchnorm2d}
          - {name: act, type: relu}
      OsaBlock:
        params: {mid: int, out: int, n: int, residual: false}
        layers:
          - {type: repeat, count: n, flat: true, names: "conv{i}",
             layer: {type: ConvNormAct, out: mid}}
          - {name: cat, type: concat, from: [input, {each: "conv{j}", for: j, in: n}]}
          - {name: conv_concat, type: ConvNormAct, out: out, k: 1}
          - {name: sum, type: add, from: [conv_concat, input], when: residual}
    layers:
      - {name: pool, type: maxpool2d, kernel_size: 3, stride: 2, ceil_mode: true}
      - name: blocks
        type: repeat
        count: 2
        layer: {type: OsaBlock, mid: 4, out: 12, n: layers_per_block, residual: i > 0}
    """
)


class RefConvNormAct(nn.Sequential):
    def __init__(self, cin: int, out: int, k: int = 3) -> None:
        conv = nn.Conv2d(cin, out, k, padding=(k - 1) // 2, bias=False)
        super().__init__(OrderedDict(conv=conv, bn=nn.BatchNorm2d(out), act=nn.ReLU()))


class RefOsaBlock(nn.Module):
    """timm's OsaBlock without its attention: `n` chained convs, all concatenated with the
    input, a 1x1 conv, and the input added back when `residual`."""

    def __init__(self, cin: int, mid: int, out: int, n: int, residual: bool) -> None:
        super().__init__()
        self.n, self.residual = n, residual
        for j in range(n):
            self.add_module(f"conv{j}", RefConvNormAct(cin if j == 0 else mid, mid))
        self.conv_concat = RefConvNormAct(cin + n * mid, out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outputs, y = [x], x
        for j in range(self.n):
            y = getattr(self, f"conv{j}")(y)
            outputs.append(y)
        y = self.conv_concat(torch.cat(outputs, 1))
        return y + x if self.residual else y


@pytest.mark.parametrize("n", [1, 3])
def test_a_vovnet_osa_stage_is_timms(n: int) -> None:
    ref = nn.Sequential(
        OrderedDict(
            pool=nn.MaxPool2d(3, stride=2, ceil_mode=True),
            blocks=nn.Sequential(RefOsaBlock(8, 4, 12, n, False), RefOsaBlock(12, 4, 12, n, True)),
        )
    )
    ours = archspec.compile(OSA, layers_per_block=n)
    assert "blocks.0.conv0.conv.weight" in ours.state_dict()
    same_model(ours, ref, (2, 8, 17, 17))


def test_the_osa_stage_emits_one_class_whose_loop_collects_every_conv() -> None:
    source = matches_compile(OSA, (2, 8, 17, 17))
    assert source.count("class OsaBlock") == 1
    add = 'self.add_module(f"conv{i}", ConvNormAct(in_channels if i == 0 else mid, mid))'
    assert f"for i in range(n):\n            {add}\n        self.n = n\n" in source
    assert "ConvNormAct(in_channels + mid * n, out, k=1)" in source
    loop = (
        "        features = []\n"
        "        for i in range(self.n):\n"
        '            out = getattr(self, f"conv{i}")(out)  # (N, mid, H, W)\n'
        "            features.append(out)\n"
        "        out = torch.cat([x, *features], 1)"
    )
    assert loop in source


def test_osa_blocks_of_other_lengths_are_the_same_class() -> None:
    text = OSA.replace("count: 2", "count: 3").replace("n: layers_per_block,", 'n: "1 + 2 * i",')
    source = matches_compile(text, (2, 8, 17, 17))
    assert source.count("class OsaBlock") == 1
    assert "OsaBlock(8, 4, out=12, n=1)" in source and "n=5, residual=True)" in source


def test_a_concat_of_some_of_the_convs_keeps_them_unrolled() -> None:
    text = OSA.replace('{each: "conv{j}", for: j, in: n}', '{each: "conv{j}", for: j, in: n - 1}')
    source = matches_compile(text, (2, 8, 17, 17))
    assert "torch.cat([x, conv0, conv1], 1)" in source and "for i in" not in source


# --- HarDNet: layer k reads layer k - 2**j for each j with k % 2**j == 0 -----------------

HARD = spec(
    """
    params: {n: 8, keep_base: false}
    blocks:
      ConvLayer:   # layer k of a HarDBlock: its width grows with the links it has
        params: {k: int, growth: int, grmul: float}
        let:
          links: (k % 2 == 0) + (k % 4 == 0) + (k % 8 == 0) + (k % 16 == 0)
          out: floor(floor(growth * grmul ** links + 1) / 2) * 2
        layers:
          - {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1, bias: false}
          - {name: norm, type: batchnorm2d}
          - {name: act, type: relu6, inplace: true}
      HarDBlock:
        params: {n: int, growth: int, grmul: float, keep_base: bool}
        layers:
          # layer k = t // 2 + 1 is two items: `links{k}` joins what it reads, `layer{k}`
          - type: repeat
            count: 2 * n
            index: t
            flat: true
            names: "{'links' if t % 2 == 0 else 'layer'}{t // 2 + 1}"
            layer:
              - type: concat
                when: t % 2 == 0
                from:
                  - {each: "layer{t // 2 + 1 - 2 ** j}", for: j, in: 10,
                     when: "(t // 2 + 1) % 2 ** j == 0 and 2 ** j < t // 2 + 1"}
                  - {each: input, for: j, in: 10, when: "2 ** j == t // 2 + 1"}
              - {type: ConvLayer, when: t % 2 == 1, k: t // 2 + 1, growth: growth, grmul: grmul}
          - name: out
            type: concat
            from:
              - {each: input, when: keep_base}
              - {each: "layer{k}", for: k, in: n + 1, when: "k > 0 and (k % 2 == 1 or k == n)"}
    layers:
      - {name: block, type: HarDBlock, n: n, growth: 4, grmul: 1.7, keep_base: keep_base}
    """
)


def hard_links(k: int) -> list[int]:
    """timm's HarDBlock.get_link: what layer k reads (0 is the block's input)."""
    return [k - 2**j for j in range(10) if k % 2**j == 0]


def hard_width(k: int, growth: int, grmul: float) -> int:
    width = growth * grmul ** sum(1 for j in range(1, 10) if k % 2**j == 0)
    return int(int(width + 1) / 2) * 2


class RefHarDBlock(nn.Module):
    def __init__(self, cin: int, n: int, growth: int, grmul: float, keep_base: bool) -> None:
        super().__init__()
        self.n, self.keep_base = n, keep_base
        widths = [cin] + [hard_width(k, growth, grmul) for k in range(1, n + 1)]
        for k in range(1, n + 1):
            width = sum(widths[i] for i in hard_links(k))
            conv = nn.Conv2d(width, widths[k], 3, padding=1, bias=False)
            layer = OrderedDict(conv=conv, norm=nn.BatchNorm2d(widths[k]), act=nn.ReLU6(True))
            self.add_module(f"layer{k}", nn.Sequential(layer))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        layers = [x]
        for k in range(1, self.n + 1):
            tin = [layers[i] for i in hard_links(k)]
            layers.append(getattr(self, f"layer{k}")(torch.cat(tin, 1) if len(tin) > 1 else tin[0]))
        t = len(layers)
        keep = [i for i in range(t) if (i == 0 and self.keep_base) or i == t - 1 or i % 2 == 1]
        return torch.cat([layers[i] for i in keep], 1)


@pytest.mark.parametrize(("n", "keep_base"), [(8, False), (4, True), (1, False)])
def test_a_hardnet_block_is_the_reference(n: int, keep_base: bool) -> None:
    ours = archspec.compile(HARD, n=n, keep_base=keep_base)
    ref = nn.Sequential(OrderedDict(block=RefHarDBlock(8, n, 4, 1.7, keep_base)))
    same_model(ours, ref, (2, 8, 8, 8))


def test_the_hardnet_block_emits_what_compile_builds() -> None:
    source = matches_compile(HARD, (2, 8, 8, 8))
    assert "torch.cat([layer7, layer6, layer4, x], 1)" in source


# --- what is computed where: templates, copies, the memo ----------------------------------


def test_a_template_reads_the_copy_index_and_the_memo_tells_copies_apart() -> None:
    # the Sequentials of a repeat are memo hits of each other unless what they read differs:
    # here only `from` reads the index
    text = spec(
        """
        layers:
          - name: stage
            type: repeat
            count: 2
            layer:
              type: sequential
              layers:
                - {name: a, type: conv2d, out_channels: 4, kernel_size: 1}
                - {name: b, type: conv2d, out_channels: 4, kernel_size: 1, from: input}
                - {name: pick, type: relu, from: "{'a' if i == 0 else 'b'}"}
        """
    )
    graph = archspec.build_graph(text)
    stage = graph.root.nodes[0].child
    picks = [next(n for n in copy.child.nodes if n.name == "pick") for copy in stage.nodes]
    assert [p.inputs for p in picks] == [("a",), ("b",)]
    matches_compile(text, (2, 8, 16, 16))


def test_block_instances_that_differ_only_in_what_from_reads() -> None:
    text = spec(
        """
        blocks:
          Pick:
            params: {second: false, p: 0.0}
            layers:
              - {name: a, type: conv2d, out_channels: 8, kernel_size: 1}
              - {name: b, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, from: input}
              - {name: join, type: add, from: ["{'b' if second else 'a'}", input]}
              - {name: drop, type: dropout, p: p}
        layers:
          - {name: one, type: Pick, p: 0.1}
          - {name: two, type: Pick, second: true, p: 0.2}
          - {name: three, type: Pick, p: 0.3}
        """
    )
    graph = archspec.build_graph(text)
    joins = [next(n for n in node.child.nodes if n.name == "join") for node in graph.root.nodes]
    assert [j.inputs for j in joins] == [("a", "input"), ("b", "input"), ("a", "input")]
    matches_compile(text, (2, 8, 16, 16))


def test_one_computed_entry_alone_and_a_plain_template() -> None:
    text = spec(
        """
        params: {n: 3}
        layers:
          - {type: repeat, count: n, flat: true, names: "c{i}",
             layer: {type: conv2d, out_channels: 2, kernel_size: 1}}
          - {name: all, type: concat, from: {each: "c{j}", for: j, in: "[2, 0]"}}
          - {name: last, type: relu, from: "c{n - 1}"}
        outputs: [all, last]
        """
    )
    graph = archspec.build_graph(text)
    by_name = {n.name: n for n in graph.root.nodes}
    assert by_name["all"].inputs == ("c2", "c0")
    assert by_name["last"].inputs == ("c2",)


def test_a_node_left_out_by_its_when_computes_nothing() -> None:
    # its `when` is decided before its `from`, which would name no node here
    text = spec(
        """
        params: {n: 0}
        layers:
          - {name: stem, type: conv2d, out_channels: 4, kernel_size: 1}
          - {name: cat, type: concat, from: [{each: "c{j}", for: j, in: n}], when: n > 0}
        """
    )
    assert [n.name for n in archspec.build_graph(text).root.nodes] == ["stem"]


# --- errors, each at its entry ------------------------------------------------------------

BAD = spec(
    """
    params: {n: 3}
    layers:
      - {type: repeat, count: n, flat: true, names: "layer{k}", index: k,
         layer: {type: conv2d, out_channels: 4, kernel_size: 1}}
      - {name: a, type: concat, from: ["layer{n}"]}
      - {name: b, type: concat, from: [input, {each: "layer{j - 1}", for: j, in: n}]}
      - {name: c, type: concat, from: [{each: "layer{j}", for: j, in: n, when: j > 5}]}
      - {name: d, type: concat, from: ["layer{1.5}"]}
      - {name: e, type: concat, from: [{each: "layer{j}", for: j, in: "'abc'"}]}
      - {name: f, type: concat, from: [{each: "layer{j}", for: n, in: 2}]}
      - {name: g, type: concat, from: ["later{0}"]}
      - {name: later0, type: relu}
      - {name: h, type: relu, from: [{each: "layer{j}", for: j, in: n}]}
    """
)


def test_each_error_is_at_the_entry_that_caused_it() -> None:
    found = {(code, line, col): (msg, hint) for code, line, col, msg, hint in errors(BAD)}
    # a template naming no node: the name it gave, and a `when` as the way out
    msg, hint = found[("E305", 9, 36)]
    assert "'layer{n}' gives `layer3` here" in msg and "did you mean `layer2`" in hint
    msg, hint = found[("E305", 10, 50)]
    assert "gives `layer-1`" in msg and "a `when` over `j`" in hint
    msg, hint = found[("E305", 11, 35)]  # at `from`: every entry left out
    assert "gives no input" in msg
    assert "not an int or text" in found[("E309", 12, 36)][0]
    assert "not a count or a list of ints" in found[("E309", 13, 67)][0]
    msg, hint = found[("E304", 14, 60)]  # at `for`: the index would hide the param
    assert "`n`" in msg and "`for: k`" in hint
    assert "declared later" in found[("E305", 15, 36)][0]
    msg, _ = found[("E305", 17, 33)]  # a relu given three inputs by one entry
    assert "takes one input, `from` names 3" in msg
    assert len(found) == 8


CYCLES = spec(
    """
    params: {n: 2}
    layers:
      - {name: a, type: relu, from: "b{0}"}
      - {name: b0, type: relu, from: a}
      - {name: c, type: add, from: [input, {each: c}]}
      - {type: repeat, count: n, flat: true, names: "d{i}",
         layer: {type: add, from: [input, "d{i}"]}}
    """
)


def test_a_cycle_through_computed_names_is_a_cycle() -> None:
    """A computed name that closes a cycle is E306, as the same name written is: the reader
    itself (a node, a flat copy), or a later node whose `from` leads back to the reader."""
    found = {(code, line, col): msg for code, line, col, msg, _ in errors(CYCLES)}
    assert found[("E306", 7, 33)] == "cycle in references: a -> b0 -> a"
    assert found[("E306", 9, 47)] == "cycle in references: `c` reads itself"
    assert found[("E306", 11, 39)] == "cycle in references: `d0` reads itself"
    assert len(found) == 3
    written = CYCLES.replace('"b{0}"', "b0").replace("{each: c}", "c").replace('"d{i}"]', "d0]")
    codes = [(code, line) for code, line, *_ in errors(written)]
    assert codes == [("E306", 7), ("E306", 9), ("E306", 11)]


def test_the_schema_refuses_a_malformed_entry_where_it_is() -> None:
    text = spec(
        """
        layers:
          - {name: a, type: concat, from: [{each: "x{j}", for: j}]}
          - {name: b, type: concat, from: ["x{j"]}
          - {name: c, type: concat, from: [{each: "x{j}", for: j, in: 2, colour: red}]}
          - {name: d, type: concat, from: [5]}
        """
    )
    found = {(line, col): (code, msg) for code, line, col, msg, _ in errors(text)}
    assert found[(6, 36)][0] == "E204" and "`for` and `in` go together" in found[(6, 36)][1]
    assert found[(7, 36)][0] == "E204" and "unbalanced braces" in found[(7, 36)][1]
    assert found[(8, 66)] == ("E201", "unknown field `colour`")
    assert found[(9, 36)][0] == "E204" and "a `from` entry is a node name" in found[(9, 36)][1]


def test_a_count_past_the_layer_limit_is_refused_before_it_is_walked() -> None:
    text = spec(
        """
        layers:
          - {name: a, type: concat, from: [{each: input, for: j, in: 10 ** 12}]}
        """
    )
    ((code, line, col, msg, _),) = errors(text)
    assert (code, line, col) == ("E310", 6, 62) and "over the limit" in msg


def test_a_table_row_field_names_what_its_copy_reads() -> None:
    text = spec(
        """
        layers:
          - {name: a, type: conv2d, out_channels: 4, kernel_size: 1}
          - {name: b, type: conv2d, out_channels: 6, kernel_size: 1, from: input}
          - type: for_each
            rows: [[a, 3], [b, 5]]
            fields: [src, k]
            flat: true
            names: "pool_{src}"
            layer: {type: maxpool2d, kernel_size: k, padding: (k - 1) // 2, stride: 1,
                    from: "{src}"}
          - {name: cat, type: concat, from: [pool_a, pool_b]}
        """
    )
    by_name = {n.name: n for n in archspec.build_graph(text).root.nodes}
    assert by_name["pool_a"].inputs == ("a",) and by_name["pool_b"].inputs == ("b",)
    assert by_name["cat"].shape[1].value == 10


def test_a_template_reading_the_input_size_is_told_why_it_cannot() -> None:
    text = spec(
        """
        layers:
          - {name: a, type: conv2d, out_channels: 4, kernel_size: 1}
          - {name: b, type: relu, from: "{'a' if in_channels > 2 else 'input'}"}
        """
    )
    ((code, line, col, msg, hint),) = errors(text)
    assert (code, line, col) == ("E302", 7, 33) and "in_channels" in msg
    assert "before its node's input is chosen" in hint


def test_computed_names_reach_a_block_of_several_inputs_and_its_inputs() -> None:
    # a U-Net whose decoder is one flat repeat: copy i reads the one before it (the bottom,
    # first) and the encoder stage of its depth; inside `Up`, computed entries name `skip`
    # and `x` (the block's first input, its `input`)
    text = spec(
        """
        params: {depth: 2}
        blocks:
          Up:
            inputs: [x, skip]
            params: {out: int}
            layers:
              - {name: up, type: conv_transpose2d, out_channels: out, kernel_size: 2, stride: 2}
              - {name: cat, type: concat, from: [{each: skip}, "{'up'}"]}
              - {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1}
              - {name: gate, type: adaptive_avgpool2d, output_size: 1, from: "{'x'}"}
              - {name: out, type: add, from: [conv, gate]}
        layers:
          - type: repeat
            count: depth
            flat: true
            names: "enc{i}"
            layer: {type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
          - {name: bottom, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
          - type: repeat
            count: depth
            flat: true
            names: "up{i}"
            layer:
              type: Up
              out: 8
              from:
                - "{'bottom' if i == 0 else 'up'}{'' if i == 0 else i - 1}"
                - "enc{depth - 1 - i}"
        """
    )
    by_name = {n.name: n for n in archspec.build_graph(text).root.nodes}
    assert by_name["up0"].inputs == ("bottom", "enc1")
    assert by_name["up1"].inputs == ("up0", "enc0")
    cat = next(n for n in by_name["up1"].child.nodes if n.name == "cat")
    gate = next(n for n in by_name["up1"].child.nodes if n.name == "gate")
    assert cat.inputs == ("skip", "up") and gate.inputs == ("input",)
    matches_compile(text, (2, 8, 16, 16))


MIX = spec(
    """
    blocks:
      Mix:
        params: {n: int}
        layers:
          - {type: repeat, count: n, flat: true, names: "conv{i}",
             layer: {type: conv2d, out_channels: in_channels, kernel_size: 1, from: input}}
          - {name: sum, type: add, from: [input, "conv{0}", "conv{1}"], when: in_channels == 16}
    layers:
      - {name: a, type: Mix, n: 1}
      - {name: widen, type: conv2d, out_channels: 16, kernel_size: 1}
      - {name: b, type: Mix, n: 2}
    """
)


def test_a_when_over_in_channels_leaves_out_a_reader_of_a_computed_name_not_there() -> None:
    """`in_channels` in a `when` is the width of the first node `from` names: where that one
    is there, the `when` is read with it even though a later computed name (`conv1` of a
    one-copy instance) is not, so the reader is left out rather than refused (E305)."""
    graph = archspec.build_graph(MIX)
    a, b = graph.root.nodes[0].child, graph.root.nodes[2].child
    assert [n.name for n in a.nodes] == ["conv0"]
    assert [(n.name, n.inputs) for n in b.nodes][-1] == ("sum", ("input", "conv0", "conv1"))
    model = archspec.compile(MIX)
    assert model(torch.randn(1, 8, 4, 4)).shape == (1, 16, 4, 4)
    kept = errors(MIX.replace("in_channels == 16", "in_channels >= 8"))
    assert {(code, line) for code, line, *_ in kept} == {("E305", 11)}
    assert any("'conv{1}' gives `conv1` here, no node made before" in e[3] for e in kept)
