"""What tools built on the API need besides its commands; `archspec.api` re-exports it all.

The command line imports nothing of archspec but `archspec.api` (tests/test_layering.py reads
its imports): the figures `list` and `compile` print, the layer-kind table of `list --layers`,
the compile self-check, the writers of source and pictures, and the text helpers they share
live here, each a thin door onto the stage that does the work. Nothing here imports torch at
module level.
"""

from __future__ import annotations

import gc
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .dims import Dim, Shape
from .inputlayout import batch_of_one, batch_symbols
from .ir import Graph
from .lazymethods import dataclass

if TYPE_CHECKING:  # pragma: no cover
    from .backends.selfcheck import SelfCheck
    from .catalog import SpecSource


class ShapeTextError(ValueError):
    """Text that is no shape: `problem` is "empty", "not a number" or "too large", `part`
    the first dim at fault. Each caller words it for its own users."""

    def __init__(self, problem: str, part: str) -> None:
        super().__init__(f"{problem}: {part[:30]!r}")
        self.problem = problem
        self.part = part


def empty_dim_words(text: str) -> str:
    """Why a shape's text has an empty dim, in words: a lone `x` (`--input x`, `1,1,x,32`)
    is read as the separator of `1x3x224x224`, which the bare "an empty dim" did not say."""
    if "x" in text:
        return "an empty dim: `x` separates dims, as in 1x3x224x224; each dim is a number"
    return "an empty dim"


#: The digits of 2**62 (every dim is below it): a longer number is refused before int().
_MAX_DIGITS = len(str(2**62))


def parse_shape_text(text: str) -> tuple[int, ...]:
    """`"1,3,224,224"`, `"1x3x224x224"` or `"1 3 224 224"` as ints (leading zeros allowed).

    Only the text is read here: how many dims, and which values, each caller checks.

    >>> parse_shape_text("1x3x224x224")
    (1, 3, 224, 224)
    """
    parts = re.split(r"\s*[,x]\s*|\s+", text.strip())
    bad = next((p for p in parts if not (p.isascii() and p.isdigit())), None)
    if bad is not None:
        raise ShapeTextError("empty" if bad == "" else "not a number", bad)
    # int() refuses strings over 4300 digits, so the length is checked first
    digits = [p.lstrip("0") or "0" for p in parts]
    long = next((p for p, d in zip(parts, digits) if len(d) > _MAX_DIGITS), None)
    if long is not None:
        raise ShapeTextError("too large", long)
    return tuple(int(d) for d in digits)


def human(n: int, *, early: bool = False) -> str:
    """`1.23 M`: SI prefixes, as papers quote parameter counts; `early` switches the unit a
    decade early (`0.71 G`), as model cards quote MACs.

    >>> human(1234567), human(710_000_000, early=True)
    ('1.23 M', '0.71 G')
    """
    for unit, size in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("K", 10**3)):
        if abs(n) >= (size // 10 if early else size):
            if abs(n) >= 10**300:  # past what `n / size` can make a float of: whole units
                return f"{n // size:,} {unit}"
            return f"{n / size:.2f} {unit}"
    return str(n)


def sample_cost(graph: Graph) -> tuple[int, Dim]:
    """Parameters, and MACs for one sample (the batch symbol set to 1): what `list` and
    `compile` print. ShapeError (E411) when the count's expression is too large to track."""
    from .passes.costs import graph_cost

    cost = graph_cost(graph)
    macs = cost.macs.subs({s: 1 for s in batch_symbols(graph.input_shape or ())})
    return cost.params, macs


@dataclass(frozen=True)
class LayerKind:
    """One row of `archspec list --layers`: a registered kind, plugins included."""

    kind: str
    summary: str
    #: the fields a spec may write (`?` marks an optional one), inferred ones left out
    fields: tuple[str, ...]
    #: "built-in", the plugin file (as given) or the module that registered it
    origin: str


def layer_kinds() -> list[LayerKind]:
    """Every layer kind a spec can use, installed plugins loaded first, sorted by kind."""
    from .ops import REGISTRY
    from .ops.base import META_FIELDS
    from .plugins import load_plugins, plugin_file_of

    load_plugins()
    kinds = []
    for kind, op in sorted(REGISTRY.items()):
        fields = tuple(
            (f.alias or k) + ("" if f.is_required() else "?")
            for k, f in op.spec.model_fields.items()
            if k not in META_FIELDS and k not in op.inferred
        )
        module = type(op).__module__
        origin = (
            "built-in" if module.startswith("archspec.ops.") else plugin_file_of(module) or module
        )
        kinds.append(LayerKind(kind, op.summary or op.torch_name, fields, origin))
    return kinds


def construct_kinds() -> list[tuple[str, str]]:
    """(type, summary) of every compound construct (`repeat`, `residual`, ...), in the order
    the construct registry holds them; block calls are not a `type:` of their own."""
    from .constructs import CONSTRUCTS

    return [(kind, c.summary) for kind, c in CONSTRUCTS.items()]


def emit_graph(graph: Graph) -> str:
    """Readable PyTorch source for a lowered graph (what `archspec.emit` returns), rendered
    with the collector paused (see `gc_paused`: a 3,000-layer spec took 4x longer without)."""
    from .backends.pysource import render_module

    with gc_paused():
        return render_module(graph)


def output_shapes(graph: Graph) -> tuple[Shape | None, ...]:
    """The network's output shapes as they read on the inputs it accepts (`compile`'s line,
    like `check`'s: a U-Net taking multiples of 16 gives (N, 2, H, W))."""
    from .backends.emit.shapes import on_accepted_inputs

    if all(batch_of_one(shape) is not None for shape in graph.input_shapes):
        return graph.output_shapes
    simplify = on_accepted_inputs(graph)
    return tuple(simplify(s) if s is not None else None for s in graph.output_shapes)


def emit_family(graphs: Sequence[Graph]) -> str:
    """One module for a family's variants (`archspec.emit` of a family without a variant),
    rendered with the collector paused, as `emit_graph`."""
    from .backends.emit.family import render_family

    with gc_paused():
        return render_family(graphs)


def emit_family_named(graphs: Sequence[Graph]) -> tuple[str, tuple[str, ...]]:
    """`emit_family`'s module and each variant's constructor function name in it (in the
    graphs' order): a variant named like a builtin or module name gets another (`torch_`)."""
    from .backends.emit.family import render_family_named

    with gc_paused():
        return render_family_named(graphs)


def family_classes(graphs: Sequence[Graph]) -> list[Graph]:
    """A family's graphs with a network class name each, for one module holding them all."""
    from .backends.emit.family import distinct_classes

    return distinct_classes(graphs)


def check_emitted(source: str, graph: Graph) -> SelfCheck:
    """The self-check of `compile`: run the rendered source and compare it with the graph.

    It checks the very string that is written (archspec.backends.selfcheck), never a file
    that someone could change in between. Returns the parameters and state_dict entries
    compared, and why no forward pass was compared (None: one was).
    """
    from .api import MAX_TENSOR_ELEMENTS, check_limits
    from .backends.selfcheck import check_emitted_source
    from .passes.costs import footprint

    fp = footprint(graph)
    if fp.params + fp.buffers > MAX_TENSOR_ELEMENTS:
        # Both modules are built, on the meta device: more elements than torch can count
        # is E501 at the largest layer, as archspec.compile(..., max_params=None) says.
        check_limits(graph, None, None)
    return check_emitted_source(source, graph)


def json_schema_text() -> str:
    """The JSON Schema of the spec language (installed plugins included), as text."""
    from .schema import json_schema_text as text

    return text()


def picture_format(path: str | Path, *, force: bool = True) -> str:
    """The picture format a write to `path` takes (its suffix's; DOT for a stream, such as
    stdout, with none), refusing what the write would before any drawing (see
    `graph.output_format`)."""
    from .graph import output_format

    return output_format(path, force=force)


def default_picture_suffix() -> str:
    """What a picture's file is called when only its folder is given: `.svg` where Graphviz's
    `dot` is installed to draw it, else `.mmd` (Mermaid text, which needs nothing)."""
    import shutil

    return ".svg" if shutil.which("dot") else ".mmd"


def render_picture(graph: Graph, fmt: str, depth: int | None = None, fold: bool = True) -> bytes:
    """A picture of the graph as file content: DOT or Mermaid text, or what `dot` makes."""
    from .graph import render

    return render(graph, fmt, depth, fold)


def write_picture(
    graph: Graph, path: str | Path, depth: int | None = None, fold: bool = True, *, force: bool
) -> str:
    """Draw the graph to `path` in the format its suffix names (archspec.files' write rule)."""
    from .graph import write_graph

    return write_graph(graph, path, depth, fold, force=force)


@dataclass(frozen=True)
class Family:
    """A family spec lowered variant by variant: what `emit` writes as one module."""

    name: str
    graphs: list[Graph]


def family_graphs(
    source: SpecSource,
    params: Mapping[str, Any] | None = None,
    *,
    max_layers: int | None = None,
) -> Family | None:
    """Every variant of a family spec lowered with `params`, in the family's order; None for
    a plain spec, a family of one variant or a built-in name (each names one network)."""
    from .api import build_graph
    from .catalog import family_budget, family_of

    found = family_of(source)
    if found is None or len(found[1]) < 2:  # a family of one is that one network
        return None
    name, variants = found
    limit = {} if max_layers is None else {"max_layers": max_layers}
    with family_budget(max_layers):
        graphs = [build_graph(source, params, variant=v, **limit) for v in variants]
    return Family(name, family_classes(graphs))


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause CPython's cyclic collector while the passes build the IR or the module.

    The passes make many small long-lived objects and no garbage cycles worth collecting;
    every full collection would walk them all, so a 10x bigger spec cost 13x more time
    (benchmarks/results.md, scaling). The collector resumes, if it was on, at the end.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def spec_params(params: Mapping[str, Any] | None, keywords: Mapping[str, Any]) -> dict[str, Any]:
    """The spec's params of a `compile`, `load`, `emit`, `check` or `summary` call: its
    keywords, and `params=`, a mapping that also reaches a param named like one of the
    function's own arguments (`device`, `depth`, `variant`: the CLI's `--set depth=50`).
    A name given both ways is a TypeError.
    """
    if params is None:
        return dict(keywords)
    if not isinstance(params, Mapping):
        raise TypeError(
            f"params must be a mapping of param names to values, got {type(params).__name__}"
        )
    for name in params:
        if not isinstance(name, str):
            raise TypeError(
                f"params must be keyed by param names (str), got a {type(name).__name__}"
            )
    twice = sorted(set(params) & set(keywords))
    if twice:
        raise TypeError(f"param {twice[0]!r} is given both in params= and as a keyword")
    return {**params, **keywords}


def shown_text(
    source: SpecSource, *, variant: str | None = None, params: Mapping[str, Any] | None = None
) -> str:
    """What `archspec show` prints: the resolved spec (`catalog.resolved_text`), with `params`
    (as compile takes them: `--set` text is parsed by each param's type) written as their
    params' defaults, so that the text compiles as the spec does with them. A param the
    spec has not, or a value that does not fit, is compile's error (E302, E309, located); a
    required param not given stays required, as written."""
    from .catalog import read_source, resolved_text

    if not params:
        return resolved_text(source, variant=variant)
    from .errors import SpecError
    from .lower import bind_params
    from .lowering.values import decl_of
    from .lowering.walker import Lowerer
    from .validate import validate_spec

    doc = read_source(source, variant)
    lowerer = Lowerer(validate_spec(doc), doc, params)
    bind_params(lowerer)
    errors = [d for d in lowerer.bag.errors if d.code != "E303"]  # E303: a param not given
    if errors:
        raise SpecError(diagnostics=errors, sources=doc.sources)
    declared = dict(doc.data["params"])
    for name in params:
        entry, value = declared[name], lowerer.globals[name]
        # a short form (`width: 32`, `depth: int`) is written in full: its type stays the same
        declared[name] = (
            {**entry, "default": value}
            if isinstance(entry, Mapping)
            else {"type": decl_of(entry).type, "default": value}
        )
    return resolved_text({**doc.data, "params": declared})


def input_shape(value: Any) -> tuple[int, ...] | None:
    """The `input=` argument of `check` and `summary` as a shape, checked strictly.

    A sequence of positive ints (`(1, 3, 224, 224)`, a list, a torch.Size), or text with the
    dims separated by commas or `x` (`"1,3,224,224"`, `"1x3x224x224"`); at most 8 dims, each
    below 2**62. A wrong type (a float dim, a bool, a number instead of a sequence) is a
    TypeError, a wrong value (0, a negative or empty dim, text that is no shape) a ValueError:
    these are mistakes of the calling code, not of the spec.
    """
    if value is None:
        return None
    if isinstance(value, str):
        try:
            dims: list[Any] = list(parse_shape_text(value))
        except ShapeTextError as exc:
            what = {
                "empty": empty_dim_words(value),
                "too large": f"{exc.part[:20]}... is too large",
            }.get(exc.problem, f"{exc.part[:30]!r} is not a dim")
            raise ValueError(
                f"input {value[:60]!r} is not a shape like '1,3,224,224' ({what})"
            ) from None
    elif isinstance(value, (bytes, bytearray, Mapping)) or not isinstance(value, Sequence):
        raise TypeError(
            f"input must be a sequence of ints or text like '1,3,224,224', "
            f"got {type(value).__name__}"
        )
    else:
        if not 1 <= len(value) <= 8:
            raise ValueError(f"input must have 1 to 8 dims, got {len(value)}")
        dims = list(value)
    out = []
    for d in dims:
        if isinstance(d, bool) or not hasattr(d, "__index__"):
            raise TypeError(f"input dims must be ints, got {type(d).__name__} {d!r} in {value!r}")
        out.append(d.__index__())
    if not 1 <= len(out) <= 8:
        raise ValueError(f"input must have 1 to 8 dims, got {len(out)}")
    wrong = next((d for d in out if not 1 <= d < 2**62), None)
    if wrong is not None:  # a dim of thousands of digits is named by its size: Python
        # refuses to write an int of more than 4,300 digits
        shown = str(wrong) if wrong.bit_length() < 128 else f"an int of {wrong.bit_length()} bits"
        raise ValueError(f"input dims must be >= 1 and below 2**62, got {shown}")
    return tuple(out)


def input_shapes(value: Any) -> tuple[tuple[int, ...] | None, tuple[tuple[int, ...], ...]]:
    """The `input=` argument of `check` and `summary` as (the first input's shape, those of
    the others): one shape (see `input_shape`), or for a network of several inputs
    (`inputs:`) a list of two or more, one per input (`[(1, 100), (1,)]`, or texts)."""
    if (
        isinstance(value, Sequence)
        and not isinstance(value, (str, bytes, bytearray))
        and len(value) >= 2
        and all(isinstance(v, (Sequence, str)) and not isinstance(v, bytes) for v in value)
    ):
        first, *more = (input_shape(v) for v in value)
        return first, tuple(s for s in more if s is not None)
    return input_shape(value), ()
