"""Deterministic, RNG-free weights and inputs for the torchvision parity fixture.

Imported both by ``make_fixture.py`` (run under torchvision's venv) and by the tests (run under
the main interpreter, no torchvision). Everything here depends only on the stdlib and torch, and
each value is a fixed formula of the state_dict key name and tensor shape, so the same weights are
reproduced in any interpreter without storing them.

Every signal is ``sin(linear(i) + chirp(i))`` over the flat index ``i``. The quadratic ``chirp``
term matters: ``sin`` of a purely linear function of ``i`` makes every reshaped weight matrix
rank 2 (``sin(a + b) = sin a cos b + cos a sin b``), which collapses all features onto two
directions (all VGGs then give the same logits), and makes the batch items of the input mere
translations of one plane wave (identical pooled outputs). With the chirp, weight matrices have a
spectrum like a Gaussian random matrix's and different inputs/models give different outputs.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Collection, Mapping
from typing import Any

import torch

__all__ = [
    "deterministic_input",
    "fill_deterministic",
    "key_signal",
    "output_summary",
    "summary_matches",
]

_STEP = 0.7548776662
_TWO_PI = 6.283
_CHIRP_MOD = 1_000_003  # prime


def _index_and_chirp(numel: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Return float64 ``i = arange(numel)`` and ``2*pi * ((i*i) % 1000003) / 1000003``.

    ``i*i`` is computed exactly in int64 (fine for ``numel < 3e9``).
    """
    i = torch.arange(numel, dtype=torch.int64)
    chirp = (i * i).remainder_(_CHIRP_MOD).to(torch.float64).mul_(math.tau / _CHIRP_MOD)
    return i.to(torch.float64), chirp


def key_signal(key: str, numel: int) -> torch.Tensor:
    """Return the float64 base signal ``v`` in ``[-1, 1]`` for one state_dict key.

    ``v = sin(i * 0.7548776662 + phase + chirp(i))`` with ``i = arange(numel)``,
    ``phase = zlib.crc32(key) % 1000 / 1000 * 6.283`` and
    ``chirp(i) = 2*pi * ((i*i) % 1000003) / 1000003``. No random number generator is used.
    """
    c = zlib.crc32(key.encode())
    phase = c % 1000 / 1000 * _TWO_PI
    i, chirp = _index_and_chirp(numel)
    # In-place form of sin(i * _STEP + phase + chirp), same operation order (less memory).
    return i.mul_(_STEP).add_(phase).add_(chirp).sin_()


def _fill_one(key: str, tensor: torch.Tensor) -> torch.Tensor:
    """Return the deterministic replacement for one state_dict entry."""
    shape = tuple(tensor.shape)
    if not (tensor.dtype.is_floating_point or tensor.dtype.is_complex):
        # num_batches_tracked and any other integer/bool buffers.
        return torch.zeros(shape, dtype=tensor.dtype)
    v = key_signal(key, tensor.numel())
    if key.endswith("running_var"):
        out = 1.0 + 0.25 * v.abs()
    elif key.endswith("running_mean"):
        out = 0.1 * v
    elif len(shape) >= 2:
        fan_in = math.prod(shape[1:])
        out = v * (math.sqrt(3.0 / fan_in) * 0.9)
    elif len(shape) == 1 and key.endswith("weight"):
        out = 1.0 + 0.1 * v
    elif len(shape) == 1 and key.endswith("bias"):
        out = 0.05 * v
    else:
        # Not produced by the fixture models (0-d floats, other 1-d buffers): small values.
        out = 0.1 * v
    return out.reshape(shape).to(tensor.dtype)


def fill_deterministic(
    state_dict: Mapping[str, torch.Tensor], keep: Collection[str] = ()
) -> dict[str, torch.Tensor]:
    """Return new tensors (same keys, shapes, dtypes) filled from key name and shape only.

    Keys in ``keep`` (buffers a constructor computes, such as a relative position index) keep
    the tensor they have.

    Rules, with ``v = key_signal(key, numel)``: ``*running_var`` -> ``1 + 0.25|v|``;
    ``*running_mean`` -> ``0.1 v``; integer tensors (``num_batches_tracked``) -> zeros;
    ndim >= 2 -> ``v * sqrt(3 / fan_in) * 0.9`` with ``fan_in = prod(shape[1:])``;
    1-d ``*weight`` -> ``1 + 0.1 v``; 1-d ``*bias`` -> ``0.05 v``; anything else -> ``0.1 v``.
    Values are computed in float64 and cast to the original dtype. Input values are not read.
    """
    unknown = set(keep) - set(state_dict)
    if unknown:
        raise KeyError(f"keep names keys the state_dict does not have: {sorted(unknown)}")
    return {
        key: tensor if key in keep else _fill_one(key, tensor) for key, tensor in state_dict.items()
    }


def deterministic_input(shape: tuple[int, ...]) -> torch.Tensor:
    """Return a float32 tensor ``sin(i * 0.1 + chirp(i))``, ``i = arange(numel)``, of ``shape``.

    ``chirp`` is as in :func:`key_signal`. Computed in float64 and rounded once to float32.
    """
    i, chirp = _index_and_chirp(math.prod(shape))
    return torch.sin(i * 0.1 + chirp).reshape(shape).to(torch.float32)


#: How many leading output values :func:`output_summary` keeps.
SUMMARY_HEAD = 10


def output_summary(out: torch.Tensor, head: int = SUMMARY_HEAD) -> dict[str, Any]:
    """Return a few numbers that pin down a whole output tensor without storing it.

    The zoo fixture (``zoo.json``) keeps these beside the full logits: ``dtype``, ``shape``;
    ``head``, the first ``head`` values of the flattened output; float64 sums over all values:
    ``sum``, ``abs_sum``, ``sq_sum`` and ``weighted_sum`` (``sum(out * w)`` with
    ``w = deterministic_input(out.shape)``, so a change in any single value shows); and
    ``max``, ``min``, ``argmax`` of the flattened output. Compare with :func:`summary_matches`.
    """
    wide = out.detach().reshape(-1).to(torch.float64)
    weights = deterministic_input(tuple(out.shape)).reshape(-1).to(torch.float64)
    return {
        "dtype": str(out.dtype).removeprefix("torch."),
        "shape": list(out.shape),
        "head": [float(v) for v in wide[:head].tolist()],
        "sum": float(wide.sum()),
        "abs_sum": float(wide.abs().sum()),
        "sq_sum": float((wide * wide).sum()),
        "weighted_sum": float((wide * weights).sum()),
        "max": float(wide.max()),
        "min": float(wide.min()),
        "argmax": int(wide.argmax()),
    }


def summary_matches(
    ours: Mapping[str, Any], expected: Mapping[str, Any], rtol: float = 1e-5
) -> list[str]:
    """Return what differs between two :func:`output_summary` dicts (empty list: they match).

    With ``scale = max|out|`` and ``n`` values: ``head``, ``max`` and ``min`` must agree within
    ``rtol * scale``, as a per-value comparison would. The float64 sums allow ``sqrt(n)`` such
    errors (independent rounding differences add up like a random walk): ``sum``,
    ``weighted_sum`` and ``abs_sum`` within ``rtol * scale * sqrt(n)``, ``sq_sum`` within twice
    that times ``scale``. ``argmax`` is not compared (near-ties flip under rounding); ``shape``
    must be equal.
    """
    if list(ours["shape"]) != list(expected["shape"]):
        return [f"shape {ours['shape']} != {expected['shape']}"]
    scale = max(abs(float(expected["max"])), abs(float(expected["min"])), 1e-12)
    per_value = rtol * scale
    summed = per_value * math.sqrt(math.prod(expected["shape"]))
    checks: list[tuple[str, float, float, float]] = [
        (f"head[{i}]", float(a), float(b), per_value)
        for i, (a, b) in enumerate(zip(ours["head"], expected["head"]))
    ]
    for name, tol in (
        ("max", per_value),
        ("min", per_value),
        ("sum", summed),
        ("weighted_sum", summed),
        ("abs_sum", summed),
        ("sq_sum", 2 * scale * summed),
    ):
        checks.append((name, float(ours[name]), float(expected[name]), tol))
    return [
        f"{name}: {a!r} != {b!r} (tolerance {tol:.3g})"
        for name, a, b, tol in checks
        if abs(a - b) > tol
    ]
