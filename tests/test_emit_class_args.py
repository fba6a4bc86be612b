"""A block's instances share one emitted class where only what they are called with differs.

A `reuse` of a layer, a `sequential` or a block instance on an input of other sizes (a
pooled map) gives the same class for every instance: the reused module's output is worked
out again in the class's terms (channels from its arguments, sizes from the new input),
not taken as the instance's numbers, which fixed `in_channels` and made a class per
instance.
"""

from __future__ import annotations

import ast
import textwrap

import pytest

from .emit_helpers import matches_compile


def _classes(source: str) -> dict[str, list[str]]:
    """Class name -> its `__init__` arguments (after self)."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            init = next(f for f in node.body if isinstance(f, ast.FunctionDef))
            out[node.name] = [a.arg for a in init.args.args[1:] + init.args.kwonlyargs]
    return out


REUSED = {
    "a layer": "- {name: a, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}",
    "a sequential": """\
- name: a
  type: sequential
  layers:
    - {type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
    - {type: relu}
""",
    "a block instance": "- {name: a, type: unit, c: c}",
}


@pytest.mark.parametrize("what", list(REUSED))
def test_a_reuse_on_a_smaller_input_keeps_one_class(what: str) -> None:
    """`pair` calls `a` on its input and again on the input pooled: three instances with
    other `in_channels` and `c` are one class `pair(in_channels, c)` (they were `pair`,
    `pair_2`, `pair_3`, each writing its numbers), which computes what compile's does."""
    reused = textwrap.indent(REUSED[what], " " * 6).lstrip()
    text = f"""\
archspec: 1
name: reuse_pairs
input: [N, 8, H, W]
blocks:
  unit:
    params: {{c: int}}
    layers:
      - {{type: conv2d, out_channels: c, kernel_size: 3, padding: 1}}
      - {{type: relu}}
  pair:
    params: {{c: int}}
    layers:
      {reused}
      - {{name: pool, type: maxpool2d, kernel_size: 2, from: input}}
      - {{name: b, type: reuse, node: a, from: pool}}
      - {{name: d, type: conv2d, out_channels: c, kernel_size: 1}}
layers:
  - {{name: p1, type: pair, c: 16}}
  - {{name: p2, type: pair, c: 16}}
  - {{name: p3, type: pair, c: 32}}
"""
    source = matches_compile(text, (2, 8, 32, 32))
    classes = _classes(source)
    assert [n for n in classes if n.startswith("pair")] == ["pair"], list(classes)
    assert classes["pair"] == ["in_channels", "c"]
    assert "self.d = nn.Conv2d(c, c, kernel_size=1)" in source
    assert "self.p3 = pair(16, 32)" in source


def test_a_reused_module_whose_output_follows_its_input_sizes() -> None:
    """A reuse feeding a layer whose size is the reused output's (a linear over the pooled
    map flattened) is written with numbers that are right, checked against compile."""
    text = """\
archspec: 1
name: reuse_flat
input: [N, 4, 8, 8]
blocks:
  head:
    params: {c: int}
    layers:
      - {name: a, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
      - {name: pool, type: avgpool2d, kernel_size: 2, from: input}
      - {name: b, type: reuse, node: a, from: pool}
      - {type: flatten}
      - {type: linear, out_features: 10}
layers:
  - {name: h1, type: head, c: 6}
"""
    source = matches_compile(text, (2, 4, 8, 8))
    assert "nn.Linear(96, 10)" in source
