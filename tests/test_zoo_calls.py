"""Forward overhead against torchvision: Python calls per forward pass (issue 14).

tests/parity/zoo_calls.json holds torchvision's count for each zoo model (make_calls.py); a
shipped twin, as archspec.compile builds it and as its emitted source defines it, must make no
more Python calls per eval forward. The count includes torch's per-module machinery, so an
extra wrapper module, a module where torchvision calls a function, or a graph interpreted in
Python shows up.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import archspec

from .emit_helpers import _emitted_class
from .parity.calls import python_calls
from .test_zoo_parity import TWINS, ZOO, _sampled

CALLS = json.loads((Path(__file__).parent / "parity" / "zoo_calls.json").read_text())["models"]

#: Families still over torchvision's count, and why. Strict: a fix turns the xfail into a
#: failure until the entry goes.
OVER: dict[str, str] = {}


def _zeroed(model: torch.nn.Module) -> torch.nn.Module:
    """A meta-device model in CPU storage, all zeros: the count does not depend on values."""
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for t in model.state_dict().values():
            t.zero_()
    return model


def test_every_zoo_model_has_a_count() -> None:
    assert set(CALLS) == set(ZOO)
    assert all(isinstance(n, int) and n > 50 for n in CALLS.values())


def test_the_counter_sees_modules_and_python_functions() -> None:
    """One more module call costs the counter more than one call (torch's `__call__`
    machinery), a C function such as torch.flatten costs nothing: what makes the comparison
    with torchvision's structure meaningful."""
    x = torch.zeros(1, 4, 2, 2)
    chain = torch.nn.Sequential(torch.nn.ReLU())
    longer = torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Flatten())
    assert python_calls(longer, x) >= python_calls(chain, x) + 3

    class Functional(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.flatten(x, 1)

    assert python_calls(Functional(), x) == 3  # _wrapped_call_impl, _call_impl, forward


def _cases() -> list[object]:
    """Every twin, sampled as the forward tests are; the families in OVER xfail (strict)."""
    cases = []
    for case in _sampled(sorted(TWINS)):
        model = case if isinstance(case, str) else case.values[0]  # type: ignore[union-attr]
        reason = OVER.get(ZOO[model]["family"])
        if reason is not None:
            marks = [] if isinstance(case, str) else list(case.marks)  # type: ignore[union-attr]
            xfail = pytest.mark.xfail(reason=reason, strict=True)
            case = pytest.param(model, marks=[*marks, xfail])
        cases.append(case)
    return cases


@pytest.mark.parametrize("model", _cases())
def test_no_more_python_calls_than_torchvision(model: str) -> None:
    spec, params = TWINS[model]
    x = torch.zeros(tuple(ZOO[model]["output"]["input_shape"]))
    compiled = _zeroed(archspec.compile(spec, device="meta", **params))
    with torch.device("meta"):
        emitted = _emitted_class(spec, **params)()
    emitted = _zeroed(emitted)
    ours = {"compiled": python_calls(compiled, x), "emitted": python_calls(emitted, x)}
    assert max(ours.values()) <= CALLS[model], (ours, CALLS[model])
