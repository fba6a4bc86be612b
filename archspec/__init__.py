"""archspec: declarative architecture specs compiled to PyTorch.

Write a network once as YAML; check its shapes symbolically; compile it to a plain
nn.Module or emit readable PyTorch source.
"""

from __future__ import annotations

from .api import build_graph, builtin_specs, check, compile, emit, load, summary  # noqa: A004
from .errors import ArchSpecError, Diagnostic, SourceSpan
from .ops import (
    Bool,
    Float,
    Inferred,
    Int,
    Ints,
    LayerSpec,
    Op,
    ShapeContext,
    ShapeFailure,
    register,
    unregister,
)

__version__ = "0.1.0"

__all__ = [
    "ArchSpecError",
    "Bool",
    "Float",
    "Inferred",
    "Int",
    "Ints",
    "LayerSpec",
    "Op",
    "ShapeContext",
    "ShapeFailure",
    "Diagnostic",
    "SourceSpan",
    "__version__",
    "build_graph",
    "builtin_specs",
    "check",
    "compile",
    "emit",
    "load",
    "register",
    "summary",
    "unregister",
]
