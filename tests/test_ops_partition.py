"""partition, departition and relative_attention (MaxViT): token layouts checked element by
element against their definition, the attention against a naive per-head computation,
params/buffers/MACs, state_dict keys, shape rules and the domain, emitted source, and
located errors."""

from __future__ import annotations

import itertools

import pytest
import torch

import archspec
from archspec.api import build_graph
from archspec.ops import REGISTRY

from .ops_cases import assert_located, last_node, param_count, same_as_emitted, spec, symbolic_out

ROUND_TRIP = [
    {"name": "part", "type": "partition", "size": 3},
    {"name": "back", "type": "departition", "size": 3, "from": ["part", "input"]},
]


def _round_trip(grid: bool) -> str:
    return spec([{**item, "grid": grid} for item in ROUND_TRIP])


def _tokens(grid: bool, h: int, w: int) -> torch.Tensor:
    text = spec([{"type": "partition", "size": 3, "grid": grid}])
    model = archspec.compile(text)
    x = torch.arange(2 * 4 * h * w, dtype=torch.float32).reshape(2, 4, h, w)
    out = model(x)
    assert tuple(out.shape) == symbolic_out(text, {"N": 2, "H": h, "W": w})
    return out


@pytest.mark.parametrize(("h", "w"), [(3, 3), (6, 9), (12, 3)])
def test_window_partition_groups_neighbours(h: int, w: int) -> None:
    """Group g = (row block, column block) in row-major order, token t = (i, j) in its window."""
    out = _tokens(False, h, w)
    x = torch.arange(2 * 4 * h * w, dtype=torch.float32).reshape(2, 4, h, w)
    assert out.shape == (2, (h // 3) * (w // 3), 9, 4)
    for g, t in itertools.product(range(out.shape[1]), range(9)):
        r, c = divmod(g, w // 3)
        i, j = divmod(t, 3)
        torch.testing.assert_close(out[:, g, t], x[:, :, r * 3 + i, c * 3 + j])


@pytest.mark.parametrize("side", [3, 6, 9])
def test_grid_partition_spreads_tokens_over_the_map(side: int) -> None:
    """A grid group holds 3 x 3 pixels side // 3 apart: group g = offset (a, b), token
    t = (i, j) is pixel (i * p + a, j * p + b) with p = side // 3, as torchvision's grid."""
    out = _tokens(True, side, side)
    x = torch.arange(2 * 4 * side * side, dtype=torch.float32).reshape(2, 4, side, side)
    p = side // 3
    assert out.shape == (2, p * p, 9, 4)
    for g, t in itertools.product(range(p * p), range(9)):
        a, b = divmod(g, p)
        i, j = divmod(t, 3)
        torch.testing.assert_close(out[:, g, t], x[:, :, i * p + a, j * p + b])


@pytest.mark.parametrize("grid", [False, True])
def test_departition_undoes_partition(grid: bool) -> None:
    text = _round_trip(grid)
    model = archspec.compile(text)
    for h, w in [(3, 3), (6, 6), (9, 9)] + ([] if grid else [(3, 12), (6, 3)]):
        x = torch.randn(2, 4, h, w)
        assert torch.equal(model(x), x)
        assert symbolic_out(text, {"N": 2, "H": h, "W": w}) == (2, 4, h, w)
    assert model.state_dict() == {}
    same_as_emitted(text, torch.randn(1, 4, 6, 6))


def test_partition_domain_is_the_sizes_it_divides() -> None:
    window = archspec.check(_round_trip(False))
    assert window.ok
    assert "H % 3 == 0 and W % 3 == 0" in window.domain_text
    grid = archspec.check(_round_trip(True))
    assert grid.ok
    assert "W == H" in grid.domain_text


def test_partition_that_does_not_divide_is_located() -> None:
    text = spec([{"type": "partition", "size": 3}], ("N", 4, 7, 9))
    exc = assert_located(text, "E412")
    assert "does not divide the map's height (7)" in exc.diagnostics[0].message
    text = spec([{"type": "partition", "size": 3, "grid": True}], ("N", 4, 6, 9))
    exc = assert_located(text, "E412")
    assert "square" in exc.diagnostics[0].message
    assert_located(spec([{"type": "flatten"}, {"type": "partition", "size": 3}]), "E401")


def test_departition_checks_its_tokens_against_the_map() -> None:
    wrong_size = [
        {"name": "part", "type": "partition", "size": 3},
        {"name": "back", "type": "departition", "size": 2, "from": ["part", "input"]},
    ]
    assert_located(spec(wrong_size, ("N", 4, 6, 6)), "E412")
    other_map = [
        {"name": "small", "type": "maxpool2d", "kernel_size": 2},
        {"name": "part", "type": "partition", "size": 3},
        {"name": "back", "type": "departition", "size": 3, "from": ["part", "input"]},
    ]
    exc = assert_located(spec(other_map, ("N", 4, 12, 12)), "E412")
    assert "groups" in exc.diagnostics[0].message


ATTENTION = [
    {"type": "partition", "size": 3},
    {"name": "attn", "type": "relative_attention", "head_dim": 4, "size": 3},
]


def _naive_attention(module: torch.nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Per head, softmax(q k^T / sqrt(D) + bias) v, the bias looked up by relative offset."""
    p, d = x.shape[-2:]
    heads = module.n_heads
    qkv = module.to_qkv(x)
    q, k, v = qkv[..., :d], qkv[..., d : 2 * d], qkv[..., 2 * d :]
    side = 3
    out = torch.zeros_like(q)
    for h in range(heads):
        sl = slice(h * (d // heads), (h + 1) * (d // heads))
        scores = q[..., sl] @ k[..., sl].transpose(-1, -2) * d**-0.5
        bias = torch.empty(p, p)
        for i, j in itertools.product(range(p), range(p)):
            (ri, ci), (rj, cj) = divmod(i, side), divmod(j, side)
            row = (ri - rj + side - 1) * (2 * side - 1) + (ci - cj + side - 1)
            bias[i, j] = module.relative_position_bias_table[row, h]
        out[..., sl] = torch.softmax(scores + bias, dim=-1) @ v[..., sl]
    return module.merge(out)


def test_relative_attention_is_attention_with_a_relative_bias() -> None:
    text = spec(ATTENTION, ("N", 8, "H", "W"))
    model = archspec.compile(text).eval()
    keys = [(k, tuple(v.shape), v.dtype) for k, v in model.state_dict().items()]
    assert keys == [
        ("attn.relative_position_bias_table", (25, 2), torch.float32),
        ("attn.relative_position_index", (9, 9), torch.int64),
        ("attn.to_qkv.weight", (24, 8), torch.float32),
        ("attn.to_qkv.bias", (24,), torch.float32),
        ("attn.merge.weight", (8, 8), torch.float32),
        ("attn.merge.bias", (8,), torch.float32),
    ]
    with torch.no_grad():
        model.attn.relative_position_bias_table.normal_()
        x = torch.randn(2, 8, 6, 3)
        tokens = model(x)
        parts = x.reshape(2, 8, 2, 3, 1, 3).permute(0, 2, 4, 3, 5, 1).reshape(2, 2, 9, 8)
        torch.testing.assert_close(tokens, _naive_attention(model.attn, parts))
    assert param_count(text) == (8 * 24 + 24 + 8 * 8 + 8 + 25 * 2,) * 2
    node = last_node(build_graph(text))
    op = REGISTRY["relative_attention"]
    assert op.buffers(node.attrs) == 81
    # per token: 3 D^2 (to_qkv) + D^2 (merge) + 2 P D (q k^T, weights times v)
    env = {"N": 2, "H": 6, "W": 3}
    assert op.macs(node.attrs, node.in_shapes, node.shape).evaluate(env) == 2 * 2 * 9 * (
        4 * 8 * 8 + 2 * 9 * 8
    )
    same_as_emitted(text, torch.randn(1, 8, 3, 6))


def test_relative_attention_errors_are_located() -> None:
    bad_heads = [ATTENTION[0], {**ATTENTION[1], "head_dim": 3}]
    assert_located(spec(bad_heads, ("N", 8, 3, 3)), "E409", "3, name")
    other_size = [ATTENTION[0], {**ATTENTION[1], "size": 2}]
    assert_located(spec(other_size, ("N", 8, 3, 3)), "E412")
    assert_located(spec([ATTENTION[1]], ("N", 8)), "E401")
    stated = [ATTENTION[0], {**ATTENTION[1], "feat_dim": 16}]
    assert_located(spec(stated, ("N", 8, 3, 3)), "E402")
