"""Helpers that turn op attributes into Python source for the emitted-code backend."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


def emit_call(
    callee: str,
    args: Sequence[Any],
    kwargs: Mapping[str, tuple[Any, Any]],
    lit: Callable[[Any], str],
) -> str:
    """`callee(arg, ..., key=value, ...)`, leaving out keywords equal to their default.

    `kwargs` maps a keyword to (value, default); a default of None means always written.
    Every value goes through `lit`, the emitter's safe literal renderer.
    """
    parts = [lit(a) for a in args]
    for key, (value, default) in kwargs.items():
        if default is not None and _same(value, default):
            continue
        parts.append(f"{key}={lit(value)}")
    return f"{callee}({', '.join(parts)})"


def _same(value: Any, default: Any) -> bool:
    if isinstance(value, (tuple, list)) and not isinstance(default, (tuple, list)):
        return all(v == default and type(v) is type(default) for v in value)
    return value == default and type(value) is type(default)


def module_arguments(
    a: Mapping[str, Any], fields: Sequence[tuple[str, Any]]
) -> dict[str, tuple[Any, Any]]:
    """Each field's value (a list as a tuple, as torch's modules hold it) with the default
    torch gives it (None: required), in the order the module's signature has them: what
    `emit_call` writes, and `module_values` hands to the module's constructor."""
    return {k: (tuple(a[k]) if isinstance(a[k], list) else a[k], default) for k, default in fields}


def module_values(arguments: Mapping[str, tuple[Any, Any]]) -> dict[str, Any]:
    """The keyword arguments of the constructor call `module_arguments` describes."""
    return {k: value for k, (value, _) in arguments.items()}
