"""CLI commands that analyse a spec without building it: `check` and `summary`.

Neither imports torch: both go through `archspec.api.check` / `archspec.api.summary`, which
work on the IR alone, so checking every built-in spec takes a fraction of a second.
"""

from __future__ import annotations

import enum
import itertools
import json
import os
import re
import sys
import warnings
from collections.abc import Collection
from typing import Annotated, Any

import typer

from .. import api
from .app import (
    INPUT_HELP,
    STDIN,
    JsonFlag,
    MaxLayers,
    Plugins,
    Sets,
    SpecArg,
    Variant,
    app,
    collector_off,
    complete_spec,
    console,
    kept_until_exit,
    one_stdin,
    parse_inputs,
    parse_sets,
    progress,
    report_errors,
    spec_source,
    use_color,
    use_plugins,
    with_json,
)

#: Linux's PATH_MAX: no path a spec is read from is longer, so a status line cuts only an
#: argument that names no file (a name of 100,000 characters was printed whole).
_PATH_SHOWN = 4096


def _said_again(said: list[warnings.WarningMessage]) -> None:
    """The warnings `api.summary` gave, in the CLI's words where it has its own: `--depth`
    on a spec with a param `depth` (a WRN's) folds the table and leaves the network's
    depth, which `--set depth=N` sets."""
    for w in said:
        if isinstance(w.message, api.SpecDepthWarning):
            d, v = w.message.depth, w.message.value
            print(
                f"note: --depth {d} folds the table; the spec's own param `depth` stays {v!r} "
                f"(set it with --set depth={d})",
                file=sys.stderr,
            )
        else:
            warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)


def _shown_file(file: object) -> str:
    return api.escape_text(api.clipped(str(file), _PATH_SHOWN))


CHECK_EPILOG = """\b
Examples:
  archspec check vgg16
      vgg16 (specs/vgg.yaml): ok
        input   (N, 3, 224, 224)
        output  (N, 1000)
        domain  vgg16 accepts (N, 3, H, W) with H, W >= 32
        weights IMAGENET1K_V1 (default), IMAGENET1K_FEATURES
  archspec check specs/*.yaml                      check every spec in one run
                                                   (each variant of a family file)
  archspec check specs/                            the same: a directory stands for its
                                                   .yaml and .yml files
  archspec check alexnet --input 1,3,224,224       which layer breaks at 224x224, and why
  archspec check resnet50 --set num_classes=10 --json
  archspec check --plugins examples/se_layer.py examples/se_resnet18.yaml
                                                   a layer kind from your own Python file

\b
Exit status: 0 when every spec is fine (warnings allowed), 1 when any has an error.
"""

SUMMARY_EPILOG = """\b
Examples:
  archspec summary resnet50                        symbolic shapes and MACs in N, H, W
  archspec summary resnet50 --input 1,3,224,224    concrete shapes, 4.09 G MACs
  archspec summary resnet50 --depth 1              one row per top-level layer or stage
  archspec summary vgg16 --input 1,3,224,224 --format markdown > vgg16.md

\b
MACs: a conv counts C_out*H_out*W_out*C_in/groups*k_h*k_w per sample (1-d: L_out and k;
3-d: D_out and k_d too), a linear in*out per row, a matmul or attention its matrix products
(batch*M*K*N), other layers 0; the batch N is included. Column sums equal the totals.
"""


class SummaryFormat(enum.StrEnum):
    table = "table"
    markdown = "markdown"
    json = "json"
    csv = "csv"


def _check_all(
    targets: list[tuple[Any, str | None]],
    shape: tuple[int, ...] | None,
    max_layers: int | None,
    params: dict[str, str],
) -> list[Any]:
    """Check each (spec, variant); the variants of one family checked together share one
    expansion budget (one spec or one variant alone spends none, as archspec.check)."""
    results = []
    for spec, group in itertools.groupby(targets, key=lambda t: t[0]):
        variants = [v for _, v in group]
        with api.family_budget(max_layers, kept_until_exit(), shared=len(variants) > 1):
            results += [
                api.check(spec, input=shape, max_layers=max_layers, variant=v, params=params)
                for v in variants
            ]
    return results


@app.command(epilog=CHECK_EPILOG)
@report_errors
def check(
    specs: Annotated[
        list[str],
        typer.Argument(
            metavar="SPEC",
            help="Spec files, built-in spec names, directories (their .yaml and .yml files), "
            "or - for a spec piped in.",
            autocompletion=complete_spec,
        ),
    ],
    set_: Sets = None,
    input_: Annotated[
        list[str] | None, typer.Option("--input", metavar="SHAPE", help=INPUT_HELP)
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
    max_layers: MaxLayers = api.DEFAULT_MAX_LAYERS,
    variant: Variant = None,
    plugins: Plugins = None,
) -> None:
    """Check shapes symbolically: output shapes, the accepted input sizes, located errors.

    Every layer's shape is derived for any input size (H, W as symbols), which gives the
    exact set of inputs the network accepts. With --input, the first layer that breaks
    for that input is reported at its line in the spec. Torch is never imported, and no
    weights are allocated: a spec that compile would refuse as too large (E501/E502)
    gets a warning (W501/W502) with the figure. A built-in spec that is a torchvision
    model lists its pretrained weights (`weights`), for archspec.load(SPEC, weights=NAME).
    """
    use_plugins(plugins)
    params = parse_sets(set_)
    shape = parse_inputs(input_)
    one_stdin(specs)
    files, listed = spec_files(specs)
    with collector_off():  # checks keep their results, and make little garbage
        _check_command(files, params, shape, as_json, max_layers, variant, listed)


def spec_files(specs: list[str]) -> tuple[list[Any], set[str]]:
    """`check DIR`, as linters take a folder: a directory stands for its `*.yaml` and `*.yml`
    entries (not its subdirectories), in name order; E100 for one that holds none. Anything
    else (a file, a built-in name) is passed on as given, and `-` as the spec piped in
    (`api.stdin_spec`). Also returns the files found in
    directories: a block library among them is passed over, not an error."""
    out: list[Any] = []
    listed: set[str] = set()
    for spec in specs:
        if spec == STDIN:  # the spec piped in, read once, where it stands among the others
            out.append(spec_source(spec))
            continue
        if not os.path.isdir(spec):  # False, never an error, for text that is no path
            out.append(spec)
            continue
        shown = api.escape_text(spec)
        try:
            names = sorted(e.name for e in os.scandir(spec) if not _is_dir(e))
        except OSError as exc:
            raise api.LoadError(
                f"cannot list the directory {shown}: {exc.strerror or exc}",
                code="E100",
                hint="check its permissions, or pass the spec files themselves",
            ) from None
        found = [os.path.join(spec, n) for n in names if n.lower().endswith((".yaml", ".yml"))]
        if not found:
            raise api.LoadError(
                f"the directory {shown} holds no spec file (*.yaml, *.yml)",
                code="E100",
                hint="pass spec files, built-in names (`archspec list`), or a directory of specs",
            )
        out += found
        listed.update(found)
    return out, listed


def _is_dir(entry: os.DirEntry[str]) -> bool:
    """A directory entry that is (or links to) a directory; an entry that cannot be looked at
    (a symlink loop) is not one: the reader then reports it at its own path."""
    try:
        return entry.is_dir()
    except OSError:
        return False


def _check_command(
    specs: list[Any],
    params: dict[str, str],
    shape: tuple[int, ...] | None,
    as_json: bool,
    max_layers: int,
    variant: str | None,
    listed: Collection[str] = (),
) -> None:
    """`archspec check` once its options are read; `listed`: the files a directory stood for."""
    # a family file without --variant: every variant, each reported by its own name
    targets = [
        (spec, v)
        for spec in specs
        for v in (api.family_variants(spec) if variant is None else []) or [variant]
    ]
    results = _check_all(targets, shape, max_layers, params)
    targets, results = _without_libraries(targets, results, listed)
    # The index of built-in names reads every built-in file (~40 ms): only a result that has
    # pretrained weights needs it, to tell the built-in spec from a file of the same name.
    index = api.builtin_index() if any(api.weights_line(r.name) for r in results) else {}
    weights = [api.weights_line_for(spec, r.name, index) for (spec, _), r in zip(targets, results)]
    if as_json:
        dicts = [r.to_dict() for r in results]
        for d, r, line in zip(dicts, results, weights):
            if line is not None:  # torchvision's weights names, torchvision's order
                d["weights"] = api.list_weights(r.name)
        print(json.dumps(dicts, indent=2))
    else:  # plain lines: names and files are escaped text, so rich would add nothing
        color = use_color(sys.stderr)
        shown: set[tuple[str, str]] = set()  # a family's variants share most of their layers
        for r, line in zip(results, weights):
            repeated = _print_diagnostics(r, shown, color)
            status = "ok" if r.ok else f"{len(r.errors)} error{'s' if len(r.errors) > 1 else ''}"
            if r.warnings:
                status += f", {len(r.warnings)} warning{'s' if len(r.warnings) > 1 else ''}"
            if repeated:
                status += f" ({repeated} shown above)"
            name, file = api.escape_text(api.clipped(r.name)), _shown_file(r.file)
            print(f"{name or repr(name)} ({file or repr(file)}): {status}")  # `check ''`
            if r.input_shape is not None and r.ok:
                for name, text in r.input_texts(symbolic=False):  # a network of several's
                    print(f"  input   {name} {text}")
                if not r.input_names:
                    print(f"  input   {_shape(r.input_shape)}{api.dtype_suffix(r.input_dtype)}")
                _print_outputs(r)
            if r.domain is not None and len(r.domain.boxes) > 2 and r.symbolic_input:
                given = r.inputs_text()
                head = f"{r.name} accepts {given} with one of:"
                print(f"  domain  {head}")
                for text in r.domain.box_texts():
                    print(f"            {text}")
                if r.domain.unsolved:
                    print(f"          where also {r.domain.also_text()}")
            elif r.domain is not None:
                print(f"  domain  {r.domain_text}")
            if line is not None:
                print(f"  weights {line}")
            sys.stdout.flush()
        if len(results) > 1:
            bad = sum(not r.ok for r in results)
            print(
                f"checked {len(results)} specs: {len(results) - bad} ok"
                + (f", {bad} with errors" if bad else "")
            )
    if not all(r.ok for r in results):
        raise typer.Exit(1)


def _without_libraries(
    targets: list[tuple[Any, str | None]], results: list[Any], listed: Collection[str]
) -> tuple[list[tuple[str, str | None]], list[Any]]:
    """The targets and results but the block libraries a directory held (their only error
    E116): a folder of specs may keep the blocks its specs import beside them. Each one
    passed over is named on stderr, so that the count of specs checked adds up."""
    kept = []
    for target, result in zip(targets, results):
        errors = result.errors
        if target[0] in listed and errors and all(d.code == "E116" for d in errors):
            shown = api.escape_text(target[0])
            print(f"{shown}: a block library, passed over (no network of its own)", file=sys.stderr)
            continue
        kept.append((target, result))
    return [t for t, _ in kept], [r for _, r in kept]


def _print_outputs(result: api.CheckReport) -> None:
    """The output shapes on one line; one line each, the training-only ones labelled, when
    the model returns some in training mode only (eval mode returns the others)."""
    keys = [f"{_key_text(k)}: " for k in result.output_keys]
    if len(keys) != len(result.outputs):  # a tensor or a tuple, not a mapping
        keys = [""] * len(result.outputs)
    if not any(result.training_only):
        print(f"  output  {', '.join(k + _shape(s) for k, s in zip(keys, result.outputs))}")
        return
    for key, shape, name in zip(keys, result.outputs, result.training_only):
        label = f"  {api.escape_text(name)}, training only" if name else ""
        print(f"  output  {key}{_shape(shape)}{label}")


def _print_diagnostics(result: api.CheckReport, shown: set[tuple[str, str]], color: bool) -> int:
    """Print the result's diagnostics to stderr, except those an earlier result of the same
    file printed word for word (an error in a layer every variant of a family has is shown
    once, not once per variant); return how many were left out."""
    sources = dict(result.sources)
    repeated = 0
    for diag in result.diagnostics:
        text = diag.render(sources, color)
        if (str(result.file), text) in shown:
            repeated += 1
            continue
        shown.add((str(result.file), text))
        print(text, file=sys.stderr)
    return repeated


#: an output key printed as it is written: one that could read as part of the line's own
#: `key: shape, key: shape` layout (`x: y`, `a, b`) or that has spaces at an end is quoted
_PLAIN_KEY = re.compile(r"[^\s:,\"'][^:,\"']*(?<=\S)|[^\s:,\"']")


def _key_text(key: str) -> str:
    """An output key as `check` prints it: as written, or quoted (JSON's escapes) when it
    holds what the line uses to separate keys and shapes."""
    if _PLAIN_KEY.fullmatch(key):
        return api.escape_text(key)
    return api.escape_text(json.dumps(key, ensure_ascii=False))


def _shape(shape: tuple[object, ...]) -> str:
    return api.format_shape(shape)  # type: ignore[arg-type]


@app.command(epilog=SUMMARY_EPILOG)
@report_errors
def summary(
    spec: SpecArg,
    set_: Sets = None,
    input_: Annotated[
        list[str] | None,
        typer.Option(
            "--input",
            metavar="SHAPE",
            help="Concrete input shape, e.g. 1,3,224,224 (default: symbolic); once per input "
            "for a network of several (`inputs:`).",
        ),
    ] = None,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth",
            min=1,
            help="Fold modules nested deeper than this into one row (default: every level).",
        ),
    ] = None,
    fmt: Annotated[
        SummaryFormat,
        typer.Option("--format", "-f", help="Output format.", case_sensitive=False),
    ] = SummaryFormat.table,
    as_json: JsonFlag = False,
    max_layers: MaxLayers = api.DEFAULT_MAX_LAYERS,
    variant: Variant = None,
    plugins: Plugins = None,
) -> None:
    """Per-layer table: output shape, parameters and MACs, with totals.

    Without --input the shapes and MACs are symbolic in N, H, W (and the MACs at the
    declared input with N=1 are given below the table). A built-in spec that is a
    torchvision model ends the table with its pretrained weights.
    """
    fmt = with_json(fmt, as_json, SummaryFormat.json, SummaryFormat.table)
    use_plugins(plugins)
    with progress("working out the summary"), warnings.catch_warnings(record=True) as said:
        warnings.simplefilter("always", api.SpecDepthWarning)
        result = api.summary(
            spec_source(spec),
            input=parse_inputs(input_),
            depth=depth,
            max_layers=max_layers,
            variant=variant,
            params=parse_sets(set_),
        )
    _said_again(said)
    color = use_color(sys.stderr)  # the spec's warnings, as check prints them
    for warning in result.warnings:
        print(warning.render(dict(result.sources), color), file=sys.stderr)
    if fmt is SummaryFormat.table:
        out = console()
        api.print_summary(out, result)
        line = api.weights_line_for(None if spec == STDIN else spec, result.name)
        if line is not None:
            api.print_wrapped(  # wrapped at the width, as the footer is
                out,
                f"pretrained weights: {line}; in Python: "
                f'archspec.load("{result.name}", weights="DEFAULT")',
            )
    elif fmt is SummaryFormat.markdown:
        sys.stdout.write(result.to_markdown())
    elif fmt is SummaryFormat.json:
        print(result.to_json())
    else:
        sys.stdout.write(result.to_csv())
