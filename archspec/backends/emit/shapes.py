"""Shape comments that are exact: closed forms from the symbolic shape pass, or none.

A block class's instances are run through the shape pass (`passes.shapes.infer_shapes`)
with their input's sizes as symbols (`(N, in_channels, H, W)`). A dim is
written as the pass's expression where every instance of the class gives the same one; a
channel count the class computes from its arguments (`planes * 4`) is written as the code
computes it. A line whose shape has a dim with no such closed form gets no comment: a
formula fitted to the instances seen (`H // stride`) would be wrong for other inputs.

The network class's comments are its shapes at the declared input, the one its docstring
names (`Input: (N, 3, 224, 224)`); `network_comments` writes them. The pass could give them
for any input (`(N, 64, (H + 1)//2, (W + 1)//2)`, `root_symbolic=True`), which the
documentation's examples do not show yet.
"""

from __future__ import annotations

import dataclasses

from ...dims import Dim, Shape, format_shape
from ...ir import Graph, Module
from ...passes.shapes import generalise_input, infer_shapes
from .model import ClassInfo

_SPATIAL = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def input_symbols(
    cls: ClassInfo, graph: Graph, body_in: Shape, root_symbolic: bool = False
) -> Shape:
    """The input a class's comments speak of: its sizes as symbols, channels as they are
    (the network class: the declared input, or generalised with `root_symbolic`)."""
    if cls.bodies[0].module is graph.root:
        return generalise_input(graph.input_shape).shape if root_symbolic else graph.input_shape
    rank = len(body_in)
    names = _SPATIAL.get(rank - 2, tuple(f"D{j + 2}" for j in range(rank - 2)))
    out = list(body_in)
    for j in range(2, rank):
        out[j] = Dim.of(names[j - 2])
    return tuple(out)


def shape_comments(cls: ClassInfo, graph: Graph, root_symbolic: bool = False) -> dict[str, str]:
    """Node name -> the comment for its output shape ("" where no closed form exists)."""
    if cls.bodies[0].module is graph.root and not root_symbolic:
        return network_comments(cls)
    taken = {p.pyname for p in cls.params} | set(cls.pynames.values())
    per_body: list[dict[str, Shape]] = []
    for body in cls.bodies:
        sym_in = input_symbols(cls, graph, body.module.in_shape or (), root_symbolic)
        if any(s in taken for d in sym_in for s in d.symbols):
            return {}  # a param named like a size symbol: the comments could not be read
        per_body.append(_symbolic_rows(graph, body.module, sym_in))
    out: dict[str, str] = {}
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
            if j == 1 and template is not None and template.symbolic:
                dims.append(template.text)  # the channels as the class's code computes them
            elif len(texts) == 1 and None not in texts:
                dims.append(texts.pop() or "")
            else:
                dims = []
                break
        out[name] = "(" + ", ".join(dims) + ")" if dims else ""
    return out


def network_comments(cls: ClassInfo) -> dict[str, str]:
    """The network's shapes at its declared input, as lowering computed them."""
    nodes = cls.bodies[0].nodes
    return {
        name: format_shape(node.shape) if node.shape is not None else ""
        for name, node in nodes.items()
    }


def _symbolic_rows(graph: Graph, module: Module, sym_in: Shape) -> dict[str, Shape]:
    """The shape pass over one module (its own nodes, depth 0) for a symbolic input."""
    table = infer_shapes(dataclasses.replace(graph, root=module), sym_in)
    return {row.path: row.shape for row in table.rows if row.depth == 0}
