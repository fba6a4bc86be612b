"""The size limits of a lowered graph: what `compile` refuses before it allocates anything
(E501/E502), what `check` and the source writers only warn of (W501/W502), and the checks of
the limit arguments themselves. Torch-free, like the rest of the analysis."""

from __future__ import annotations

import dataclasses
from typing import Any

from .errors import Diagnostic, ResourceError, Severity
from .ir import Graph
from .limits import MAX_TENSOR_ELEMENTS
from .passes.costs import Footprint, footprint

#: Default refusal threshold for compile (parameter and buffer elements); max_params=.
DEFAULT_MAX_PARAMS = 10**10
#: Default bound on activation elements of one forward pass per sample; max_activations=.
DEFAULT_MAX_ACTIVATIONS = 10**10


def check_max_layers(max_layers: Any) -> None:
    """`max_layers` is a positive int (TypeError otherwise, as it always was): unlike the size
    limits it has no "no limit" (None), since expansion without a bound lets a few lines of
    YAML ask for a billion layers."""
    if isinstance(max_layers, bool) or not isinstance(max_layers, int) or max_layers < 1:
        raise TypeError(f"max_layers must be a positive int, got {max_layers!r}")


def check_limit_arguments(max_params: Any, max_activations: Any) -> None:
    """Each limit is an element count (an int >= 0) or None for none; anything else is a
    programmer's error, raised at once (TypeError for the type, ValueError for the value)."""
    for what, value in (("max_params", max_params), ("max_activations", max_activations)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{what} must be an int or None, got {type(value).__name__} {value!r}")
        if value < 0:
            raise ValueError(f"{what} must be >= 0 (or None for no limit), got {value}")


def check_limits(
    graph: Graph,
    max_params: int | None = DEFAULT_MAX_PARAMS,
    max_activations: int | None = DEFAULT_MAX_ACTIVATIONS,
) -> Footprint:
    """Refuse graphs over the limits, before anything is allocated; return the figures.

    `max_params` bounds parameter plus buffer elements (what building the module allocates);
    `max_activations` bounds the output elements of one forward pass for one sample. None
    is no bound of archspec's own; either is still capped by what torch can index.
    """
    if not isinstance(graph, Graph):
        raise TypeError(
            f"check_limits takes a Graph (archspec.build_graph), got {type(graph).__name__}"
        )
    check_limit_arguments(max_params, max_activations)
    fp = footprint(graph)
    limit = min(MAX_TENSOR_ELEMENTS if max_params is None else max_params, MAX_TENSOR_ELEMENTS)
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
    if fp.activations is not None:
        act_limit = min(
            MAX_TENSOR_ELEMENTS if max_activations is None else max_activations,
            MAX_TENSOR_ELEMENTS,
        )
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
