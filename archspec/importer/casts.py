"""Conversions a spec states as the tensor itself: `self.mean.to(x.device)`,
`self.scale.to(x.dtype)`, `self.pos.type_as(x)`, `y.to(x)`.

A forward converts a tensor of its own to its input's device or dtype in case the two differ.
A spec's module moves and casts its tensors with it, and what it computes is the module's
dtype on the module's device, so there the conversion is the tensor itself. `x.device` and
`x.dtype` make no item: a step that reads them other than these conversions is refused by its
own reader. A conversion to a dtype written out (`x.to(torch.float16)`, `x.half()`) changes
values, and stays refused.

So is a tensor a forward makes where its input is: `torch.eye(3, dtype=x.dtype,
device=x.device)` (PointNet's T-Net adds it), `torch.zeros(2, 4, device=x.device)`,
`torch.ones(...)`, with sizes written as numbers: a `buffer` with that fill that no
state_dict holds (`persistent: false`), made by the module with it.
"""

from __future__ import annotations

from typing import Any

from .calls import Call, Ref, attribute_read

#: The attributes of a tensor that only say where and in what it is.
META = frozenset({"device", "dtype"})

#: What `Tensor.to` takes beside where to and in what.
_TO_FLAGS = frozenset({"non_blocking", "copy"})


def is_meta(value: Any) -> bool:
    """Whether `value` is a traced `x.device` or `x.dtype`."""
    node = value.node if isinstance(value, Ref) else None
    return attribute_read(getattr(node, "target", None), getattr(node, "args", ())) in META


def tensor_meta(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`x.device`, `x.dtype` (fx's `getattr(x, "device")`): no item of its own."""
    if not kwargs and attribute_read(getattr, args) in META and isinstance(args[0], Ref):
        return Call("tensor_meta", {}, ())
    return None


def to_alike(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`t.to(x.device)`, `t.to(x.dtype)`, `t.to(x.device, x.dtype)`, `t.to(x)`, their
    keyword forms, with `non_blocking` or `copy` (a copy holds the same values)."""
    if not args or not isinstance(args[0], Ref) or set(kwargs) - _TO_FLAGS - META:
        return None
    targets = [*args[1:], *(kwargs[k] for k in sorted(META & set(kwargs)))]
    if not 1 <= len(targets) <= 2 or not all(isinstance(t, Ref) for t in targets):
        return None
    if len(targets) == 2 and not all(is_meta(t) for t in targets):
        return None  # `t.to(x, y.dtype)` is no call torch takes
    return Call("identity_alias", {}, (args[0].node,))


def type_as(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
    """`t.type_as(x)`: `t` in `x`'s dtype, the module's own."""
    if not kwargs and len(args) == 2 and all(isinstance(a, Ref) for a in args):
        return Call("identity_alias", {}, (args[0].node,))
    return None


def _sizes(args: tuple[Any, ...]) -> list[int] | None:
    sizes = list(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else list(args)
    return sizes if sizes and all(type(n) is int and n >= 1 for n in sizes) else None


def _made_alike(kwargs: dict[str, Any]) -> bool:
    """Only where and in what: `x.device`, `x.dtype` (the module's), or torch.float32."""
    import torch

    for key, value in kwargs.items():
        if key not in META and key != "requires_grad":
            return False
        if key == "requires_grad" and value is not False:
            return False
        if key == "dtype" and not (is_meta(value) or value is torch.float32 or value is None):
            return False
        if key == "device" and not (is_meta(value) or value is None):
            return False
    return True


def made_tensor(fill: str) -> Any:
    """`torch.eye(n[, m])` (fill `eye`), `torch.zeros(*sizes)` and `torch.ones(*sizes)`
    (a `constant` of 0 or 1) as a non-persistent float32 buffer of that shape."""

    def read(args: tuple[Any, ...], kwargs: dict[str, Any]) -> Call | None:
        sizes = _sizes(args)
        if sizes is None or not _made_alike(kwargs):
            return None
        if fill == "eye":
            if len(sizes) > 2:
                return None
            shape, fields = sizes * (3 - len(sizes)), {"fill": "eye"}
        else:
            shape, fields = sizes, ({"value": 1.0} if fill == "ones" else {})
        return Call("buffer", {"shape": shape, **fields, "persistent": False}, ())

    return read
