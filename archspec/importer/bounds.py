"""A forward's assertion that bounds a size of its input: nanoGPT's `assert t <=
self.config.block_size`, before it looks up `wpe(arange(0, t))`.

No kind states such a bound, and none needs to where the spec's layers bound the size
already: the position ids cut to the length (`slice_as` of a buffer of `block_size`
positions) give the domain `T <= block_size` themselves. So an assertion in the network's
own forward that one dim of its input is below (or above) a number is not read as a step:
it is kept, and once the spec is written its `check` must show that every input the domain
takes meets it (every box's range of that size, no requirement left unsolved). Then the
spec refuses exactly what the model does, and the assertion adds nothing; else the import
is refused at the assertion (E903), as any assertion no kind states is. Assertions on a
block's input, on a size computed from others, or of a network of several inputs are
refused as before.
"""

from __future__ import annotations

import operator
from typing import Any

from ..lazymethods import dataclass
from .shapes import COMPARE
from .where import span_of_node


@dataclass(frozen=True)
class Bound:
    """`x.shape[dim] op value` of the network's input, and where the forward asserts it."""

    dim: int
    op: Any
    value: int
    span: Any

    @property
    def text(self) -> str:
        return f"dim {self.dim} {COMPARE[self.op]} {self.value}"


def bounds_input(reader: Any, node: Any, cond: Any) -> bool:
    """Keep the assertion `node` (its condition `cond`, a shapes.Sym "bound") for the
    spec's check when it bounds a dim of the network's one input in the network's own
    forward; whether it was kept."""
    dim, op, value = cond.value
    problems = reader.problems
    if reader.module is not problems.network or not isinstance(dim.index, int):
        return False
    placeholders = [n for n in reader.graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1 or dim.src is not placeholders[0] or problems.example is None:
        return False
    example = problems.example[1]
    rank = getattr(example, "ndim", None)
    if not isinstance(rank, int) or not -rank <= dim.index < rank:
        return False
    at = dim.index % rank
    problems.bounds.append(Bound(at, op, value, span_of_node(node, type(reader.module))))
    return True


def unmet_bound(bounds: list[Bound], report: Any) -> Bound | None:
    """The first bound the spec's check (an api.CheckReport) does not show every input it
    takes to meet; None when all hold."""
    if not bounds:
        return None
    domain, shape = report.domain, report.symbolic_input
    if not report.ok or domain is None or shape is None or domain.unsolved:
        return bounds[0]
    for bound in bounds:
        if not _meets(bound, domain, shape):
            return bound
    return None


def _meets(bound: Bound, domain: Any, shape: Any) -> bool:
    """Whether every input of `domain` has its dim `bound.dim` meet the bound."""
    from ..dims import Dim

    if bound.dim >= len(shape):
        return False
    size = Dim.of(shape[bound.dim])
    if size.is_const:
        return bool(bound.op(size.value, bound.value))
    name = str(size)
    if name not in domain.symbols:
        return False
    for box in domain.boxes:
        values = box[name]
        least, most = values.min(), values.max()
        extreme = least if bound.op in (operator.gt, operator.ge) else most
        if extreme is None or not bound.op(extreme, bound.value):
            return False
    return True


__all__ = ["Bound", "bounds_input", "unmet_bound"]
