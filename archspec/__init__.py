"""archspec: declarative architecture specs compiled to PyTorch.

Write a network once as YAML; check its shapes symbolically; compile it to a plain
nn.Module or emit readable PyTorch source.

The public names are imported on first use (PEP 562), so `import archspec.cli` (or any
submodule) does not first import the whole API: the command line installs its Ctrl-C
handler before anything heavy runs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .version import __version__

#: public name -> the submodule that defines it.
_EXPORTS: dict[str, str] = {
    **dict.fromkeys(
        (
            "build_graph",
            "builtin_index",
            "get_weights",
            "list_weights",
            "builtin_specs",
            "check",
            "compile",
            "emit",
            "from_module",
            "import_factory",
            "list_models",
            "load",
            "load_plugin_files",
            "shard_units",
        ),
        "api",
    ),
    "summary": "summarising",
    **dict.fromkeys(("ArchSpecError", "Diagnostic", "SourceSpan"), "errors"),
    "diff": "api",
    **dict.fromkeys(("WeightsWarning", "load_weights"), "hub"),
    "Weights": "weights",
    **dict.fromkeys(
        (
            "Bool",
            "Float",
            "Inferred",
            "Int",
            "Ints",
            "LayerSpec",
            "Op",
            "ShapeContext",
            "ShapeFailure",
            "Word",
            "register",
            "unregister",
        ),
        "ops",
    ),
}

if TYPE_CHECKING:
    from .api import (
        build_graph,
        builtin_index,
        builtin_specs,
        check,
        compile,  # noqa: A004
        diff,
        emit,
        from_module,
        get_weights,
        import_factory,
        list_models,
        list_weights,
        load,
        load_plugin_files,
        shard_units,
    )
    from .errors import ArchSpecError, Diagnostic, SourceSpan
    from .hub import WeightsWarning, load_weights
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
        Word,
        register,
        unregister,
    )
    from .summarising import summary
    from .weights import Weights


def __getattr__(name: str) -> Any:
    """Import a public name's submodule on first use and cache the name here."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'archspec' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})


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
    "Word",
    "Diagnostic",
    "SourceSpan",
    "Weights",
    "WeightsWarning",
    "__version__",
    "build_graph",
    "builtin_index",
    "builtin_specs",
    "check",
    "diff",
    "compile",
    "emit",
    "from_module",
    "get_weights",
    "import_factory",
    "list_models",
    "list_weights",
    "load",
    "load_plugin_files",
    "load_weights",
    "register",
    "shard_units",
    "summary",
    "unregister",
]
