"""A built-in layer kind's spec model, made the first time it is read (`Op.spec`).

Creating a Pydantic model class collects and checks every field's annotation, even with
`defer_build`: doing it for each of the ~110 built-in models was a third of archspec's
import time, and a check uses a few kinds. A built-in op names a maker instead
(`spec = LazySpec(make)`); reading `op.spec` or `OpClass.spec` makes the model once, checks
it as `register` checks a plugin's (so an incomplete built-in still fails loudly, at first
use), and puts it on the class, where later reads find a plain attribute. Plugins give
their model class itself, checked when registered, as ever.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from .base import LayerSpec, Op


class LazySpec:
    """Descriptor standing for the spec model of the op class that holds it."""

    _lock = threading.RLock()  # two threads reading one spec first make it once

    def __init__(self, make: Callable[[], type[LayerSpec]]) -> None:
        self.make = make

    def __get__(self, obj: Any, owner: type[Op]) -> type[LayerSpec]:
        from .base import check_made_spec

        with self._lock:
            holder = next((k for k in owner.__mro__ if k.__dict__.get("spec") is self), None)
            if holder is None:  # another thread made it meanwhile
                return owner.spec
            holder.spec = spec = self.make()  # a plain class attribute from now on
            try:
                check_made_spec(holder, holder.kind)
            except TypeError:
                holder.spec = self  # refused each time it is read
                raise
        return spec


def is_lazy(op_cls: type) -> bool:
    """Whether the class itself holds a maker not yet used (an inherited one is not its own:
    `register` reads, and so checks, a spec the class inherits)."""
    return isinstance(op_cls.__dict__.get("spec"), LazySpec)
