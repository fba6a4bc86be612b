"""The public facade: compile, load, check, emit, summary. The CLI uses only this module.

Nothing here imports torch at module level; `compile` imports the torch backend when called.
"""

from __future__ import annotations

import dataclasses
import gc
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dims import Dim
from .errors import ArchSpecError, Diagnostic, LoadError, ResourceError, Severity, ShapeError
from .ir import Graph
from .loader import LoadedDoc, load_data, load_yaml, read_spec_text
from .lower import MAX_NODES, lower
from .passes.costs import Footprint, footprint
from .validate import validate_spec

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from .passes.shapes import CheckResult
    from .report import Summary

#: Default refusal threshold for compile (parameter and buffer elements); max_params=.
DEFAULT_MAX_PARAMS = 10**10
#: Default bound on activation elements of one forward pass for one sample (~37 GiB in
#: float32); max_activations=.
DEFAULT_MAX_ACTIVATIONS = 10**10
#: Default bound on layer items a spec may expand to (E310); max_layers=, --max-layers.
DEFAULT_MAX_LAYERS = MAX_NODES
#: torch indexes tensors with int64: no limit may be raised past this.
MAX_TENSOR_ELEMENTS = 2**62

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
        return load_data(source)
    if isinstance(source, Path):
        return load_yaml(read_spec_text(source), str(source))
    if not isinstance(source, str):
        raise LoadError(f"cannot read a spec from {type(source).__name__}", code="E100")
    if "\n" in source or source.lstrip().startswith(("{", "archspec:")):
        return load_yaml(source, "<string>")
    path = Path(source)
    try:
        exists = path.exists()
    except OSError:  # a name too long for the file system, ...: not a file we can read
        exists = False
    if exists:
        return load_yaml(read_spec_text(path), source)
    builtins = builtin_specs()
    if source in builtins:
        return load_yaml(read_spec_text(builtins[source]), str(_display(builtins[source])))
    import difflib

    close = difflib.get_close_matches(source, list(builtins), n=3)
    hint = (
        f"did you mean {', '.join(close)}?" if close else "run `archspec list` for built-in specs"
    )
    shown = repr(source) if len(source) <= 200 else repr(source[:200]) + "..."
    raise LoadError(f"no spec file or built-in spec named {shown}", code="E100", hint=hint)


def _display(path: Path) -> Path:
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic collector while the passes build the IR or the module.

    The passes allocate many small long-lived objects and make no garbage cycles worth
    collecting; every full collection would walk all of them, so a 10x bigger spec cost
    13x more time (benchmarks/results.md, scaling). Reference counting still frees
    everything; the collector resumes, if it was on, when the block ends.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def build_graph(
    source: SpecSource,
    params: Mapping[str, Any] | None = None,
    *,
    max_layers: int = DEFAULT_MAX_LAYERS,
) -> Graph:
    """Load, validate and lower a spec to the IR (no torch involved).

    `max_layers` bounds how many layer items the spec may expand to (E310).
    """
    from .passes.verify import verify

    with _gc_paused():
        doc = read_source(source)
        spec = validate_spec(doc)
        graph = lower(spec, doc, params, max_layers)
        verify(graph)
    return graph


def compile(  # noqa: A001  (the public name the docs promise)
    source: SpecSource,
    *,
    device: Any = None,
    max_params: int = DEFAULT_MAX_PARAMS,
    max_activations: int | None = DEFAULT_MAX_ACTIVATIONS,
    max_layers: int = DEFAULT_MAX_LAYERS,
    **params: Any,
) -> nn.Module:
    """Compile a spec (path, built-in name, YAML text or mapping) into a plain nn.Module.

    Keyword arguments set the spec's params (`num_classes=10`). `device="meta"` builds
    without allocating weights. The limits are checked from the IR before any tensor
    exists (see `check_limits`); `max_layers` bounds expansion (E310). Raises
    ArchSpecError (with file:line:col) on a bad spec.
    """
    graph = build_graph(source, params, max_layers=max_layers)
    check_limits(graph, max_params, max_activations)
    _require_some_input(graph)
    from .backends.torch_module import build_module

    with _gc_paused():
        return build_module(graph, device)


def _require_some_input(graph: Graph) -> None:
    """Refuse a graph that no input size can run (E410), which lowering alone cannot see
    when the declared input is symbolic."""
    if not graph.constraints:
        return
    from .passes.shapes import check_graph

    result = check_graph(graph)
    if result.errors:
        raise ShapeError(diagnostics=result.errors, sources=dict(result.sources))


def load(name: str, **params: Any) -> nn.Module:
    """Compile a built-in spec by name (`archspec.load("resnet50", num_classes=10)`)."""
    builtins = builtin_specs()
    if name not in builtins:
        return compile(name, **params)
    return compile(builtins[name], **params)


def check_limits(
    graph: Graph,
    max_params: int = DEFAULT_MAX_PARAMS,
    max_activations: int | None = DEFAULT_MAX_ACTIVATIONS,
) -> Footprint:
    """Refuse graphs over the limits, before anything is allocated; return the figures.

    `max_params` bounds parameter plus buffer elements (what building the module allocates);
    `max_activations` bounds the output elements of one forward pass for one sample
    (None: no bound). Neither may exceed what torch can index.
    """
    fp = footprint(graph)
    limit = min(max_params, MAX_TENSOR_ELEMENTS)
    total = fp.params + fp.buffers
    if total > limit:
        what = f"{fp.params:,} parameters" + (
            f" and {fp.buffers:,} buffer elements" if fp.buffers else ""
        )
        path, node, heaviest = fp.largest if fp.largest else ("?", None, 0)
        raise ResourceError(
            f"{graph.name} has {what}, over the limit of {limit:,}",
            code="E501",
            hint=f"the largest layer is `{path}` with {heaviest:,}; pass "
            "archspec.compile(..., max_params=N) to allow more, use device='meta' (or "
            "`archspec summary`) to analyse it without memory, or use smaller layers",
            span=node.span if node is not None else graph.root.span,
            sources=dict(graph.sources),
        )
    if max_activations is not None and fp.activations is not None:
        act_limit = min(max_activations, MAX_TENSOR_ELEMENTS)
        if fp.activations > act_limit:
            raise ResourceError(
                f"{graph.name} computes {fp.activations:,} activation elements per sample "
                f"(~{fp.activations >> 28:,} GiB in float32), over the limit of {act_limit:,}",
                code="E502",
                hint="use a smaller input or more downsampling; pass max_activations= to allow it",
                span=graph.root.span,
                sources=dict(graph.sources),
            )
    return fp


__all__ = ["ArchSpecError", "build_graph", "builtin_specs", "compile", "load", "check_limits"]


def emit(source: SpecSource, *, max_layers: int = DEFAULT_MAX_LAYERS, **params: Any) -> str:
    """Readable PyTorch source for a spec: one module that depends on torch alone."""
    from .backends.pysource import render_module

    graph = build_graph(source, params, max_layers=max_layers)
    with _gc_paused():
        return render_module(graph)


def check(
    source: SpecSource,
    *,
    input: Sequence[int] | None = None,  # noqa: A002  (the name the CLI and docs use)
    max_layers: int = DEFAULT_MAX_LAYERS,
    **params: Any,
) -> CheckResult:
    """Shape-check a spec for every input size, and for `input` if given; never imports torch.

    Spec errors do not raise: they are the result's `diagnostics` (`result.ok` is False).
    `result.domain_text` says which inputs work ("vgg16 accepts (N, 3, H, W) with H, W >= 32").
    """
    from .passes.shapes import CheckResult, check_graph

    try:
        graph = build_graph(source, params, max_layers=max_layers)
    except ArchSpecError as exc:
        if isinstance(source, Mapping):
            name, file = str(source.get("name", "<mapping>")), "<mapping>"
        elif isinstance(source, str) and "\n" in source:
            name = file = "<string>"
        else:
            name, file = Path(str(source)).stem, str(source)
        diags = _with_accepted_inputs(source, params, exc.diagnostics, max_layers)
        return CheckResult(name=name, file=file, diagnostics=tuple(diags), sources=exc.sources)
    with _gc_paused():
        result = check_graph(graph, tuple(input) if input is not None else None)
    if result.ok:
        warnings = limit_warnings(graph)
        if warnings:
            result = dataclasses.replace(result, diagnostics=(*result.diagnostics, *warnings))
    return result


def limit_warnings(graph: Graph) -> list[Diagnostic]:
    """W501/W502: what `compile` would refuse with its default limits (E501/E502).

    `check` and the source writers allocate nothing, so a huge spec is only worth a warning
    there: the user learns before building it that the defaults must be raised, or
    `device="meta"` used.
    """
    try:
        check_limits(graph)
    except ResourceError as exc:
        return [
            dataclasses.replace(
                d,
                code="W" + d.code[1:],
                message=f"too large to build with archspec.compile's default limits: {d.message}",
                severity=Severity.WARNING,
            )
            for d in exc.diagnostics
        ]
    return []


#: Errors about sizes, whose fix may be another input size.
_SIZE_CODES = frozenset({"E402", "E403", "E404", "E405"})


def _with_accepted_inputs(
    source: SpecSource,
    params: Mapping[str, Any],
    diags: list[Diagnostic],
    max_layers: int = DEFAULT_MAX_LAYERS,
) -> list[Diagnostic]:
    """When the declared input breaks a layer, lead each size error's hint with the inputs
    that work: the spec is lowered again with its input sizes as symbols, and solved."""
    if not any(d.code in _SIZE_CODES for d in diags):
        return diags
    from dataclasses import replace

    from .passes.shapes import check_graph, generalise_input

    try:
        doc = read_source(source)
        spec = validate_spec(doc)
        sym = generalise_input(tuple(Dim.of(d) for d in spec.input))
        general = [d.value if d.is_const else str(d) for d in sym.shape]
        graph = lower(spec.model_copy(update={"input": general}), doc, params, max_layers)
    except ArchSpecError:  # the error does not depend on the input size
        return diags
    result = check_graph(graph)
    if result.domain is None or result.domain.is_empty:
        return diags
    accepts = result.domain_text
    return [
        replace(d, hint=f"{accepts}. {d.hint[:1].upper()}{d.hint[1:]}" if d.hint else accepts)
        if d.code in _SIZE_CODES
        else d
        for d in diags
    ]


def summary(
    source: SpecSource,
    *,
    input: Sequence[int] | None = None,  # noqa: A002
    depth: int | None = None,
    max_layers: int = DEFAULT_MAX_LAYERS,
    **params: Any,
) -> Summary:
    """Per-layer output shapes, parameters and MACs with totals (symbolic without `input`).

    Modules nested deeper than `depth` are folded into one row. Raises ArchSpecError on a
    bad spec or an input the network cannot take.
    """
    from .report import summarise

    graph = build_graph(source, params, max_layers=max_layers)
    return summarise(graph, tuple(input) if input is not None else None, depth)
