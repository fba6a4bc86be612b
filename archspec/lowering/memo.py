"""Block instances lowered once per distinct call: the 36 identical Bottlenecks of a
ResNet-152 stage cost one lowering and 35 copies.

An instance's module depends only on what its body can see: the block, its bound arguments,
its input's shape and channel dim (`in_channels` and the block's `let:`s derive from them),
and, for the errors it could raise, how deep the walk is, which blocks enclose it and which
names have failed. The spec's params and lets are fixed for the whole lowering, and the
memo lives in one `Lowerer`, so they need no place in the key. A hit is the kept module
re-rooted at the new path (fresh Module and Node objects, sharing their frozen contents),
with the walk's bookkeeping replayed: the layer items it charged and the shape
requirements it recorded, renamed to the new path. An instance that reported anything
(an error or a warning) is never kept, so every diagnostic comes from a real lowering.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..ir import Module

if TYPE_CHECKING:  # pragma: no cover
    from ..ops.base import Constraint
    from .walker import Lowerer

#: `out_axes` had no entry for the instance's path (its outputs failed).
_NO_AXIS = object()


@dataclass(frozen=True)
class Lowered:
    """One lowered instance and what lowering it did besides making the module."""

    module: Module
    charged: int
    constraints: tuple[Constraint, ...]
    out_axis: Any


def args_key(args: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Bound block arguments as a hashable key that tells apart what `==` would merge
    (`1`, `1.0` and `True`; `0.0` and `-0.0`); None when a value cannot be keyed."""
    try:
        key = tuple((name, _frozen(value)) for name, value in args.items())
        hash(key)
    except TypeError:
        return None
    return key


def _frozen(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


class InstanceMemo:
    """The kept instances of one lowering, by call key."""

    def __init__(self) -> None:
        self.kept: dict[tuple[Any, ...], Lowered] = {}

    def key(self, lw: Lowerer, call: tuple[Any, ...], in_shape: Any, axis: Any) -> tuple | None:
        """The full key of an instance: the call (block, arguments) and its context."""
        if in_shape is None:
            return None
        return (call, tuple(in_shape), axis, lw.depth, tuple(lw.block_stack), frozenset(lw.failed))

    def lookup(self, lw: Lowerer, key: tuple[Any, ...], path: str, span: Any) -> Module | None:
        """The instance at `path`, when one like it was lowered and fits the layer budget."""
        kept = self.kept.get(key)
        if kept is None or lw.count + kept.charged > lw.max_layers:
            return None  # lowering it for real stops at the right item (E310)
        old = kept.module.path
        lw.count += kept.charged
        lw.ctx.constraints.extend(
            dataclasses.replace(c, node=path + c.node[len(old) :]) for c in kept.constraints
        )
        if kept.out_axis is not _NO_AXIS:
            lw.out_axes[path] = kept.out_axis
        return _copy(_rerooted(kept.module, old, path), span=span)  # type: ignore[no-any-return]

    def lower(
        self,
        lw: Lowerer,
        key: tuple[Any, ...],
        lower: Any,
        path: str,
    ) -> Module:
        """`lower()` (the instance's real lowering), kept under `key` when it was clean."""
        count, reported, required = lw.count, len(lw.bag.diagnostics), len(lw.ctx.constraints)
        module = lower()
        if len(lw.bag.diagnostics) == reported:
            self.kept[key] = Lowered(
                module,
                lw.count - count,
                tuple(lw.ctx.constraints[required:]),
                lw.out_axes.get(path, _NO_AXIS),
            )
        return module


def lower_instance(
    lw: Lowerer, child: Any, env: Mapping[str, Any], in_shape: Any, path: str, span: Any, axis: Any
) -> Module:
    """`lw.lower_scope` of a child module, through the memo when it is a block instance."""
    memo = lw.memo
    key = None if child.call is None else memo.key(lw, child.call, in_shape, axis)
    if key is None:
        return lw.lower_scope(child, env, in_shape, path, span, axis)
    kept = memo.lookup(lw, key, path, span)
    if kept is not None:
        return kept
    return memo.lower(lw, key, lambda: lw.lower_scope(child, env, in_shape, path, span, axis), path)


def _copy(obj: Any, **changes: Any) -> Any:
    """A new instance of a frozen dataclass with the same fields (and `changes`): cheaper
    than dataclasses.replace, which runs __init__ again."""
    new = object.__new__(type(obj))
    new.__dict__.update(obj.__dict__, **changes)
    return new


def _rerooted(module: Module, old: str, new: str) -> Module:
    """`module` (lowered at path `old`) as it is at path `new`: every module's path renamed,
    new objects throughout, so nothing downstream sees one node in two places."""
    nodes = tuple(
        _copy(n) if n.child is None else _copy(n, child=_rerooted(n.child, old, new))
        for n in module.nodes
    )
    path = new + module.path[len(old) :]
    return _copy(module, path=path, nodes=nodes, args=dict(module.args))  # type: ignore[no-any-return]


__all__ = ["InstanceMemo", "Lowered", "args_key", "lower_instance"]
