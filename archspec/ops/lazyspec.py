"""Making the layer models cheaply: a built-in kind's spec model is made the first time it is
read (`Op.spec`), and the field types they repeat are generated once (`Reuse`).

Creating a Pydantic model class collects and checks every field's annotation, even with
`defer_build`: doing it for each of the ~110 built-in models was a third of archspec's
import time, and a check uses a few kinds. A built-in op names a maker instead
(`spec = LazySpec(make)`); reading `op.spec` or `OpClass.spec` makes the model once, checks
it as `register` checks a plugin's (so an incomplete built-in still fails loudly, at first
use), and puts it on the class, where later reads find a plain attribute. Plugins give
their model class itself, checked when registered, as ever.
"""

from __future__ import annotations

import copy
import threading
import types
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
        from .facts import check_made_spec

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


class Reuse:
    """Annotation marker: generate the annotated type's core schema once, then copy it.

    Pydantic regenerates a field type's schema for every field of every model; the layer
    models repeat a handful of types (int-or-expression, ...) hundreds of times, which was
    most of archspec's import time. A copy per use keeps pydantic free to edit its own.
    """

    def __init__(self) -> None:
        self._schema: Any = None

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        if self._schema is None:
            self._schema = handler(source)
        return schema_copy(self._schema)


#: Leaves a copy shares, as copy.deepcopy does (it returns these very objects).
_SHARED = (str, int, float, type(None), types.FunctionType, types.BuiltinFunctionType, type)


def schema_copy(value: Any) -> Any:
    """A copy of a core schema with every dict and list new: what copy.deepcopy makes of one
    (a tree of dicts and lists over strings, numbers and functions), without deepcopy's
    bookkeeping, which was a third of making a layer model. Any other leaf is deep-copied."""
    kind = type(value)
    if kind is dict:
        return {k: schema_copy(v) for k, v in value.items()}
    if kind is list:
        return [schema_copy(v) for v in value]
    if isinstance(value, _SHARED):
        return value
    return copy.deepcopy(value)
