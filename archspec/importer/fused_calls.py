"""A layer kind's fields read from the functional call a module makes on its own tensors
(`F.conv2d(x, self.weight, self.bias, padding=1)`, `F.layer_norm(x, (c,), self.weight,
self.bias, 1e-6)`), for a module that is no subclass of the kind's torch class and so has no
reading of its attributes (fused.py). The reading is only a candidate: fused.py builds the
kind from it and compares the kind's module's calls with the module's, as for any reading.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

Fields = dict[str, Any]


def _given(args: tuple[Any, ...], kwargs: dict[str, Any], names: tuple[str, ...]) -> Fields:
    return dict(zip(names, args, strict=False)) | kwargs


def _sizes(value: Any) -> Any:
    return list(value) if isinstance(value, tuple | list) else value


def _conv(dims: int) -> Callable[[tuple[Any, ...], dict[str, Any]], tuple[str, Fields] | None]:
    names = ("input", "weight", "bias", "stride", "padding", "dilation", "groups")

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Fields] | None:
        g = _given(args, kwargs, names)
        weight, groups = g.get("weight"), g.get("groups", 1)
        if weight is None or weight.dim() != dims + 2 or not isinstance(groups, int):
            return None
        fields = {
            "in_channels": int(weight.shape[1]) * groups,
            "out_channels": int(weight.shape[0]),
            "kernel_size": [int(k) for k in weight.shape[2:]],
            "stride": _sizes(g.get("stride", 1)),
            "padding": _sizes(g.get("padding", 0)),
            "dilation": _sizes(g.get("dilation", 1)),
            "groups": groups,
            "bias": g.get("bias") is not None,
        }
        return f"conv{dims}d", fields

    return read


def _linear(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Fields] | None:
    g = _given(args, kwargs, ("input", "weight", "bias"))
    weight = g.get("weight")
    if weight is None or weight.dim() != 2:
        return None
    fields = {
        "in_features": int(weight.shape[1]),
        "out_features": int(weight.shape[0]),
        "bias": g.get("bias") is not None,
    }
    return "linear", fields


def _layer_norm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Fields] | None:
    g = _given(args, kwargs, ("input", "normalized_shape", "weight", "bias", "eps"))
    shape = g.get("normalized_shape")
    if not isinstance(shape, tuple | list) or not all(isinstance(s, int) for s in shape):
        return None
    fields = {
        "normalized_shape": list(shape),
        "eps": g.get("eps", 1e-5),
        "elementwise_affine": g.get("weight") is not None,
        "bias": g.get("bias") is not None,
    }
    return "layer_norm", fields


def _group_norm(args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[str, Fields] | None:
    g = _given(args, kwargs, ("input", "num_groups", "weight", "bias", "eps"))
    weight = g.get("weight")
    if weight is None or not isinstance(g.get("num_groups"), int):
        return None
    fields = {
        "num_groups": g["num_groups"],
        "num_channels": int(weight.shape[0]),
        "eps": g.get("eps", 1e-5),
        "affine": True,
        "bias": g.get("bias") is not None,
    }
    return "group_norm", fields


_CONV = (
    ("input", None),
    ("weight", None),
    ("bias", None),
    ("stride", 1),
    ("padding", 0),
    ("dilation", 1),
    ("groups", 1),
)


def _signatures() -> dict[Any, tuple[tuple[str, Any], ...]]:
    """The arguments of the functions layers call, in order, with their defaults."""
    import torch
    import torch.nn.functional as F

    norm = (("weight", None), ("bias", None), ("eps", 1e-5))
    return {
        torch.conv1d: _CONV,
        torch.conv2d: _CONV,
        torch.conv3d: _CONV,
        F.linear: (("input", None), ("weight", None), ("bias", None)),
        F.layer_norm: (("input", None), ("normalized_shape", None), *norm),
        F.group_norm: (("input", None), ("num_groups", None), *norm),
        F.batch_norm: (
            ("input", None),
            ("running_mean", None),
            ("running_var", None),
            ("weight", None),
            ("bias", None),
            ("training", False),
            ("momentum", 0.1),
            ("eps", 1e-5),
        ),
    }


def _one_size(value: Any) -> Any:
    """A size given for every dim at once (`padding=1`) as torch reads it, `(1, 1)`: one."""
    if isinstance(value, tuple | list) and value and all(type(v) is int for v in value):
        return value[0] if all(v == value[0] for v in value) else tuple(value)
    return value


def bound(target: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A call's arguments by name with defaults filled and sizes for every dim as one
    (`F.conv2d(x, w, b, padding=1)` and nn.Conv2d's `F.conv2d(x, w, b, (1, 1), (1, 1), ...)`
    are the same call), for the functions layers call; None for any other function."""
    try:
        names = _signatures().get(target)
    except TypeError:  # an unhashable target
        return None
    if names is None or len(args) > len(names) or set(kwargs) - {n for n, _ in names}:
        return None
    given = dict(zip((n for n, _ in names), args, strict=False)) | kwargs
    return tuple((n, _one_size(given.get(n, default))) for n, default in names)


def _readers() -> dict[Any, Callable[[tuple[Any, ...], dict[str, Any]], Any]]:
    import torch
    import torch.nn.functional as F

    return {
        torch.conv1d: _conv(1),
        torch.conv2d: _conv(2),
        torch.conv3d: _conv(3),
        F.linear: _linear,
        F.layer_norm: _layer_norm,
        F.group_norm: _group_norm,
    }


def call_readings(module: nn.Module, graph: Any, names: set[str]) -> list[tuple[str, Fields]]:
    """The (kind, fields) the one call reading the module's tensors `names` in its traced
    `graph` states, its tensors given as the module's; [] for any other call."""
    from torch.fx.node import map_arg

    attrs = {n for n in graph.nodes if n.op == "get_attr" and n.target in names}
    fed = [n for n in graph.nodes if any(a in attrs for a in n.all_input_nodes)]
    if len(fed) != 1 or fed[0].op != "call_function":
        return []
    try:
        reader = _readers().get(fed[0].target)
    except TypeError:  # an unhashable target
        return []
    if reader is None:
        return []

    def value(v: Any) -> Any:
        return map_arg(v, lambda n: getattr(module, n.target) if n in attrs else None)

    try:
        found = reader(value(fed[0].args), value(fed[0].kwargs))
    except Exception:  # an argument of another type than the function's: no reading
        return []
    return [found] if found else []
