"""Fixed images and the summary of a transform's output, for tests/parity/transforms.json.

Imported by ``make_weights.py`` (under torchvision's venv) and by the tests (no torchvision):
the images are a formula, so only the summaries of torchvision's outputs are stored.
"""

from __future__ import annotations

from typing import Any

import torch

from .weights import deterministic_input


def fixture_image(shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    """A fixed image: `deterministic_input` mapped to [0, 1] (or to 0..255 for uint8)."""
    x = (deterministic_input(shape).double() + 1) / 2
    if dtype == "uint8":
        return (x * 255).round().to(torch.uint8)
    return x.float()


def tensor_summary(t: torch.Tensor) -> dict[str, Any]:
    """Shape, dtype, the first values and three float64 sums (the last weighted by a ramp,
    so that a moved or swapped pixel shows)."""
    d = t.double()
    ramp = torch.arange(d.numel(), dtype=torch.float64).remainder_(97).reshape(d.shape)
    return {
        "shape": list(t.shape),
        "dtype": str(t.dtype).removeprefix("torch."),
        "head": [round(v, 7) for v in d.flatten()[:6].tolist()],
        "sum": d.sum().item(),
        "abs_sum": d.abs().sum().item(),
        "weighted_sum": (d * ramp).sum().item(),
    }
