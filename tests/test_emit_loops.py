"""Source emission, loops: a block's named flat `repeat` is one `for` of `add_module` calls
(torchvision's `_DenseBlock`), the count an argument, when every copy renders alike with the
index; otherwise the copies stay one line each. Either way the emitted class builds the
compiled module's state_dict and computes what it computes."""

from __future__ import annotations

import torch

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module

from .emit_helpers import _fill, _load

GROWING = """\
archspec: 1
name: growing
input: [N, 4, 8, 8]
params:
  growth: {type: int, default: 3}
blocks:
  Grow:
    doc: A conv whose output is concatenated to its input.
    params: {g: int}
    layers:
      - {name: conv, type: conv2d, out_channels: g, kernel_size: 3, padding: 1}
      - {name: cat, type: concat, from: [input, conv]}
  Stack:
    doc: Named copies of Grow.
    params: {n: int, g: int}
    layers:
      - {type: repeat, count: n, flat: true, names: "grow{i + 1}",
         layer: {type: Grow, g: g}}
layers:
  - {name: a, type: Stack, n: 2, g: growth}
  - {name: b, type: Stack, n: 3, g: growth}
  - {name: c, type: Stack, n: 1, g: 2}
"""

#: copies whose widths do not grow by one step (16, 24, 32): unrolled
UNEVEN = GROWING.replace(
    "layer: {type: Grow, g: g}}",
    'layer: {type: conv2d, out_channels: "8 * (i + 2)", kernel_size: 1}}',
)


def _emitted(text: str) -> tuple[str, torch.nn.Module]:
    graph = build_graph(text, {})
    source = render_module(graph)
    return source, getattr(_load(source, graph.name), graph.class_name)()


def _same_function(text: str) -> None:
    _, emitted = _emitted(text)
    compiled = archspec.compile(text)
    assert list(emitted.state_dict()) == list(compiled.state_dict())
    _fill(compiled, 0)
    emitted.load_state_dict(compiled.state_dict(), strict=True)
    x = torch.randn(2, 4, 8, 8)
    assert torch.equal(emitted.eval()(x), compiled.eval()(x))


def test_lowering_records_the_loop() -> None:
    stack = build_graph(GROWING, {}).root.node("b").child
    assert stack is not None
    (loop,) = stack.loops
    assert loop.nodes == ("grow1", "grow2", "grow3")
    assert (loop.index, loop.count.text, loop.template[0]) == ("i", "n", "grow")


def test_copies_that_grow_by_one_step_are_one_loop() -> None:
    source, _ = _emitted(GROWING)
    assert source.count("class Stack(") == 1 and "class Stack_2" not in source
    assert "for i in range(n):" in source
    assert 'self.add_module(f"grow{i + 1}", Grow(in_channels + g * i, g))' in source
    # the count is an argument, the channels after a loop exact in the network's params
    assert "self.b = Stack(4 + growth * 2, 3, g=growth)" in source
    assert "self.c = Stack(4 + growth * 5, 1, g=2)" in source
    _same_function(GROWING)


def test_copies_that_do_not_grow_by_one_step_stay_unrolled() -> None:
    source, _ = _emitted(UNEVEN)
    assert "for i in range" not in source
    assert "self.grow3 = " in source
    _same_function(UNEVEN)


def test_densenet_dense_block_is_one_class_with_a_loop() -> None:
    source = render_module(build_graph("densenet121", {}))
    assert source.count("class DenseBlock(nn.Sequential):") == 1
    assert "DenseBlock_2" not in source
    assert "for i in range(num_layers):" in source
    assert "DenseLayer(in_channels + growth_rate * i, growth_rate, bn_size=bn_size)" in source


#: each copy's width reads its own input's (`in_channels + 2`): the probe that finds a loop's
#: step cannot stand in for that, so the copies are unrolled (this was an "internal" E601)
READS_IN_CHANNELS = GROWING.replace(
    "layer: {type: Grow, g: g}}",
    'layer: {type: conv2d, out_channels: "in_channels + 2", kernel_size: 1}}',
)


def test_copies_whose_width_reads_in_channels_are_unrolled() -> None:
    source, _ = _emitted(READS_IN_CHANNELS)
    assert "for i in range(" not in source
    assert "self.grow1 = nn.Conv2d(in_channels, in_channels + 2, kernel_size=1)" in source
    _same_function(READS_IN_CHANNELS)


#: a block that is no chain (a concat of its input and its last copy): `forward` runs the loop
READ_AFTER = GROWING.replace(
    "layer: {type: Grow, g: g}}",
    'layer: {type: Grow, g: g}}\n      - {name: both, type: concat, from: [input, "grow{n}"]}',
)


def test_a_loop_in_a_class_with_a_forward_runs_there() -> None:
    source, _ = _emitted(READ_AFTER)
    assert source.count("class Stack(") == 1 and "class Stack_2" not in source
    assert (
        'self.add_module(f"grow{i + 1}", Grow(in_channels + g * i, g))\n        self.n = n\n'
        in source
    )
    loop = (
        "        out = x\n"
        "        for i in range(self.n):\n"
        '            out = getattr(self, f"grow{i + 1}")(out)\n'
        "        x = torch.cat([x, out], 1)  # (N, in_channels * 2 + g * n, H, W)\n"
    )
    assert loop in source
    _same_function(READ_AFTER)


#: copies of a width of their own (`mid`) in a chain, the last read by the conv after them
CHAIN = """\
archspec: 1
name: conv_chain
input: [N, 16, 8, 8]
blocks:
  Chain:
    params: {mid: int, n: int}
    layers:
      - {type: repeat, count: n, flat: true, names: "conv{i}",
         layer: {type: conv2d, out_channels: mid, kernel_size: 3, padding: 1}}
      - {name: proj, type: conv2d, out_channels: 16, kernel_size: 1}
      - {name: sum, type: add, from: [proj, input]}
layers:
  - {name: a, type: Chain, mid: 8, n: 2}
  - {name: b, type: Chain, mid: 12, n: 3}
"""


def _four_channels(text: str) -> str:
    """The spec on the 4-channel input `_same_function` runs."""
    return text.replace("[N, 16, 8, 8]", "[N, 4, 8, 8]").replace("16, kernel", "4, kernel")


def test_a_chain_of_copies_of_their_own_width_is_one_loop_for_any_count() -> None:
    """The channels after the loop are `mid` where a copy is made and the loop's input where
    none is (`in_channels if n == 0 else mid`), so one class serves every count, 0 too."""
    source, _ = _emitted(CHAIN)
    assert source.count("class Chain(") == 1 and "class Chain_2" not in source
    assert 'f"conv{i}", nn.Conv2d(in_channels if i == 0 else mid, mid' in source
    assert "self.proj = nn.Conv2d(in_channels if n == 0 else mid, 16, kernel_size=1)" in source
    assert '            out = getattr(self, f"conv{i}")(out)\n' in source  # no comment
    _same_function(_four_channels(CHAIN))
    module = _load(render_module(build_graph(CHAIN, {})), "chain_counts")
    for n in (0, 1, 4):
        text = CHAIN.replace("n: 2}", f"n: {n}}}")
        compiled = archspec.compile(text)
        _fill(compiled, n)
        ours = module.Chain(16, 8, n=n)
        ours.load_state_dict(compiled.a.state_dict(), strict=True)
        x = torch.randn(2, 16, 8, 8)
        assert torch.equal(ours.eval()(x), compiled.a.eval()(x))


def test_a_sequential_chain_of_copies_of_their_own_width_is_one_class() -> None:
    text = _four_channels(
        CHAIN.replace("      - {name: sum, type: add, from: [proj, input]}\n", "")
    )
    source, _ = _emitted(text)
    assert "class Chain(nn.Sequential):" in source and "class Chain_2" not in source
    assert "self.proj = nn.Conv2d(in_channels if n == 0 else mid, 4, kernel_size=1)" in source
    _same_function(text)


def _shuffle_with_loop() -> str:
    """ShuffleNetV2's unit in small (two cases, `if self.stride > 1:`), then `n` 1x1 convs."""
    from .test_emit_blocks import SHUFFLE

    text = SHUFFLE.replace("{out: int, stride:", "{out: int, n: int, stride:")
    text = text.replace(
        "      - {name: act, type: relu}\n",
        "      - {name: act, type: relu}\n"
        '      - {type: repeat, count: n, flat: true, names: "mix{i}",\n'
        "         layer: {type: conv2d, out_channels: out, kernel_size: 1}}\n",
    )
    for old, n in (("16, stride: 2}", 2), ("16}", 1), ("32, stride: 2}", 3), ("32}", 2)):
        text = text.replace(f"out: {old}", f"out: {old[:2]}, n: {n}{old[2:]}", 1)
    return text


def test_a_loop_in_a_class_with_cases_is_written_in_each_case() -> None:
    from .emit_helpers import matches_compile

    source = matches_compile(_shuffle_with_loop(), (2, 3, 32, 32))
    assert source.count("class Unit(") == 1 and "class Unit_2" not in source
    unit = source[source.index("class Unit") : source.index("class Shuffle")]
    assert "def __init__(self, in_channels: int, out: int, n: int, stride: int = 1)" in unit
    assert unit.count("            for i in range(n):\n") == 2  # one per case
    assert 'f"mix{i}", nn.Conv2d(out // 2 * 2 if i == 0 else out, out' in unit
    # the module the other case lacks is None where this case's first module is
    assert "        else:\n            self.b1 = None\n            self.b2 = nn.Conv2d(" in unit
    assert "        self.n = n\n" in unit
    assert '        for i in range(self.n):\n            x = getattr(self, f"mix{i}")(x)' in unit
    assert "self.u3 = Unit(16, 32, n=3, stride=2)" in source


def test_a_class_with_cases_and_a_loop_builds_instances_the_spec_never_made() -> None:
    text = _shuffle_with_loop()
    module = _load(render_module(build_graph(text, {})), "shuffle_loop_new")
    for c, out, n, stride in [(4, 8, 0, 2), (12, 12, 4, 1), (6, 10, 1, 3)]:
        one = text.replace("input: [N, 3, 32, 32]", f"input: [N, {c}, 16, 16]")
        one = one[: one.index("layers:\n  - {name: stem")]
        one += f"layers:\n  - {{name: u, type: Unit, out: {out}, n: {n}, stride: {stride}}}\n"
        compiled = archspec.compile(one)
        _fill(compiled, c)
        ours = module.Unit(c, out, n, stride)
        assert list(ours.state_dict()) == list(compiled.u.state_dict())
        ours.load_state_dict(compiled.u.state_dict(), strict=True)
        x = torch.randn(2, c, 16, 16)
        assert torch.equal(ours.eval()(x), compiled.eval()(x)), (c, out, n, stride)


#: MixNet's mixed depthwise conv in small (timm's MixedConv2d): one conv per kernel size of
#: a list argument, each on the block's input, their outputs concatenated
MIXED = """\
archspec: 1
name: mixed
input: [N, 4, 8, 8]
blocks:
  MixConv:
    params: {ks: list, ch: int}
    layers:
      - {type: repeat, count: len(ks), flat: true, names: "conv{i}",
         layer: {type: conv2d, out_channels: ch, kernel_size: "ks[i]", padding: "ks[i] // 2",
                 from: input}}
      - {name: cat, type: concat, from: [{each: "conv{j}", for: j, in: len(ks)}]}
layers:
  - {name: a, type: MixConv, ks: [3, 5], ch: 4}
  - {name: b, type: MixConv, ks: [3, 5, 7], ch: 2}
  - {name: c, type: MixConv, ks: [1, 3, 5, 7], ch: 1}
"""


def test_lowering_records_copies_of_one_input_as_a_loop() -> None:
    mix = build_graph(MIXED, {}).root.node("b").child
    assert mix is not None
    (loop,) = mix.loops
    assert loop.nodes == ("conv0", "conv1", "conv2") and loop.count.text == "len(ks)"


def test_copies_of_one_input_indexing_a_list_argument_are_one_loop() -> None:
    """One class for every list of kernel sizes, as timm writes MixedConv2d: the convs added
    in a loop over `len(ks)`, each reading `ks[i]`, and `forward` calling each on the input."""
    source, _ = _emitted(MIXED)
    assert source.count("class MixConv(") == 1 and "class MixConv_2" not in source
    assert "def __init__(self, in_channels: int, ks: list, ch: int) -> None:" in source
    assert "for i in range(len(ks)):" in source
    assert "nn.Conv2d(in_channels, ch, kernel_size=int(ks[i]), padding=int(ks[i] // 2))" in source
    assert "self.num_layers = len(ks)\n" in source
    assert (
        '        features = [getattr(self, f"conv{i}")(x) for i in range(self.num_layers)]\n'
        "        x = torch.cat([*features], 1)  # (N, ch * len(ks), H, W)\n"
    ) in source
    assert "self.b = MixConv(8, [3, 5, 7], ch=2)" in source
    _same_function(MIXED)
    module = _load(source, "mixed_new")
    for ks, ch in (([1, 3, 5, 7, 9], 3), ([3], 2)):
        text = MIXED[: MIXED.index("layers:\n  - {name: a")]
        text += f"layers:\n  - {{name: a, type: MixConv, ks: {ks}, ch: {ch}}}\n"
        compiled = archspec.compile(text)
        _fill(compiled, ch)
        ours = module.MixConv(4, ks, ch=ch)
        ours.load_state_dict(compiled.a.state_dict(), strict=True)
        x = torch.randn(2, 4, 8, 8)
        assert torch.equal(ours.eval()(x), compiled.a.eval()(x)), ks


def test_a_chain_indexing_a_list_argument_is_one_loop() -> None:
    text = MIXED.replace("                 from: input}}\n", "}}\n").replace(
        "out_channels: ch,", "out_channels: 4,"
    )
    text = text.replace('[{each: "conv{j}", for: j, in: len(ks)}]', '[input, "conv{len(ks) - 1}"]')
    source, _ = _emitted(text)
    assert source.count("class MixConv(") == 1
    assert (
        "in_channels if i == 0 else 4, 4, kernel_size=int(ks[i]), padding=int(ks[i] // 2)" in source
    )
    assert (
        'for i in range(self.num_layers):\n            out = getattr(self, f"conv{i}")(out)'
        in source
    )
    _same_function(text)


def test_a_list_indexed_by_a_float_is_the_instances() -> None:
    """The expression language takes `ks[1.0]` as `ks[1]`; Python refuses a float index, so
    emitted code writes the instance's kernel size."""
    text = MIXED.replace("{ks: list, ch: int}", "{ks: list, ch: int, at: 1.0}").replace(
        'kernel_size: "ks[i]", padding: "ks[i] // 2"', 'kernel_size: "ks[at]", padding: 1'
    )
    source, _ = _emitted(text)
    assert "ks[at]" not in source
    _same_function(text)


def test_a_list_the_class_does_not_take_is_indexed_in_its_value() -> None:
    """The network takes no list argument: `ks[j]` there is the instance's kernel size (and
    `j` fixed), not `[3, 5][j]`, which the emitter's own check refused (E601)."""
    text = """\
archspec: 1
name: root_list
input: [N, 4, 8, 8]
params:
  ks: [3, 5]
  j: 1
layers:
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: "ks[j]", padding: "ks[j] // 2"}
"""
    source, _ = _emitted(text)
    assert "self.conv = nn.Conv2d(4, 4, kernel_size=5, padding=2)" in source
    _same_function(text)


def test_a_repeat_of_no_copies_records_a_loop_of_no_nodes() -> None:
    text = CHAIN.replace("n: 3}", "n: 0}")
    (loop,) = build_graph(text, {}).root.node("b").child.loops
    assert loop.nodes == () and loop.count.text == "n"


def _chains(*counts: int) -> str:
    """CHAIN's block called once per count, each with a width of its own."""
    head = CHAIN[: CHAIN.index("layers:\n  - {name: a")]
    rows = [
        f"  - {{name: c{k}, type: Chain, mid: {8 + 4 * k}, n: {n}}}\n" for k, n in enumerate(counts)
    ]
    return head + "layers:\n" + "".join(rows)


def test_an_instance_of_no_copies_is_an_instance_of_its_siblings_class() -> None:
    """A count of 0 made no loop in lowering, so its instance was a class of its own and,
    its loops unlike the others', every class unrolled its copies (3 classes, not 1)."""
    for counts in ((2, 0, 3), (0, 2, 3)):  # after an instance with copies, or first
        text = _chains(*counts)
        source, _ = _emitted(text)
        assert source.count("class Chain(") == 1 and "class Chain_2" not in source
        assert f"self.c1 = Chain(16, 12, n={counts[1]})" in source
        _same_function(_four_channels(text))
    stack = GROWING.replace("n: 3, g: growth}", "n: 0, g: growth}")
    source, _ = _emitted(stack)
    assert source.count("class Stack(") == 1 and "class Stack_2" not in source
    assert "self.b = Stack(4 + growth * 2, 0, g=growth)" in source
    _same_function(stack)
