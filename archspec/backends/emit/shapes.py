"""Shape comments that are exact: closed forms from the symbolic shape pass, or none.

A block class's instances are run through the shape pass (`passes.shapes.infer_shapes`)
with their input's sizes as symbols (`(N, in_channels, H, W)`). A dim is
written as the pass's expression where every instance of the class gives the same one; a
channel count the class computes from its arguments (`planes * 4`) is written as the code
computes it. A line whose shape has a dim with no such closed form gets no comment: a
formula fitted to the instances seen (`H // stride`) would be wrong for other inputs. So
would a number the instances share where the class takes an argument that gives it: it is
written as that argument (`(N, radix, out, H, W)`, not `out`'s value) or the line gets no
comment (a case of stride-2 instances whose condition holds at stride 1 too).

The network class's comments are exact the same way, over its input generalised
(`passes.inputdomain.generalise_inputs`: `(N, 3, 224, 224)` -> `(N, 3, H, W)`), so
`self.conv1(x)` reads `(N, 64, (H + 1)//2, (W + 1)//2)` and `forward` first says what H
and W are. Should the pass fail for the generalised input (a rule needing a size the
declared input fixes), the network's comments are its shapes at the declared input, which
its docstring names (`network_comments`); so are they where a param of the network is
named like one of the input's symbols.
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Callable
from functools import lru_cache

from ...dims import Dim, Shape, format_shape
from ...ir import Graph, Module
from ...passes.inputdomain import generalise_inputs, input_domain
from ...passes.shapes import ShapeTable, infer_shapes
from ..pyvalues import IN, Val, more_in
from .model import ClassInfo

_SPATIAL = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}
#: The longest shape comment written: a longer one (a concat of hundreds of differently
#: pooled branches makes a size that is a sum of hundreds of floors) informs no reader, and
#: escaping and wrapping it again for each of thousands of layers after it took minutes
#: (the built-in specs' longest is 118 characters).
MAX_COMMENT = 400


def class_shapes(cls: ClassInfo, graph: Graph) -> tuple[Shape, dict[str, str]]:
    """The input a class's comments speak of, and node name -> the comment for its output
    shape ("" where no closed form exists, or where it is longer than MAX_COMMENT)."""
    sym_in, comments = _class_shapes(cls, graph)
    return sym_in, {k: v if len(v) <= MAX_COMMENT else "" for k, v in comments.items()}


def _class_shapes(cls: ClassInfo, graph: Graph) -> tuple[Shape, dict[str, str]]:
    """`class_shapes`, every comment kept."""
    taken = {p.pyname for p in cls.params} | set(cls.pynames.values())
    if cls.bodies[0].module is graph.root:
        sym = generalise_inputs(graph.input_shapes)  # a network of several: each input's
        sym_in = sym.shape
        table = infer_shapes(graph, sym_in, more=sym.more)
        if table.failure is not None or any(
            s in taken for shape in sym.shapes for d in shape for s in d.symbols
        ):
            return graph.input_shape, network_comments(cls)
        simplify = on_accepted_inputs(graph, table)
        rows = {k: simplify(s) for k, s in _rows(table).items()}
        # the sizes the declared input gave as numbers (224 -> H): a dim that follows one
        # and an argument too has no text here (the class's code computed it at 224)
        given = {
            symbol
            for shape, shape_declared in zip(sym.shapes, graph.input_shapes)
            for d, declared in zip(shape, shape_declared, strict=False)
            if declared.is_const
            for symbol in d.symbols
        }
        return sym_in, _comments(cls, [rows], network=True, generalised=frozenset(given))
    per_body: list[dict[str, Shape]] = []
    for body in cls.bodies:
        sym_in = input_symbols(body.module.in_shape or (), body.module.in_axis)
        more = more_symbols(body.module)  # a block's other inputs, sizes of their own
        if any(s in taken for d in (*sym_in, *(d for m in more for d in m)) for s in d.symbols):
            return sym_in, {}  # a param named like a size symbol: comments could not be read
        module_graph = dataclasses.replace(graph, root=body.module)
        # a block's either-or joins get no comment: the size they keep may be a number an
        # argument gives (ViT's Encoder adds a (1, seq_length, D) embedding to (N, L, D))
        table = infer_shapes(module_graph, sym_in, more=more, either_or=False)
        per_body.append(_rows(table))
    first = cls.bodies[0].module
    return input_symbols(first.in_shape or (), first.in_axis), _comments(cls, per_body)


def on_accepted_inputs(graph: Graph, table: ShapeTable | None = None) -> Callable[[Shape], Shape]:
    """Shapes as they read on the inputs the network accepts (where H must be a multiple of
    16, a U-Net's `16*(H//16)` is `H`), as `archspec check` shows its outputs; `table`: the
    network's shapes over its generalised input, when already walked."""
    sym = generalise_inputs(graph.input_shapes)
    table = table if table is not None else infer_shapes(graph, sym.shape, more=sym.more)
    if table.failure is not None:
        return lambda s: s
    domain = input_domain(table, sym, None)
    return lambda s: tuple(domain.simplify(d) for d in s)


def more_symbols(module: Module) -> tuple[Shape, ...]:
    """A block's inputs after the first, each with its sizes as symbols of its own, named
    after it (`H_skip`, `W_skip`), channels as they are: the comments need not assume how
    its sizes relate to the first input's (the shape pass records what the block requires).
    A network's inputs (`inputs:`) are generalised as `archspec check` states them (`H2`),
    symbols shared where the spec shares them, as its comments read them."""
    if module.block is None and module.path == "" and module.input_names:
        return generalise_inputs((module.in_shape or (), *map(_shape, module.extra_in_shapes))).more
    return tuple(
        input_symbols(shape or (), axis, f"_{name}")
        for name, shape, axis in zip(
            module.extra_inputs, module.extra_in_shapes, module.extra_in_axes
        )
    )


def input_symbols(body_in: Shape, axis: int | None = 1, suffix: str = "") -> Shape:
    """A block's input with its sizes as symbols, channels as they are: the dims after the
    channels (NCHW), or between the batch and the channels where they are last (`axis`:
    tokens (N, L, D), a channels-last map (N, H, W, C)); `suffix` ends each symbol."""
    rank = len(body_in)
    last = rank >= 3 and axis is not None and axis % rank == rank - 1
    sizes = range(1, rank - 1) if last else range(2, rank)
    names = _SPATIAL.get(len(sizes), tuple(f"D{j + 2}" for j in range(len(sizes))))
    out = list(body_in)
    for k, j in enumerate(sizes):
        out[j] = Dim.of(names[k] + suffix)
    return tuple(out)


def _comments(
    cls: ClassInfo,
    per_body: list[dict[str, Shape]],
    network: bool = False,
    generalised: frozenset[str] = frozenset(),
) -> dict[str, str]:
    """A comment per step: the dims every body of the class gives alike; `generalised`: the
    network's input symbols that stand for a size its declared input gives as a number."""
    out: dict[str, str] = {}
    # the dims the class's code computes: the channels (dim 1), any dim of a block whose
    # input is channels-last (Swin's (N, H, W, in_channels) blocks), and in the network
    # class (one body, its other dims exact) wherever a permute moved them (ViT's tokens
    # (N, L, hidden_dim)); a block's other dims may hold numbers its instances share, unless
    # an argument gives them (MaxViT's `H//7` windows are its `partition_size`'s: no comment)
    last = cls.bodies[0].module.in_axis not in (None, 1)
    args = _argument_names(cls)
    for step in cls.steps:
        name = step.node.name
        shapes = [rows[name] for rows in per_body if name in rows]
        if len(shapes) != sum(name in b.nodes for b in cls.bodies) or not shapes:
            out[name] = ""
            continue
        dims = []
        for j in range(len(shapes[0])):
            texts = {str(s[j]) if j < len(s) else None for s in shapes}
            template = step.out[j] if j < len(step.out) else None
            follows_input = any(set(s[j].symbols) & generalised for s in shapes if j < len(s))
            if follows_input and template is not None and template.symbolic:
                dims = []  # `(224 - patch) // patch + 1` is no size of `x: (N, 3, H, W)`
                break
            if (
                (network or j == 1 or (last and j > 1))
                and template is not None
                and template.symbolic
                and _known(cls, template)
            ):
                dims.append(template.text)  # as the class's code computes it
            elif (
                not network
                and template is not None
                and template.names & args
                and len(texts) == 1
                and _holds_number(next(iter(texts)))
            ):
                # a number the instances share where an argument may give another: written
                # in the arguments (`out`, not the instances' 8), or not at all (a stride-2
                # case's `(H + 1)//2`, where its condition holds at stride 1 too)
                if not _in_arguments(cls, template):
                    dims = []
                    break
                dims.append(template.text)
            elif len(texts) == 1 and None not in texts:
                text = texts.pop() or ""
                if not network and _argument_number(cls, name, text):
                    dims = []  # `H*N*W//64` where 64 is this instance's `tokens`
                    break
                dims.append(text)
            elif template is not None and _in_arguments(cls, template):
                dims.append(template.text)  # a size the class's arguments give (`radix`)
            else:
                dims = []
                break
        out[name] = "(" + ", ".join(dims) + ")" if dims else ""
    return out


@lru_cache(maxsize=1024)
def _holds_number(text: str | None) -> bool:
    """Whether a dim's text holds a number (`8`, `(H + 1)//2`), not only symbols (`H`)."""
    if text is None:
        return False
    return any(isinstance(n, ast.Constant) for n in ast.walk(ast.parse(text, mode="eval")))


def _argument_number(cls: ClassInfo, name: str, text: str) -> bool:
    """Whether the dim `text` (each instance's, alike) follows the input and holds a number
    one of node `name`'s attributes took from an argument of the class in some instance (an
    unflatten of `[-1, tokens]` at 64: `H*N*W//64`): the class's code computes it from the
    argument, so the number is that instance's, not the class's. A size that is only a
    number (ViT's `768`) is the instances' own, as the class's other comments write it;
    numbers 0 and 1 say nothing."""
    numbers = _numbers(text)
    if not numbers or not any(c.isalpha() for c in text):
        return False
    for body in cls.bodies:
        node = body.nodes.get(name)
        if node is None:
            continue
        args = body.module.args or {}
        read = {n for e in node.exprs.values() for n, origin in e.names if origin == "block"}
        given = {args[n] for n in read if type(args.get(n)) is int}
        if given & numbers:
            return True
    return False


@lru_cache(maxsize=1024)
def _numbers(text: str) -> frozenset[int]:
    """The integers past 1 written in a dim's text."""
    if not text:
        return frozenset()
    tree = ast.parse(text, mode="eval")
    return frozenset(
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and type(n.value) is int and n.value > 1
    )


def _argument_names(cls: ClassInfo) -> set[str]:
    """The names (as `Val.names` holds them) of what the class takes as arguments."""
    return {p.name for p in cls.params} | ({IN} if cls.in_arg else set()) | set(cls.more_args)


def _known(cls: ClassInfo, template: Val) -> bool:
    """The class can write the value: it reads no incoming channel count the class does not
    take (a block of tokens (N, L, D) has no `in_channels` argument: dim 1 is L; nor one of
    another input's, `skip_channels`, it holds as a number)."""
    later = {more_in(n) for n in cls.bodies[0].module.extra_inputs} - set(cls.more_args)
    return (cls.in_arg or IN not in template.names) and not later & template.names


def _in_arguments(cls: ClassInfo, template: Val) -> bool:
    """The class writes the value in its arguments alone (no local of `__init__`, which
    `forward` does not see): a dim its instances give differently (`(N, radix, out, H, W)`)."""
    if not template.symbolic or not _known(cls, template):
        return False
    tree = ast.parse(template.text, mode="eval")
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    return not read & set(cls.lets)


def network_comments(cls: ClassInfo) -> dict[str, str]:
    """The network's shapes at its declared input, as lowering computed them."""
    nodes = cls.bodies[0].nodes
    return {
        name: format_shape(node.shape) if node.shape is not None else ""
        for name, node in nodes.items()
    }


def _rows(table: ShapeTable) -> dict[str, Shape]:
    """The shapes of one module's own nodes (depth 0) in a shape-pass table."""
    return {row.path: row.shape for row in table.rows if row.depth == 0}


def _shape(shape: Shape | None) -> Shape:
    return shape or ()
