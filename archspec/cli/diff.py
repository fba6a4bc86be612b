"""`archspec diff`: which state_dict tensors of one spec load into another (checkpoint
compatibility), and the params and MACs the change costs."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from .. import api
from .app import (
    SET_METAVAR,
    JsonFlag,
    MaxLayers,
    Plugins,
    app,
    complete_spec,
    console,
    one_stdin,
    parse_sets,
    report_errors,
    spec_source,
    use_plugins,
    with_json,
)

DIFF_EPILOG = """\b
Examples:
  archspec diff resnet50 resnet50 --set num_classes=10
      fc.weight and fc.bias change shape; the other 318 tensors load unchanged
  archspec diff resnet18 resnet34                  two variants of one family
  archspec diff resnet50 my_resnet.yaml --format json   your own spec against a built-in
  archspec diff resnet50 resnet50 --set-a num_classes=10 --set num_classes=100
  archspec diff runs/best.pth resnet50             which tensors of a checkpoint load into it

\b
--set and --variant apply to B, the spec you change to; --set-a and --variant-a to A.
Both models are built on the meta device: no memory for weights, nothing downloaded.
A side may be a checkpoint, a torch.save or safetensors file (tensors only are read), compared by
shape: a load casts the dtype.
Exit status: 0 when the diff is computed (whatever it finds), 1 on a spec error.
"""


class DiffFormat(enum.StrEnum):
    text = "text"
    json = "json"


@app.command(epilog=DIFF_EPILOG)
@report_errors
def diff(
    a: Annotated[
        str,
        typer.Argument(
            metavar="A",
            help="The spec a checkpoint comes from, or the checkpoint (a torch.save "
            "file); - for a spec piped in.",
            autocompletion=complete_spec,
        ),
    ],
    b: Annotated[
        str,
        typer.Argument(
            metavar="B",
            help="The spec to load it into, or a checkpoint; - for a spec piped in.",
            autocompletion=complete_spec,
        ),
    ],
    set_b: Annotated[
        list[str] | None,
        typer.Option("--set", metavar=SET_METAVAR, help="Set a param of B (repeatable)."),
    ] = None,
    set_a: Annotated[
        list[str] | None,
        typer.Option("--set-a", metavar=SET_METAVAR, help="Set a param of A (repeatable)."),
    ] = None,
    variant_b: Annotated[
        str | None, typer.Option("--variant", metavar="NAME", help="Variant of B's family.")
    ] = None,
    variant_a: Annotated[
        str | None, typer.Option("--variant-a", metavar="NAME", help="Variant of A's family.")
    ] = None,
    fmt: Annotated[
        DiffFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
    ] = DiffFormat.text,
    as_json: JsonFlag = False,
    max_layers: MaxLayers = api.DEFAULT_MAX_LAYERS,
    plugins: Plugins = None,
) -> None:
    """State_dict compatibility of two specs: tensors unchanged, reshaped, added, removed.

    Loading a checkpoint of A into B (fine-tuning with another head, a wider stage, an
    extra block): which tensors load as they are, which change shape, which appear or
    vanish, and the params and MACs per sample on each side. Either side may be a
    checkpoint file itself: which of its tensors load into the other side.
    """
    fmt = with_json(fmt, as_json, DiffFormat.json, DiffFormat.text)
    use_plugins(plugins)
    one_stdin([a, b], "A, B")
    params_a, params_b = parse_sets(set_a, "--set-a"), parse_sets(set_b)
    result = api.diff(
        spec_source(a),
        spec_source(b),
        params_a=params_a,
        params_b=params_b,
        variant_a=variant_a,
        variant_b=variant_b,
        max_layers=max_layers,
    )
    if fmt is DiffFormat.json:
        print(result.to_json())
    else:
        console().print(result.text(), markup=False, highlight=False)
