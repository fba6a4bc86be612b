"""A value that one instance of a block gives a layer field and the field refuses: the
message begins with the instance's node and the field. Met writing timm's ReXNet from the
docs: sixteen blocks from one `repeat` line, each cutting its output at the input's width
(`split_size: [cin, out - cin]`); the one whose widths were equal said only "0 is below
the minimum 1" at the block's line, which does not say which of the sixteen it was."""

from __future__ import annotations

import textwrap

import pytest

import archspec
from archspec.errors import ArchSpecError

PARTIAL = textwrap.dedent(
    """\
    archspec: 1
    name: partial
    input: [N, 16, 8, 8]
    params:
      widths: [24, 24, 32]
    blocks:
      Partial:
        params: {out: int}
        let: {cin: in_channels}
        layers:
          - {name: conv, type: conv2d, out_channels: out, kernel_size: 1}
          - {type: split, split_size: [cin, out - cin], names: [head, tail]}
          - {name: summed, type: add, from: [head, input]}
          - {name: y, type: concat, from: [summed, tail]}
    layers:
      - {name: features, type: repeat, count: len(widths), layer: {type: Partial, out: "widths[i]"}}
    """
)


def _error(text: str) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    return info.value


def test_a_refused_value_names_the_instance_and_the_field() -> None:
    e = _error(PARTIAL)
    assert e.codes == ["E309"], e.render()
    d = e.diagnostics[0]
    # features.0 goes from 16 to 24 channels; features.1 keeps 24, so its tail is empty
    assert d.message == "features.1.head: split_size: 0 is below the minimum 1"
    assert (d.span.line, d.span.col) == (12, 35)


def test_instances_with_the_same_mistake_are_still_one_error() -> None:
    calls = (
        "layers:\n"
        "  - {name: a, type: Partial, out: 16}\n"
        "  - {name: b, type: Partial, out: 24, from: input}\n"
        "  - {name: c, type: Partial, out: 16, from: input}\n"
    )
    e = _error(PARTIAL.split("layers:\n  - {name: features")[0] + calls)
    assert e.codes == ["E309"], e.render()
    assert e.diagnostics[0].message == (
        "a.head: split_size: 0 is below the minimum 1 (in 2 instances)"
    )


def test_an_index_past_a_table_names_the_instance() -> None:
    text = PARTIAL.replace("widths: [24, 24, 32]", "widths: [24, 25, 48]\n  ks: [1, 3]")
    e = _error(text.replace("kernel_size: 1}", 'kernel_size: "ks[out // 16 - 1]"}'))
    assert e.codes == ["E308"], e.render()
    d = e.diagnostics[0]
    assert d.message.startswith("features.2.conv: kernel_size: "), d.message
    assert "index 2" in d.message, d.message


def test_a_value_of_the_network_itself_names_its_node() -> None:
    text = (
        PARTIAL.split("blocks:")[0]
        + "layers:\n  - {name: stem, type: conv2d, out_channels: 0, kernel_size: 1}\n"
    )
    e = _error(text)
    assert [d.message for d in e.diagnostics] == ["stem: out_channels: 0 is below the minimum 1"]
