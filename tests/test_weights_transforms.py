"""The preprocessing of pretrained weights equals torchvision's `ImageClassification` preset,
checked against tests/parity/transforms.json: torchvision's output on fixed images (uint8
and float, single and batched, landscape, portrait and smaller than the crop) for every
distinct preset its weights use. No torchvision here.
"""

from __future__ import annotations

import functools
import json
import math
from pathlib import Path
from typing import Any

import pytest
import torch

import archspec
from archspec.transforms import ImageClassification, resized_size

from .parity.images import fixture_image, tensor_summary

FIXTURE = json.loads((Path(__file__).parent / "parity" / "transforms.json").read_text())
PRESETS = FIXTURE["presets"]


def _preset_id(p: dict[str, Any]) -> str:
    pre = p["preset"]
    return f"{pre['crop_size']}-{pre['resize_size']}-{pre['interpolation']}-{pre['mean'][0]}"


def _sampled() -> list[Any]:
    """The default run takes the first preset of each interpolation and of each mean;
    --all takes every one."""
    seen: set[object] = set()
    out = []
    for p in PRESETS:
        keys = {p["preset"]["interpolation"], p["preset"]["mean"][0]}
        marks = () if keys - seen else (pytest.mark.heavy,)
        seen |= keys
        out.append(pytest.param(p, marks=marks, id=_preset_id(p)))
    return out


@functools.cache
def _image(shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    return fixture_image(shape, dtype)


@pytest.mark.parametrize("preset", _sampled())
def test_the_transform_equals_torchvisions(preset: dict[str, Any]) -> None:
    t = ImageClassification(**preset["preset"])
    for name, (shape, dtype) in FIXTURE["images"].items():
        got = tensor_summary(t(_image(tuple(shape), dtype)))
        want = preset["outputs"][name]
        assert got["shape"] == want["shape"] and got["dtype"] == want["dtype"] == "float32"
        scale = want["abs_sum"]
        for key in ("sum", "abs_sum", "weighted_sum"):
            assert math.isclose(got[key], want[key], rel_tol=1e-6, abs_tol=1e-6 * scale), key
        assert got["head"] == pytest.approx(want["head"], abs=1e-5)


def test_every_weights_transform_is_in_the_fixture() -> None:
    presets = [p["preset"] for p in PRESETS]
    for spec in archspec.list_weights():
        for name in archspec.list_weights(spec):
            t = archspec.get_weights(spec, name).transforms()
            mine = {
                "crop_size": t.crop_size[0],
                "resize_size": t.resize_size[0],
                "interpolation": t.interpolation,
                "mean": t.mean,
                "std": t.std,
            }
            assert mine in presets, (spec, name)


def test_the_fixture_covers_resize_crop_and_padding() -> None:
    """The images take every path: the crop pads the small image at a large crop."""
    shapes = {tuple(p["outputs"]["uint8_small"]["shape"]) for p in PRESETS}
    crops = {p["preset"]["crop_size"] for p in PRESETS}
    assert max(crops) > 201 and (3, max(crops), max(crops)) in shapes
    assert {p["preset"]["interpolation"] for p in PRESETS} == {"bilinear", "bicubic"}


def test_the_steps_as_torchvision_does_them() -> None:
    assert resized_size(241, 319, 232) == (232, 307)  # int(232 * 319 / 241) = 307
    assert resized_size(347, 260, 256) == (341, 256)
    t = archspec.get_weights("resnet50", "IMAGENET1K_V2").transforms()
    x = fixture_image((3, 241, 319), "uint8")
    out = t(x)
    assert out.shape == (3, 224, 224) and out.dtype == torch.float32
    batch = t(torch.stack([x, x]))
    assert torch.equal(batch[0], out) and torch.equal(batch[1], out)
    # a float image in [0, 1] is the uint8 one divided by 255, up to the resize's rounding
    assert (t(x.float() / 255) - out).abs().max() < 0.05
    assert "resize_size=[232]" in repr(t)
    with pytest.raises(TypeError, match="image tensor"):
        t([[0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interpolation"):
        ImageClassification(crop_size=224, interpolation="nearest")


@pytest.mark.parametrize("shape", [(300, 400), (4, 300, 400), (1, 300, 400), (2, 1, 300, 400)])
def test_an_image_without_the_weights_channels_is_a_value_error_saying_how_to_fix_it(
    shape: tuple[int, ...],
) -> None:
    """A grayscale (H, W) or (1, H, W) image, or an RGBA one: torch's broadcast error
    ("output with shape [224, 224] doesn't match the broadcast shape") said neither what the
    transform takes nor how to get there."""
    preset = archspec.get_weights("resnet50", "DEFAULT").transforms()
    with pytest.raises(ValueError, match=r"C = 3 channels \(one per mean\), got shape") as caught:
        preset(torch.zeros(shape, dtype=torch.uint8))
    assert str(shape) in str(caught.value)
    assert preset(torch.zeros(2, 3, 300, 400, dtype=torch.uint8)).shape == (2, 3, 224, 224)
