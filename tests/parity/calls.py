"""Python calls per forward pass: the profiler count issue 14 compares with torchvision's.

`python_calls(model, x)` counts the Python function calls (`sys.setprofile` "call" events) of
one eval forward after a warm-up forward. It counts torch's own Python (every module's
`__call__` machinery) as well as the model's code, so a network that calls more modules, or
interprets a graph in Python, pays for it; torch 2.13 and 2.14 make the same calls per module
(tests/parity/README.md). Used by make_calls.py (torchvision's counts, written to
zoo_calls.json) and by tests/test_zoo_calls.py (ours); no torchvision import here.
"""

from __future__ import annotations

import sys
from types import FrameType
from typing import Any

import torch
from torch import nn


def python_calls(model: nn.Module, x: torch.Tensor) -> int:
    """Python function calls made by one eval forward of `model` on `x` (after a warm-up)."""
    count = 0

    def profile(frame: FrameType, event: str, arg: Any) -> None:
        nonlocal count
        if event == "call":
            count += 1

    model.eval()
    with torch.no_grad():
        model(x)
        sys.setprofile(profile)
        try:
            model(x)
        finally:
            sys.setprofile(None)
    return count  # the same function counts both sides, so any constant overhead cancels
