"""CLI commands that build code from a spec: `compile` (write and check a module) and `emit`.

`compile` never leaves a partial or unchecked file behind: the source is written to a
temporary file (mode 0600) next to the target, the rendered string itself is run,
instantiated on the meta device and compared with `archspec.compile(...)`; only then is the
file given its final mode and renamed over the target (atomic on POSIX and Windows). What the
target may be, and when an existing file is replaced (--force), is archspec.files' rule.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import api
from .app import (
    Force,
    MaxLayers,
    Plugins,
    Sets,
    SpecArg,
    Variant,
    app,
    console,
    output_given,
    parse_sets,
    progress,
    report_errors,
    spec_source,
    use_color,
    use_plugins,
)

COMPILE_EPILOG = """\b
Examples:
  archspec compile resnet50                        writes generated/resnet50.py
  archspec compile vgg16 -o models/vgg16.py --set num_classes=10
  archspec compile my_net.yaml -o my_net.py --force   replace a hand-written my_net.py
  for n in $(archspec list --names); do archspec compile $n; done   regenerate generated/
  archspec compile specs/resnet.yaml              writes generated/resnet.py: every variant,
                                                   each block once, resnet18() .. resnet152()
  archspec compile specs/resnet.yaml --variant resnet50   one variant of a family
  archspec compile my_net.yaml --plugins my_layers.py   with layer kinds of your own

\b
The written module imports torch and nothing else; use it as
  from generated.resnet50 import ResNet50
  model = ResNet50(num_classes=10)
"""

EMIT_EPILOG = """\b
Examples:
  archspec emit lenet5                             print the module on stdout
  archspec emit resnet50 --set num_classes=10 > resnet50_10.py
  archspec emit googlenet | less
  archspec emit specs/vgg.yaml > vgg.py            a family: one module of every variant
"""


@app.command("compile", epilog=COMPILE_EPILOG)
@report_errors
def compile_(
    spec: SpecArg,
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            metavar="PATH",
            help="Where to write the module (a .py file, a directory to write <name>.py "
            "in, or - for standard output). Default: generated/<name>.py.",
            callback=output_given,
        ),
    ] = None,
    set_: Sets = None,
    force: Force = False,
    max_layers: MaxLayers = api.DEFAULT_MAX_LAYERS,
    variant: Variant = None,
    plugins: Plugins = None,
    weights: Annotated[
        str | None,
        typer.Option(
            "--weights",
            metavar="NAME",
            help="Refused, with how to do it instead: the written source carries no "
            "weights. Load pretrained weights in Python: archspec.load(SPEC, weights=NAME).",
        ),
    ] = None,
) -> None:
    """Write a spec as readable PyTorch source, after checking it builds the same model.

    A family file without --variant is written as one module: each block class once, a
    class and a constructor function per variant, every variant checked.
    The module is checked before it is written: the rendered text itself is run,
    instantiated on the meta device (no memory for weights) and compared with
    archspec.compile(...) on parameter count, state_dict keys and shapes, and the output
    shapes of a forward pass. The write is atomic; a file archspec did not write, a
    device or a directory is never replaced.
    """
    if weights is not None:
        _refuse_weights(spec, weights)
    use_plugins(plugins)
    params = parse_sets(set_)
    source = spec_source(spec)
    family = api.family_graphs(source, params, max_layers=max_layers) if variant is None else None
    if family is not None:
        _compile_family(family, output, force)
        return
    _compile_one(
        api.build_graph(source, params, max_layers=max_layers, variant=variant), output, force
    )


def _report_console(target: Path) -> Any:
    """Where compile says what it wrote: stdout, unless the module itself went there
    (`-o -`, `-o /dev/stdout`, or a file stdout is redirected to): then stderr."""
    return console(stderr=api.is_stdout(target))


def _compile_one(graph: api.Graph, output: str | None, force: bool) -> None:
    """`compile` of one network: write the module once it is checked, then say what it is."""
    _warn([graph])
    target = _target(output, graph.name, force)
    macs = _macs_text(graph)  # before writing: a plugin's failing `macs` is E701, no file
    with progress(f"emitting {graph.name} and checking it against archspec.compile"):
        source = api.emit_graph(graph)
        counts = api.write_atomic(
            target,
            source,
            check=lambda: api.check_emitted(source, graph),
            kind=api.MODULE,
            force=force,
        )
    assert counts is not None
    n_params, n_tensors, skipped = counts
    out = _report_console(target)
    shapes = ", ".join(api.format_shape(s) for s in api.output_shapes(graph) if s is not None)
    out.print(
        f"wrote {api.display_path(target)}: class {graph.class_name}, {n_params:,} parameters, "
        f"{macs}",
        markup=False,
    )
    given = api.format_shape(graph.input_shape) + api.dtype_suffix(graph.input_dtype)
    if graph.inputs:  # a network of several: each by name
        given = ", ".join(
            f"{i.name} {api.format_shape(i.shape)}{api.dtype_suffix(i.dtype)}" for i in graph.inputs
        )
    out.print(f"  input {given} -> output {shapes}", markup=False)
    compared = (
        f"{n_tensors} state_dict tensors and the forward pass match archspec.compile"
        if skipped is None
        else f"{n_tensors} state_dict tensors match archspec.compile (no forward pass ran: "
        f"{skipped})"
    )
    out.print(f"  checked on the meta device: {compared}", markup=False)


def _compile_family(family: api.Family, output: str | None, force: bool) -> None:
    """`compile` of a family file: one module, every variant's class checked before writing."""
    _warn(family.graphs)
    checked: list[tuple[api.Graph, api.SelfCheck]] = []

    def check() -> api.SelfCheck:
        checked.clear()
        for graph in family.graphs:
            checked.append((graph, api.check_emitted(source, graph)))
        return checked[0][1]

    n = len(family.graphs)
    target = _target(output, family.name, force)
    macs = {graph.name: _macs_text(graph) for graph in family.graphs}
    with progress(f"emitting the {n} variants of {family.name} and checking each"):
        source, functions = api.emit_family_named(family.graphs)
        api.write_atomic(target, source, check=check, kind=api.MODULE, force=force)
    out = _report_console(target)
    out.print(f"wrote {api.display_path(target)}: {n} variants", markup=False)
    width = max(len(g.class_name) for g in family.graphs)
    for function, (graph, (n_params, _, _)) in zip(functions, checked):
        out.print(
            f"  {function}(): class {graph.class_name:<{width}}  {n_params:>13,} parameters, "
            f"{macs[graph.name]}",
            markup=False,
        )
    skipped = [f"{g.class_name} ({c.forward_skipped})" for g, c in checked if c.forward_skipped]
    out.print(
        "  checked on the meta device: each variant's state_dict tensors and forward pass "
        "match archspec.compile"
        + (f"; no forward pass ran for {', '.join(skipped)}" if skipped else ""),
        markup=False,
    )


@app.command("emit", epilog=EMIT_EPILOG)
@report_errors
def emit(
    spec: SpecArg,
    set_: Sets = None,
    max_layers: MaxLayers = api.DEFAULT_MAX_LAYERS,
    variant: Variant = None,
    plugins: Plugins = None,
) -> None:
    """Print a spec as readable PyTorch source (what `compile` writes), without checks.

    A family file without --variant prints one module for all its variants. Warnings
    (unused nodes, a model too large for compile's default limits) go to stderr.
    """
    use_plugins(plugins)
    params = parse_sets(set_)
    spec_read = spec_source(spec)
    family = (
        api.family_graphs(spec_read, params, max_layers=max_layers) if variant is None else None
    )
    if family is not None:
        _warn(family.graphs)
        source = api.emit_family(family.graphs)
    else:
        graph = api.build_graph(spec_read, params, max_layers=max_layers, variant=variant)
        _warn([graph])
        source = api.emit_graph(graph)
    sys.stdout.write(source)
    sys.stdout.flush()


def _refuse_weights(spec: str, weights: str) -> None:
    """E804: source is code, not a checkpoint; say how to get the weights in Python."""
    named = spec in api.list_weights()
    if named:
        api.get_weights(spec, weights)  # an unknown name is E801, listing the names there are
        how = (
            f'model = archspec.load("{spec}", weights="{weights}"), or into the written '
            f'class: archspec.load_weights(model, archspec.get_weights("{spec}", "{weights}"))'
        )
    else:
        how = "archspec.load_weights(model, PATH) loads a checkpoint into the written class"
    raise api.WeightsError(
        f"--weights {api.escape_text(weights)[:60]}: archspec compile writes PyTorch source, "
        "and the written source carries no weights",
        code="E804",
        hint=f"load pretrained weights in Python: {how}",
    )


def _warn(graphs: list[api.Graph]) -> None:
    """Each graph's warnings on stderr, once each (a family's variants share most)."""
    color = use_color(sys.stderr)
    seen: set[str] = set()
    for graph in graphs:
        for warning in (*graph.diagnostics, *api.limit_warnings(graph)):
            text = warning.render(dict(graph.sources), color=color)
            if text not in seen:
                seen.add(text)
                print(text, file=sys.stderr)


def _target(output: str | None, name: str, force: bool) -> Path:
    """Where compile writes: -o as given, <dir>/<name>.py for a directory (`out/` is one,
    made if missing), or generated/; refused (E603, E604) before any emitting."""
    target = Path("generated") / f"{name}.py"
    if output is not None:
        target = api.output_file(output, f"{name}.py", into=True)
    api.check_target(target, kind=api.MODULE, force=force)
    return target


def _macs_text(graph: Any) -> str:
    try:
        _, per_sample = api.sample_cost(graph)
    except api.ArchSpecError as exc:  # E411: the count's expression is too large to write
        if exc.error_code != "E411":  # a plugin's `macs` that fails is its E701, not a size
            raise
        return "MACs too large to write out"
    if not per_sample.is_const:
        return f"{per_sample} MACs per sample"
    text = api.human(per_sample.value)  # `4.09 G`, or the number alone below 1000
    return f"{text}MACs per sample" if text[-1].isalpha() else f"{text} MACs per sample"
