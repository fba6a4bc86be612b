"""TResNet's stem as docs/porting.md writes it, for any size 4 divides: `SpaceToDepth` as
`unflatten`s, a `permute` and a `flatten`; `BlurPool2d` (reflect pad, the binomial filter at
stride 2) as a `reflection_pad2d` and two 2x2 average pools, against timm's formulas."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import archspec

SPACE_TO_DEPTH = {
    "archspec": 1,
    "name": "space_to_depth",
    "input": ["N", 3, "H", "W"],
    "layers": [
        {"name": "cols", "type": "unflatten", "dim": 3, "unflattened_size": [-1, 4]},
        {"name": "rows", "type": "unflatten", "dim": 2, "unflattened_size": [-1, 4]},
        {"name": "moved", "type": "permute", "dims": [0, 3, 5, 1, 2, 4]},
        {"name": "depth", "type": "flatten", "start_dim": 1, "end_dim": 3},
    ],
}

BLUR_POOL = {
    "archspec": 1,
    "name": "blur_pool",
    "input": ["N", 8, "H", "W"],
    "layers": [
        {"name": "pad", "type": "reflection_pad2d", "padding": 1},
        {"name": "box", "type": "avgpool2d", "kernel_size": 2, "stride": 1},
        {"name": "down", "type": "avgpool2d", "kernel_size": 2, "stride": 2},
    ],
}


def space_to_depth(x: torch.Tensor) -> torch.Tensor:
    """timm's tresnet `SpaceToDepth` (block size 4)."""
    n, c, h, w = x.size()
    x = x.view(n, c, h // 4, 4, w // 4, 4).permute(0, 3, 5, 1, 2, 4).contiguous()
    return x.view(n, c * 16, h // 4, w // 4)


def blur_pool(x: torch.Tensor) -> torch.Tensor:
    """timm's `BlurPool2d(filt_size=3, stride=2)`."""
    coeffs = torch.tensor([0.25, 0.5, 0.25], dtype=x.dtype)
    filt = (coeffs[:, None] * coeffs[None, :])[None, None].expand(x.shape[1], 1, 3, 3)
    return F.conv2d(F.pad(x, [1, 1, 1, 1], mode="reflect"), filt, stride=2, groups=x.shape[1])


@pytest.mark.parametrize("size", [(4, 4), (8, 12), (32, 20)])
def test_space_to_depth_is_timms_at_any_size_4_divides(size: tuple[int, int]) -> None:
    x = torch.randn(2, 3, *size)
    assert torch.equal(archspec.compile(SPACE_TO_DEPTH)(x), space_to_depth(x))


def test_space_to_depth_accepts_the_sizes_4_divides() -> None:
    assert archspec.check(SPACE_TO_DEPTH, input=[1, 3, 8, 12]).ok
    assert not archspec.check(SPACE_TO_DEPTH, input=[1, 3, 8, 10]).ok


@pytest.mark.parametrize("size", [(2, 2), (5, 7), (16, 16)])
def test_two_box_pools_are_the_binomial_blur(size: tuple[int, int]) -> None:
    model = archspec.compile(BLUR_POOL)
    x = torch.randn(2, 8, *size)
    torch.testing.assert_close(model(x), blur_pool(x), rtol=0, atol=1e-6)
    x64 = x.double()
    assert torch.equal(model.double()(x64), blur_pool(x64))


def test_blur_pool_accepts_what_reflect_padding_takes() -> None:
    assert archspec.check(BLUR_POOL, input=[1, 8, 2, 2]).ok
    assert not archspec.check(BLUR_POOL, input=[1, 8, 1, 2]).ok
