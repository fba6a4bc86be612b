"""Python calls per forward pass: the profiler count issue 14 compares with torchvision's.

`python_calls(model, x)` counts the Python function calls (`sys.setprofile` "call" events) of
one eval forward after a warm-up forward. It counts torch's own Python (every module's
`__call__` machinery) as well as the model's code, so a network that calls more modules, or
interprets a graph in Python, pays for it; torch 2.13 and 2.14 make the same calls per module
(tests/parity/README.md). Used by make_calls.py (torchvision's counts, written to
zoo_calls.json) and by tests/test_zoo_calls.py (ours); no torchvision import here.
"""

from __future__ import annotations

import gc
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
        # a garbage collection in the counted forward runs finalizers and weakref callbacks
        # of objects other code left (CI counted 2 calls more in a long suite): none then
        enabled = gc.isenabled()
        gc.collect()
        gc.disable()
        sys.setprofile(profile)
        try:
            model(x)
        finally:
            sys.setprofile(None)
            if enabled:
                gc.enable()
    return count  # the same function counts both sides, so any constant overhead cancels


def module_calls(model: nn.Module, x: torch.Tensor) -> int:
    """Modules called (the root counted) by one eval forward of `model` on `x`."""
    names: list[str] = []
    hook = nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: names.append(type(module).__name__)
    )
    model.eval()
    try:
        with torch.no_grad():
            model(x)
    finally:
        hook.remove()
    return len(names)
