"""Layer kinds: the registry and the built-in ops (importing this registers them).

The modules that define layer models do without `from __future__ import annotations`: their
fields' annotations are then objects when pydantic collects them, not strings it compiles and
evaluates one by one (~170 fields, ~5 ms of every start-up); tests/test_ops_import.py checks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from . import conv, layers, merge, tensor  # noqa: F401  (registration side effects)

# isort: split
from . import (  # noqa: F401  (registered after the kinds above)
    activations,
    affine,
    attention,
    embedding,
    flip,
    masking,
    moments,
    noise,
    norms,
    outputs,
    padding,
    parameter,
    partition,
    products,
    recurrent,
    resize,
    reuse,
    sampling,
    slicing,
    split,
    squeeze,
    tile,
    topk,
    unpool,
    window,
)
from .base import (
    REGISTRY,
    Bool,
    Constraint,
    ExprStr,
    Final,
    Float,
    Inferred,
    Int,
    Ints,
    LayerSpec,
    Op,
    ShapeContext,
    ShapeFailure,
    get_op,
    node_style,
    on_register,
    register,
    unregister,
)
from .merge import ACTIVATION_FNS, ActivationFn
from .words import Word

_T = TypeVar("_T")


def registry_cached(table: Callable[[], _T]) -> Callable[[], _T]:
    """`table()`, a table of kinds worked out from the registry, made once and again after the
    registry changes (a plugin's kind): what a pass asks of every node reads it, not the
    registry (the window lint's kinds, the graph lint's)."""
    cached = functools.cache(table)
    on_register(cached.cache_clear)
    return cached


__all__ = [
    "ACTIVATION_FNS",
    "REGISTRY",
    "ActivationFn",
    "Bool",
    "Constraint",
    "ExprStr",
    "Final",
    "Float",
    "Inferred",
    "Int",
    "Ints",
    "Word",
    "LayerSpec",
    "Op",
    "ShapeContext",
    "ShapeFailure",
    "get_op",
    "node_style",
    "register",
    "registry_cached",
    "unregister",
]
