"""W409: a `maxunpool2d` whose output does not have the extent its indices index. A max
pool's index is flat in the plane of the pool's input (`h * W_in + w`); the unpool writes at
that flat index in its own output plane, so where the output's extents after the first
spatial one differ from the pool's input's, values land elsewhere than the pool took them,
and where the output is smaller, torch refuses an index past it at run time, for some data
only: no shape rule sees it (ops/unpool.py). `maxunpool2d_as` reading the pool's input gives
its size back."""

from __future__ import annotations

from ..errors import Diagnostic, Severity
from ..ir import Module, Node

#: the unpools of torch's default output size, by kind: their spatial dims
UNPOOL_DIMS = {f"maxunpool{n}d": n for n in (1, 2, 3)}


def unpool_extent(node: Node, module: Module, where: str) -> Diagnostic | None:
    """W409 for an unpool whose indices come from a with_indices pool of this module whose
    input's trailing spatial extents are not the unpool's output's; None otherwise."""
    nd = UNPOOL_DIMS[node.kind]
    source = next((n for n in module.nodes if n.name == node.inputs[1]), None)
    if source is None or not source.kind.endswith("_with_indices") or not source.in_shapes:
        return None
    pooled, out = source.in_shapes[0], node.shape
    if nd == 1 and pooled[-1] == out[-1]:
        return None
    if nd > 1 and tuple(pooled[1 - nd :]) == tuple(out[1 - nd :]):
        return None

    def extents(shape: tuple) -> str:
        return ", ".join(str(d) for d in shape[-nd:])

    return Diagnostic(
        "W409",
        f"{node.kind} `{where}{node.name}` unpools to ({extents(out)}), and its indices "
        f"`{node.inputs[1]}` index the ({extents(pooled)}) input of the pool: where these "
        "differ, values land elsewhere than the pool took them, and torch refuses an index "
        "past a smaller output at run time",
        node.span,
        f"give the output the pool's input size, `type: {node.kind}_as` reading that input "
        f"third (`from: [{node.inputs[0]}, {node.inputs[1]}, {source.inputs[0]}]`; a node "
        "without a `name:` needs one to be read), or use input sizes the pools divide",
        Severity.WARNING,
    )
