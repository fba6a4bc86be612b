"""A block's `let:`s in emitted code: locals of `__init__` (torchvision's
`hidden_dim = int(round(inp * expand_ratio))`), so a block whose instances differ in the
values its lets compute stays one class; a switched join is an `if` on a flag set there."""

from __future__ import annotations

import ast

import torch

import archspec
from tests.emit_helpers import _load, matches_compile

HEADER = "archspec: 1\nname: t\ninput: [N, 8, 12, 12]\n"

#: MobileNetV2's inverted residual in small: an optional expansion, a let the layers read, a
#: residual add under a let's `when`; instances with and without each.
INVERTED = (
    HEADER
    + """
blocks:
  Inverted:
    params:
      out_channels: int
      stride: int
      t: int
    let:
      hidden: round(in_channels * t)
      use_res_connect: stride == 1 and in_channels == out_channels
    layers:
      - name: conv
        type: sequential
        layers:
          - {type: conv2d, out_channels: hidden, kernel_size: 1, when: t != 1}
          - {type: conv2d, out_channels: hidden, kernel_size: 3, padding: 1, stride: stride,
             groups: hidden}
          - {type: conv2d, out_channels: out_channels, kernel_size: 1}
      - {name: residual, type: add, from: [input, conv], when: use_res_connect}
layers:
  - {type: Inverted, out_channels: 8, stride: 1, t: 1}
  - {type: Inverted, out_channels: 16, stride: 2, t: 6}
  - {type: Inverted, out_channels: 16, stride: 1, t: 6}
  - {type: Inverted, out_channels: 16, stride: 1, t: 3}
"""
)

DIVISIBLE = (
    HEADER
    + """
blocks:
  Expand:
    params:
      ratio: float
    let:
      wide: make_divisible(in_channels * ratio, 8)
    layers:
      - {name: expand, type: conv2d, out_channels: wide, kernel_size: 1, when: wide != in_channels}
      - {name: mix, type: conv2d, out_channels: wide, kernel_size: 3, padding: 1, groups: wide}
layers:
  - {type: Expand, ratio: 1.0}
  - {type: Expand, ratio: 2.5}
  - {type: Expand, ratio: 1.5}
"""
)


def _classes(source: str) -> list[str]:
    return [n.name for n in ast.parse(source).body if isinstance(n, ast.ClassDef)]


def _same_as_compile(text: str) -> None:
    matches_compile(text, (2, 8, 12, 12))


def test_lets_and_a_switched_join_make_one_class() -> None:
    source = archspec.emit(INVERTED)
    assert _classes(source) == ["Inverted", "T"]
    assert "hidden = round(in_channels * t)" in source
    assert "if t != 1:" in source
    assert "self.use_res_connect = stride == 1 and in_channels == out_channels" in source
    assert "if self.use_res_connect:" in source
    # the depthwise conv reads `hidden` whether the expansion is there or not
    assert "nn.Conv2d(hidden, hidden, kernel_size=3" in source
    assert "Variant" not in source
    _same_as_compile(INVERTED)


def test_make_divisible_is_defined_where_a_let_calls_it() -> None:
    source = archspec.emit(DIVISIBLE)
    assert _classes(source) == ["Expand", "T"]
    assert "def make_divisible(" in source
    assert "wide = make_divisible(in_channels * ratio, 8)" in source
    # `wide if wide != in_channels else in_channels` is `wide`
    assert "nn.Conv2d(wide, wide, kernel_size=3" in source
    _same_as_compile(DIVISIBLE)
    assert "def make_divisible(" not in archspec.emit(INVERTED)


def test_a_let_emitted_code_cannot_write_fixes_its_params() -> None:
    """`sqrt` is no Python builtin: the let's params are fixed and the block splits, rather
    than a class written wrong."""
    text = DIVISIBLE.replace(
        "make_divisible(in_channels * ratio, 8)", "round(sqrt(in_channels * ratio * 8))"
    )
    source = archspec.emit(text)
    assert "sqrt" not in source.split("class ", 1)[1]
    assert len(_classes(source)) == 4
    _same_as_compile(text)


def test_ceil_and_floor_are_maths_and_keep_the_params_arguments() -> None:
    """The language's `ceil` and `floor` are `math`'s (whole numbers): the file imports
    them and the block stays one class taking `ratio`."""
    for fn in ("ceil", "floor"):
        text = DIVISIBLE.replace(
            "make_divisible(in_channels * ratio, 8)", f"{fn}(in_channels * ratio)"
        )
        source = archspec.emit(text)
        assert f"from math import {fn}\n" in source
        assert f"wide = {fn}(in_channels * ratio)" in source
        assert _classes(source) == ["Expand", "T"]
        _same_as_compile(text)
    assert "from math import" not in archspec.emit(DIVISIBLE)


def test_a_block_or_param_named_ceil_or_floor_does_not_hide_maths() -> None:
    """The names the file imports are taken: a block `ceil` is class `ceilBlock`, a param
    `floor` the argument `floor_` (a class named `ceil` made `ceil(...)` build itself)."""
    text = HEADER + (
        "blocks:\n  ceil:\n    params: {floor: int}\n    let: {w: ceil(floor / 2)}\n"
        "    layers:\n      - {name: conv, type: conv2d, out_channels: w, kernel_size: 1}\n"
        "layers:\n  - {type: ceil, floor: 5}\n  - {type: ceil, floor: 6}\n"
    )
    source = archspec.emit(text)
    assert _classes(source) == ["ceilBlock", "T"]
    assert "w = ceil(floor_ / 2)" in source
    _same_as_compile(text)


def test_a_block_named_make_divisible_does_not_hide_the_helper() -> None:
    """A block `make_divisible` was class `make_divisible`, defined after the helper of that
    name: another block's `make_divisible(w * 1.3, 8)` then built a module (E601 at compile)."""
    text = HEADER + (
        "blocks:\n  make_divisible:\n    params: {w: int}\n"
        "    layers:\n      - {name: conv, type: conv2d, out_channels: w, kernel_size: 1}\n"
        "  Other:\n    params: {w: int}\n    layers:\n      - {name: conv, type: conv2d,"
        " out_channels: 'make_divisible(w * 1.3, 8)', kernel_size: 1}\n"
        "layers:\n  - {type: make_divisible, w: 8}\n  - {type: Other, w: 8}\n"
        "  - {type: Other, w: 16}\n"
    )
    source = archspec.emit(text)
    assert _classes(source) == ["make_divisibleBlock", "Other", "T"]
    assert "def make_divisible(" in source
    _same_as_compile(text)


#: A transformer block sized by its tokens' width: the let reads `in_features`, the last dim
#: of the block's input (its channels are last, so `in_channels` is not defined there).
TOKENS = """
archspec: 1
name: tokens
input: [N, 8, 4, 4]
blocks:
  Mlp:
    params: {hidden: int}
    let:
      dim: in_features
    layers:
      - {name: fc1, type: linear, out_features: hidden}
      - {name: act, type: gelu}
      - {name: fc2, type: linear, out_features: dim}
      - {name: out, type: add, from: [fc2, input]}
layers:
  - {name: flat, type: flatten, start_dim: 2}
  - {name: to_tokens, type: permute, dims: [0, 2, 1]}
  - {name: a, type: Mlp, hidden: 32}
  - {name: widen, type: linear, out_features: 12}
  - {name: b, type: Mlp, hidden: 16}
"""


def test_block_let_reads_in_features() -> None:
    model = archspec.compile(TOKENS)
    assert model.a.fc2.out_features == 8 and model.b.fc2.out_features == 12
    source = archspec.emit(TOKENS)
    # one class, the width an argument
    assert "Mlp_2" not in source and "dim = in_channels" in source
    ours = _load(source, "tokens").Tokens()
    ours.load_state_dict(model.state_dict())
    x = torch.randn(2, 8, 4, 4)
    torch.testing.assert_close(ours(x), model(x))
