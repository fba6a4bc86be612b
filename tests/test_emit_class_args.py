"""A block's instances share one emitted class where only what they are called with differs,
and a class takes no argument it never reads.

A `reuse` of a layer, a `sequential` or a block instance on an input of other sizes (a
pooled map) gives the same class for every instance: the reused module's output is worked
out again in the class's terms (channels from its arguments, sizes from the new input),
not taken as the instance's numbers, which fixed `in_channels` and made a class per
instance. A param read only by the `when` of an item that no instance of a class keeps is
no argument of that class (it changed nothing): the class is built for its value.
"""

from __future__ import annotations

import ast
import textwrap

import pytest

from .emit_helpers import GENERATED, matches_compile


def _classes(source: str) -> dict[str, list[str]]:
    """Class name -> its `__init__` arguments (after self)."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.ClassDef):
            init = next(f for f in node.body if isinstance(f, ast.FunctionDef))
            out[node.name] = [a.arg for a in init.args.args[1:] + init.args.kwonlyargs]
    return out


def unused_arguments(source: str) -> list[tuple[str, str]]:
    """(class, argument) for each constructor argument its `__init__` never reads."""
    out = []
    for cls in ast.parse(source).body:
        if not isinstance(cls, ast.ClassDef):
            continue
        for f in cls.body:
            if isinstance(f, ast.FunctionDef) and f.name == "__init__":
                read = {n.id for n in ast.walk(f) if isinstance(n, ast.Name)}
                args = [a.arg for a in f.args.args[1:] + f.args.kwonlyargs]
                out += [(cls.name, a) for a in args if a not in read]
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


WHEN_ONLY = """\
archspec: 1
name: when_only
input: [N, 8, H, W]
blocks:
  B:
    params: {c: int, n: int, enabled: {type: bool, default: true}}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
      - {name: act, type: relu, when: enabled}
      - {name: more, type: repeat, count: n, layer: {type: conv2d, out_channels: c, kernel_size: 1}}
      - {name: s, type: add, from: [conv, more]}
layers:
  - {name: a, type: B, c: 8, n: 1}
  - {name: b, type: B, c: 8, n: 2, enabled: false}
  - {name: d, type: B, c: 16, n: 3}
  - {name: e, type: B, c: 16, n: 3, enabled: false}
"""


def test_a_param_only_an_unkept_items_when_reads_is_no_argument() -> None:
    """`B_2`'s one instance switches `act` off and keeps no `if` for it: `enabled` was its
    argument all the same, read nowhere (`B_2(8, 8, enabled=True)` built no ReLU). It is
    now no argument, and the docstring says the class is built for enabled=False; the
    classes whose instances keep `act` still take it."""
    source = matches_compile(WHEN_ONLY, (2, 8, 8, 8))
    assert unused_arguments(source) == []
    classes = _classes(source)
    assert classes["B_2"] == ["in_channels", "c"]
    assert classes["B"] == classes["B_3"] == ["in_channels", "c", "enabled"]
    assert "built for enabled=False, n=2." in source
    assert "self.b = B_2(8, 8)" in source and "self.e = B_3(16, 16, enabled=False)" in source


def test_no_shipped_module_takes_an_argument_it_never_reads() -> None:
    files = sorted(GENERATED.rglob("*.py"))
    assert len(files) > 20
    assert [(f.name, u) for f in files for u in unused_arguments(f.read_text())] == []
