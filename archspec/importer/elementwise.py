"""Elementwise steps written with torch's arithmetic that a kind computes to the last bit.

- `torch.clamp(x, a, b)` (`x.clamp(a, b)`, `clamp(min=a, max=b)`) is `hardtanh` with those
  bounds: torch computes `F.hardtanh` as that clamp; `x.clamp(min=0)` (`clamp_min(0)`) is a
  `relu`, which torch computes as that clamp too. A clamp of one bound other than 0 below
  has no kind that treats a NaN as torch does, and stays refused.
- `x ** 2` (`x.pow(2)`, `torch.pow(x, 2)`, `torch.square(x)`) is `x * x`, a `mul` of the
  tensor with itself: torch squares so; and `x ** 3` (minGPT's GELU, `torch.pow(x, 3.0)`)
  `x * x * x`, a `mul` of three, as torch's pow kernels cube.
- `-x` (`torch.neg`, `x.neg()`) is a `scale` by -1, exact in floats.
- `torch.maximum(a, b)` and `torch.minimum(a, b)` (`a.maximum(b)`, and `torch.max(a, b)`,
  `a.min(b)` of two tensors, which torch computes so) are the joins of those kinds.
- `F.normalize(x, p, dim, eps)` is the `normalize` kind, and `torch.exp(x)` (`x.sqrt()`,
  `abs(x)`, ...) the `elementwise` kind of that fn: each calls the same torch function.
- `torch.zeros_like(x)`, `ones_like`, `full_like(x, v)` are `full_like`, the same call.
- `torch.randn_like(std)` (a VAE's reparameterisation) is `randn_like`, the same call; the
  import compares the outputs of model and spec each from one seed (outputs.py).
"""

from __future__ import annotations

import math
import operator
from typing import Any

from ..ops.products import ELEMENTWISE_FNS
from .calls import Call, Reader, Ref


def _number(value: Any) -> bool:
    return type(value) in (int, float) and math.isfinite(value)


def _clamp(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    x = args[0] if args else None
    given = dict(zip(("min", "max"), args[1:], strict=False)) | kwargs
    low, high = given.pop("min", None), given.pop("max", None)
    if not isinstance(x, Ref) or given or len(args) > 3:
        return None
    if low is not None and high is not None and _number(low) and _number(high) and low <= high:
        return Call("hardtanh", {"min_val": float(low), "max_val": float(high)}, (x.node,))
    if high is None and _number(low) and low == 0:
        return Call("activation", {"fn": "relu"}, (x.node,))
    return None


def _square(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    x = args[0] if args else None
    exponent = args[1] if len(args) == 2 else kwargs.get("exponent", 2)
    if not isinstance(x, Ref) or len(args) > 2 or set(kwargs) - {"exponent"}:
        return None
    if type(exponent) not in (int, float) or exponent not in (2, 3):
        return None
    return Call("mul", {}, (x.node,) * int(exponent))


def _neg(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    if len(args) != 1 or kwargs or not isinstance(args[0], Ref):
        return None
    return Call("scale", {"factor": -1}, (args[0].node,))


def _normalize(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    names = ("input", "p", "dim", "eps")
    given = dict(zip(names, args, strict=False)) | kwargs
    if given.get("out") is None:
        given.pop("out", None)
    x = given.pop("input", None)
    fields = {"p": given.pop("p", 2.0), "dim": given.pop("dim", 1), "eps": given.pop("eps", 1e-12)}
    if not isinstance(x, Ref) or given or len(args) > 4 or type(fields["dim"]) is not int:
        return None
    if (
        not (_number(fields["p"]) and _number(fields["eps"]))
        or fields["p"] <= 0
        or fields["eps"] <= 0
    ):
        return None
    return Call(
        "normalize", {k: float(v) if k != "dim" else v for k, v in fields.items()}, (x.node,)
    )


def _extremum(kind: str) -> Reader:
    """`torch.maximum(a, b)`, `a.minimum(b)`: the join of that kind, of two tensors."""

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        given = list(args) + [kwargs[k] for k in ("other",) if k in kwargs]
        if len(given) != 2 or set(kwargs) - {"other"} or not all(isinstance(a, Ref) for a in given):
            return None
        return Call(kind, {}, (given[0].node, given[1].node))

    return read


def _unary(fn: str) -> Reader:
    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        if len(args) != 1 or kwargs or not isinstance(args[0], Ref):
            return None
        return Call("elementwise", {"fn": fn}, (args[0].node,))

    return read


def _randn_like(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`torch.randn_like(std)`, of the tensor's own dtype and device: a `randn_like`."""
    if len(args) != 1 or kwargs or not isinstance(args[0], Ref):
        return None
    return Call("randn_like", {}, (args[0].node,))


def _filled_like(value: float | None) -> Reader:
    """`torch.zeros_like(x)` (`ones_like`; `full_like(x, v)` when `value` is None), of the
    tensor's own dtype and device: a `full_like` of that value."""

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        given = args[1] if value is None and len(args) == 2 else kwargs.get("fill_value", value)
        count = 1 if value is not None else 2 - ("fill_value" in kwargs)
        if len(args) != count or set(kwargs) - {"fill_value"} or not isinstance(args[0], Ref):
            return None
        if type(given) not in (int, float) or math.isnan(given):
            return None
        shown = given if math.isfinite(given) else ("-inf" if given < 0 else "inf")
        return Call("full_like", {"value": shown} if given != 0 else {}, (args[0].node,))

    return read


def functions() -> dict[Any, Reader]:
    """The torch functions and operators read here, for functions.py's table."""
    import torch
    import torch.nn.functional as F

    return {
        **{getattr(torch, fn): _unary(fn) for fn in ELEMENTWISE_FNS},
        operator.abs: _unary("abs"),
        F.normalize: _normalize,
        torch.clamp: _clamp,
        torch.clip: _clamp,
        torch.clamp_min: _clamp,  # (x, min): the clamp of its lower bound
        torch.pow: _square,
        operator.pow: _square,
        torch.square: _square,
        torch.neg: _neg,
        operator.neg: _neg,
        torch.maximum: _extremum("maximum"),
        torch.minimum: _extremum("minimum"),
        torch.max: _extremum("maximum"),  # of two tensors; over a dim: reductions.py
        torch.min: _extremum("minimum"),
        torch.randn_like: _randn_like,
        torch.zeros_like: _filled_like(0),
        torch.ones_like: _filled_like(1),
        torch.full_like: _filled_like(None),
    }


#: The tensor methods read here, for functions.py's table.
METHODS: dict[str, Reader] = {
    **{fn: _unary(fn) for fn in ELEMENTWISE_FNS},
    "clamp": _clamp,
    "clip": _clamp,
    "clamp_min": _clamp,
    "pow": _square,
    "square": _square,
    "neg": _neg,
    "maximum": _extremum("maximum"),
    "minimum": _extremum("minimum"),
    "max": _extremum("maximum"),
    "min": _extremum("minimum"),
}

__all__ = ["METHODS", "functions"]
