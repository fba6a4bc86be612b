"""The channel dim followed through layers that change the rank: `in_channels` after a
flatten of tokens into rows and back (LeViT's LinearNorm), dim 1 kept by a flatten of NCHW,
and one emitted class for a block whose input's channel dim a reshape lost."""

from __future__ import annotations

import ast

import torch

import archspec
from archspec.api import build_graph
from archspec.ops.axes import moved_axis

from .ops_cases import same_as_emitted

_ROWS = """
archspec: 1
name: rows_and_back
input: [N, 6, 8]
layers:
  - {name: tokens, type: permute, dims: [0, 2, 1]}
  - {name: proj, type: linear, out_features: 12}
  - {name: rows, type: flatten, start_dim: 0, end_dim: 1}
  - {name: bn, type: batchnorm1d, num_features: in_channels}
  - {name: back, type: unflatten, dim: 0, unflattened_size: [-1, 8]}
  - {name: widen, type: linear, out_features: in_features * 2}
"""


def test_in_channels_follows_tokens_into_rows_and_back() -> None:
    """flatten(0, 1) of (N, L, C) moves C to dim 1, unflatten(0, ...) moves it back to the
    end (where `in_channels` is E302, since it reads dim 1): the flatten made it E302 before."""
    graph = build_graph(_ROWS)
    nodes = {n.name: n for n in graph.root.nodes}
    assert nodes["bn"].attrs["num_features"] == 12
    assert nodes["widen"].attrs["out_features"] == 24
    model = archspec.compile(_ROWS)
    assert model(torch.randn(2, 6, 8)).shape == (2, 8, 24)


def test_flatten_of_nchw_keeps_dim_1() -> None:
    """A flatten of (N, C, H, W) keeps `in_channels` at dim 1, the flattened width, as
    always (docs/spec-language.md, in_channels)."""
    text = """
archspec: 1
name: flat
input: [N, 3, 4, 4]
layers:
  - {name: flat, type: flatten}
  - {name: fc, type: linear, out_features: in_channels + 1}
"""
    nodes = {n.name: n for n in build_graph(text).root.nodes}
    assert nodes["fc"].attrs["out_features"] == 49


def test_moved_axis() -> None:
    """Dims both shapes start or end with come through whole; a merged or split dim is lost,
    but dim 1 merged with the dims after it stays dim 1."""
    from archspec.dims import Dim

    n, l_, c = Dim.of("N"), Dim.of(196), Dim.of(128)
    assert moved_axis(2, (n, l_, c), (n * l_, c)) == 1
    assert moved_axis(1, (n * l_, c), (n, l_, c)) == 2
    assert moved_axis(0, (n, l_, c), (n * l_, c)) is None
    assert moved_axis(1, (n, c, Dim.of(4), Dim.of(4)), (n, c * 16)) == 1
    assert moved_axis(2, (n, l_, c), (n, l_, Dim.of(4), Dim.of(32))) is None
    assert moved_axis(1, (n, c, l_), (n * c, l_)) is None


_HEADS = """
archspec: 1
name: heads_merged
input: [N, 24, 16]
blocks:
  RowNorm:
    params: {out: int}
    layers:
      - {name: linear, type: linear, out_features: out, bias: false}
      - {name: rows, type: flatten, start_dim: 0, end_dim: 1}
      - {name: bn, type: batchnorm1d}
      - {name: back, type: unflatten, dim: 0, unflattened_size: [-1, 16]}
layers:
  - {name: tokens, type: permute, dims: [0, 2, 1]}
  - {name: first, type: RowNorm, out: 32}
  - {name: second, type: RowNorm, out: 32}
  - {name: heads, type: reshape, shape: [0, 0, 4, -1]}
  - {name: mixed, type: permute, dims: [0, 2, 1, 3]}
  - {name: unmixed, type: permute, dims: [0, 2, 1, 3]}
  - {name: joined, type: reshape, shape: [0, 0, -1]}
  - {name: third, type: RowNorm, out: 8}
"""


def test_one_class_when_a_reshape_lost_the_channel_dim() -> None:
    """`third`'s input came through a split into heads and back, so lowering no longer
    knows its channel dim; the block's class still takes its width as an argument (read
    where `first` has it) instead of a class per width, and equals compile."""
    graph = build_graph(_HEADS)
    nodes = {n.name: n for n in graph.root.nodes}
    assert nodes["second"].child is not None and nodes["second"].child.in_axis == 2
    assert nodes["third"].child is not None and nodes["third"].child.in_axis is None
    source = archspec.emit(_HEADS)
    tree = ast.parse(source)
    classes = [c.name for c in tree.body if isinstance(c, ast.ClassDef)]
    assert classes.count("RowNorm") == 1 and not any(c.startswith("RowNorm_") for c in classes)
    assert "RowNorm(32, 8)" in source
    same_as_emitted(_HEADS, torch.randn(3, 24, 16))
