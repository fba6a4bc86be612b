"""A block's `outputs:` takes what the network's takes: name templates and computed
`{each, for, in, when}` entries, worked out per instance in its params and lets (a backbone
returning each of its `n` stages). It took names only: such an entry was E201."""

from __future__ import annotations

import pytest
import torch

import archspec
from archspec.errors import ArchSpecError
from tests.ops_cases import same_as_emitted

BACKBONE = """\
archspec: 1
name: backbone_feats
input: [N, 3, 64, 64]
blocks:
  Backbone:
    params: {n: int}
    layers:
      - type: repeat
        count: n
        flat: true
        names: "stage{i}"
        layer: {type: conv2d, out_channels: "8 * 2 ** i", kernel_size: 3, stride: 2, padding: 1}
    outputs: [{each: "stage{j}", for: j, in: n, when: j > 0}]
  Last:
    params: {n: int}
    layers:
      - {type: repeat, count: n, flat: true, names: "fc{i}", layer: {type: relu}}
    outputs: ["fc{n - 1}"]
layers:
  - {name: body, type: Backbone, n: 3, names: [c2, c3]}
  - {name: more, type: Backbone, n: 4, names: [d2, d3, d4], from: input}
  - {name: head, type: conv2d, out_channels: 4, kernel_size: 1, from: c3}
  - {name: tail, type: Last, n: 3}
outputs: [c2, head, d4, tail]
"""


def test_each_instance_returns_the_stages_its_params_give() -> None:
    result = archspec.check(BACKBONE)
    assert result.ok and not result.warnings, result.render()
    shapes = [tuple(str(d) for d in s) for s in result.outputs]
    assert shapes == [
        ("N", "16", "16", "16"),
        ("N", "4", "8", "8"),
        ("N", "64", "4", "4"),
        ("N", "4", "8", "8"),
    ]
    same_as_emitted(BACKBONE, torch.rand(2, 3, 32, 48))


@pytest.mark.parametrize(
    ("old", "new", "code", "words", "line"),
    [
        ("names: [c2, c3]}", "names: [c2]}", "E305", "returns 2 outputs (stage1, stage2)", 20),
        ("when: j > 0}]", "when: j > 9}]", "E305", "every computed entry is left out", 13),
        ('"fc{n - 1}"', '"fc{n + 2}"', "E305", "fc5", 18),
        ('"fc{n - 1}"', '"fc{m}"', "E302", "m", 18),
    ],
)
def test_a_computed_output_that_fails_is_located(
    old: str, new: str, code: str, words: str, line: int
) -> None:
    text = BACKBONE.replace(old, new)
    with pytest.raises(ArchSpecError) as exc:
        archspec.compile(text, device="meta")
    diag = exc.value.diagnostics[0]
    assert diag.code == code and words in diag.message, diag.message
    assert diag.span is not None and diag.span.line == line, diag.span
