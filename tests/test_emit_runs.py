"""Source emission, runs of equal constructors: a named chain's copies that count up after a
common prefix (RegNet's `block3-1` ... `block3-10`, ViT's `encoder_layer_0` ...) are one
comprehension of `(f"prefix{i}", Block(...))` pairs, as torchvision's files build them in a
loop; anything else stays one pair a line. The emitted module holds compile's keys, in order,
and computes what it computes."""

from __future__ import annotations

import ast

import pytest

from archspec.backends.emit.runs import compress_named
from archspec.backends.pycode import lit
from archspec.backends.pylayout import call, flat

from .emit_helpers import matches_compile

STAGE = """\
archspec: 1
name: stage
input: [N, CIN, 8, 8]
blocks:
  Unit:
    params: {c: int}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
      - {name: relu, type: relu}
layers:
  - name: trunk
    type: repeat
    count: 6
    layer: {type: Unit, NAMES, c: 8}
"""


def _stage(naming: str, cin: int = 8) -> str:
    return STAGE.replace("NAMES", naming).replace("CIN", str(cin))


def _comprehensions(source: str) -> list[str]:
    """Each comprehension of (name, constructor) pairs, as its name template and range."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ListComp | ast.GeneratorExp) and isinstance(node.elt, ast.Tuple):
            name = node.elt.elts[0]
            if isinstance(name, ast.JoinedStr):
                found.append(f"{ast.unparse(name)} {ast.unparse(node.generators[0].iter)}")
    return found


@pytest.mark.parametrize(
    ("naming", "runs"),
    [
        ('key: "block-{i}"', ["f'block-{i}' range(6)"]),
        ('key: "stage1.{i + 1}"', []),  # a dotted key nests containers: no run of one chain
        ('key: "layer{i + 1}"', ["f'layer{i}' range(1, 7)"]),
        ('key: "u_{i + 7}"', ["f'u_{i}' range(7, 13)"]),
        ('key: "b-0{i}"', ["f'b-0{i}' range(6)"]),  # b-00 ... b-05
    ],
)
def test_copies_named_by_their_index_are_one_comprehension(naming: str, runs: list[str]) -> None:
    source = matches_compile(_stage(naming), (2, 8, 8, 8))
    assert _comprehensions(source) == runs


def test_a_run_after_an_entry_that_differs_keeps_the_order_of_keys() -> None:
    source = matches_compile(_stage('key: "s-{i}"', cin=4), (2, 4, 8, 8))
    assert _comprehensions(source) == ["f's-{i}' range(1, 6)"]
    assert source.index('"s-0"') < source.index('f"s-{i}"')


@pytest.mark.parametrize(
    "naming",
    [
        'key: "b{2 * i}"',  # the index steps by two
        'key: "b{5 - i}"',  # counts down
        'key: "x{i}_y"',  # the index is not at the end
    ],
)
def test_other_names_stay_one_pair_a_line(naming: str) -> None:
    source = matches_compile(_stage(naming), (2, 8, 8, 8))
    assert _comprehensions(source) == []


@pytest.mark.parametrize("prefix", ['q"', "q{", "q}", "q\\"])
def test_a_prefix_a_format_string_cannot_hold_stays_one_pair_a_line(prefix: str) -> None:
    # keys never hold these (E204), so the emitter's own guard is tested directly
    doc = call("Unit", ["8"])
    pairs = compress_named([f"{prefix}{i}" for i in range(4)], [doc] * 4)
    assert [flat(p) for p in pairs] == [f"({lit(prefix + str(i))}, Unit(8))" for i in range(4)]
    assert flat(compress_named([f"q{i}" for i in range(4)], [doc] * 4)[0]).startswith("*[(f")
