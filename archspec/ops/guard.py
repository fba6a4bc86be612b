"""A plugin's layer kind whose own code fails is the plugin's error, not archspec's.

A kind registered from outside archspec (a `--plugins` file, an installed entry point, a
notebook) runs its author's Python in every stage. An exception it raises where archspec
expects a value would reach the user as "internal error, please report it" (exit 3) and
point at archspec. `guard` wraps such an op's methods once, at registration: the shape rule
fails as a located E701 at the layer, any other method as E701 naming the kind, the method
and the exception. archspec's own kinds are not wrapped: their failures are archspec's bugs.
"""

from __future__ import annotations

import functools
from typing import Any

from ..errors import PluginError
from .base import Op, ShapeFailure

#: The methods archspec calls on an op, besides `infer` (`emit` failures are E601 already).
_METHODS = (
    "params",
    "buffers",
    "macs",
    "connections",
    "scratch_numel",
    "init_tensors",
    "submodules",
    "build",
    "function",
)


def is_foreign(op: Op) -> bool:
    """True for a kind whose class comes from outside the archspec package."""
    module = type(op).__module__
    return module != "archspec" and not module.startswith("archspec.")


def guard(op: Op) -> None:
    """Wrap a foreign op's methods (on the instance) so their exceptions name the plugin."""
    infer = op.infer

    @functools.wraps(infer)
    def guarded_infer(*args: Any, **kwargs: Any) -> Any:
        try:
            return infer(*args, **kwargs)
        except (ShapeFailure, MemoryError, RecursionError):
            raise
        except Exception as exc:
            raise ShapeFailure("E701", _message(op, "infer", exc), _hint(op, "infer")) from exc

    op.infer = guarded_infer  # type: ignore[method-assign]
    for name in _METHODS:
        setattr(op, name, _guarded(op, name, getattr(op, name)))


def _guarded(op: Op, name: str, method: Any) -> Any:
    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return method(*args, **kwargs)
        except (MemoryError, RecursionError, PluginError):
            raise
        except Exception as exc:
            if type(exc).__name__ == "OutOfMemoryError":  # torch's: an allocation, not a bug
                raise
            raise PluginError(_message(op, name, exc), hint=_hint(op, name)) from exc

    return call


def _message(op: Op, method: str, exc: Exception) -> str:
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return (
        f"layer kind `{op.kind}` ({_origin(op)}) failed in its `{method}`: "
        f"{type(exc).__name__}" + (f": {text}" if text else "")
    )


def _hint(op: Op, method: str) -> str:
    rule = (
        "a shape rule raises archspec.ShapeFailure for an input it cannot take"
        if method == "infer"
        else "it must return a value for every layer a spec can check"
    )
    return f"a bug in the plugin's `{type(op).__name__}.{method}`: {rule}; fix the plugin"


def _origin(op: Op) -> str:
    """The plugin file that registered the kind (as given on the command line), else its
    module."""
    from ..plugins import plugin_file_of

    module = type(op).__module__
    return f"plugin {plugin_file_of(module) or module}"
