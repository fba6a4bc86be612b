"""`archspec.summary`, one public function for a spec and for any nn.Module.

It lives apart from the facade (`archspec.api` re-exports it) so that summarising a module
loads neither the spec pipeline nor the facade's imports: only `archspec.modsummary` and the
summary's data and text. The spec path imports the API when it runs, and never torch.
"""

from __future__ import annotations

import math
import sys
import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .limits import MAX_NODES, MAX_TENSOR_ELEMENTS
from .toolkit import input_shape, input_shapes, spec_params

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn

    from .catalog import SpecSource
    from .summaries import Summary

#: The default of `max_layers=` (the API's DEFAULT_MAX_LAYERS).
DEFAULT_MAX_LAYERS = MAX_NODES


def summary(
    source: SpecSource | nn.Module,
    input_size: Any = None,
    *,
    input: Sequence[int] | str | None = None,  # noqa: A002
    depth: int | None = None,
    max_layers: int = DEFAULT_MAX_LAYERS,
    variant: str | None = None,
    params: Mapping[str, Any] | None = None,
    **keywords: Any,
) -> Summary:
    """Per-layer output shapes, parameters and MACs with totals (symbolic without `input`).

    `source` is a spec, or any `nn.Module` (written by hand, from a model zoo, or built on
    the meta device): `summary(model, input_size=(1, 3, 224, 224))` runs its forward once on
    meta tensors, so neither weights nor activations take memory, and adds a Trainable
    column, the trainable/frozen split and a memory estimate of a training step (see
    `archspec.modsummary`). A module takes `input_size=` (torchinfo's name; `input=` works
    too), a list of shapes for a forward with several inputs, `dtypes=` (one torch dtype
    per input, float32 by default), or instead `input_data=`, forward's arguments as
    torchinfo takes them (a tensor; a list of the positional arguments; a dict of the
    keyword ones; tensors may sit in nested lists and dicts, or be an RNN's PackedSequence,
    and only their shapes and dtypes are used), and `mode=` ("train", the default, as a
    training step runs it and as a spec's summary counts training-only branches; or
    "eval"); it raises ModuleSummaryError (a RuntimeError) when its forward cannot run on
    meta tensors. A spec takes `input_size=` for `input=` too (or a list of its one
    shape, as torchinfo's list of a forward's input shapes; a network of several inputs,
    `inputs:`, a list of one shape per input). `input_size` is the one
    argument that may come second by position, as torchinfo takes it:
    `summary(model, (1, 3, 224, 224))`.

    `print(summary)` shows the table the CLI prints; a notebook shows it as HTML. Modules
    nested deeper than `depth` are folded into one row. A spec's params are keywords
    (`num_classes=10`) or `params=`, a mapping, which also reaches a param named like an
    argument of this function (`params={"depth": 50}`, `params={"input_size": 7}`). Raises
    ArchSpecError on a bad spec or an input the network cannot take; TypeError or
    ValueError on an `input` that is no shape (see `input_shape`) or a `depth` that is no
    int >= 1.
    """
    if _is_module(source):
        if variant is not None or max_layers != DEFAULT_MAX_LAYERS:
            raise TypeError("variant= and max_layers= are for specs, not for an nn.Module")
        if params is not None:
            raise TypeError("params= is for specs, not for an nn.Module")
        _check_depth(depth)
        if input_size is not None:
            keywords = {**keywords, "input_size": input_size}
        return _module_summary(source, input, depth, keywords)
    from .api import _analysis
    from .passes.pipeline import run
    from .report import summarise_analysis

    if input_size is not None and input is not None:
        raise TypeError("give input_size= or input=, not both")
    shape, more = input_shapes(_one_shape(input if input_size is None else input_size))
    _check_depth(depth)
    spec_args = spec_params(params, keywords)
    analysis = _analysis(source, spec_args, max_layers, shape, variant, more)  # type: ignore[arg-type]
    _warn_of_the_specs_depth(depth, spec_args, analysis.graph)
    analysis = run(analysis)  # every pass, as check runs them: the summary runs none again
    return _with_warnings(summarise_analysis(analysis, depth), analysis)


def _with_warnings(result: Summary, analysis: Any) -> Summary:
    """`result` with the spec's warnings, as `check` gives them at the same input: the
    passes' (lowering's among them), then those of compile's size limits."""
    import dataclasses

    from .api import limit_warnings
    from .errors import Severity

    found = [d for d in analysis.diagnostics if d.severity is Severity.WARNING]
    found += limit_warnings(analysis.graph)
    sources = dict(analysis.graph.sources)
    return dataclasses.replace(result, warnings=tuple(found), sources=sources)


def _one_shape(given: Any) -> Any:
    """A spec's input shape, also when given as torchinfo's list of shapes of a forward's
    inputs (`[(1, 3, 224, 224)]`, one shape); a list of several is a network of several
    inputs' (`inputs:`), one shape each, as `check` takes them."""
    if _is_shapes(given) and len(given) == 1:
        return given[0]
    return given


def _is_shapes(size: Any) -> bool:
    """A list of input shapes (torchinfo's input_size for several inputs), not one shape."""
    return (
        isinstance(size, Sequence)
        and not isinstance(size, str)
        and len(size) > 0
        and all(isinstance(s, (Sequence, str)) for s in size)
    )


class SpecDepthWarning(UserWarning):
    """`summary(depth=...)` folded the table of a spec that has a param `depth` of its own,
    which keeps `value` (the CLI says it in its own words: `--set depth=N`)."""

    def __init__(self, message: str, depth: int, value: Any) -> None:
        super().__init__(message)
        self.depth = depth
        self.value = value


def _warn_of_the_specs_depth(depth: Any, spec_args: Mapping[str, Any], graph: Any) -> None:
    """Warn where `depth=` folds the table of a spec with a param `depth` that `params=`
    does not set: a WRN's `summary(spec, depth=16)` meant the network's depth (as compile,
    check and emit read it) and got the default network's figures, silently."""
    if depth is None or "depth" in spec_args or "depth" not in graph.params:
        return
    value = graph.params["depth"]
    message = (
        f"depth={depth!r} folds the summary's table: the spec's own param `depth` stays "
        f"{value!r}; to set it, give params={{'depth': {depth!r}}}"
    )
    warnings.warn(SpecDepthWarning(message, depth, value), stacklevel=3)


def _check_depth(depth: Any) -> None:
    if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)):
        raise TypeError(f"depth must be an int or None, got {type(depth).__name__}")
    if depth is not None and depth < 1:
        raise ValueError(f"depth must be at least 1, got {depth}")


def _is_module(value: object) -> bool:
    """An nn.Module, found without importing torch: if torch is not loaded, it is none."""
    nn_module = sys.modules.get("torch.nn")
    return nn_module is not None and isinstance(value, nn_module.Module)


def _module_summary(
    model: nn.Module, given: Any, depth: int | None, options: dict[str, Any]
) -> Summary:
    """`summary` of an nn.Module: input sizes and dtypes checked, then archspec.modsummary."""
    from .modinputs import input_dtypes
    from .modsummary import summarise_module

    options = dict(options)
    size = options.pop("input_size", None)
    dtypes = options.pop("dtypes", None)
    mode = options.pop("mode", "train")
    data = options.pop("input_data", None)
    if options:
        raise TypeError(
            f"summary of an nn.Module takes input_size=, input_data=, dtypes=, mode= and "
            f"depth=, not {', '.join(sorted(options))} (arguments of forward go in "
            "input_data=: a list of the positional ones, a dict of the keyword ones)"
        )
    if size is not None and given is not None:
        raise TypeError("give input_size= or input=, not both")
    size = given if size is None else size
    if data is not None:
        if size is not None or dtypes is not None:
            raise TypeError("input_data= gives the shapes and dtypes: no input_size= or dtypes=")
        return summarise_module(model, [], [], depth, mode, data=data)
    if size is None:
        raise TypeError(
            f"summary of an nn.Module needs input_size= (e.g. (1, 3, 224, 224)) or "
            f"input_data=: {type(model).__name__} does not declare its input as a spec does"
        )
    many = _is_shapes(size)
    shapes = [input_shape(s) for s in (size if many else [size])]
    for shape in shapes:  # each dim is below 2**62, their product may not be: torch overflows
        if shape is not None and math.prod(shape) >= MAX_TENSOR_ELEMENTS:
            raise ValueError(
                f"input {shape} has more elements than a tensor can hold (2**62): give the "
                "shape of one real input"
            )
    return summarise_module(
        model, [s for s in shapes if s is not None], input_dtypes(dtypes, len(shapes)), depth, mode
    )
