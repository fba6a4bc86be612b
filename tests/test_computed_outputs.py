"""The network's `outputs:` computed from its params: name templates and computed entries,
as a computed `from` list has them (docs/spec-language.md, Computed outputs)."""

from __future__ import annotations

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.errors import ArchSpecError

from .emit_helpers import matches_compile

PYRAMID = """\
archspec: 1
name: pyramid
input: [N, 3, 32, 32]
params:
  n: 3
layers:
  - type: repeat
    count: n
    flat: true
    names: "stage{i}"
    layer: {type: conv2d, out_channels: "4 * 2 ** i", kernel_size: 3, stride: 2, padding: 1}
outputs: OUTPUTS
"""


def _spec(outputs: str) -> str:
    return PYRAMID.replace("OUTPUTS", outputs)


@pytest.mark.parametrize("n", [2, 3, 5])
def test_a_computed_entry_returns_every_stage_a_variant_has(n: int) -> None:
    text = _spec('[{each: "stage{j}", for: j, in: n}]')
    report = archspec.check(text, params={"n": n})
    assert report.ok, report.diagnostics
    assert [s[1] for s in report.outputs] == [4 * 2**j for j in range(n)]
    model = archspec.compile(text, n=n).eval()
    with torch.no_grad():
        got = model(torch.rand(1, 3, 32, 32))
    assert [t.shape[1] for t in got] == [4 * 2**j for j in range(n)]


def test_templates_and_when_choose_the_names() -> None:
    text = _spec('["stage{n - 1}", {each: "stage{j}", for: j, in: n, when: j % 2 == 0}]')
    graph = build_graph(text)
    assert [o.name for o in graph.root.outputs] == ["stage2", "stage0", "stage2"]


def test_emitted_source_returns_the_computed_outputs() -> None:
    source = matches_compile(
        _spec('[{each: "stage{j}", for: j, in: n, when: j > 0}]'), (2, 3, 32, 32)
    )
    assert "        return stage1, x\n" in source


@pytest.mark.parametrize(
    ("outputs", "code", "col", "said"),
    [
        # a template naming no node: at its entry, once
        ('["stage{n}"]', "E305", 11, "unknown reference `stage3`"),
        # an entry over `in` naming no node: one error for the entry, not one per name
        ('[{each: "s{j}", for: j, in: n}]', "E305", 18, "unknown reference `s0`"),
        # an expression that fails: at the entry
        ('["stage{m}"]', "E302", 11, "`outputs` template 'stage{m}'"),
        # an expression written where a name goes: the template it meant, for `outputs`
        ("[\"'stage1' if n > 2 else 'stage0'\"]", "E305", 11, "`outputs` reads it as a node"),
        # every entry left out
        ('[{each: "stage{j}", for: j, in: n, when: j > 9}]', "E305", 10, "gives no node here"),
        # not a name, a template or an entry: the schema says what an entry is
        ("[3]", "E204", 11, "an `outputs` entry is a node name"),
    ],
)
def test_mistakes_are_located_at_the_entry(outputs: str, code: str, col: int, said: str) -> None:
    with pytest.raises(ArchSpecError) as exc:
        build_graph(_spec(outputs))
    text = exc.value.render()
    assert exc.value.codes == [code], text
    assert said in text and "(in " not in text, text
    assert f":12:{col}:" in text, text
