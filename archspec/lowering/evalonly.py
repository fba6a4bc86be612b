"""`eval_only: true`: a step computed in eval mode only, which training skips by passing its
input on (`if not self.training: x = x.softmax(1)`: a classifier that returns probabilities in
eval and logits in training). Its readers read the same shape in both modes, so the step
reads one node, returns that node's shape, and runs in eval (no `train_only` of its own or
from what it reads); anything else is E315 at its `eval_only`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NoReturn

from ..dims import format_shape
from ..ir import Node, replaced
from ..ops.outputs import BLOCK_OUTPUT
from .context import Skip

if TYPE_CHECKING:  # pragma: no cover
    from .context import Item, Scope
    from .walker import Lowerer

_HINT = (
    "an eval_only step is skipped in training, where its readers get its input: give it one "
    "input and an output of the input's shape (softmax, sigmoid, a normalize), or compute "
    "it in both modes"
)


def eval_only_node(lw: Lowerer, node: Node, item: Item) -> Node:
    """`node` marked eval_only after checking it can be skipped in training (E315, Skip)."""
    if node.kind == BLOCK_OUTPUT or node.shape is None:
        return node  # an output of the instance refused below; a node that failed and said so
    if node.child is not None and len(node.child.outputs) > 1:
        _refuse(
            lw, node, item, f"returns {len(node.child.outputs)} outputs, where training needs one"
        )
    if node.train_only:
        why = "runs only in training (it, or a node it reads, is train_only)"
        _refuse(lw, node, item, why, "drop one of the two marks")
    if len(node.inputs) != 1:
        _refuse(lw, node, item, f"reads {len(node.inputs)} nodes, where training needs one")
    shape, (before,) = node.shape, node.in_shapes
    if before is not None and tuple(shape) != tuple(before):
        why = f"makes the shape {format_shape(shape)} from {format_shape(before)}"
        _refuse(lw, node, item, why + ", which training would not")
    return replaced(node, eval_only=True)


def eval_only_made(lw: Lowerer, scope: Scope, name: str, item: Item) -> None:
    """E315 (and Skip) unless the eval_only item made one node, marked by eval_only_node: a
    flat `repeat` or a `for_each` splices several into the list, none of them the item's."""
    node = next((n for n in reversed(scope.nodes) if n.name == name), None)
    if node is None or node.eval_only:
        return
    lw.error(
        "E315",
        f"eval_only marks one step, and this `{item.spec.type}` makes several nodes here",
        item.ypath + ("eval_only",),
        "put its layers in a `sequential` (one module) and mark that eval_only",
    )
    raise Skip


def _refuse(lw: Lowerer, node: Node, item: Item, why: str, hint: str = _HINT) -> NoReturn:
    lw.error("E315", f"`{node.name}` is eval_only but {why}", item.ypath + ("eval_only",), hint)
    raise Skip
