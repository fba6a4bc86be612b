"""The public facade: compile, load, check, emit, summary. The CLI uses only this module.

Nothing here imports torch at module level; `compile` imports the torch backend when called.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .errors import ArchSpecError, LoadError, ResourceError
from .ir import Graph
from .loader import LoadedDoc, load_yaml, read_spec_text
from .lower import lower
from .passes.costs import graph_cost
from .validate import validate_spec

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

#: Default refusal threshold for compile (parameters); override with max_params=.
DEFAULT_MAX_PARAMS = 10**10

SpecSource = str | Path | Mapping[str, Any]


def builtin_dir() -> Path:
    """Where the built-in specs live: inside the installed package, or the source checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "specs"
    if packaged.is_dir():
        return packaged
    return here.parent / "specs"


def builtin_specs() -> dict[str, Path]:
    """Built-in spec names -> files."""
    d = builtin_dir()
    if not d.is_dir():
        return {}
    return {p.stem: p for p in sorted(d.glob("*.yaml"))}


def read_source(source: SpecSource) -> LoadedDoc:
    """Load a spec from a path, a built-in name, YAML text or a mapping."""
    if isinstance(source, Mapping):
        return LoadedDoc(data=dict(source), file="<mapping>", text="")
    if isinstance(source, Path):
        return load_yaml(read_spec_text(source), str(source))
    if not isinstance(source, str):
        raise LoadError(f"cannot read a spec from {type(source).__name__}", code="E100")
    if "\n" in source or source.lstrip().startswith(("{", "archspec:")):
        return load_yaml(source, "<string>")
    path = Path(source)
    if path.exists():
        return load_yaml(read_spec_text(path), source)
    builtins = builtin_specs()
    if source in builtins:
        return load_yaml(read_spec_text(builtins[source]), str(_display(builtins[source])))
    import difflib

    close = difflib.get_close_matches(source, list(builtins), n=3)
    hint = (
        f"did you mean {', '.join(close)}?" if close else "run `archspec list` for built-in specs"
    )
    raise LoadError(f"no spec file or built-in spec named {source!r}", code="E100", hint=hint)


def _display(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def build_graph(source: SpecSource, params: Mapping[str, Any] | None = None) -> Graph:
    """Load, validate and lower a spec to the IR (no torch involved)."""
    from .passes.verify import verify

    doc = read_source(source)
    spec = validate_spec(doc)
    graph = lower(spec, doc, params)
    verify(graph)
    return graph


def compile(  # noqa: A001  (the public name the docs promise)
    source: SpecSource,
    *,
    device: Any = None,
    max_params: int = DEFAULT_MAX_PARAMS,
    **params: Any,
) -> nn.Module:
    """Compile a spec (path, built-in name, YAML text or mapping) into a plain nn.Module.

    Keyword arguments set the spec's params (`num_classes=10`). `device="meta"` builds
    without allocating weights. Raises ArchSpecError (with file:line:col) on a bad spec.
    """
    graph = build_graph(source, params)
    check_limits(graph, max_params)
    from .backends.torch_module import build_module

    return build_module(graph, device)


def load(name: str, **params: Any) -> nn.Module:
    """Compile a built-in spec by name (`archspec.load("resnet50", num_classes=10)`)."""
    builtins = builtin_specs()
    if name not in builtins:
        return compile(name, **params)
    return compile(builtins[name], **params)


def check_limits(graph: Graph, max_params: int = DEFAULT_MAX_PARAMS) -> None:
    """Refuse graphs whose parameter count exceeds `max_params`, before allocating anything."""
    total = graph_cost(graph).params
    if total > max_params:
        raise ResourceError(
            f"{graph.name} has {total:,} parameters, over the limit of {max_params:,}",
            code="E501",
            hint="pass max_params= (CLI: --max-params) to allow it, or compile with "
            "device='meta' to analyse it without memory",
            span=graph.root.span,
        )


__all__ = ["ArchSpecError", "build_graph", "builtin_specs", "compile", "load", "check_limits"]


def emit(source: SpecSource, **params: Any) -> str:
    """Readable PyTorch source for a spec: one module that depends on torch alone."""
    from .backends.pysource import render_module

    return render_module(build_graph(source, params))
