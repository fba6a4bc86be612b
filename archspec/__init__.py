"""archspec: declarative architecture specs compiled to PyTorch.

Write a network once as YAML; check its shapes symbolically; compile it to a plain
nn.Module or emit readable PyTorch source.
"""

from __future__ import annotations

from .api import build_graph, builtin_specs, compile, load  # noqa: A004
from .errors import ArchSpecError, Diagnostic, SourceSpan

__version__ = "0.1.0"

__all__ = [
    "ArchSpecError",
    "Diagnostic",
    "SourceSpan",
    "__version__",
    "build_graph",
    "builtin_specs",
    "compile",
    "load",
]
