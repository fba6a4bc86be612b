"""`archspec weights`: the pretrained weights of the built-in specs, as torchvision's enums
list them (accuracy, cost, file size), and whether each file is in torch.hub's cache."""

from __future__ import annotations

import difflib
import fnmatch
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from .. import api
from .app import app, console, print_table, report_errors

WEIGHTS_EPILOG = """\b
Examples:
  archspec weights resnet50                    IMAGENET1K_V1 and IMAGENET1K_V2, which is DEFAULT
  archspec weights 'efficientnet_*'            wildcards as in `archspec list`
  archspec weights                             every built-in spec's weights
  archspec weights vit_b_16 --json

\b
Nothing is downloaded: `cached` says whether torch.hub's cache ($TORCH_HOME/hub/checkpoints,
else ~/.cache/torch/hub/checkpoints) holds the file. In Python:
archspec.load(SPEC, weights=NAME) builds the model with them.
"""


@app.command("weights", epilog=WEIGHTS_EPILOG)
@report_errors
def weights(
    specs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="SPEC",
            help="Built-in specs whose weights to list (wildcards * ? [...] as in `archspec "
            "list`); default: every spec that has weights.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON: one object per weights, for scripts.")
    ] = False,
) -> None:
    """List the pretrained weights of built-in specs: accuracy, cost, file, cached or not.

    They are torchvision's, under the names of its weights enums (IMAGENET1K_V2; DEFAULT
    stands for the one marked default), for archspec.load(SPEC, weights=NAME).
    """
    rows = [_row(spec, name) for spec in _chosen(specs) for name in api.list_weights(spec)]
    if as_json:
        import json

        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="Pretrained weights (torchvision's)", title_justify="left")
    for column, right in (
        ("spec", False),
        ("weights", False),
        ("acc@1", True),
        ("acc@5", True),
        ("GMACs", True),
        ("params", True),
        ("MB", True),
        ("cached", False),
    ):
        table.add_column(column, justify="right" if right else "left", no_wrap=column != "weights")
    for row in rows:
        table.add_row(
            row["spec"],
            row["name"] + (" (default)" if row["default"] else ""),
            _number(row["acc1"]),
            _number(row["acc5"]),
            f"{row['gmacs']:.2f}",
            api.human(row["params"]),
            f"{row['file_size_mb']:.1f}",
            "yes" if row["cached"] else "no",
        )
    print_table(console(), table, droppable=["acc@5", "params"])


def _chosen(patterns: list[str] | None) -> list[str]:
    """The specs with weights that `patterns` name, in the table's order; E801 for a name or
    pattern that names none, with the close names."""
    known = api.list_weights()
    if not patterns:
        return known
    chosen: list[str] = []
    for pattern in patterns:
        folded = pattern.lower()
        hits = [s for s in known if fnmatch.fnmatchcase(s.lower(), folded)]
        if not hits:
            raise _none_for(pattern, known)
        chosen += [s for s in hits if s not in chosen]
    return chosen


def _none_for(pattern: str, known: list[str]) -> api.WeightsError:
    bare = pattern.strip("*?").lower()
    close = difflib.get_close_matches(bare, known, n=3)
    builtin = pattern in api.builtin_index()
    what = (
        f"{api.escape_text(pattern)} has no pretrained weights"
        if builtin
        else (f"no built-in spec with pretrained weights matches {api.escape_text(pattern)!r}")
    )
    hint = "" if builtin else (f"did you mean {', '.join(close)}? " if close else "")
    return api.WeightsError(
        what,
        code="E801",
        hint=hint + f"pretrained weights exist for the {len(known)} built-in specs that are "
        "torchvision's models (`archspec weights` lists them); archspec.load(SPEC, "
        "weights=PATH) loads a checkpoint of your own into any spec",
    )


def _row(spec: str, name: str) -> dict[str, Any]:
    w = api.get_weights(spec, name)
    return {
        "spec": spec,
        "name": name,
        "full_name": w.full_name,
        "default": w.is_default,
        "acc1": w.acc1,
        "acc5": w.acc5,
        "gmacs": w.gflops,
        "params": w.num_params,
        "min_size": list(w.min_size),
        "file": w.file,
        "file_size_mb": w.file_size_mb,
        "url": w.url(),
        "cached": (_hub_checkpoints() / w.file).is_file(),
    }


def _hub_checkpoints() -> Path:
    """torch.hub's checkpoint folder as torch.hub.get_dir() finds it ($TORCH_HOME, else
    $XDG_CACHE_HOME/torch, else ~/.cache/torch), without importing torch for a listing."""
    home = os.environ.get("TORCH_HOME") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache"), "torch"
    )
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
