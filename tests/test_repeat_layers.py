"""`repeat` and `for_each` with `layers:`: several items per copy, each named by its own
template of `names` (HarDNet's `links{k}` concat and `layer{k}` conv), spliced flat or in a
Sequential; and the errors of a `layers`, `layer` and `names` that do not fit together."""

from __future__ import annotations

import textwrap
from collections import OrderedDict
from types import SimpleNamespace

import pytest
import torch
from torch import nn

import archspec
from archspec.constructs.repeat import RepeatNode
from archspec.errors import ArchSpecError
from archspec.lowering.bound import LeastItems

from .emit_helpers import matches_compile
from .test_from_lists import RefHarDBlock, same_model


def spec(body: str, header: str = "input: [N, 8, 8, 8]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body)


def errors(text: str) -> list[tuple[str, int, int, str, str]]:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    return [
        (d.code, d.span.line, d.span.col, d.message, d.hint or "")
        for d in info.value.diagnostics
        if d.span is not None
    ]


# HarDNet's block: copy t makes layer k = t + 1, a concat of what it reads (an even layer
# reads several) then the conv; an odd layer reads the one before it, the item before it.
HARD = spec(
    """
    params: {n: 8, keep_base: false}
    blocks:
      ConvLayer:
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
          - type: repeat
            count: n
            index: t
            flat: true
            names: ["links{t + 1}", "layer{t + 1}"]
            layers:
              - type: concat
                when: (t + 1) % 2 == 0
                from:
                  - {each: "layer{t + 1 - 2 ** j}", for: j, in: 10,
                     when: "(t + 1) % 2 ** j == 0 and 2 ** j < t + 1"}
                  - {each: input, for: j, in: 10, when: "2 ** j == t + 1"}
              - {type: ConvLayer, k: t + 1, growth: growth, grmul: grmul}
          - name: out
            type: concat
            from:
              - {each: input, when: keep_base}
              - {each: "layer{k}", for: k, in: n + 1, when: "k > 0 and (k % 2 == 1 or k == n)"}
    layers:
      - {name: block, type: HarDBlock, n: n, growth: 4, grmul: 1.7, keep_base: keep_base}
    """
)


@pytest.mark.parametrize(("n", "keep_base"), [(8, False), (4, True), (1, False), (16, False)])
def test_a_hardnet_block_of_two_items_per_copy_is_the_reference(n: int, keep_base: bool) -> None:
    ours = archspec.compile(HARD, n=n, keep_base=keep_base)
    ref = nn.Sequential(OrderedDict(block=RefHarDBlock(8, n, 4, 1.7, keep_base)))
    same_model(ours, ref, (2, 8, 8, 8))
    ref.load_state_dict(ours.state_dict(), strict=True)
    ours.load_state_dict(ref.state_dict(), strict=True)


def test_the_hardnet_block_emits_what_compile_builds_one_line_per_item() -> None:
    source = matches_compile(HARD, (2, 8, 8, 8))
    assert "out = torch.cat([layer3, layer2, x], 1)" in source
    # an odd layer's concat is switched off: its conv reads the layer before, as timm's
    assert "layer3 = self.layer3(layer2)" in source and "layer1 = self.layer1(x)" in source


def test_items_of_a_copy_in_a_sequential_take_their_templates_names() -> None:
    text = spec(
        """
        layers:
          - name: stage
            type: repeat
            count: 2
            names: ["conv{i}", "act{i}"]
            layers:
              - {type: conv2d, out_channels: "4 * (i + 1)", kernel_size: 1}
              - {type: relu}
        """
    )
    model = archspec.compile(text)
    assert [n for n, _ in model.stage.named_children()] == ["conv0", "act0", "conv1", "act1"]
    assert model.stage.conv1.in_channels == 4 and model.stage.conv1.out_channels == 8
    matches_compile(text, (1, 8, 4, 4))


def test_unnamed_items_of_flat_rows_are_numbered_where_they_land() -> None:
    """Each row makes a conv, then a pool only where `down` says: numbered in the parent
    list like written items (the alternatives-over-`2 * n` form, without the index sums)."""
    text = spec(
        """
        layers:
          - {type: conv2d, out_channels: 8, kernel_size: 1}
          - type: for_each
            rows: [[8, 1], [16, 0], [24, 1]]
            fields: [width, down]
            flat: true
            layers:
              - {type: conv2d, out_channels: width, kernel_size: 3, padding: 1}
              - {type: maxpool2d, kernel_size: 2, when: down == 1}
        """
    )
    model = archspec.compile(text)
    kinds = [(n, type(m).__name__) for n, m in model.named_children()]
    assert kinds == [
        ("0", "Conv2d"),
        ("1", "Conv2d"),
        ("2", "MaxPool2d"),
        ("3", "Conv2d"),
        ("4", "Conv2d"),
        ("5", "MaxPool2d"),
    ]
    assert model(torch.zeros(1, 8, 8, 8)).shape == (1, 24, 2, 2)


def test_a_later_item_reads_an_earlier_one_of_its_copy_by_its_template() -> None:
    text = spec(
        """
        layers:
          - type: repeat
            count: 2
            flat: true
            names: ["conv{i}", "act{i}", "sum{i}"]
            layers:
              - {type: conv2d, out_channels: 8, kernel_size: 1}
              - {type: relu}
              - {type: add, from: ["act{i}", "conv{i}"]}
        """
    )
    graph = archspec.build_graph(text)
    sums = [n for n in graph.root.nodes if n.name.startswith("sum")]
    assert [(n.name, n.inputs) for n in sums] == [
        ("sum0", ("act0", "conv0")),
        ("sum1", ("act1", "conv1")),
    ]
    matches_compile(text, (1, 8, 4, 4))


def test_a_repeat_of_several_items_counts_them_toward_the_least_bound() -> None:
    """The bound of a block before it is expanded (E310) counts each item a copy always
    makes, not the ones under a `when`."""
    relu = SimpleNamespace(type="relu", when=None)
    maybe = SimpleNamespace(type="relu", when="i > 0")
    rep = RepeatNode.model_construct(
        type="repeat", count=3, layer=None, layers=[relu, relu, maybe], when=None
    )
    assert LeastItems({}, 10_000).items(rep) == 1 + 3 * 2


BAD = spec(
    """
    layers:
      - type: repeat
        count: 2
        flat: true
    {}
    """,
    "input: [N, 4, 8, 8]\nparams: {{n: 2}}",
)
TWO = "[{type: conv2d, out_channels: 4, kernel_size: 1}, {type: relu}]"


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        (f'names: ["a{{i}}"]\nlayers: {TWO}', ("E204", 10, 12, "lists 1 template and", "one")),
        (f'names: "a{{i}}"\nlayers: {TWO}', ("E204", 10, 12, "is one template", "list one")),
        ('names: ["a{i}", "b{i}"]\nlayer: {type: relu}', ("E204", 10, 12, "one `layer`", "")),
        (f'names: ["a{{i}}", "a{{i}}"]\nlayers: {TWO}', ("E304", 10, 21, "listed twice", "")),
        (f'names: ["a{{i}}", "b{{n}}"]\nlayers: {TWO}', ("E304", 10, 21, "changes", "`b{i}`")),
        (f"layer: {{type: relu}}\nlayers: {TWO}", ("E204", 11, 13, "not both", "keep one")),
        ('names: ["a{i}", "b{i}"]', ("E203", 7, 5, "`layer`", "`layers`")),
        (
            'names: ["a{i}", "b{i}"]\nlayers: [{type: relu, key: "x-{i}"}, {type: relu}]',
            ("E204", 11, 32, "by its `key`", "keep one"),
        ),
    ],
)
def test_layers_names_and_layer_that_do_not_fit_are_located(
    fields: str, expected: tuple[str, int, int, str, str]
) -> None:
    text = BAD.format(textwrap.indent(fields, "    "))
    [(code, line, col, message, hint)] = errors(text)
    assert (code, line, col) == expected[:3], (message, text)
    assert expected[3] in message and expected[4] in hint


# for_each rows whose copies' names clash: the hint says what tells the copies apart there
# (N27's and H27's reproducers: the index restarts in each row; `row_index` read unset)
ROWS = spec(
    """
    params:
      widths: [[8], [16]]
    layers:
      - type: for_each
        rows: widths
        fields: [w]
        index: s
        flat: true
    {}
        layers:
          - {{type: conv2d, out_channels: w, kernel_size: 1}}
          - {{type: relu}}
    """
)


@pytest.mark.parametrize(
    ("names", "message", "hint"),
    [
        ('["conv{s + 1}", "act{s + 1}"]', "gives `conv1` to two copies", "`row_index: r`"),
        ('["c{row_index}", "p{row_index}"]', "reads nothing that changes", "`row_index` names"),
    ],
)
def test_a_name_clash_of_rows_says_what_tells_the_rows_apart(
    names: str, message: str, hint: str
) -> None:
    [(code, _, _, got, got_hint)] = errors(ROWS.format(f"    names: {names}"))
    assert code == "E304" and message in got, got
    assert hint in got_hint and "`block{" not in got_hint, got_hint
