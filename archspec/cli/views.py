"""CLI commands that look at a spec: show (the resolved spec as YAML) and graph (a picture).

Registered after tools.py's (cli/__init__.py's COMMAND_MODULES), so --help lists them where
they always were. Everything a command needs from the compiler goes through archspec.api
(tests/test_layering.py checks it).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .. import api
from .app import (
    STDIN,
    Force,
    MaxLayers,
    Plugins,
    Sets,
    SpecArg,
    Variant,
    app,
    console,
    output_or_print,
    parse_sets,
    report_errors,
    spec_source,
    use_plugins,
)


@app.command(
    epilog="\b\nExamples:\n  archspec show my_net.yaml > resolved.yaml\n"
    "  archspec show specs/family.yaml --variant small\n"
    "  archspec show resnet50 --set num_classes=10   the params given become their defaults",
)
@report_errors
def show(
    spec: SpecArg,
    sets: Sets = None,
    variant: Variant = None,
    plugins: Plugins = None,
) -> None:
    """Print the fully resolved spec as YAML: imports copied in, base and variant applied.

    The output is a plain spec that compiles to the same module. Params given with --set
    are checked as compile checks them and written as their defaults. Like a preprocessor,
    show checks the spec's form, not its shapes: a spec check refuses is shown all the same
    (exit 0), so you can see what it amounts to; run check for its errors.
    """
    use_plugins(plugins)
    sys.stdout.write(api.shown_text(spec_source(spec), variant=variant, params=parse_sets(sets)))


@app.command(
    epilog="\b\nExamples:\n  archspec graph googlenet -o googlenet.svg\n"
    "  archspec graph resnet50 -o resnet50.png --depth 0\n"
    "  archspec graph specs/lenet5.yaml -o lenet5.mmd --set num_classes=2\n"
    "  archspec graph resnet18 | dot -Tpdf -o resnet18.pdf",
)
@report_errors
def graph(
    spec: SpecArg,
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            help="Picture file: .svg, .png, .pdf (need Graphviz), .dot or .mmd (Mermaid). "
            "Default (or -): DOT on stdout.",
            parser=output_or_print,
            metavar="PATH",
        ),
    ] = None,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth",
            min=0,
            help="Open this many levels of blocks (0: each block is one box). Default: "
            "open blocks with branches or skips, keep plain chains closed.",
        ),
    ] = None,
    fold: Annotated[
        bool,
        typer.Option("--fold/--no-fold", help="Draw a run of identical blocks once, then one box."),
    ] = True,
    sets: Sets = None,
    force: Force = False,
    max_layers: MaxLayers = api.DEFAULT_MAX_LAYERS,
    variant: Variant = None,
    plugins: Plugins = None,
) -> None:
    """Draw a spec's architecture: blocks as clusters, branches side by side, skips as edges.

    Every edge is labelled with the shape of the tensor it carries.
    """
    use_plugins(plugins)
    name = ("stdin" if spec == STDIN else Path(spec).stem) + api.default_picture_suffix()
    target = None if output is None else api.output_file(output, name)
    if target is not None:  # a path, a suffix or a file that is refused, before any work
        api.picture_format(target, force=force)
    g = api.build_graph(spec_source(spec), parse_sets(sets), max_layers=max_layers, variant=variant)
    if target is not None:  # again, now that the spec's files are read: never over one
        api.picture_format(target, force=force)
    if target is None:
        sys.stdout.write(api.render_picture(g, "dot", depth, fold).decode())
        return
    api.write_picture(g, target, depth, fold, force=force)
    console(stderr=True).print(f"wrote {api.display_path(target)}")
