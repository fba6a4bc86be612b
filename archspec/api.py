"""The public facade: compile, load, check, emit, summary. The CLI uses only this module
(tests/test_layering.py reads its imports), so what it needs besides the commands is
re-exported here from `archspec.toolkit`, `archspec.files` and `archspec.errors`.

Nothing here imports torch at module level; `compile` imports the torch backend when called.
"""

from __future__ import annotations

import dataclasses
import importlib
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .backends.support import support_errors
from .catalog import SpecSource as SpecSource
from .catalog import SpecText as SpecText
from .catalog import builtin_dir as builtin_dir
from .catalog import builtin_index as builtin_index
from .catalog import builtin_specs as builtin_specs
from .catalog import close_names as close_names
from .catalog import family_budget as family_budget
from .catalog import family_of as family_of
from .catalog import family_variants as family_variants
from .catalog import is_spec_text
from .catalog import list_models as list_models
from .catalog import read_source as read_source
from .catalog import relative_reads as relative_reads
from .catalog import resolve as resolve
from .catalog import resolved_text as resolved_text
from .catalog import stdin_spec as stdin_spec
from .check_report import CheckReport as CheckReport
from .check_report import written_name
from .compose import library_modules as library_modules
from .compose import only_read
from .copying import renamed_text as renamed_text
from .dims import Dim
from .dims import dtype_suffix as dtype_suffix
from .dims import format_shape as format_shape
from .errors import ArchSpecError, Diagnostic, LoadError, close_names_to
from .errors import clipped as clipped
from .errors import escape_text as escape_text
from .files import MODULE as MODULE
from .files import SCHEMA as SCHEMA
from .files import SPEC as SPEC
from .files import check_target as check_target
from .files import display_path as display_path
from .files import is_stdout as is_stdout
from .files import output_file as output_file
from .files import write_atomic as write_atomic
from .framestack import on_own_stack
from .ir import Graph
from .limits import MAX_TENSOR_ELEMENTS as MAX_TENSOR_ELEMENTS
from .linebreaks import newline_of as newline_of
from .loader import LoadedDoc
from .lower import MAX_NODES, legacy_errors, lower
from .lower import spec_class_name as spec_class_name
from .ops.base import check_name as check_name
from .passes.pipeline import Analysis, accepted_inputs, require_some_input, run, verify_graph
from .plugins import env_plugin_files as env_plugin_files
from .plugins import load_plugin_files as load_plugin_files
from .sizecheck import DEFAULT_MAX_ACTIVATIONS as DEFAULT_MAX_ACTIVATIONS
from .sizecheck import DEFAULT_MAX_PARAMS as DEFAULT_MAX_PARAMS
from .sizecheck import check_limit_arguments as check_limit_arguments
from .sizecheck import check_limits as check_limits
from .sizecheck import check_max_layers as check_max_layers
from .sizecheck import limit_warnings as limit_warnings
from .specbytes import IDLE_SECONDS, NOTICE_SECONDS
from .specbytes import recording_reads as recording_reads
from .toolkit import Family as Family
from .toolkit import LayerKind as LayerKind
from .toolkit import ShapeTextError as ShapeTextError
from .toolkit import check_emitted as check_emitted
from .toolkit import construct_kinds as construct_kinds
from .toolkit import default_picture_suffix as default_picture_suffix
from .toolkit import emit_family as emit_family
from .toolkit import emit_family_named as emit_family_named
from .toolkit import emit_graph as emit_graph
from .toolkit import empty_dim_words as empty_dim_words
from .toolkit import family_graphs as family_graphs
from .toolkit import gc_paused as _gc_paused
from .toolkit import human as human
from .toolkit import input_shape as input_shape
from .toolkit import input_shapes as input_shapes
from .toolkit import json_schema_text as json_schema_text
from .toolkit import layer_kinds as layer_kinds
from .toolkit import output_shapes as output_shapes
from .toolkit import parse_shape_text as parse_shape_text
from .toolkit import picture_format as picture_format
from .toolkit import render_picture as render_picture
from .toolkit import sample_cost as sample_cost
from .toolkit import shown_text as shown_text
from .toolkit import spec_params
from .toolkit import write_picture as write_picture
from .validate import validate_spec
from .version import __version__ as __version__
from .weights import Weights as Weights
from .weights import WeightsError as WeightsError
from .weights import builder_rule, check_strict, named_weights, weights_params
from .weights import get_weights as get_weights
from .weights import list_weights as list_weights
from .weights import weights_line as weights_line
from .weights import weights_line_for as weights_line_for

if TYPE_CHECKING:  # pragma: no cover
    import torch.nn as nn
    from pydantic import BaseModel

    from .backends.selfcheck import SelfCheck as SelfCheck  # check_emitted's result
    from .diffs import SpecDiff, diff
    from .summarising import SpecDepthWarning as SpecDepthWarning

#: Names from modules only some commands need (`check`: none), imported on first use.
_LATER = dict.fromkeys(("SpecDiff", "diff"), "diffs")
_LATER |= dict.fromkeys(("summary", "SpecDepthWarning"), "summarising")
_LATER |= dict.fromkeys(("fit_table", "print_summary", "print_wrapped"), "summary_text")


def __getattr__(name: str) -> Any:
    """PEP 562: a name of `_LATER` is imported when first asked for, and then kept."""
    if name not in _LATER:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = globals()[name] = getattr(
        importlib.import_module(f".{_LATER[name]}", __package__), name
    )
    return value


#: How long `stdin_spec` waits for a spec piped in before it says so, and before it refuses it.
STDIN_NOTICE_SECONDS, STDIN_IDLE_SECONDS = NOTICE_SECONDS, IDLE_SECONDS

#: Default bound on layer items a spec may expand to (E310); max_layers=, --max-layers.
DEFAULT_MAX_LAYERS = MAX_NODES


def build_graph(
    source: SpecSource,
    params: Mapping[str, Any] | None = None,
    *,
    max_layers: int = DEFAULT_MAX_LAYERS,
    variant: str | None = None,
) -> Graph:
    """Load, validate and lower a spec to the IR (no torch involved). `max_layers` bounds
    how many layer items the spec may expand to (E310); `variant` names a family's variant.
    """
    return _analysis(source, spec_params(params, {}), max_layers, variant=variant).graph


def _parse(source: SpecSource, variant: str | None = None) -> tuple[LoadedDoc, BaseModel]:
    """The front end's first two stages: read the text (positions kept) and validate it."""
    # read_source(source) alone when no variant is asked for: its one-argument form is the
    # seam callers (and tests) wrap. Only read here (validated, lowered): see `only_read`.
    with only_read():
        doc = read_source(source) if variant is None else read_source(source, variant)
    return doc, validate_spec(doc)


def _lowered(
    parsed: tuple[LoadedDoc, BaseModel],
    params: Mapping[str, Any] | None,
    max_layers: int,
    input_shape: tuple[int, ...] | None = None,
    more: tuple[tuple[int, ...], ...] = (),
) -> Analysis:
    """Lower a validated spec and run the first pass (verify): what every command starts from
    (`more`: the shapes of a network's inputs after the first, given with `input_shape`)."""
    doc, spec = parsed
    return on_own_stack(_lower_and_verify, spec, doc, params, max_layers, input_shape, more)


def _lower_and_verify(
    spec: BaseModel,
    doc: LoadedDoc,
    params: Mapping[str, Any] | None,
    max_layers: int,
    input_shape: tuple[int, ...] | None,
    more: tuple[tuple[int, ...], ...] = (),
) -> Analysis:
    graph = lower(spec, doc, params, max_layers)
    return run(Analysis(graph, input_shape, more), through=verify_graph)


def _analysis(
    source: SpecSource,
    params: Mapping[str, Any] | None,
    max_layers: int,
    input_shape: tuple[int, ...] | None = None,
    variant: str | None = None,
    more: tuple[tuple[int, ...], ...] = (),
) -> Analysis:
    """Read, validate, lower and verify a spec: the analysis each command takes on from. A
    spec that no input can run is refused here (E404/E410, as `check` reports it), so that
    compile, emit, summary and diff never accept what check refuses."""
    check_max_layers(max_layers)
    with _gc_paused():
        analysis = _lowered(_parse(source, variant), params, max_layers, input_shape, more)
        require_some_input(analysis)
    return analysis


def compile(  # noqa: A001  (the public name the docs promise)
    source: SpecSource,
    *,
    device: Any = None,
    max_params: int | None = DEFAULT_MAX_PARAMS,
    max_activations: int | None = DEFAULT_MAX_ACTIVATIONS,
    max_layers: int = DEFAULT_MAX_LAYERS,
    variant: str | None = None,
    params: Mapping[str, Any] | None = None,
    **keywords: Any,
) -> nn.Module:
    """Compile a spec (path, built-in name, YAML text or mapping) into a plain nn.Module.

    Keyword arguments set the spec's params (`num_classes=10`), as does `params=`, a mapping
    that also reaches a param named like an argument (`params={"device": 2}`).
    `device="meta"` builds without allocating weights. The limits are checked from the IR
    before any tensor exists (see `check_limits`): `max_params` and `max_activations` are
    element counts, or None for no limit of archspec's own (torch's int64 indexing still
    bounds them); `max_layers` bounds expansion (E310) and is always a positive int;
    `variant` names a variant of a family spec. Raises ArchSpecError (with file:line:col) on
    a bad spec; TypeError or ValueError on a bad limit argument or a `device` torch cannot
    read or reach, before the spec is read.
    """
    spec_args = spec_params(params, keywords)
    return _compile(source, spec_args, device, max_params, max_activations, max_layers, variant)


def _compile(
    source: SpecSource,
    params: Mapping[str, Any],
    device: Any = None,
    max_params: int | None = DEFAULT_MAX_PARAMS,
    max_activations: int | None = DEFAULT_MAX_ACTIVATIONS,
    max_layers: int = DEFAULT_MAX_LAYERS,
    variant: str | None = None,
    init: bool = True,
) -> nn.Module:
    """`compile`, and `init=False` skips the spec's init rules (weights are to be loaded)."""
    check_limit_arguments(max_params, max_activations)
    from .backends.memory import device_argument

    device = device_argument(device)
    # One pause for the whole compile, the IR let go inside it: the collector resumes with
    # only the module left of what the compile made, where a pause per stage had it walk
    # the IR (all still held then) when the first one ended.
    with _gc_paused():
        analysis = _analysis(source, params, max_layers, variant=variant)
        model = _build(analysis, device, max_params, max_activations, init)
        del analysis
    return model


def _build(
    analysis: Analysis,
    device: Any = None,
    max_params: int | None = DEFAULT_MAX_PARAMS,
    max_activations: int | None = DEFAULT_MAX_ACTIVATIONS,
    init: bool = True,
) -> nn.Module:
    """The module of an analysed spec, after the resource limits and the input check."""
    graph = analysis.graph
    figures = check_limits(graph, max_params, max_activations)
    from .backends.torch_module import build_module

    with _gc_paused():
        model = build_module(graph, device, init=init, figures=figures)
    if graph.legacy_formats and hasattr(model, "_archspec_source"):
        from .hub import watch_versions  # model.load_state_dict reads older versions too

        watch_versions(model)
    return model


def load(
    name: str,
    *,
    weights: Any = None,
    strict: bool = True,
    base_url: str | None = None,
    params: Mapping[str, Any] | None = None,
    device: Any = None,
    **keywords: Any,
) -> nn.Module:
    """Compile a built-in spec by name (`archspec.load("resnet50", num_classes=10)`),
    with pretrained weights if asked (`weights="IMAGENET1K_V2"`), on `device` as `compile`
    builds (`"meta"` allocates nothing, so it takes no weights: a ValueError).

    Only the names `builtin_specs()` lists are accepted, never a path: a file (or YAML
    text) goes through `archspec.compile`, so that a name from elsewhere cannot make
    `load` read an arbitrary file. Anything else is a LoadError (E100) saying so.

    `weights` is the name of torchvision's weights of the spec's twin (`"DEFAULT"`,
    `"IMAGENET1K_V2"`, `"ResNet50_Weights.IMAGENET1K_V2"`; `archspec.list_weights(name)`),
    whose params are set as torchvision's builder sets them, or a state_dict or its file.
    The file comes from torch.hub's cache or is downloaded from `base_url` (default:
    $ARCHSPEC_WEIGHTS_URL, else torchvision's address; within a time and a size limit) and
    checked against its hash. The load is strict (WeightsError E803 names what does not
    fit); with strict=False the tensors that fit are loaded and a WeightsWarning gives the
    state_dict diff. A checkpoint
    saved by an older version of the network class that the spec lists under
    `legacy_versions:` (MNASNet's version 1) is loaded into that older layout, with its warning.
    """
    if not isinstance(name, str):
        raise TypeError(f"archspec.load() takes a built-in spec's name, got {type(name).__name__}")
    check_strict(strict)
    builtins = builtin_index()
    if name not in builtins:
        shown = repr(name) if len(name) <= 60 else repr(name[:60]) + "..."
        close = close_names_to(name, list(builtins), n=3)
        listed = ", ".join(list(builtins)[:8]) + (" and more" if len(builtins) > 8 else "")
        raise LoadError(
            f"archspec.load() takes the name of a built-in spec; {shown} is not one",
            code="E100",
            hint=(f"did you mean {', '.join(close)}? " if close else f"built-in specs: {listed}; ")
            + "to compile a spec file or YAML text, use archspec.compile(path)",
        )
    file, variant = builtins[name]
    spec_args = spec_params(params, keywords)
    if weights is None:
        return compile(file, variant=variant, params=spec_args, device=device)
    from .backends.memory import device_argument

    device = device_argument(device)
    if str(device) == "meta":
        raise ValueError("weights cannot be loaded on the meta device; load without weights=")
    model = _load_pretrained(name, file, variant, weights, strict, base_url, spec_args)
    return model if device is None else model.to(device)


def _load_pretrained(
    name: str,
    file: Path,
    variant: str | None,
    weights: Any,
    strict: bool,
    base_url: str | None,
    params: dict[str, Any],
) -> nn.Module:
    """`load` with weights: the params they imply, the layout of the checkpoint's version."""
    pretrained = named_weights(name, weights)
    if pretrained is not None:
        params = weights_params(pretrained, params)
    source: SpecSource = file
    size = builder_rule(name).size if pretrained is not None else None
    if size is not None:  # a model of one input size (ViT): declared at the weights' size
        side = params[size]
        source = {"archspec": 1, "extends": name, "input": ["N", 3, side, side]}
        variant = None
    from .diffs import shown_file
    from .hub import load_fetched, state_version, weights_state

    state, origin, drop = weights_state(pretrained or weights, base_url=base_url, params=params)
    analysis = _analysis(source, params, DEFAULT_MAX_LAYERS, variant=variant)
    older = analysis.graph.legacy_format(state_version(state))
    if older is not None:  # a checkpoint of an older layout the spec still reads
        if older.warning:
            warnings.warn(older.warning, UserWarning, stacklevel=3)
        analysis = _analysis(
            source, {**params, **older.params}, DEFAULT_MAX_LAYERS, variant=variant
        )
    # a strict load replaces every tensor: the spec's init rules would be wasted time
    # (torchvision's builders pass init_weights=False); strict=False keeps some, initialised
    model = _build(analysis, init=not strict)
    if older is not None:
        model._version = older.version  # saved again, it is that version (as torchvision)
    target = (name, shown_file(str(file)))
    load_fetched(
        model, state, strict=strict, source=origin, target=target, drop=drop, fetched=pretrained
    )
    return model


def shard_units(model: nn.Module) -> list[nn.Module]:
    """The block instances of a compiled spec to wrap with FSDP2's `fully_shard`, innermost
    first; then wrap the root (docs/training.md). Which blocks they are is the spec's
    `shard:` (default: the outermost block instances, ResNet-50's Bottlenecks)."""
    from .backends.torch_module import shard_units as units

    return units(model)


__all__ = [
    "ArchSpecError",
    "SpecDiff",
    "build_graph",
    "builtin_specs",
    "check_limits",
    "compile",
    "diff",
    "load",
]


def emit(
    source: SpecSource,
    *,
    max_layers: int = DEFAULT_MAX_LAYERS,
    variant: str | None = None,
    params: Mapping[str, Any] | None = None,
    **keywords: Any,
) -> str:
    """Readable PyTorch source for a spec: one module that depends on torch alone. Its params
    are keywords or `params=`, as for `compile`.

    A family spec without `variant` gives one module for all its variants: each block class
    once, a class per variant and a constructor function per variant (`resnet50()`).
    """
    params = spec_params(params, keywords)
    family = family_graphs(source, params, max_layers=max_layers) if variant is None else None
    if family is not None:
        return emit_family(family.graphs)
    return emit_graph(build_graph(source, params, max_layers=max_layers, variant=variant))


def check(
    source: SpecSource,
    *,
    input: Sequence[int] | str | Sequence[Sequence[int] | str] | None = None,  # noqa: A002
    max_layers: int = DEFAULT_MAX_LAYERS,
    variant: str | None = None,
    params: Mapping[str, Any] | None = None,
    **keywords: Any,
) -> CheckReport:
    """Shape-check a spec for every input size, and for `input` if given; never imports torch.

    Nothing in the spec makes `check` raise: every problem of the spec, its params (keywords,
    or `params=`, a mapping that also reaches a param named `variant`) included, is one of
    the result's `diagnostics` (`result.ok` is False).
    `result.domain_text` says which inputs work ("vgg16 accepts (N, 3, H, W) with H, W >= 32").
    `input` is a sequence of positive ints or text like "1,3,224,224" (see `input_shape`);
    for a network of several inputs (`inputs:`), a list of one such shape per input.
    The calling code's own mistakes do raise, before the spec is read: an `input` that is no
    shape (TypeError for a wrong type, ValueError for a wrong value), or a `max_layers` that
    is no positive int (TypeError).
    """
    (shape, more), spec_args = input_shapes(input), spec_params(params, keywords)
    check_max_layers(max_layers)
    # one pause for the whole check: a collection between the passes would walk the graph
    with _gc_paused():  # and the walks on a frame stack of their own (archspec.framestack)
        return on_own_stack(_check, source, shape, max_layers, variant, spec_args, more)


def _check(
    source: SpecSource,
    shape: tuple[int, ...] | None,
    max_layers: int,
    variant: str | None,
    params: Mapping[str, Any],
    more: tuple[tuple[int, ...], ...] = (),
) -> CheckReport:
    """`check` after its arguments are checked, with the collector paused."""
    parsed = None
    try:
        parsed = _parse(source, variant)
        analysis = _lowered(parsed, params, max_layers, shape, more)
    except ArchSpecError as exc:
        if isinstance(source, Mapping):
            name, file = str(source.get("name", "<mapping>")), "<mapping>"
        elif isinstance(source, SpecText):
            name = file = source.name
        elif isinstance(source, str) and is_spec_text(source):
            name = file = "<string>"
        else:
            name, file = variant or Path(str(source)).stem, str(source)  # a variant: its name
            if parsed is None and len(exc.sources) == 1 and file not in exc.sources:
                file = next(iter(exc.sources))  # a built-in name's path
            # its `name:`, when the YAML reads (and when the variant asked for is none of it;
            # a variant of the file that failed, E113 at its key, keeps its own name)
            if parsed is None and (
                variant is None or any(d.code == "E113" for d in exc.diagnostics)
            ):
                written = written_name(exc.sources.get(file), file, variant)
                name = written or Path(str(source)).stem
        diags = exc.diagnostics
        if parsed is not None:  # lowering broke: the spec itself reads and validates
            diags = _with_accepted_inputs(parsed, params, diags, max_layers)
            name = str(getattr(parsed[1], "name", None) or name)  # the spec's, not the file's
            file = file if file == "<mapping>" else parsed[0].file  # a built-in name's path
        return CheckReport(name=name, file=file, diagnostics=tuple(diags), sources=exc.sources)
    result = CheckReport.of(
        run(dataclasses.replace(analysis, symbolic_rows=False)).check_result(), analysis.graph
    )
    if result.ok:  # the older layouts a load would build, what emit refuses, the size limits
        more = legacy_errors(*parsed, analysis.graph, params, max_layers)
        more += support_errors(analysis.graph)
        if more := more + limit_warnings(analysis.graph):
            result = dataclasses.replace(result, diagnostics=(*result.diagnostics, *more))
    return result


#: Errors about sizes, whose fix may be another input size.
_SIZE_CODES = frozenset({"E402", "E403", "E404", "E405"})


def _with_accepted_inputs(
    parsed: tuple[LoadedDoc, BaseModel],
    params: Mapping[str, Any],
    diags: list[Diagnostic],
    max_layers: int = DEFAULT_MAX_LAYERS,
) -> list[Diagnostic]:
    """When the declared input breaks a layer, lead each size error's hint with the inputs
    that work. Lowering stopped at the broken layer, so the validated spec (read and checked
    once) is lowered with its input sizes as symbols, and its requirements solved."""
    if not any(d.code in _SIZE_CODES for d in diags):
        return diags
    from dataclasses import replace

    from .passes.inputdomain import generalise_inputs
    from .passes.pipeline import verified
    from .schema_inputs import declared_inputs, with_input_shapes

    doc, spec = parsed
    try:
        declared = [tuple(Dim.of(d) for d in di.dims) for di in declared_inputs(spec)]
        sym = generalise_inputs(declared)
        general = [[d.value if d.is_const else str(d) for d in shape] for shape in sym.shapes]
        update = with_input_shapes(spec, general)
        graph = lower(spec.model_copy(update=update), doc, params, max_layers)
    except ArchSpecError:  # the error does not depend on the input size
        return diags
    result = run(verified(graph), through=accepted_inputs).check_result()
    if result.domain is None or result.domain.is_empty:
        return diags
    accepts = result.domain_text
    return [
        replace(d, hint=f"{accepts}. {d.hint[:1].upper()}{d.hint[1:]}" if d.hint else accepts)
        if d.code in _SIZE_CODES
        else d
        for d in diags
    ]


def from_module(model: nn.Module, example_input: Any, *, name: str | None = None) -> str:
    """A spec (YAML text) that compiles back to `model`: same state_dict keys, shapes and
    order, same forward in eval mode. No weights are needed (a model on the meta device
    imports the same). `example_input` (a tensor) gives the spec's `input` shape, the batch
    dim written `N`. What has no exact equivalent in the language raises ImportFailure
    (E901-E904) with one diagnostic per place in the model's Python source (docs/import.md).
    """
    from .importer import verified_text

    return verified_text(model, example_input, name)


def import_name(path: str, name: str | None = None) -> str:
    """The spec's name `import_factory(path, name=name)` gives: `name`, checked (an
    ImportFailure, E901, if it is no identifier), or the factory's own (`resnet50`)."""
    from .importer.factory import spec_name

    return spec_name(path, name)


def import_factory(
    path: str,
    args: Sequence[str] = (),
    *,
    input: Sequence[int] | str | Sequence[Sequence[int] | str] = (1, 3, 224, 224),  # noqa: A002
    name: str | None = None,
    input_dtype: str | Sequence[str] = "float32",
) -> str:
    """`from_module` of the model `MODULE_PATH:FACTORY` builds (`torchvision.models:resnet50`)
    with `args` (`key=value` texts) on the meta device. This imports and runs the Python
    code `path` names: the caller's explicit choice, as loading a plugin is; nothing in a
    spec ever reaches it. `input` is a shape as `check` takes it (`(1, 3, 32, 32)` or
    `"1,3,32,32"`). `input_dtype="int64"` traces it on token ids (an embedding's). A
    forward of several tensors takes a list of shapes, `input=[(1, 100), (1,)]`, and one
    dtype for all or a list of one per input (`input_dtype=["float32", "int64"]`)."""
    from .importer.factory import build_factory, example_inputs, forward_needs_cpu, parse_args

    name = import_name(path, name)
    kwargs = parse_args(args)
    model = build_factory(path, kwargs)
    example = example_inputs(input, input_dtype, input_shape)
    if (on_cpu := forward_needs_cpu(model, example)) is not None:  # `torch.eye(3)` in forward
        model, example = build_factory(path, kwargs, cpu=True), on_cpu
    return from_module(model, example, name=name)
