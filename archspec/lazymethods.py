"""`dataclass`: the standard decorator, with each method it writes compiled on its first call.

Python 3.11's dataclasses write the source of every method they add (`__init__`, `__repr__`,
`__eq__`, `__hash__`, a frozen class's `__setattr__` and `__delattr__`) and compile it when the
class is made: ~0.4 ms a class, half of archspec's own import time, for methods a run mostly never
calls (a frozen class's `__setattr__` only raises; `__repr__` serves debugging; a class that no
command it runs makes needs no `__init__`). Here the standard decorator makes the class, and each
method it writes is made from the same text, defaults and names, only later: its first call
compiles it, puts it on the class in the stub's place, and runs it. The fields, `fields`,
`replace`, `asdict`, equality, hashing and what every method does are the standard decorator's;
what a stub shows before its first call is only its name and `(*args, **kwargs)` to `inspect`.

A class without a docstring gets its `__init__` at once (the standard decorator reads its
signature for the docstring it writes). On a Python whose dataclasses compile a class's
methods in one go (3.13: no `_create_fn`), this is the standard decorator.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

_standard: Callable[..., Any] | None = getattr(dataclasses, "_create_fn", None)
_making = threading.RLock()
#: The thread making a class here, whether that class's `__init__` is made at once, and the
#: stubs of its methods (each binds itself to the class made).
_state: dict[str, Any] = {"thread": None, "init_now": False, "binds": []}


def _deferred(name: str, args: Any, body: Any, **kwargs: Any) -> Callable[..., Any]:
    """The method dataclasses asked for, compiled on its first call; other threads' at once."""
    assert _standard is not None
    if threading.get_ident() != _state["thread"] or (name == "__init__" and _state["init_now"]):
        return _standard(name, args, body, **kwargs)
    real: Callable[..., Any] | None = None
    owner: type | None = None

    def method(*a: Any, **k: Any) -> Any:
        nonlocal real
        if real is None:
            real = _standard(name, args, body, **kwargs)
            real.__qualname__ = method.__qualname__
            if owner is not None and owner.__dict__.get(name) is method:
                setattr(owner, name, real)
        return real(*a, **k)

    def bind(cls: type) -> None:
        nonlocal owner
        owner = cls

    method.__name__ = name
    _state["binds"].append(bind)
    return method


def _dataclass(cls: type | None = None, /, **options: Any) -> Any:
    """`dataclasses.dataclass(cls, **options)`, its methods compiled on first call."""

    def wrap(cls: type) -> type:
        if _standard is None:
            return dataclasses.dataclass(cls, **options)
        with _making:
            outer, create = dict(_state), dataclasses._create_fn  # type: ignore[attr-defined]
            _state.update(thread=threading.get_ident(), init_now=not cls.__doc__, binds=[])
            dataclasses._create_fn = _deferred  # type: ignore[attr-defined]
            try:
                made = dataclasses.dataclass(cls, **options)
                for bind in _state["binds"]:
                    bind(made)
            finally:
                dataclasses._create_fn = create  # type: ignore[attr-defined]
                _state.update(outer)
        return made

    return wrap if cls is None else wrap(cls)


if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    dataclass = _dataclass

__all__ = ["dataclass"]
