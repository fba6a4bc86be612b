"""A family's emitted file: every variant's classes in one module, each block class once, and
one constructor function per variant, as torchvision's resnet.py has `BasicBlock`,
`Bottleneck` and `resnet18()` .. `resnet152()`.

Each variant is rendered on its own (`Emitter.parts`), then merged: a block class whose text
is the same in every variant that uses it is written once; one that differs (the emitter
specialised it to a variant's values) keeps its name in the first variant and gets a fresh
one (`MBConv_2`) where it differs, and the classes of that variant that use it are renamed
along (`rename`). Renaming works on tokens, so strings and attribute names are never touched.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections.abc import Mapping, Sequence
from dataclasses import replace

from ...errors import ArchSpecError, EmitError
from ...ir import Graph
from ..pycode import INDENT, Namespace, docstring_lines
from ..pylayout import Text, call, format_doc
from ..selfcheck import parse_emitted
from .files import Emitter, header_lines, located, render_file
from .model import Parts, RenderedClass


def render_family(graphs: Sequence[Graph]) -> str:
    """One module for all of a family's variants (`graphs`, lowered from one spec file with
    the same params, in the family's order), parsed before it is returned."""
    return render_family_named(graphs)[0]


def render_family_named(graphs: Sequence[Graph]) -> tuple[str, tuple[str, ...]]:
    """`render_family`'s module and the name of each variant's constructor function in it,
    in the graphs' order: the file's namespace may rename one (a variant `torch` is
    `torch_()`), and what reports the file must say what it defines."""
    if not graphs:
        raise EmitError("a family file needs at least one variant", code="E602")
    try:
        names = Namespace(_argument_names(graphs) | {"Any"})
        roots: dict[str, Graph] = {}
        for graph in graphs:
            if graph.class_name == "Any":
                raise EmitError(
                    "class name `Any` would hide `typing.Any`, which a family's file imports",
                    code="E602",
                    span=graph.class_name_span or graph.root.span,
                    hint="give the variant another `class_name:`",
                )
            clash = roots.get(graph.class_name)
            if clash is not None:
                raise EmitError(
                    f"variants `{clash.variant}` and `{graph.variant}` both have class name "
                    f"`{graph.class_name}`",
                    code="E602",
                    span=graph.class_name_span or graph.root.span,
                    hint="give each variant its own `class_name:`",
                )
            roots[graph.class_name] = graph
            names.reserve(graph.class_name)
        source, functions = _merge(graphs, names)
        parse_emitted(source)
    except ArchSpecError as exc:
        raise located(exc, graphs[0].root.span, graphs[0]) from None
    except Exception as exc:
        raise EmitError(
            f"cannot emit source for this family: {type(exc).__name__}: {exc}",
            span=graphs[0].root.span,
            hint="this is a bug in archspec's source emitter; please report it with the spec",
            sources=dict(graphs[0].sources),
        ) from None
    return source, functions


def _merge(graphs: Sequence[Graph], names: Namespace) -> tuple[str, tuple[str, ...]]:
    """Each variant rendered, its classes merged into the file's (see the module docstring);
    with the constructor functions' names."""
    keys: dict[str, tuple[str, ...]] = {}  # class name -> its tokens, as written in the file
    shapes: dict[tuple[str, ...], list[str]] = {}  # its tokens, blind to its own name -> names
    classes: list[RenderedClass] = []
    helpers: list[str] = []
    plugins: list[str] = []
    roots: list[Graph] = []
    networks = frozenset(g.class_name for g in graphs)
    for graph in graphs:
        parts = _parts(graph, {})
        renames = _renames(parts.classes, keys, shapes, names, networks)
        if renames:  # render again, laid out with the names the file gives
            parts = _parts(graph, renames)
        helpers += [h for h in parts.helpers if h not in helpers]
        for name in parts.taken:
            names.reserve(name)
        plugins += [p for p in parts.plugins if p not in plugins]
        for cls in parts.classes:
            key = _key(cls.text)
            if cls.name in keys:
                if keys[cls.name] != key:
                    raise EmitError(
                        f"class `{cls.name}` of variant `{graph.variant}` differs from the "
                        "class of that name already in the family's file"
                    )
                continue
            keys[cls.name] = key
            shapes.setdefault(_key(cls.text, {cls.name: _SELF}), []).append(cls.name)
            classes.append(cls)
        roots.append(graph)
    root_names = {g.class_name for g in roots}
    classes.sort(key=lambda c: c.name in root_names)  # blocks first, then the networks
    fn_names = tuple(names.create(graph.variant or graph.name) for graph in roots)
    functions = [_constructor(graph, fn) for graph, fn in zip(roots, fn_names)]
    header = header_lines(graphs[0].file, None, Emitter(graphs[0]).overrides(), plugins)
    source = render_file(header, helpers, classes, functions, ["from typing import Any"])
    return source, fn_names


def _parts(graph: Graph, renames: Mapping[str, str]) -> Parts:
    emitter = Emitter(graph, renames)
    try:
        return emitter.parts()
    except ArchSpecError as exc:
        raise located(exc, emitter.at or graph.root.span, graph) from None


def _renames(
    rendered: Sequence[RenderedClass],
    keys: Mapping[str, tuple[str, ...]],
    shapes: Mapping[tuple[str, ...], list[str]],
    names: Namespace,
    networks: frozenset[str],
) -> dict[str, str]:
    """The names one variant's block classes take in the file: a class already there (by
    its tokens) is used under its name; a new class whose name the file has given to
    another class, or that another variant's network class has (`class_name: Blk` beside
    a block `Blk`), gets a fresh one (`MBConv_2`).

    The class already there is looked up by its tokens with its own name blinded (`shapes`),
    not by tokenizing the new class once per class of the file: a family of hundreds of
    variants whose block classes all differ took minutes (quadratic)."""
    renames: dict[str, str] = {}
    own = {c.name for c in rendered}
    for name in own:
        names.reserve(name)  # a fresh name must not be one this variant uses itself
    for cls in rendered[:-1]:  # the last is the network class, named apart already
        key = _key(cls.text, renames)
        if keys.get(cls.name) == key and cls.name not in networks:
            continue
        same = _same_class(cls, renames, key, keys, shapes, networks)
        if same is not None:
            renames[cls.name] = same
        elif cls.name in keys or cls.name in networks:
            renames[cls.name] = names.create(re.sub(r"(_[0-9]+)+$", "", cls.name))
    return renames


def _same_class(
    cls: RenderedClass,
    renames: Mapping[str, str],
    key: tuple[str, ...],
    keys: Mapping[str, tuple[str, ...]],
    shapes: Mapping[tuple[str, ...], list[str]],
    networks: frozenset[str],
) -> str | None:
    """The first class of the file (in its order) that `cls` is under that class's name. The
    candidates are those of its blinded tokens, and any class whose name its text holds
    (there, naming it `n` and blinding `n` differ); each is compared as written."""
    candidates = set(shapes.get(_key(cls.text, {**renames, cls.name: _SELF}), ()))
    candidates.update(t for t in key if t in keys)
    return next(
        (
            n
            for n in keys
            if n in candidates
            and n not in networks
            and _key(cls.text, {**renames, cls.name: n}) == keys[n]
        ),
        None,
    )


def _key(text: str, renames: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """A class's tokens (names renamed), blind to layout: line breaks, indentation and the
    trailing commas a broken line gains."""
    toks = [
        tok.string
        for tok in tokenize.generate_tokens(io.StringIO(rename(text, renames or {})).readline)
        if tok.type not in _LAYOUT
    ]
    return tuple(
        s for i, s in enumerate(toks) if not (s == "," and toks[i + 1 : i + 2] in _CLOSING)
    )


#: the name a class's own name is blinded to in `shapes` (compared as written after)
_SELF = "_archspec_own_class_name_"
_LAYOUT = frozenset(
    {tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
)
_CLOSING = ([")"], ["]"], ["}"])


def distinct_classes(graphs: Sequence[Graph]) -> list[Graph]:
    """The graphs, each variant's network class named apart where variants share one
    (efficientnet's variants are all `EfficientNet`, as in torchvision): the shared name
    followed by what the variant's name adds to it (`EfficientNetB0`, `ShuffleNetV2X0_5`)."""
    counts: dict[str, int] = {}
    for g in graphs:
        counts[g.class_name] = counts.get(g.class_name, 0) + 1
    return [
        g
        if counts[g.class_name] == 1 or g.variant is None
        else replace(g, class_name=g.class_name + _suffix(g.variant, g.class_name))
        for g in graphs
    ]


def _suffix(variant: str, class_name: str) -> str:
    """What `variant` adds to `class_name` (`efficientnet_b0`, `EfficientNet` -> `B0`),
    underscores kept only between digits (`x0_5` -> `X0_5`)."""
    shared = class_name.lower()
    i = j = 0
    while i < len(variant) and j < len(shared):
        if variant[i] == "_":
            i += 1
        elif variant[i].lower() == shared[j]:
            i, j = i + 1, j + 1
        else:
            break
    rest = variant[i:] if j == len(shared) else variant
    out = ""
    for k, part in enumerate(p for p in rest.split("_") if p):
        if k and out[-1:].isdigit() and part[0].isdigit():
            out += "_"
        out += part[:1].upper() + part[1:]
    return out or "_" + variant


def rename(text: str, renames: Mapping[str, str]) -> str:
    """`text` (whole Python statements) with each name token in `renames` replaced; strings,
    comments and attributes (`self.Bottleneck`) stay as they are."""
    if not renames:
        return text
    lines = text.splitlines(keepends=True)
    edits: list[tuple[int, int, int, str]] = []
    after_dot = False
    for tok in tokenize.generate_tokens(io.StringIO(text).readline):
        if tok.type == tokenize.NAME and not after_dot and tok.string in renames:
            (row, col), (_, end) = tok.start, tok.end
            edits.append((row - 1, col, end, renames[tok.string]))
        after_dot = tok.type == tokenize.OP and tok.string == "."
    for row, col, end, new in reversed(edits):
        lines[row] = lines[row][:col] + new + lines[row][end:]
    return "".join(lines)


def _argument_names(graphs: Sequence[Graph]) -> set[str]:
    """Names no class of the file may take: every argument of every class (as in
    `EmitContext`, a class named like an argument would be shadowed inside `__init__`)."""
    params = {"in_channels"}
    for graph in graphs:
        params |= set(graph.params)
        for decls in graph.blocks.values():
            params |= {p.name for p in decls}
    return params | {f"{p}_" for p in params}


def _constructor(graph: Graph, name: str) -> str:
    """`def resnet18(**kwargs: Any) -> ResNet18:` with the variant's description."""
    cls = graph.class_name
    doc = graph.description or f"The {graph.variant} variant."
    lines = [f"def {name}(**kwargs: Any) -> {cls}:"]
    lines += [INDENT + ln if ln else "" for ln in docstring_lines([doc], 4)]
    lines += format_doc(call(f"return {cls}", [Text("**kwargs")]), 4)
    return "\n".join(lines)
