"""`archspec import`: an existing PyTorch model as a spec (archspec.api.import_factory)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from .. import api
from .app import Force, app, console, output_or_print, parse_input, report_errors

_HELP = """Write a spec for an existing PyTorch model: archspec import MODULE_PATH:FACTORY.

FACTORY (a function or class in the module MODULE_PATH, importable from the current directory
or PYTHONPATH, or in the file MODULE_PATH names: nets/mynet.py:Net) is called with --args on
the meta device, so no weights are needed. Each module class becomes a block with params,
repeated blocks become `repeat`, leaf modules become layer kinds, and the forward's adds,
concatenations and products become joins; names are the model's attribute names, so the
spec's state_dict keys are the model's. The spec is checked, and its state_dict compared,
before it is written; the inputs it accepts, and what its check warns of, are printed.

What a spec cannot state exactly (a forward that branches on tensor values, a module no
layer kind reads, an unsupported call) is refused with its file:line in the model's source
(E901-E904), never approximated.

This imports and runs the Python code MODULE_PATH names, as --plugins does: only name code
you trust. Specs never name code to import.
"""


@app.command(
    "import",
    help=_HELP,
    epilog="\b\nExamples:\n  archspec import torchvision.models:resnet50 -o resnet50.yaml\n"
    "  archspec import torchvision.models:mobilenet_v2 --args num_classes=10\n"
    "  archspec import mypkg.nets:UNet --args depth=3 --input 1,1,128,128\n"
    "  archspec import nets/mynet.py:Net --input 1,3,32,32\n"
    "  archspec import nets/pair.py:Siamese --input 1,3,64,64 --input 1,3,64,64",
)
@report_errors
def import_(
    factory: Annotated[
        str,
        typer.Argument(
            metavar="MODULE_PATH:FACTORY", help="The factory, e.g. torchvision.models:resnet50."
        ),
    ],
    args: Annotated[
        list[str] | None,
        typer.Option(
            "--args",
            metavar="KEY=VALUE",
            help="A keyword argument of the factory, key=value; repeatable.",
        ),
    ] = None,
    input_text: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            metavar="SHAPE",
            help="The example input shape (the batch dim becomes N; default 1,3,224,224); "
            "once per input for a forward that takes several tensors (the spec's `inputs:`).",
        ),
    ] = None,
    input_dtype: Annotated[
        list[str] | None,
        typer.Option(
            "--input-dtype",
            metavar="DTYPE",
            help="float32 (the default), or int64 for a model that takes token ids (its spec says "
            "`input_dtype: int64`); one for all inputs, or once per `--input`.",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", metavar="NAME", help="The spec's name (default: FACTORY)."),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            help="Write the spec here (default, or -: print it).",
            parser=output_or_print,
            metavar="PATH",
        ),
    ] = None,
    force: Force = False,
) -> None:
    shapes, dtypes = _examples(input_text, input_dtype)
    target = None
    if output is not None:  # refused before the import, which may take a while
        target = api.output_file(output, f"{api.import_name(factory, name)}.yaml")
        api.check_target(target, kind=api.SPEC, force=force)
    text = api.import_factory(factory, args or [], input=shapes, name=name, input_dtype=dtypes)
    result = api.check(text)
    err = console(stderr=True)
    if target is None:
        sys.stdout.write(text)
    else:
        api.write_atomic(target, text, kind=api.SPEC, force=force)
        err.print(f"wrote {api.display_path(target)}", highlight=False)
    if result.domain_text:
        err.print(f"domain  {result.domain_text}", highlight=False, markup=False)
    for warning in result.warnings:  # what the check of the written spec warns of: why the
        # accepted inputs are unknown (W403), a branch whose output nothing reads, ...
        span = warning.span
        where = (
            f"{api.display_path(target)}:{span.line}:{span.col}: "
            if target is not None and span is not None
            else ""
        )
        text = f"{where}warning[{warning.code}]: {warning.message}"
        err.print(text, highlight=False, markup=False, soft_wrap=True)


def _examples(texts: list[str] | None, dtypes: list[str] | None) -> tuple[Any, Any]:
    """`--input` and `--input-dtype` as import_factory takes them: one shape and dtype, or
    (given more than once) a list of each."""
    shapes = [parse_input(text) or (1, 3, 224, 224) for text in texts or ["1,3,224,224"]]
    given = dtypes or ["float32"]
    return (shapes if len(shapes) > 1 else shapes[0]), (given if len(given) > 1 else given[0])
