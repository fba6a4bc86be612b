"""Layer kinds: the registry and the built-in ops (importing this registers them).

The modules that define layer models do without `from __future__ import annotations`: their
fields' annotations are then objects when pydantic collects them, not strings it compiles and
evaluates one by one (~170 fields, ~5 ms of every start-up); tests/test_ops_import.py checks.
"""

from __future__ import annotations

from . import conv, layers, merge, tensor  # noqa: F401  (registration side effects)

# isort: split
from . import (  # noqa: F401  (registered after the kinds above)
    activations,
    affine,
    attention,
    embedding,
    flip,
    masking,
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
    register,
    unregister,
)
from .merge import ACTIVATION_FNS, ActivationFn
from .words import Word

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
    "unregister",
]
