"""What the hand-run import sweeps share (tests/parity/import_timm.py, tests/h42d/sweep.py,
tests/h44c/sweep.py): weights moved off their initial values, so that a norm's statistics
and a bias read the wrong way show, and the relative difference of two outputs, tensors or
containers of them."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def perturb(model: nn.Module) -> None:
    """Running statistics drawn away from 0 and 1 and every 1-d float tensor nudged, from a
    fixed generator: the values a freshly built model holds hide a swapped norm or bias."""
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, t in model.state_dict().items():
            if not t.is_floating_point():
                continue
            if name.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            elif name.endswith("running_mean"):
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
            elif t.dim() == 1:
                t.add_(torch.randn(t.shape, generator=g) * 0.1)


def flat(y: Any) -> torch.Tensor:
    """An output as one flat tensor: a dict's values, a tuple's or list's items, joined."""
    if isinstance(y, dict):
        y = list(y.values())
    if isinstance(y, tuple | list):
        return torch.cat([flat(v).flatten() for v in y])
    return y


def rel(got: Any, want: Any) -> float:
    """The largest difference of two outputs over the largest value of `want`; inf when
    their shapes differ."""
    got, want = flat(got), flat(want)
    if got.shape != want.shape:
        return float("inf")
    return float((got - want).abs().max()) / (float(want.abs().max()) or 1.0)
