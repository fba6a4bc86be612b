"""`dataclass`: the standard decorator, with each method it writes compiled on its first call.

Python 3.11's dataclasses write the source of every method they add (`__init__`, `__repr__`,
`__eq__`, `__hash__`, a frozen class's `__setattr__` and `__delattr__`) and compile it when the
class is made: ~0.4 ms a class, half of archspec's own import time, for methods a run mostly never
calls (a frozen class's `__setattr__` only raises; `__repr__` serves debugging; a class that no
command it runs makes needs no `__init__`). Here the standard decorator makes the class, and each
method it writes is made from the same text, defaults and names, only later: its first call
compiles it, puts it on the class in the stub's place, and runs it. The fields, `fields`,
`replace`, `asdict`, equality, hashing, what every method does and what `inspect.signature`
says of the class and its methods are the standard decorator's (a stub's `__wrapped__` gives
the method's own signature, compiling it); only a stub's code, defaults and annotations (none)
are its own until its first call.

`deferring()` does the same for every dataclass this thread makes meanwhile: the command line
imports its dependencies (typer, pydantic) inside it. On a Python whose dataclasses compile a
class's methods in one go (3.13: no `_create_fn`), both are the standard decorator.
"""

from __future__ import annotations

import contextlib
import dataclasses
import inspect
import threading
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

_standard: Callable[..., Any] | None = getattr(dataclasses, "_create_fn", None)
_lock = threading.Lock()
#: The threads inside `deferring()` (how deep), and the `_create_fn` it replaced.
_depth: dict[int, int] = {}
_replaced: list[Callable[..., Any]] = []


class _SignatureOf:
    """A stub's `__wrapped__`: the signature of the method it stands for (inspect reads it)."""

    def __init__(self, real: Callable[[], Callable[..., Any]]) -> None:
        self._real = real

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._real())


def _deferred(name: str, args: Any, body: Any, **kwargs: Any) -> Callable[..., Any]:
    """The method dataclasses asked for, compiled on its first call (another thread's now)."""
    create = _replaced[0] if _replaced else _standard
    assert create is not None
    if threading.get_ident() not in _depth:
        return create(name, args, body, **kwargs)
    made: list[Callable[..., Any]] = []

    def real() -> Callable[..., Any]:
        if not made:
            made.append(create(name, args, body, **kwargs))
            made[0].__qualname__ = method.__qualname__
        return made[0]

    def method(*a: Any, **k: Any) -> Any:
        fn = real()
        if a:  # put it on the class in the stub's place (each method's first argument is self)
            for klass in type(a[0]).__mro__:
                if klass.__dict__.get(name) is method:
                    with contextlib.suppress(AttributeError, TypeError):  # a class that refuses
                        setattr(klass, name, fn)
                    break
        return fn(*a, **k)

    method.__name__ = name
    method.__annotations__ = {}
    method.__wrapped__ = _SignatureOf(real)  # type: ignore[attr-defined]
    return method


@contextlib.contextmanager
def deferring() -> Iterator[None]:
    """Every dataclass this thread makes inside gets its methods compiled on first call."""
    if _standard is None:
        yield
        return
    me = threading.get_ident()
    with _lock:
        if not _depth:
            _replaced[:] = [dataclasses._create_fn]  # type: ignore[attr-defined]
            dataclasses._create_fn = _deferred  # type: ignore[attr-defined]
        _depth[me] = _depth.get(me, 0) + 1
    try:
        yield
    finally:
        with _lock:
            _depth[me] -= 1
            if not _depth[me]:
                del _depth[me]
            if not _depth:
                dataclasses._create_fn = _replaced.pop()  # type: ignore[attr-defined]


def _dataclass(cls: type | None = None, /, **options: Any) -> Any:
    """`dataclasses.dataclass(cls, **options)`, its methods compiled on first call."""

    def wrap(cls: type) -> type:
        with deferring():
            return dataclasses.dataclass(cls, **options)

    return wrap if cls is None else wrap(cls)


if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    dataclass = _dataclass

__all__ = ["dataclass", "deferring"]
