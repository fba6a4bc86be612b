"""A block's params that sizes in `forward` read (an `unflatten` into `radix` paths, a `reshape`
into `heads`) are stored by `__init__` (`self.radix = radix`, as timm's SplitAttn) and read
from there, so the block is one class for every value; before, each value was a class of its
own (`SplitAttn_2`, "built for out=32, radix=4"). A param whose name a submodule takes keeps
the old way: the instance's number, a class per value."""

from __future__ import annotations

import re

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.backends.pysource import render_module

from .emit_helpers import _layout, _load, matches_compile

SPLIT = """archspec: 1
name: split_net
input: [N, 64, H, W]
blocks:
  SplitAttn:
    params: {out: int, radix: int, attn: int}
    layers:
      - {name: conv, type: conv2d, out_channels: out * radix, kernel_size: 3, padding: 1,
         groups: radix, bias: false}
      - {name: bn0, type: batchnorm2d}
      - {name: act0, type: relu, inplace: true}
      - {name: paths, type: unflatten, dim: 1, unflattened_size: [radix, out]}
      - {name: gap, type: sum, dim: [1]}
      - {name: pooled, type: mean, dim: [2, 3], keepdim: true}
      - {name: fc1, type: conv2d, out_channels: attn, kernel_size: 1}
      - {name: act1, type: relu, inplace: true}
      - {name: fc2, type: conv2d, out_channels: out * radix, kernel_size: 1}
      - {name: by_path, type: unflatten, dim: 1, unflattened_size: [radix, out]}
      - {name: weights, type: softmax, dim: 1}
      - {name: weighted, type: mul, from: [paths, weights]}
      - {name: out, type: sum, dim: [1]}
  Heads:
    params: {heads: int}
    layers:
      - {name: split, type: reshape, shape: [0, heads, -1]}
      - {name: soft, type: softmax, dim: -1}
      - {name: back, type: reshape, shape: [0, heads * 8, 4, 4]}
layers:
"""


def _split(*calls: tuple[int, int, int]) -> str:
    lines = [
        f"  - {{name: s{i}, type: SplitAttn, out: {o}, radix: {r}, attn: {a}}}\n"
        for i, (o, r, a) in enumerate(calls)
    ]
    return SPLIT + "".join(lines)


def _classes(source: str) -> list[str]:
    return re.findall(r"^class (\w+)\(", source, re.M)


def _class_text(source: str, name: str) -> str:
    start = source.index(f"class {name}(")
    end = source.find("\nclass ", start + 1)
    return source[start : end if end > 0 else None]


def test_unflatten_sizes_from_params_are_stored_and_one_class_serves_every_value() -> None:
    source = matches_compile(_split((64, 2, 32), (32, 4, 16), (32, 2, 16)), (2, 64, 6, 5))
    assert _classes(source) == ["SplitAttn", "SplitNet"]
    cls = _class_text(source, "SplitAttn")
    assert "def __init__(self, in_channels: int, out: int, radix: int, attn: int)" in cls
    assert "        self.out = out\n        self.radix = radix\n" in cls
    assert "paths = x.unflatten(1, (self.radix, self.out))  # (N, radix, out, H, W)" in cls
    assert "x.unflatten(1, (self.radix, self.out))  # (N, radix, out, 1, 1)" in cls
    assert "Built for" not in cls and "Variant" not in cls
    assert "self.s1 = SplitAttn(64, 32, radix=4, attn=16)" in source


@pytest.mark.parametrize("c, out, radix", [(48, 16, 3), (8, 8, 1)])
def test_the_class_builds_split_attention_the_spec_never_made(c: int, out: int, radix: int) -> None:
    module = _load(render_module(build_graph(_split((64, 2, 32), (32, 4, 16)))), "split_new")
    text = _split((out, radix, 8)).replace("[N, 64, H, W]", f"[N, {c}, H, W]")
    ref = archspec.compile(text).eval()
    ours = module.SplitAttn(c, out, radix, 8).eval()
    assert _layout(ours) == _layout(ref.s0)
    ours.load_state_dict(ref.s0.state_dict(), strict=True)
    x = torch.randn(2, c, 7, 3, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


def test_reshape_sizes_from_params_are_stored() -> None:
    text = SPLIT.replace("[N, 64, H, W]", "[N, 16, 4, 4]") + (
        "  - {name: h0, type: Heads, heads: 2}\n"
        "  - {name: c, type: conv2d, out_channels: 32, kernel_size: 1}\n"
        "  - {name: h1, type: Heads, heads: 4}\n"
    )
    source = matches_compile(text, (3, 16, 4, 4))
    assert _classes(source) == ["Heads", "SplitNet"]
    cls = _class_text(source, "Heads")
    assert "        self.heads = heads\n" in cls
    assert "x = x.reshape(x.size(0), self.heads, -1)" in cls
    assert "x = x.reshape(x.size(0), self.heads * 8, 4, 4)" in cls


def test_a_let_forward_reads_is_stored_after_it_is_bound() -> None:
    text = SPLIT.replace("[N, 64, H, W]", "[N, 16, 4, 4]").replace(
        "    params: {heads: int}\n",
        "    params: {heads: int}\n    let:\n      per: 64 * heads\n",
    ).replace("shape: [0, heads, -1]", "shape: [0, heads, per]").replace(
        "heads * 8, 4, 4", "heads * heads * 4, 4, 4"
    ) + (
        "  - {name: h0, type: Heads, heads: 2}\n"
        "  - {name: c, type: conv2d, out_channels: 64, kernel_size: 1}\n"
        "  - {name: h1, type: Heads, heads: 4}\n"
    )
    cls = _class_text(matches_compile(text, (2, 16, 4, 4)), "Heads")
    assert "        per = 64 * heads\n        self.heads = heads\n        self.per = per\n" in cls
    assert "x.reshape(x.size(0), self.heads, self.per)" in cls


def test_a_param_named_like_a_submodule_is_the_instances_number() -> None:
    text = _split((64, 2, 32), (32, 4, 16)).replace("name: fc1,", "name: radix,")
    source = matches_compile(text, (2, 64, 5, 5))
    assert _classes(source) == ["SplitAttn", "SplitAttn_2", "SplitNet"]
    assert "x.unflatten(1, (2, 64))" in _class_text(source, "SplitAttn")
    assert "x.unflatten(1, (4, 32))" in _class_text(source, "SplitAttn_2")
    assert "self.radix = radix" not in source


def test_a_param_named_like_a_flag_forward_tests_is_the_instances_number() -> None:
    text = """archspec: 1
name: flag_net
input: [N, 16, 4, 4]
blocks:
  B:
    params: {k: int, use_res_connect: int}
    layers:
      - {name: conv, type: conv2d, out_channels: 16, kernel_size: 1}
      - {name: r, type: reshape, shape: [0, use_res_connect, -1]}
      - {name: r2, type: reshape, shape: [0, 16, 4, 4]}
      - {name: sum, type: add, from: [r2, input], when: k > 1}
layers:
  - {name: a, type: B, k: 2, use_res_connect: 4}
  - {name: b, type: B, k: 2, use_res_connect: 2}
"""
    source = matches_compile(text, (2, 16, 4, 4))
    assert _classes(source) == ["B", "B_2", "FlagNet"]
    assert "self.use_res_connect = k > 1" in source
    assert "self.use_res_connect = use_res_connect" not in source
    assert "x.reshape(x.size(0), 4, -1)" in source or "out.reshape(out.size(0), 4, -1)" in source


def test_a_size_every_instance_shares_is_written_as_the_argument_that_gives_it() -> None:
    """Instances that all pass out=8 gave `(N, radix, 8, H, W)`: an argument beside one
    instance's number, wrong for a SplitAttn built with another `out`."""
    source = matches_compile(_split((8, 2, 4), (8, 4, 4)), (2, 64, 6, 5))
    cls = _class_text(source, "SplitAttn")
    assert "paths = x.unflatten(1, (self.radix, self.out))  # (N, radix, out, H, W)" in cls
    assert "x.unflatten(1, (self.radix, self.out))  # (N, radix, out, 1, 1)" in cls
    assert "8" not in "".join(ln.split("#")[1] for ln in cls.splitlines() if "  # (" in ln)
