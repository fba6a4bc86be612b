"""A plugin's layer kind whose own code fails is the plugin's error, not archspec's.

A kind registered from outside archspec (a `--plugins` file, an installed entry point, a
notebook) runs its author's Python in every stage. An exception it raises where archspec
expects a value would reach the user as "internal error, please report it" (exit 3) and
point at archspec. `guard` wraps such an op's methods once, at registration: the shape rule
fails as a located E701 at the layer, any other method as E701 naming the kind, the method
and the exception. archspec's own kinds are not wrapped: their failures are archspec's bugs.

A method that returns a value of the wrong kind (a `params` that forgot its `return`, a
shape rule returning a bare tuple, a `build` returning a tensor) is the same bug found one
step later, in archspec's code: each result is checked against what the method must return
(`RESULTS`, `checked_inferred`) where the plugin gave it, and refused as E701 saying so.
"""

from __future__ import annotations

import functools
import operator
import sys
from collections.abc import Callable, Mapping
from typing import Any

from ..dims import Dim
from ..errors import PluginError, exception_text
from .base import Inferred, Op, ShapeFailure

#: What a plugin's code may raise that is its bug: every exception, and `sys.exit` too (a
#: plugin ending the process from a shape rule exited 0 with nothing printed).
_BUGS = (Exception, SystemExit)

#: The methods archspec calls on an op, besides `infer` (`emit` failures are E601 already).
_METHODS = (
    "params",
    "buffers",
    "macs",
    "connections",
    "scratch_numel",
    "init_tensors",
    "tensor_shapes",
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
        except RecursionError as exc:
            if not _own_recursion(op, exc):  # a deep spec's walk: lowering's E310
                raise
            raise ShapeFailure("E701", _message(op, "infer", exc), _hint(op, "infer")) from exc
        except (ShapeFailure, MemoryError):
            raise
        except _BUGS as exc:
            raise ShapeFailure("E701", _message(op, "infer", exc), _hint(op, "infer")) from exc

    op.infer = guarded_infer  # type: ignore[method-assign]
    for name in _METHODS:
        setattr(op, name, _guarded(op, name, getattr(op, name)))


def _guarded(op: Op, name: str, method: Any) -> Any:
    result = RESULTS.get(name)

    @functools.wraps(method)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            value = method(*args, **kwargs)
        except RecursionError as exc:
            if not _own_recursion(op, exc):
                raise
            raise PluginError(_message(op, name, exc), hint=_hint(op, name)) from exc
        except (MemoryError, PluginError):
            raise
        except _BUGS as exc:
            if type(exc).__name__ == "OutOfMemoryError":  # torch's: an allocation, not a bug
                raise
            raise PluginError(_message(op, name, exc), hint=_hint(op, name)) from exc
        if result is None:
            return value
        kept = result[0](op, value)
        if kept is _WRONG:
            raise PluginError(_returned(op, name, value, result[1]), hint=_result_hint(op, name))
        return kept

    return call


def _own_recursion(op: Op, exc: RecursionError) -> bool:
    """True when the recursion is the plugin's own (its deepest 20 frames are all in the
    plugin's file: a rule that calls itself), not archspec's walk of a deeply nested spec
    that reached the limit in a plugin's rule, which lowering reports as E310 ('the spec
    nests too deeply')."""
    module = sys.modules.get(type(op).__module__)
    path = getattr(module, "__file__", None)
    files = []
    tb = exc.__traceback__
    while tb is not None:
        files.append(tb.tb_frame.f_code.co_filename)
        tb = tb.tb_next
    return path is not None and len(files) >= 20 and all(f == path for f in files[-20:])


#: A checker's answer for a value of the wrong kind.
_WRONG = object()


def _count(op: Op, value: Any) -> Any:
    """An element count: an int >= 0 (`numpy.int64` taken as its int), never a bool."""
    if isinstance(value, bool) or not hasattr(type(value), "__index__"):
        return _WRONG
    number = operator.index(value)
    return number if number >= 0 else _WRONG


def _size(op: Op, value: Any) -> Any:
    """A cost over the input: a Dim, or an int >= 0 made one."""
    if isinstance(value, Dim):
        return _WRONG if value.is_const and value.value < 0 else value
    number = _count(op, value)
    return number if number is _WRONG else Dim.of(number)


def _built(op: Op, value: Any) -> Any:
    """A module op's `nn.Module`; a tensor op's `nn.Parameter` (torch is loaded: `build` ran)."""
    nn = sys.modules["torch"].nn
    wanted = nn.Parameter if op.style == "tensor" else nn.Module
    return value if isinstance(value, wanted) else _WRONG


def _function(op: Op, value: Any) -> Any:
    """`(callable, kwargs)`."""
    ok = isinstance(value, tuple) and len(value) == 2
    return value if ok and callable(value[0]) and isinstance(value[1], Mapping) else _WRONG


def _optional_mapping(op: Op, value: Any) -> Any:
    return value if value is None or isinstance(value, Mapping) else _WRONG


#: What each checked method must return: a checker (the value to use, or `_WRONG`) and the
#: words E701 says it with.
RESULTS: dict[str, tuple[Callable[[Op, Any], Any], str]] = {
    "params": (_count, "a count, an int >= 0"),
    "buffers": (_count, "a count, an int >= 0"),
    "macs": (_size, "a count, an int >= 0 or an archspec Dim"),
    "connections": (_size, "a count, an int >= 0 or an archspec Dim"),
    "scratch_numel": (_size, "a count, an int >= 0 or an archspec Dim"),
    "build": (_built, "the layer's nn.Module (a tensor op: its nn.Parameter)"),
    "function": (_function, "a pair (callable, dict of keyword arguments)"),
    "init_tensors": (_optional_mapping, "None or a dict"),
    "tensor_shapes": (_optional_mapping, "None or a dict"),
}


def checked_inferred(op: Op, out: Any) -> Inferred:
    """A plugin's shape rule's result, checked: an `Inferred` whose attrs hold every one of
    the kind's `inferred` attributes and whose shape is a tuple of Dims (an int >= 0 in it is
    taken as its Dim); anything else is E701 at the layer."""
    if not isinstance(out, Inferred):
        what = "archspec.Inferred(attrs, shape)"
        raise ShapeFailure("E701", _returned(op, "infer", out, what), _result_hint(op, "infer"))
    if not isinstance(out.attrs, Mapping):
        what = "archspec.Inferred(attrs, shape) whose attrs are a dict"
        raise ShapeFailure(
            "E701", _returned(op, "infer", out.attrs, what), _result_hint(op, "infer")
        )
    missing = [name for name in op.inferred if name not in out.attrs]
    if missing:
        listed = ", ".join(f"`{name}`" for name in missing)
        raise ShapeFailure(
            "E701",
            f"layer kind `{op.kind}` ({_origin(op)}): its `infer` leaves out {listed}, which "
            "the kind lists in `inferred`",
            f"return the attributes with every one of `inferred` filled in; {_hint(op, 'infer')}",
        )
    shape = out.shape
    dims = tuple(shape) if isinstance(shape, (tuple, list)) else None
    if dims is not None:
        dims = tuple(d if isinstance(d, Dim) else _size(op, d) for d in dims)
    if dims is None or any(d is _WRONG for d in dims):
        what = "a shape: a tuple of archspec Dims (or ints >= 0)"
        raise ShapeFailure("E701", _returned(op, "infer", shape, what), _result_hint(op, "infer"))
    negative = [d.value for d in dims if d.is_const and d.value < 0]
    if negative:
        raise ShapeFailure(
            "E701",
            f"layer kind `{op.kind}` ({_origin(op)}): its `infer` gives a size of "
            f"{negative[0]} to the output",
            "a shape rule raises archspec.ShapeFailure (E405) for an input that leaves no "
            f"size; {_hint(op, 'infer')}",
        )
    kept = isinstance(shape, tuple) and all(d is s for d, s in zip(dims, shape, strict=True))
    return out if kept else Inferred(out.attrs, dims)


def _returned(op: Op, method: str, value: Any, wanted: str) -> str:
    return (
        f"layer kind `{op.kind}` ({_origin(op)}): its `{method}` returned "
        f"{_shown(value)}, not {wanted}"
    )


def _result_hint(op: Op, method: str) -> str:
    return (
        f"a bug in the plugin's `{type(op).__name__}.{method}`: docs/plugins.md says what each "
        "method returns; fix the plugin"
    )


def _shown(value: Any) -> str:
    """A short, safe description of a returned value: its type, and its repr when short."""
    try:
        text = repr(value)
    except Exception:  # a plugin's own __repr__ may fail too
        text = ""
    kind = type(value).__name__
    if text and len(text) <= 60 and "\n" not in text:
        return f"{kind} {text}" if kind not in ("NoneType",) else text
    return f"a {kind}"


def _message(op: Op, method: str, exc: BaseException) -> str:
    said = exception_text(exc)  # an exception whose own __str__ fails says nothing more
    text = said.splitlines()[0][:200] if said.strip() else ""
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
