"""Layer kinds: the registry and the built-in ops (importing this registers them)."""

from __future__ import annotations

from . import conv, layers, merge, tensor  # noqa: F401  (registration side effects)

# isort: split
from . import (  # noqa: F401  (registered after the kinds above)
    activations,
    affine,
    attention,
    norms,
    parameter,
    partition,
    products,
    resize,
    split,
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
    register,
    unregister,
)
from .merge import ACTIVATION_FNS, ActivationFn

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
    "LayerSpec",
    "Op",
    "ShapeContext",
    "ShapeFailure",
    "get_op",
    "node_style",
    "register",
    "unregister",
]
