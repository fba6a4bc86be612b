"""An explicit `add` of two maps of different spatial sizes: met checking timm's DLA-34,
written from the docs, at a 33x33 input (timm refuses it too). Its tree adds a stride-2
conv's output to a max-pooled shortcut, which agree for even sizes only; the hint said
"add a projection shortcut", which the tree has. It now says how two sides come to
different sizes, and that the network may not take this input size."""

from __future__ import annotations

import textwrap

import archspec

TREE = textwrap.dedent(
    """\
    archspec: 1
    name: tree
    input: [N, 8, 32, 32]
    layers:
      - {name: pool, type: maxpool2d, kernel_size: 2}
      - {name: conv, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1,
         from: input}
      - {name: summed, type: add, from: [conv, pool]}
    """
)


def test_sides_that_round_an_odd_size_apart_say_so() -> None:
    (err,) = archspec.check(TREE, input=(1, 8, 33, 33)).errors
    assert err.code == "E402"
    assert err.message == (
        "summed: add joins inputs whose dim 2 differ: 17 vs 16 ((1, 8, 17, 17) + (1, 8, 16, 16))"
    )
    assert err.hint is not None and err.hint.startswith(
        "both sides must reach the same size: a side that skips the other's downsampling needs "
        "the same stride"
    )
    assert "or the network does not take this input size" in err.hint
    assert archspec.check(TREE, input=(1, 8, 34, 34)).ok


def test_a_side_that_skips_the_stride_is_told_the_same() -> None:
    text = TREE.replace("kernel_size: 2}", "kernel_size: 1}")
    (err,) = archspec.check(text).errors
    assert err.code == "E402" and "dim 2 differ: 16 vs 32" in err.message
    assert err.hint is not None and "(a projection shortcut, or a pool)" in err.hint


def test_tokens_and_channels_keep_their_hints() -> None:
    text = TREE.replace("out_channels: 8", "out_channels: 4").replace("33", "32")
    (err,) = archspec.check(text).errors
    assert "channels differ: 4 vs 8" in err.message
    assert err.hint is not None and err.hint.startswith("add a projection shortcut")


def test_the_w403_of_a_check_at_another_input_speaks_of_that_input() -> None:
    """The same tree leaves the accepted sizes unknown (a side may be 1 and broadcast): W403.
    Checked at an input given with `--input`, its hint spoke of "the declared input"."""
    (declared,) = archspec.check(TREE).warnings
    assert declared.code == "W403"
    assert declared.hint == (
        "shapes are checked for the declared input only; `--input` (in Python, `input=`) "
        "checks another size"
    )
    (given,) = archspec.check(TREE, input=(1, 8, 34, 34)).warnings
    assert given.code == "W403"
    assert given.hint == (
        "shapes are checked for the input given only: which others the network takes is not known"
    )
