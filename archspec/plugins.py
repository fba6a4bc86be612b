"""Layer plugins: installed packages that add layer kinds through the `archspec.layers` group.

A package declares, in its pyproject.toml,

    [project.entry-points."archspec.layers"]
    se = "my_package.layers:SqueezeExcite"

where the object named is an `Op` subclass (registered here), a list or tuple of them, or a
module that registers its ops with `@archspec.register` when imported. Plugins load once,
lazily, the first time the spec schema is built (so before validation and lowering); a spec
only ever names a layer kind, never an import path, so reading a spec imports nothing new.
Set ARCHSPEC_NO_PLUGINS=1 to skip them (e.g. to get past a broken one).
"""

from __future__ import annotations

import importlib.metadata
import os
import types
from typing import Any

from .errors import PluginError
from .ops.base import REGISTRY, Op, register

GROUP = "archspec.layers"

#: Names of the entry points loaded so far (also the "loaded once" flag: None = not yet).
_loaded: list[str] | None = None


def load_plugins() -> list[str]:
    """Load every `archspec.layers` entry point once; return their names.

    A plugin that fails to import or register raises PluginError naming the plugin and its
    distribution; the next call tries again, so the error is reported every time.
    """
    global _loaded
    if _loaded is not None:
        return list(_loaded)
    if os.environ.get("ARCHSPEC_NO_PLUGINS"):
        _loaded = []
        return []
    _loaded = []  # set first: a plugin importing archspec must not re-enter this loop
    try:
        for ep in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda e: e.name):
            _load_one(ep)
            _loaded.append(ep.name)
    except PluginError:
        _loaded = None
        raise
    return list(_loaded)


def _load_one(ep: importlib.metadata.EntryPoint) -> None:
    try:
        for op_cls in _ops_of(ep.load()):
            if type(REGISTRY.get(op_cls.kind)) is not op_cls:  # importing may have registered it
                register(op_cls)
    except Exception as exc:
        raise PluginError(
            f"layer plugin {_describe(ep)} failed to load: {type(exc).__name__}: {exc}",
            hint="fix or uninstall the package that provides it, "
            "or set ARCHSPEC_NO_PLUGINS=1 to run without plugins",
        ) from exc


def _ops_of(obj: Any) -> list[type[Op]]:
    """The Op classes an entry point names (none for a module that registers on import)."""
    if isinstance(obj, types.ModuleType):
        return []
    items = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    for item in items:
        if not (isinstance(item, type) and issubclass(item, Op)):
            raise TypeError(
                f"{item!r} is not an archspec Op subclass (an entry point names an Op "
                "subclass, a list of them, or a module that registers its ops on import)"
            )
    return items


def _describe(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    origin = f" from {dist.name} {dist.version}" if dist is not None else ""
    return f"`{ep.name} = {ep.value}`{origin}"


def reset() -> None:
    """Forget which plugins were loaded (tests; registered ops stay registered)."""
    global _loaded
    _loaded = None


__all__ = ["GROUP", "load_plugins", "reset"]
