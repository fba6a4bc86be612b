"""The preprocessing of torchvision's pretrained classifiers, in torch alone.

torchvision's `ImageClassification` preset (torchvision/transforms/_presets.py) resizes the
shorter side with antialias, crops the centre, converts to float in [0, 1] and normalizes.
This is the same computation on tensors, step for step (tests/test_weights_transforms.py
compares it with torchvision's output on fixed images), so that using pretrained weights
needs no torchvision. PIL images are not taken: decode to a tensor first (uint8 (C, H, W),
as `torchvision.io.decode_image` gives, or float in [0, 1]).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

#: the interpolation modes torchvision's presets use on tensors
MODES = ("bilinear", "bicubic")


def resized_size(height: int, width: int, size: int) -> tuple[int, int]:
    """(H, W) with the shorter side `size` and the aspect ratio kept (the longer side
    truncated), as torchvision's `resize` computes it for one int."""
    short, long = (width, height) if width <= height else (height, width)
    new_short, new_long = size, int(size * long / short)
    return (new_long, new_short) if width <= height else (new_short, new_long)


def resize(img: torch.Tensor, size: int, interpolation: str = "bilinear") -> torch.Tensor:
    """Resize (..., H, W) so that the shorter side is `size`, with antialias; an integer
    image is resized in float32 and rounded back, as torchvision does."""
    height, width = img.shape[-2:]
    out = resized_size(height, width, size)
    if (height, width) == out:
        return img
    lead = img.shape[:-3] if img.ndim >= 4 else ()
    x = img.reshape(-1, *img.shape[-3:]) if img.ndim >= 3 else img[None, None]
    dtype = x.dtype
    if dtype not in (torch.float32, torch.float64):
        x = x.to(torch.float32)
    x = F.interpolate(x, size=out, mode=interpolation, align_corners=False, antialias=True)
    if interpolation == "bicubic" and dtype == torch.uint8:
        x = x.clamp(min=0, max=255)
    if dtype not in (torch.float32, torch.float64):
        if not dtype.is_floating_point:
            x = torch.round(x)
        x = x.to(dtype)
    if img.ndim < 3:
        return x[0, 0]
    return x.reshape(*lead, *x.shape[-3:]) if img.ndim >= 4 else x[0]


def center_crop(img: torch.Tensor, size: int) -> torch.Tensor:
    """The central `size` x `size` of (..., H, W), padded with zeros where the image is
    smaller; the offsets round as torchvision's `center_crop` rounds them."""
    height, width = img.shape[-2:]
    if size > width or size > height:
        pad = [
            (size - width) // 2 if size > width else 0,
            (size - width + 1) // 2 if size > width else 0,
            (size - height) // 2 if size > height else 0,
            (size - height + 1) // 2 if size > height else 0,
        ]
        img = F.pad(img, pad, mode="constant", value=0)
        height, width = img.shape[-2:]
        if (height, width) == (size, size):
            return img
    top = round((height - size) / 2.0)
    left = round((width - size) / 2.0)
    return img[..., top : top + size, left : left + size]


def to_float(img: torch.Tensor) -> torch.Tensor:
    """float32 in [0, 1]: an integer image is divided by its type's maximum (255 for uint8)."""
    if img.dtype == torch.float32:
        return img
    if img.is_floating_point():
        return img.to(torch.float32)
    top = torch.iinfo(img.dtype).max
    return img.to(torch.float32) / float(top)


def normalize(img: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """(img - mean) / std per channel (dim -3)."""
    m = torch.as_tensor(mean, dtype=img.dtype, device=img.device).view(-1, 1, 1)
    s = torch.as_tensor(std, dtype=img.dtype, device=img.device).view(-1, 1, 1)
    return img.clone().sub_(m).div_(s)


class ImageClassification(nn.Module):
    """Resize the shorter side to `resize_size` (antialiased), crop `crop_size` x
    `crop_size` from the centre, convert to float and normalize: what
    `Weights.transforms()` returns, equal to torchvision's preset of the same name.

    Takes a (C, H, W) or batched (..., C, H, W) tensor, uint8 or float in [0, 1].
    """

    def __init__(
        self,
        *,
        crop_size: int,
        resize_size: int = 256,
        mean: Sequence[float] = (0.485, 0.456, 0.406),
        std: Sequence[float] = (0.229, 0.224, 0.225),
        interpolation: str = "bilinear",
    ) -> None:
        super().__init__()
        if interpolation not in MODES:
            raise ValueError(f"interpolation must be one of {MODES}, got {interpolation!r}")
        self.crop_size = [crop_size]
        self.resize_size = [resize_size]
        self.mean = list(mean)
        self.std = list(std)
        self.interpolation = interpolation

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        if not isinstance(img, torch.Tensor):
            raise TypeError(
                f"ImageClassification takes an image tensor, got {type(img).__name__}; "
                "decode a file with torchvision.io.decode_image or convert a PIL image first"
            )
        if img.dim() < 3 or img.shape[-3] != len(self.mean):
            shape = tuple(img.shape)
            raise ValueError(
                f"ImageClassification takes a (C, H, W) image tensor, or a batch of them, with "
                f"C = {len(self.mean)} channels (one per mean), got shape {shape}: give a "
                "grayscale image its channel dim and the weights' colour channels with "
                "img.expand(3, -1, -1) (after .unsqueeze(0) for an (H, W) one), and drop an "
                "alpha channel with img[..., :3, :, :]"
            )
        img = resize(img, self.resize_size[0], self.interpolation)
        img = center_crop(img, self.crop_size[0])
        return normalize(to_float(img), self.mean, self.std)

    def extra_repr(self) -> str:
        return (
            f"crop_size={self.crop_size}, resize_size={self.resize_size}, mean={self.mean}, "
            f"std={self.std}, interpolation={self.interpolation!r}"
        )


__all__ = ["ImageClassification", "center_crop", "normalize", "resize", "resized_size"]
