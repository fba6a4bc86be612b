"""CLI commands for finding and starting specs: list, schema, new (views.py: show, graph).

See app.py for shared options. Everything a command needs from the compiler goes through
archspec.api (tests/test_layering.py checks it).
"""

from __future__ import annotations

import difflib
import fnmatch
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from .. import api
from .app import (
    Force,
    Plugins,
    app,
    complete_spec,
    console,
    output_or_print,
    output_path,
    print_table,
    progress,
    report_errors,
    spec_source,
    use_plugins,
)

if TYPE_CHECKING:
    from rich.table import Table

# --------------------------------------------------------------------------------------
# list


@app.command(
    "list",
    epilog="\b\nExamples:\n  archspec list\n  archspec list 'resnet*' 'wide_*'\n"
    "  archspec list --layers 'conv*'\n"
    "  for n in $(archspec list --names); do archspec compile $n; done",
)
@report_errors
def list_(
    patterns: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="PATTERN",
            help="List only the names that match: wildcards * ? [...] as in timm's "
            "list_models (quote them for the shell), case-insensitive.",
            show_default=False,
            autocompletion=complete_spec,
        ),
    ] = None,
    layers: Annotated[
        bool,
        typer.Option("--layers", help="List the layer kinds a spec can use (plugins included)."),
    ] = False,
    names: Annotated[
        bool,
        typer.Option(
            "--names",
            help="Print only the built-in names, one per line (each variant of a family file "
            "too), for scripts.",
        ),
    ] = False,
    plugins: Plugins = None,
) -> None:
    """List the built-in specs (name, description, params, size and cost) or layer kinds.

    Parameters and MACs are for the spec's default params and input, per sample. A family
    file's variants are listed by their own names (`archspec compile efficientnet_b0`), and
    installed packages' spec folders (`archspec.specs` entry points) after archspec's own.
    A PATTERN that matches nothing is an error (exit 1) with close names as a hint.
    """
    use_plugins(plugins)
    if names and layers:
        raise typer.BadParameter("use --names or --layers, not both")
    if layers:
        print_table(console(), _layers_table(patterns), droppable=["from"])
        return
    chosen = api.list_models(patterns)
    if patterns and not chosen:
        raise _no_match(patterns, "built-in spec", api.close_names(patterns[0]), "archspec list")
    if names:
        for name in chosen:
            print(name)
        return
    with progress(f"working out the size and cost of {len(chosen)} specs"):
        table = _specs_table(chosen)
    print_table(console(), table, droppable=["--set defaults"])


def _no_match(patterns: list[str], what: str, close: list[str], command: str) -> api.LoadError:
    """E100 for patterns that match nothing, with close names and how to see them all."""
    shown = " or ".join(repr(p) for p in patterns[:3]) + (" or ..." if len(patterns) > 3 else "")
    return api.LoadError(
        f"no {what} matches {shown}",
        code="E100",
        hint=(f"did you mean {', '.join(close)}? " if close else "")
        + f"`{command}` shows every name; * matches any text, ? one character",
    )


def _specs_table(chosen: list[str]) -> Table:
    from rich.table import Table

    table = Table(title="Built-in specs (archspec summary NAME for details)", title_justify="left")
    table.add_column("name", style="bold", no_wrap=True)
    table.add_column("description", ratio=3)
    table.add_column("--set defaults", ratio=2)
    table.add_column("params", justify="right", no_wrap=True)
    table.add_column("MACs/sample", justify="right", no_wrap=True)
    index = api.builtin_index()
    for name in chosen:
        path, variant = index[name]
        graph = api.build_graph(path, variant=variant)
        params, macs = api.sample_cost(graph)
        knobs = " ".join(f"{p.name}={_literal(graph.params.get(p.name))}" for p in graph.param_info)
        table.add_row(
            name,
            first_sentence(graph.description),
            knobs,
            api.human(params),
            api.human(macs.value) if macs.is_const else str(macs),
        )
    return table


def _layers_table(patterns: list[str] | None = None) -> Table:
    rows = [(k.kind, k.summary, " ".join(k.fields), k.origin) for k in api.layer_kinds()]
    rows += [(kind, what, "", "construct") for kind, what in api.construct_kinds()]
    if patterns:
        folded = [p.lower() for p in patterns]
        kept = [r for r in rows if any(fnmatch.fnmatchcase(r[0].lower(), p) for p in folded)]
        if not kept:
            kinds = [r[0] for r in rows]
            bare = patterns[0].strip("*?").lower()
            close = difflib.get_close_matches(bare, kinds, n=3)
            raise _no_match(patterns, "layer kind", close, "archspec list --layers")
        rows = kept
    from rich.table import Table

    table = Table(title="Layer kinds (`type:` in a spec)", title_justify="left")
    table.add_column("type", style="bold", no_wrap=True)
    table.add_column("what it is", ratio=2)
    table.add_column("fields", ratio=3)
    table.add_column("from")
    for row in rows:  # a plugin's summary, fields and file are its own text: shown escaped
        table.add_row(*(api.escape_text(cell) for cell in row))
    return table


def first_sentence(text: str) -> str:
    """The gist of a description: up to the first `.`, `:` or `;` outside brackets.

    Brackets keep "(He et al., 2015)" whole; stopping at `:` drops the detail a spec's
    description usually lists after it.
    """
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth = max(0, depth - 1)
        elif ch in ".:;" and depth == 0 and (i + 1 == len(text) or text[i + 1].isspace()):
            return text[:i].strip() + ("." if ch == "." else "")
    return text.strip()


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --------------------------------------------------------------------------------------
# schema


@app.command(
    epilog="\b\nExamples:\n  archspec schema -o archspec.schema.json\n"
    "  # then start a spec with:\n"
    "  # yaml-language-server: $schema=archspec.schema.json",
)
@report_errors
def schema(
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            help="Write the schema here (default, or -: print it).",
            parser=output_or_print,
            metavar="PATH",
        ),
    ] = None,
    force: Force = False,
    plugins: Plugins = None,
) -> None:
    """Write the JSON Schema of the spec language, for editor completion and validation.

    Layer plugins are included: installed ones, and the files --plugins names. VS Code
    (with the YAML extension) and other yaml-language-server editors use it through a
    `# yaml-language-server: $schema=...` first line.
    """
    use_plugins(plugins)
    target = None if output is None else api.output_file(output, SCHEMA_FILE)
    if target is not None:
        api.check_target(target, kind=api.SCHEMA, force=force)
    text = api.json_schema_text()
    if target is None:
        sys.stdout.write(text)
        return
    api.write_atomic(target, text, kind=api.SCHEMA, force=force)
    console(stderr=True).print(f"wrote {api.display_path(target)}")


# --------------------------------------------------------------------------------------
# new

SCHEMA_FILE = "archspec.schema.json"

MODELINE = f"# yaml-language-server: $schema={SCHEMA_FILE}\n"

#: The from-scratch scaffold: a small residual network whose comments teach the language.
#: `__NAME__` is replaced by the new spec's name.
TEMPLATE = """\
# __NAME__: an archspec spec. Each layer below names its `type` (a layer kind or a block),
# and archspec infers every in_channels / in_features and checks every shape for you.
#
#   archspec check __NAME__.yaml                  shapes and errors, in milliseconds
#   archspec summary __NAME__.yaml                layers, output shapes, params, MACs
#   archspec graph __NAME__.yaml -o __NAME__.svg  a picture (.dot/.mmd need no Graphviz)
#   archspec compile __NAME__.yaml -o __NAME__.py readable PyTorch source, checked
#   python -c "import archspec; print(archspec.compile('__NAME__.yaml'))"
#
# All layer kinds and their fields: `archspec list --layers`.

archspec: 1                  # the spec format version
name: __NAME__               # the class name is made from it (or set class_name:)
description: >-
  A small residual network for 32x32 images. Say here what your network is.

# The input shape. Names are symbols (N is the batch): `archspec check` proves the shapes
# for every value; a number fixes a dim.
input: [N, 3, 32, 32]

# Params: typed knobs with defaults. Set them with `--set num_classes=100` on the command
# line or `archspec.compile("__NAME__.yaml", num_classes=100)` from Python.
params:
  num_classes: {type: int, default: 10, ge: 1, doc: number of output classes}
  width: {type: int, default: 32, ge: 1, doc: channels of the first stage}
  dropout: {type: float, default: 0.0, ge: 0, le: 1, doc: dropout before the classifier}

# Blocks are reusable modules with their own params. Use one like a layer:
# `{type: ConvBNReLU, out_channels: 64}`; each use becomes a submodule of class ConvBNReLU.
blocks:
  ConvBNReLU:
    doc: 3x3 convolution, batch norm and ReLU.
    params:
      out_channels: int                      # no default: every use must give it
      stride: {type: int, default: 1}
    layers:
      # A field may be an expression over params: `stride`, `out_channels * 2`, ...
      - {name: conv, type: conv2d, out_channels: out_channels, kernel_size: 3,
         stride: stride, padding: 1, bias: false}
      - {name: bn, type: batchnorm2d}        # num_features comes from the input
      - {name: relu, type: relu, inplace: true}

  ResBlock:
    doc: Two 3x3 convolutions around a skip connection.
    params:
      planes: int
      stride: {type: int, default: 1}
    layers:
      # residual: out = activation(body(x) + shortcut(x))
      - type: residual
        body:
          - {name: conv1, type: ConvBNReLU, out_channels: planes, stride: stride}
          - {name: conv2, type: conv2d, out_channels: planes, kernel_size: 3, padding: 1,
             bias: false}
          - {name: bn2, type: batchnorm2d}
        # The shortcut projects x when the shape changes and is the identity otherwise;
        # `in_channels` is the channel count entering the block.
        shortcut:
          when: stride != 1 or in_channels != planes
          layers:
            - {type: conv2d, out_channels: planes, kernel_size: 1, stride: stride, bias: false}
            - {type: batchnorm2d}
        activation: relu

# The network: layers run in order, each reading the one before it (or `from: name`).
# A `name` becomes the attribute (model.stem, model.stage1[0].conv1 ...).
layers:
  - {name: stem, type: ConvBNReLU, out_channels: width}
  # repeat: `count` copies in an nn.Sequential named 0, 1, ...; `i` is the copy's index.
  - {name: stage1, type: repeat, count: 2, layer: {type: ResBlock, planes: width}}
  - {name: stage2, type: repeat, count: 2,
     layer: {type: ResBlock, planes: width * 2, stride: "2 if i == 0 else 1"}}
  - {name: stage3, type: repeat, count: 2,
     layer: {type: ResBlock, planes: width * 4, stride: "2 if i == 0 else 1"}}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flatten, type: flatten}
  - {name: drop, type: dropout, p: dropout, when: dropout > 0}   # `when: false` leaves it out
  - {name: fc, type: linear, out_features: num_classes}
# More constructs:
#   parallel  branches that read one input, joined by `join: concat` (Inception) or add:
#             {type: parallel, branches: {a: [...layers], b: {...one layer}}}
#   sequential  a named group of layers; outputs: [a, b] returns several tensors;
#   train_only: true  computes a layer only in training mode (auxiliary heads).

# Initialisation, applied in module order like torchvision's constructors (later rules win).
init:
  - {layers: [conv2d], weight: {kaiming_normal: {mode: fan_out, nonlinearity: relu}}}
  - {layers: [batchnorm2d], weight: ones, bias: zeros}
"""


def _legal_name(text: str) -> bool:
    try:
        api.check_name(text)
    except ValueError:
        return False
    return True


def _name_scalar(name: str) -> str:
    """`name` as the new spec's YAML writes it: quoted where YAML would read it as other than
    text (`true`, `null`, `yes`), so the spec `new` writes loads."""
    import yaml

    return name if yaml.safe_load(name) == name else repr(name)


def _class_line(name: str) -> str:
    """A `class_name:` line where the class made from `name` is one emitted code cannot
    define (`f` gives `F`, `none` gives `None`: E602), so the spec `new` writes checks."""
    made, free = api.spec_class_name(name)
    return "" if free else f"class_name: {made}Net        # `{made}` is taken in emitted code\n"


def _no_library(doc: api.LoadedDoc) -> None:
    """A block library is no spec to start from: its copy, named as a spec, is E116 at once
    in `check`; the same E116 here. A spec half written (no layers yet) is copied as ever."""
    try:
        api.validate_spec(doc)
    except api.ArchSpecError as err:
        if err.codes == ["E116"]:
            raise


def _check_new_name(name: str) -> None:
    """A usage error (exit 2) for a NAME no spec can have."""
    try:
        api.check_name(name)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="NAME") from None


def scaffold(name: str, source: Any = None, folder: Path | None = None) -> str:
    """The text of a new spec named `name`: the teaching template, or a copy of a built-in.

    A copy keeps the built-in's own comments, takes the new name (and a class name made
    from it) and gains a header that says how to read and use it. Written into `folder`
    (None: wherever it goes, stdout), a copy of a file that reads files by paths from its
    own folder (`use: [{from: lib/stems.yaml, ...}]`) would not find them from another
    folder: there it is the resolved spec (`archspec show`), what it reads copied in. A
    spec piped in (`api.SpecText`, `--from -`) reads no file by a path: it is copied as is.
    """
    _check_new_name(name)
    if source is None:
        line = next(x for x in TEMPLATE.splitlines(keepends=True) if x.startswith("name:"))
        text = TEMPLATE.replace(
            line, line.replace("__NAME__", _name_scalar(name)) + _class_line(name)
        )
        return MODELINE + text.replace("__NAME__", name)
    # a family file is copied whole, its variants with it; one of them is read to check it
    variants = api.family_variants(source)
    doc = api.read_source(source, variant=variants[0] if variants else None)
    if not doc.text:
        shown = "-" if isinstance(source, api.SpecText) else repr(source)
        raise typer.BadParameter(f"{shown} is not a spec file", param_hint="--from")
    if not isinstance(doc.data, dict):
        api.validate_spec(doc)  # not a spec at all: the located E202 `check` gives
    if not {"layers", "extends"} & doc.data.keys():
        _no_library(doc)
    found = api.family_of(source) if variants else None
    old = found[0] if found else doc.data.get("name")  # a family's own name, not its variant's
    if not isinstance(old, str) or not _legal_name(old):
        old = None  # a stranger's text never reaches the comment the copy starts with
    text = doc.text
    reads: list[str] = []
    piped = isinstance(source, api.SpecText)
    if not piped and folder is not None and Path(source).resolve().parent != folder.resolve():
        reads = api.relative_reads(source, doc)  # what the copy there would not find
        if reads:
            text = _resolved_copy(source, reads, bool(variants), folder)
    if not reads and api.builtin_index().get(source, (None, None))[1] is not None:
        text = api.resolved_text(source)  # a family's variant: that one network, not the family
    made, free = api.spec_class_name(name)
    body = api.renamed_text(text, name, _name_scalar(name), (made, made if free else made + "Net"))
    builtin = not piped and source in api.builtin_index() and not os.path.lexists(source)
    copied = (f"archspec's `{old}` spec" if builtin else f"the `{old}` spec") if old else "a spec"
    header = (
        f"# {name}: a copy of {copied}, to change as you like.\n"
        + (f"# What it reads from {_shown(reads)} is copied in (resolved).\n" if reads else "")
        + "# Layers name their `type` (a layer kind, or a block from `blocks:`); fields may be\n"
        "# expressions over `params`; in_channels/in_features are inferred. After editing:\n"
        f"#   archspec check {name}.yaml   archspec summary {name}.yaml\n"
        f"#   archspec graph {name}.yaml -o {name}.svg   archspec emit {name}.yaml\n"
        "# All layer kinds and their fields: `archspec list --layers`.\n"
    )
    head = MODELINE + header
    return (head.replace("\n", "\r\n") if api.newline_of(body) == "\r\n" else head) + body


@app.command(
    epilog="\b\nExamples:\n  archspec new mynet\n  archspec new myresnet --from resnet18\n"
    "  archspec new tiny -o specs/tiny.yaml",
)
@report_errors
def new(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="Name of the new spec (an identifier).")
    ],
    from_: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Start from a built-in spec (or a spec file, or - for one piped in) instead.",
            autocompletion=complete_spec,
        ),
    ] = None,
    output: Annotated[
        str | None,
        typer.Option(
            "-o",
            "--output",
            help="Where to write it (default: NAME.yaml).",
            parser=output_path,
            metavar="PATH",
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Overwrite an existing file, even one `new` wrote.")
    ] = False,
    plugins: Plugins = None,
) -> None:
    """Start a new spec, with comments that teach the spec language.

    Its first line points editors with a YAML language server at archspec.schema.json, so
    they complete and check fields as you type: the nearest one in this folder or a folder
    above it (up to the repository's root), else one written next to the spec. Printed
    (-o -), it points at the nearest one from the current folder, or says how to write one.

    A copy (--from) keeps its source's comments. A spec file that reads files by paths from
    its own folder (`use:` of lib/blocks.yaml, `extends:` of base.yaml), copied into
    another folder, is written resolved (as `archspec show` prints it), what it reads copied
    in, since the copy would not find those files; a family file that does is refused there.
    """
    use_plugins(plugins)
    _check_new_name(name)  # before the target: a name no spec can have makes no file
    path = Path(f"{name}.yaml") if output is None else api.output_file(output, f"{name}.yaml")
    api.check_target(path, kind=api.SPEC, force=force)
    piped = api.is_stdout(path)
    # printed, the spec goes wherever its reader redirects it: most likely here
    here = Path.cwd() if piped else path.parent
    shared = _nearest_schema(here)
    source = None if from_ is None else spec_source(from_)
    text = scaffold(name, source, None if piped else path.parent)
    if shared is not None:  # point at the one schema there is, not a copy per folder
        relative = Path(os.path.relpath(shared, here)).as_posix()
        text = text.replace(MODELINE, f"# yaml-language-server: $schema={relative}\n", 1)
    api.write_atomic(path, text, kind=api.SPEC, force=force)
    err = console(stderr=True)
    err.print(f"wrote {api.display_path(path)}")
    if shared is None:
        _schema_beside(path, piped, err)
    if os.path.isfile(path) and not api.is_stdout(path):  # a file the user can check next
        err.print(f"next: archspec check {api.display_path(path)}")


def _schema_beside(path: Path, piped: bool, err: Any) -> None:
    """The archspec.schema.json `new` writes beside a spec that found none above it: only
    beside a spec file (not /dev/null, not a redirected stdout, whose folder is /dev), never
    over anything already there, and a schema that cannot be written is a note (the spec is
    written: the schema is a convenience for editors)."""
    schema_path = path.parent / SCHEMA_FILE
    if piped:  # its schema line names a file nobody wrote
        err.print(
            f"note: its first line points editors at {SCHEMA_FILE} beside the spec: write "
            f"one there with archspec schema -o {SCHEMA_FILE}"
        )
    elif not os.path.isfile(path):
        return
    elif not os.path.lexists(schema_path):
        try:
            api.write_atomic(schema_path, api.json_schema_text(), kind=api.SCHEMA)
            err.print(f"wrote {api.display_path(schema_path)} (editor completion)")
        except api.ArchSpecError as exc:  # the spec is written: its E604 said nothing was
            shown = api.display_path(schema_path)  # changed, and exited 1 over a convenience
            err.print(
                f"note: {exc.diagnostics[0].message}, so editors find no schema there (the "
                f"spec is written); write it later with archspec schema -o {shown}"
            )
    else:  # the name is taken by no file (a folder, a FIFO, a link to nothing): left alone
        shown = api.display_path(schema_path)
        err.print(
            f"note: {shown} is not a file, so editors find no schema there: remove it, then "
            f"archspec schema -o {shown}"
        )


def _shown(paths: list[str]) -> str:
    """File names for a comment or a message: one line, every control character escaped."""
    return ", ".join(api.escape_text(p) for p in paths)


def _resolved_copy(source: str, reads: list[str], family: bool, folder: Path) -> str:
    """The resolved spec, for a copy written away from the files its source reads by paths
    from its own folder; a family, whose variants one resolved spec cannot hold, is refused,
    and so is a spec that does not check (it cannot be resolved)."""
    why = (
        f"{api.escape_text(source)} reads {_shown(reads)} by a path from its own folder, "
        f"which a copy in {api.display_path(folder)} would not find"
    )
    cure = f"write the copy beside it (-o {api.display_path(Path(source).parent / 'NAME.yaml')})"
    if family:
        raise typer.BadParameter(
            f"{why}, and a family's variants are not copied resolved: {cure}, or copy the "
            "files it reads along with it",
            param_hint="--from",
        )
    try:
        return api.resolved_text(source)
    except api.ArchSpecError:
        raise typer.BadParameter(
            f"{why}, and it does not check, so what it reads cannot be copied in: {cure}, "
            "or fix it first (archspec check)",
            param_hint="--from",
        ) from None


def _nearest_schema(folder: Path) -> Path | None:
    """The archspec.schema.json of `folder` or of the nearest folder above it, up to the
    root of the repository it is in (a folder holding `.git`), if there is one."""
    try:
        here = folder.resolve()
    except OSError:
        return None
    for candidate in (here, *here.parents):
        schema = candidate / SCHEMA_FILE
        if schema.is_file():
            return schema
        if (candidate / ".git").exists():
            return None
    return None


# --------------------------------------------------------------------------------------
# graph


__all__ = ["first_sentence", "scaffold"]
