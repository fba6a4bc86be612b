"""Leaf modules to layer kinds: each registered kind reads the modules it builds
(`Op.read_module`), and every reading is checked by building the kind from it.

A reading is accepted only when the module the kind builds from it has the same class name,
the same `repr` and the same parameter and buffer names and shapes as the original; so a
kind whose fields do not say everything about a module (or a plugin's wrong reader) leaves
the module unread, and the importer reports it (E902) instead of approximating it.
"""

from __future__ import annotations

import inspect
import weakref
from typing import TYPE_CHECKING, Any

from ..lazymethods import dataclass
from ..ops.base import META_FIELDS, REGISTRY, Op
from .modes import kept_modes

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn


@dataclass(frozen=True)
class Leaf:
    """A module read as a layer kind: the fields a spec writes (defaults and inferred
    values left out) and every field with its value (defaults filled), for comparing."""

    kind: str
    fields: dict[str, Any]
    full: dict[str, Any]


_CACHE: dict[tuple[Any, ...], Leaf | None] = {}


def _tensors(module: nn.Module) -> tuple[tuple[str, tuple[int, ...]], ...]:
    named = [*module.named_parameters(), *module.named_buffers()]
    return tuple((name, tuple(t.shape)) for name, t in named)


def _fingerprint(module: nn.Module) -> tuple[Any, ...]:
    """What decides a reading: class, repr, tensors and plain attributes (torchvision's
    Permute prints no `dims`, so its repr alone would not tell two apart)."""
    plain = tuple(
        (k, repr(v))
        for k, v in sorted(vars(module).items())
        if not k.startswith("_")
        and k != "training"
        and (v is None or isinstance(v, bool | int | float | str | tuple | list))
    )
    return (type(module), repr(module), _tensors(module), plain)


def defaults(op: Op) -> dict[str, Any]:
    """The kind's fields that have defaults, with them."""
    return {
        name: field.default
        for name, field in op.spec.model_fields.items()
        if name not in META_FIELDS and not field.is_required()
    }


def _builds_same(op: Op, attrs: dict[str, Any], module: nn.Module) -> bool:
    import torch

    try:
        with torch.device("meta"):
            built = op.build(attrs)
    except Exception:
        return False
    if _tensors(built) != _tensors(module):
        return False
    if not _same_common(dict(_fingerprint(built)[3]), dict(_fingerprint(module)[3])):
        return False
    if module._non_persistent_buffers_set and not _same_fixed_values(op, attrs, module):
        return False
    if _after_name(repr(built)) == _after_name(repr(module)):
        return _same_code(type(built), type(module)) or _same_graph(built, module)
    if op.read_by_running:  # a class of the model's own that draws random numbers
        from ..ops.reading import runs_alike

        with torch.device("cpu"):
            return runs_alike(op.build(attrs), module)
    # a repr of its own (timm's ScaledStdConv2d shows a Conv2d's): the forward decides
    return _same_graph(built, module)


def _same_fixed_values(op: Op, attrs: dict[str, Any], module: nn.Module) -> bool:
    """The module's non-persistent buffers, which no state_dict carries (timm's BlurPool2d
    filter), hold the values the kind makes (a model on the meta device holds none)."""
    import torch

    fixed = module._non_persistent_buffers_set
    theirs = {k: v for k, v in module.named_buffers(recurse=False) if k in fixed}
    if any(v.is_meta for v in theirs.values()):
        return True
    try:
        with torch.device("cpu"):
            ours = dict(op.build(attrs).named_buffers(recurse=False))
    except Exception:
        return False
    return all(k in ours and torch.equal(ours[k], v.cpu()) for k, v in theirs.items())


def _same_code(base: type, cls: type) -> bool:
    """A module of class `cls` computes what the kind's `base` class does: the same class;
    archspec's subclass of a torch class (multihead_attention's self-attention wrapper of
    nn.MultiheadAttention, whose call the importer reads as one input); a subclass that only
    changes construction (torchvision's `Conv3DSimple(nn.Conv3d)`); or, for the classes
    archspec writes after a library's (torchvision's LayerNorm2d), the same name. A subclass
    of a torch layer that redefines a method (BiT's weight-standardised `Conv2d(nn.Conv2d)`)
    computes its own thing, whatever its name and repr says."""
    if cls is base or (issubclass(base, cls) and cls.__module__.startswith("torch.")):
        return True
    if issubclass(cls, base):
        return all(_constructs_only(c) for c in cls.__mro__[: cls.__mro__.index(base)])
    if base.__module__.startswith("torch.") or base.__name__ != cls.__name__:
        return False
    # the same name: archspec's copy of a library's class (torchvision's Permute), or a
    # user's class that only shares the name (refused unless its forward reads the same)
    mirrored = MIRRORED.get(cls.__module__.split(".")[0], frozenset())
    return "*" in mirrored or cls.__name__ in mirrored or _same_forward(base, cls)


#: Library classes archspec's kinds rebuild under the same names, by library ("*": all of
#: them): torchvision's Permute, LayerNorm2d, StochasticDepth, Swin's and MaxViT's attention
#: and partitions; timm's classes padded as TensorFlow's SAME in forward (`padding: same`:
#: a strided conv2d or std_conv2d, a 2-d pool) and BlurPool2d (`blur_pool2d`).
MIRRORED = {
    "torchvision": frozenset({"*"}),
    "timm": frozenset(
        {
            "Conv2dSame",
            "StdConv2dSame",
            "ScaledStdConv2dSame",
            "MaxPool2dSame",
            "AvgPool2dSame",
            "BlurPool2d",
        }
    ),
}


def _same_forward(base: type, cls: type) -> bool:
    """Both forwards are the same code, docstrings aside (a copy of a library class)."""
    import ast
    import textwrap

    def body(klass: type) -> str | None:
        try:
            tree = ast.parse(textwrap.dedent(inspect.getsource(klass.forward)))
        except (OSError, TypeError, SyntaxError):
            return None
        fn = tree.body[0]
        if not isinstance(fn, ast.FunctionDef):
            return None
        stmts = fn.body
        if stmts and isinstance(stmts[0], ast.Expr) and isinstance(stmts[0].value, ast.Constant):
            stmts = stmts[1:]
        return ast.dump(ast.Module(body=stmts, type_ignores=[]), annotate_fields=False)

    ours = body(base)
    return ours is not None and ours == body(cls)


def _same_graph(built: nn.Module, module: nn.Module) -> bool:
    """A class named as the kind's class or one of its bases (timm's `LayerNorm2d(nn.LayerNorm)`,
    whose forward tests a fast-norm flag first) whose forward, traced with torch.fx in eval and
    in training mode, makes the same graph as the kind's module: the same calls of the same
    functions, methods and attributes, with equal constant arguments. A forward that computes
    anything else (weight standardisation, an extra step, another mode) traces otherwise."""
    names = [c.__name__ for c in type(module).__mro__]
    if type(built).__name__ not in names and not any(
        c.__name__ in names for c in type(built).__mro__[1:] if c.__module__.startswith("torch.")
    ):
        return False
    try:
        return all(_graph_of(built, mode) == _graph_of(module, mode) for mode in (False, True))
    except Exception:  # a forward fx cannot trace is not shown to be the same
        return False


def _graph_of(module: nn.Module, training: bool) -> list[tuple[Any, ...]]:
    """One forward as comparable data: per node its op, target and arguments (nodes by index)."""
    import torch.fx as fx

    with kept_modes(module):
        module.train(training)
        graph = fx.Tracer().trace(module)
    index = {node: i for i, node in enumerate(graph.nodes)}

    def value(v: Any) -> Any:
        if isinstance(v, fx.Node):
            return ("node", index[v])
        if isinstance(v, list | tuple):
            return (type(v).__name__, tuple(value(x) for x in v))
        if isinstance(v, dict):
            return ("dict", tuple(sorted((k, value(x)) for k, x in v.items())))
        if v is None or isinstance(v, bool | int | float | str | type):
            return (type(v).__name__, v)
        return ("object", type(v).__qualname__, repr(v))

    return [
        (n.op, n.target if n.op != "placeholder" else None, value(n.args), value(n.kwargs))
        for n in graph.nodes
    ]


def _constructs_only(cls: type) -> bool:
    """A class that defines no method but `__init__` (static and class methods aside)."""
    return not any(
        name != "__init__" and (inspect.isfunction(value) or isinstance(value, property))
        for name, value in vars(cls).items()
    )


def _after_name(text: str) -> str:
    """A repr without its class name (`MultiheadAttention(...)` -> `(...)`)."""
    return text[text.find("(") :] if "(" in text else text


def _same_common(ours: dict[str, str], theirs: dict[str, str]) -> bool:
    """Attributes both have agree (the model may add its own: Inception's `stddev`)."""
    return all(theirs[k] == v for k, v in ours.items() if k in theirs)


def _scalars(fields: dict[str, Any]) -> dict[str, Any]:
    """Lists of equal numbers written once (`kernel_size: 3` for (3, 3))."""
    return {
        k: v[0] if isinstance(v, list) and v and all(x == v[0] for x in v) else v
        for k, v in fields.items()
    }


def _candidates(module: nn.Module) -> list[Op]:
    names = [cls.__name__ for cls in type(module).__mro__]  # its class, then its bases'
    named = sorted(
        (op for op in REGISTRY.values() if op.torch_name.removeprefix("nn.") in names),
        key=lambda op: names.index(op.torch_name.removeprefix("nn.")),
    )
    others = [op for op in REGISTRY.values() if op not in named and op.style == "module"]
    return named + [op for op in others if type(op).read_module is not Op.read_module]


#: Readings of modules whose class has a forward of its own outside torch: what it computes
#: may hang on any attribute (a flag the fingerprint does not show), so one per instance.
_OWN_FORWARD: weakref.WeakKeyDictionary[Any, tuple[Any, Leaf | None]] = weakref.WeakKeyDictionary()


def read_leaf(module: nn.Module) -> Leaf | None:
    """The layer kind and fields that build `module` exactly, or None."""
    key = _fingerprint(module)
    if not type(module).forward.__module__.startswith("torch."):
        cached = _OWN_FORWARD.get(module)
        if cached is None or cached[0] != instance_key(module):  # changed since: read again
            cached = _OWN_FORWARD[module] = (instance_key(module), _read(module))
        return cached[1]
    if key not in _CACHE:
        _CACHE[key] = _read(module)
    return _CACHE[key]


def instance_key(module: nn.Module) -> tuple[Any, ...]:
    """What a reading of one instance hangs on: its fingerprint and every plain attribute,
    private flags included (timm's `_fast_norm`), so a module changed after an import (its
    `eps`, a flag) is read again rather than from a cache."""
    flags = tuple(
        (k, repr(v))
        for k, v in sorted(vars(module).items())
        if v is None or isinstance(v, bool | int | float | str | tuple | list)
    )
    return (_fingerprint(module), flags)


def _read(module: nn.Module) -> Leaf | None:
    for op in _candidates(module):
        if op.style != "module":
            continue
        try:
            fields = op.read_module(module)
        except Exception:
            continue
        if fields is None:
            continue
        base = defaults(op)
        for attempt in (_scalars(fields), fields):
            given = {**base, **attempt}
            attrs = {k: given[k] for k in op.spec.model_fields if k in given}
            if _builds_same(op, attrs, module) and _refusal(op, attrs) is None:
                full = {k: v for k, v in attrs.items() if k not in op.inferred}
                shown = {k: v for k, v in full.items() if k not in base or v != base[k]}
                return Leaf(op.kind, shown, full)
    return None


def _refusal(op: Op, attrs: dict[str, Any]) -> str | None:
    """What the kind's spec refuses of a reading, as words (`dim=None`), or None when a spec
    states it: a module built with a value no spec writes (`nn.Softmax()`, whose dim torch
    picks from the input's rank) has no reading, however equal the kind's module is."""
    from pydantic import ValidationError

    try:
        op.spec.model_validate({**attrs, "type": op.kind})
    except ValidationError as exc:
        field = next((str(e["loc"][0]) for e in exc.errors() if e["loc"]), None)
        if field in attrs:
            return f"{field}={attrs[field]!r}: build the module with a {field} the kind takes"
        return "these settings"
    return None


def unread_settings(module: nn.Module) -> str | None:
    """Why the kind named after `module`'s class does not read it, as words: the settings
    it builds otherwise (`batch_first=True where the model has False`); None if unknown."""
    import torch

    from ..ops.reading import read_fields

    for op in _candidates(module):
        if op.style != "module" or op.torch_name.removeprefix("nn.") != type(module).__name__:
            continue
        try:
            # a kind that refuses the module (a sequence-first GRU) is still compared as
            # its fields read by name build it, so the message says which setting differs
            fields = op.read_module(module) or read_fields(op, module)
            given = {**defaults(op), **(fields or {})}
            with torch.device("meta"):
                built = op.build({k: given[k] for k in op.spec.model_fields if k in given})
        except Exception:
            continue
        refused = _refusal(op, {k: given[k] for k in op.spec.model_fields if k in given})
        if refused is not None:
            return f"the kind `{op.kind}` takes no {refused}"
        ours, theirs = dict(_fingerprint(built)[3]), dict(_fingerprint(module)[3])
        odd = [
            f"{k}={v} where the model has {theirs[k]}"
            for k, v in ours.items()
            if theirs.get(k, v) != v
        ]
        if not odd and sorted(_tensors(built)) == sorted(_tensors(module)) != _tensors(module):
            order = ", ".join(name for name, _ in _tensors(module))
            odd = [f"its tensors in another order than the model's ({order}: re-registered?)"]
        elif not odd and _tensors(built) != _tensors(module):
            odd = ["other tensors (an option the kind does not state)"]
        if odd:
            return f"the kind `{op.kind}` builds it with {', '.join(odd[:3])}"
    return None
