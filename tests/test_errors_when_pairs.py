"""Two nodes of one name under `when`s that both held, met writing timm's DLA-34 from the
docs: a tree's `project` is a 1x1 conv `when: in_channels != out` and an identity `when:
in_channels == out`. Each `when` reads the channels of its own node's input, which the conv
had just made `out`, so both held and the check said only "duplicate name ... make them
unique", which is what the writer had tried not to do. The hint now says that both `when`s
held, with the two values `in_channels` had, and how to test the block's own width."""

from __future__ import annotations

import textwrap

import pytest
import torch

import archspec
from archspec.errors import ArchSpecError

TREE = textwrap.dedent(
    """
    archspec: 1
    name: tree
    input: [N, 32, 16, 16]
    blocks:
      Tree:
        params: {out: int}
        LET
        layers:
          - name: project
            type: sequential
            when: WIDTH != out
            layers:
              - {type: conv2d, out_channels: out, kernel_size: 1, bias: false}
              - {type: batchnorm2d}
          - {name: project, type: identity, when: WIDTH == out}
          - {name: conv, type: conv2d, out_channels: out, kernel_size: 3, padding: 1, from: input}
          - {name: sum, type: add, from: [conv, project]}
    layers:
      - {name: level, type: Tree, out: 64}
    """
).lstrip()


def _error(text: str) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    return info.value


def test_both_whens_on_in_channels_held_and_the_hint_says_whose_channels_they_read() -> None:
    e = _error(TREE.replace("LET", "").replace("WIDTH", "in_channels"))
    assert e.codes == ["E304"], e.render()
    d = e.diagnostics[0]
    assert d.message == "duplicate name `project` in this module"
    assert (d.span.line, d.span.col) == (15, 16)
    assert d.hint is not None and d.hint.startswith(
        "both `when`s hold here (`in_channels != out` and `in_channels == out`): `in_channels` "
        "is the channel count of each node's own input (32 at the first, 64 here), not the "
        "block's; bind the block's once (`let: {cin: in_channels}`) and test `cin`"
    ), d.hint
    assert d.hint.endswith("(the other `project` is at <string>:9:9)"), d.hint
    # the cure the hint gives builds the tree
    fixed = TREE.replace("LET", "let: {cin: in_channels}").replace("WIDTH", "cin")
    model = archspec.compile(fixed)
    assert model(torch.randn(1, 32, 4, 4)).shape == (1, 64, 4, 4)
    assert [k for k in model.state_dict() if k.startswith("level.project")][:1] == [
        "level.project.0.weight"
    ]


def test_both_whens_held_without_in_channels_say_they_must_exclude_each_other() -> None:
    text = TREE.replace("LET", "let: {w: 32}").replace("WIDTH != out", "w < 64")
    e = _error(text.replace("WIDTH == out", "w < 48"))
    assert e.codes == ["E304"], e.render()
    assert e.diagnostics[0].hint == (
        "both `when`s hold here (`w < 64` and `w < 48`): two nodes of one name need `when`s "
        "that never hold together (the other `project` is at <string>:9:9)"
    )


def test_a_duplicate_without_whens_keeps_its_hint() -> None:
    text = TREE.replace("LET", "").replace("when: WIDTH != out", "when: true")
    e = _error(text.replace(", when: WIDTH == out", ""))
    assert e.codes == ["E304"], e.render()
    assert e.diagnostics[0].hint == (
        "names become attribute names and state_dict keys; make them unique "
        "(the other `project` is at <string>:9:9)"
    )
