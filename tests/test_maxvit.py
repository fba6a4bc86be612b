"""specs/maxvit.yaml (maxvit_t) against what torchvision 0.29.1's maxvit_t is: its param count,
MACs (attention matmuls counted: torchvision's `_ops` 5.558), state_dict layout and buffers,
and the input domain its constructor and forward accept (H and W in 224k - 3 .. 224k for one
k), an input outside it refused at the first partition that breaks, before any tensor exists.
tests/test_zoo_parity.py compares outputs and the full layout with the zoo fixture."""

from __future__ import annotations

import sys

import pytest
import torch

import archspec

PARAMS = 30_919_624
MACS = 5_558_046_720


def test_params_and_macs_are_torchvisions() -> None:
    summary = archspec.summary("maxvit_t", input=(1, 3, 224, 224))
    assert summary.params == PARAMS
    assert summary.macs == MACS
    assert round(MACS / 1e9, 3) == 5.558  # MaxVit_T_Weights.IMAGENET1K_V1.meta["_ops"]


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return archspec.compile("maxvit_t", device="meta").state_dict()


def test_state_dict_has_torchvisions_names_and_buffers(state: dict[str, torch.Tensor]) -> None:
    keys = list(state)
    assert len(keys) == 582
    assert keys[:3] == ["stem.0.0.weight", "stem.0.1.weight", "stem.0.1.bias"]
    prefix = "blocks.0.layers.0.layers."
    first = keys.index(f"{prefix}MBconv.proj.1.weight")
    assert keys[first : first + 4] == [
        f"{prefix}MBconv.proj.1.weight",
        f"{prefix}MBconv.proj.1.bias",
        f"{prefix}MBconv.layers.pre_norm.weight",
        f"{prefix}MBconv.layers.pre_norm.bias",
    ]
    attn = f"{prefix}grid_attention.attn_layer.1."
    at = keys.index(f"{attn}relative_position_bias_table")
    assert keys[at : at + 6] == [
        f"{attn}{k}"
        for k in (
            "relative_position_bias_table",
            "relative_position_index",
            "to_qkv.weight",
            "to_qkv.bias",
            "merge.weight",
            "merge.bias",
        )
    ]
    assert keys[-5:] == [
        "classifier.2.weight",
        "classifier.2.bias",
        "classifier.3.weight",
        "classifier.3.bias",
        "classifier.5.weight",
    ]
    index = [k for k in keys if k.endswith("relative_position_index")]
    assert len(index) == 22  # 11 layers, a window and a grid attention each
    assert all(state[k].shape == (49, 49) and state[k].dtype == torch.int64 for k in index)
    assert "blocks.3.layers.1.layers.MBconv.proj.0.weight" not in keys  # nn.Identity there


def test_relative_position_index_is_torchvisions() -> None:
    """The index of each pair of positions (i, j) in the 7 x 7 window is
    (di + 6) * 13 + (dj + 6) for their offset (di, dj), torchvision's formula."""
    model = archspec.compile("maxvit_t")
    index = model.blocks[0].layers[0].layers.window_attention.attn_layer[1]
    got = index.relative_position_index
    for i in range(49):
        for j in range(49):
            (ri, ci), (rj, cj) = divmod(i, 7), divmod(j, 7)
            assert got[i, j] == (ri - rj + 6) * 13 + (ci - cj + 6)


def test_domain_is_what_torchvision_accepts() -> None:
    """torchvision's maxvit_t() (input_size 224) runs H, W in 221..224 each; at another size
    its constructor needs input_size=(224k, 224k), which runs 224k - 3 .. 224k, square grids."""
    result = archspec.check("maxvit_t")
    assert result.ok
    sides = "{0, 221, 222, 223}"
    assert f"H % 224 in {sides} and W % 224 in {sides}" in result.domain_text
    for h, w in [(221, 221), (221, 224), (224, 222), (445, 448), (672, 669)]:
        assert archspec.check("maxvit_t", input=(1, 3, h, w)).ok, (h, w)
    for h, w in [(220, 224), (225, 224), (1, 1), (444, 448), (448, 224)]:
        assert not archspec.check("maxvit_t", input=(1, 3, h, w)).ok, (h, w)


def test_input_outside_the_domain_is_located_at_the_first_partition() -> None:
    torch_loaded = "torch" in sys.modules
    result = archspec.check("maxvit_t", input=(1, 3, 225, 224))
    (diag,) = result.errors
    assert diag.code == "E412"
    assert "blocks.0.layers.0.layers.window_attention.partition" in diag.message
    assert "(57)" in diag.message
    assert diag.span is not None and diag.span.file.endswith("maxvit.yaml")
    (diag,) = archspec.check("maxvit_t", input=(1, 3, 448, 224)).errors
    assert "grid_attention.partition" in diag.message and "square" in diag.message
    assert ("torch" in sys.modules) == torch_loaded  # checked without building anything
