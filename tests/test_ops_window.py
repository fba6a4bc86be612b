"""shifted_window_attention and patch_merging (Swin, v1 and v2): torchvision's keys in
torchvision's order, counts, the padding shape rules, outputs against a window-by-window
reference written from the paper, emitted source equal to compile, located errors."""

from __future__ import annotations

from typing import Any

import pytest
import torch
import torch.nn.functional as F
import yaml

import archspec
from archspec.ops import REGISTRY

from .ops_cases import assert_located, param_count, same_as_emitted, symbolic_out

NHWC = ("N", "H", "W", 24)

#: torchvision's ShiftedWindowAttention(V2)(24, [4, 4], ..., 3).state_dict(), in order:
#: the module's own parameters, then its buffers, then its children's.
KEYS = {
    1: [
        ("relative_position_bias_table", (49, 3)),
        ("relative_position_index", (256,)),
        ("qkv.weight", (72, 24)),
        ("qkv.bias", (72,)),
        ("proj.weight", (24, 24)),
        ("proj.bias", (24,)),
    ],
    2: [
        ("logit_scale", (3, 1, 1)),
        ("relative_coords_table", (1, 7, 7, 2)),
        ("relative_position_index", (256,)),
        ("qkv.weight", (72, 24)),
        ("qkv.bias", (72,)),
        ("proj.weight", (24, 24)),
        ("proj.bias", (24,)),
        ("cpb_mlp.0.weight", (512, 2)),
        ("cpb_mlp.0.bias", (512,)),
        ("cpb_mlp.2.weight", (3, 512)),
    ],
}

#: MACs at (1, 13, 11, 24), num_heads 3, as torch.utils.flop_counter.FlopCounterMode (the
#: counter torchvision's `_ops` comes from) measured torchvision's modules: flops / 2.
COUNTED = {
    (1, (4, 4)): 589824,
    (1, (7, 7)): 912576,
    (1, (4, 3)): 552960,
    (2, (4, 4)): 715264,
    (2, (7, 7)): 1345216,
    (2, (8, 8)): 1952256,
}


def spec(layers: list[dict[str, Any]], input_shape: tuple[Any, ...]) -> str:
    """A spec of `layers`, one line each (so an error's line is the layer's)."""
    lines = "\n".join(
        f"  - {yaml.safe_dump(x, default_flow_style=True, width=10**4).strip()}" for x in layers
    )
    dims = ", ".join(map(str, input_shape))
    return f"archspec: 1\nname: one_case\ninput: [{dims}]\nlayers:\n{lines}\n"


def _attn(version: int, window: Any = 4, shift: Any = 2, **more: Any) -> dict[str, Any]:
    return {
        "name": "attn",
        "type": "shifted_window_attention",
        "num_heads": 3,
        "window_size": window,
        "shift_size": shift,
        "version": version,
        **more,
    }


def _x(n: int, h: int, w: int, c: int = 24) -> torch.Tensor:
    return torch.randn(n, h, w, c, generator=torch.Generator().manual_seed(n * h * w + c))


@pytest.mark.parametrize("version", [1, 2])
def test_attention_keys_counts_and_shapes(version: int) -> None:
    text = spec([_attn(version)], NHWC)
    model = archspec.compile(text)
    assert [(k, tuple(t.shape)) for k, t in model.state_dict().items()] == [
        (f"attn.{k}", s) for k, s in KEYS[version]
    ]
    counted, numel = param_count(text)
    assert counted == numel
    op = REGISTRY["shifted_window_attention"]
    attrs = {**_attn(version), "dim": 24, "window_size": [4, 4], "qkv_bias": True}
    attrs |= {"proj_bias": True}
    assert op.buffers(attrs) == sum(b.numel() for b in model.buffers())
    model.eval()
    for n, h, w in [(1, 1, 1), (2, 5, 9), (1, 13, 11), (2, 8, 8)]:
        out = model(_x(n, h, w))
        assert tuple(out.shape) == symbolic_out(text, {"N": n, "H": h, "W": w}) == (n, h, w, 24)


@pytest.mark.parametrize(("version", "window"), list(COUNTED))
def test_attention_macs_are_torchvisions_counter(version: int, window: tuple[int, int]) -> None:
    shift = [0, 1] if window == (4, 3) else [w // 2 for w in window]
    text = spec([_attn(version, list(window), shift)], (1, 13, 11, 24))
    assert archspec.summary(text).macs.value == COUNTED[(version, window)]


def _reference_v1(model: torch.nn.Module, x: torch.Tensor, wh: int, ww: int) -> torch.Tensor:
    """Unshifted window attention, one window at a time, from the paper's definitions:
    bias[h, i, j] = table[(dy + wh - 1) * (2 * ww - 1) + dx + ww - 1, h]."""
    attn = model.attn
    n, hh, w, c = x.shape
    heads = 3
    out = torch.empty_like(x)
    pos = [(i, j) for i in range(wh) for j in range(ww)]
    index = torch.tensor(
        [[(a[0] - b[0] + wh - 1) * (2 * ww - 1) + a[1] - b[1] + ww - 1 for b in pos] for a in pos]
    )
    bias = attn.relative_position_bias_table[index].permute(2, 0, 1)  # heads, T, T
    for b in range(n):
        for r in range(0, hh, wh):
            for s in range(0, w, ww):
                t = x[b, r : r + wh, s : s + ww].reshape(-1, c)
                q, k, v = F.linear(t, attn.qkv.weight, attn.qkv.bias).chunk(3, dim=-1)
                q, k, v = (z.reshape(-1, heads, c // heads).transpose(0, 1) for z in (q, k, v))
                a = (q * (c // heads) ** -0.5) @ k.transpose(1, 2) + bias
                y = (a.softmax(-1) @ v).transpose(0, 1).reshape(-1, c)
                y = F.linear(y, attn.proj.weight, attn.proj.bias)
                out[b, r : r + wh, s : s + ww] = y.reshape(wh, ww, c)
    return out


def test_unshifted_attention_is_the_papers() -> None:
    text = spec([_attn(1, [4, 3], 0)], NHWC)
    model = archspec.compile(text).eval()
    x = _x(2, 8, 9)
    with torch.no_grad():
        torch.testing.assert_close(model(x), _reference_v1(model, x, 4, 3))


def test_a_window_covering_the_map_is_not_shifted() -> None:
    """torchvision drops the shift where the (padded) map is one window high or wide."""
    shifted = archspec.compile(spec([_attn(1, 7, 3)], NHWC)).eval()
    plain = archspec.compile(spec([_attn(1, 7, 0)], NHWC)).eval()
    plain.load_state_dict(shifted.state_dict())
    x = _x(1, 6, 7)
    with torch.no_grad():
        torch.testing.assert_close(shifted(x), plain(x))
        assert not torch.allclose(shifted(_x(1, 14, 7)), plain(_x(1, 14, 7)))


@pytest.mark.parametrize("version", [1, 2])
def test_patch_merging(version: int) -> None:
    text = spec([{"name": "merge", "type": "patch_merging", "version": version}], NHWC)
    model = archspec.compile(text).eval()
    norm = 96 if version == 1 else 48
    assert [(k, tuple(t.shape)) for k, t in model.state_dict().items()] == [
        ("merge.reduction.weight", (48, 96)),
        ("merge.norm.weight", (norm,)),
        ("merge.norm.bias", (norm,)),
    ]
    assert param_count(text)[0] == param_count(text)[1]
    x = _x(2, 5, 6)
    out = model(x)
    assert tuple(out.shape) == symbolic_out(text, {"N": 2, "H": 5, "W": 6}) == (2, 3, 3, 48)
    # the bottom row is padded with zeros; pixel (0, 0) merges x[0, 0], x[1, 0], x[0, 1], x[1, 1]
    merge = model.merge
    stack = torch.cat([x[:, 0, 0], x[:, 1, 0], x[:, 0, 1], x[:, 1, 1]], -1)
    if version == 1:
        want = merge.reduction(merge.norm(stack))
    else:
        want = merge.norm(merge.reduction(stack))
    torch.testing.assert_close(out[:, 0, 0], want)
    assert archspec.summary(spec([{"type": "patch_merging"}], (1, 5, 6, 24))).macs.value == (
        3 * 3 * 96 * 48
    )


@pytest.mark.parametrize("version", [1, 2])
def test_emitted_equals_compiled(version: int) -> None:
    layers = [_attn(version), {"name": "merge", "type": "patch_merging", "version": version}]
    text = spec(layers, NHWC)
    same_as_emitted(text, _x(2, 9, 10), train=False)
    source = archspec.emit(text)
    name = "ShiftedWindowAttention" if version == 1 else "ShiftedWindowAttentionV2"
    assert f"self.attn = {name}(24, [4, 4], [2, 2], 3)" in source


def test_errors_are_located() -> None:
    assert_located(spec([_attn(1)], ("N", 24, "H")), "E401")
    assert_located(spec([{**_attn(1), "num_heads": 5}], NHWC), "E409", "5,")
    assert_located(spec([_attn(2, [1, 4])], NHWC), "E409", "[1, 4]")
    assert_located(spec([_attn(1, [3, 4, 5])], NHWC), "E409", "[3, 4, 5]")
    assert_located(spec([_attn(1, 2000)], NHWC), "E409", "2000")
    assert_located(spec([{**_attn(1), "dim": 12}], NHWC), "E402", "12")
    assert_located(spec([{"type": "patch_merging"}], ("N", 4, "H", "W")), "E406")
