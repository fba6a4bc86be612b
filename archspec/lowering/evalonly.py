"""The steps of one mode that the other skips by passing an input on.

`eval_only: true`: a step computed in eval mode only, which training skips by passing its
first input on (`if not self.training: x = x.softmax(1)`: a classifier that returns
probabilities in eval and logits in training; DeiT's `(x + x_dist) / 2`, `x` in training).
Its readers read the same shape in both modes, so the step reads a node, returns its first
input's shape, and runs in eval (no `train_only` of its own or from what it reads); anything
else is E315 at its `eval_only`.

`pass_in_eval: true`, its mirror: a step computed in training only, which eval skips by
passing its first input on (a VAE's `z = mu + eps * std` in training, `z = mu` in eval). It
returns its first input's shape, and that input runs in eval (its other inputs may be
training-only: the sampling); anything else is E315 at its `pass_in_eval`.
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
    "an eval_only step is skipped in training, where its readers get its first input: give "
    "it an output of that input's shape (softmax, sigmoid, a normalize, DeiT's sum of its two "
    "heads), or compute it in both modes"
)
_PASS_HINT = (
    "a pass_in_eval step is skipped in eval, where its readers get its first input: give it "
    "an output of that input's shape (`add` of [mu, noise]), or compute it in both modes"
)


def eval_only_node(lw: Lowerer, node: Node, item: Item) -> Node:
    """`node` marked eval_only after checking it can be skipped in training (E315, Skip)."""
    if node.kind == BLOCK_OUTPUT or node.shape is None:
        return node  # an output of the instance refused below; a node that failed and said so
    _one_output(lw, node, item, "eval_only", "training")
    if node.train_only:
        why = "runs only in training (it, or a node it reads, is train_only)"
        _refuse(lw, node, item, "eval_only", why, "drop one of the two marks")
    if not node.inputs:
        _refuse(lw, node, item, "eval_only", "reads no node, which training would pass on")
    _same_shape(lw, node, item, "eval_only", "training")
    return replaced(node, eval_only=True)


def pass_in_eval_node(lw: Lowerer, node: Node, item: Item) -> Node:
    """`node` marked pass_in_eval after checking eval can read its first input in its place
    (E315, Skip)."""
    if node.kind == BLOCK_OUTPUT or node.shape is None:
        return node
    _one_output(lw, node, item, "pass_in_eval", "eval")
    if node.eval_only:
        _refuse(lw, node, item, "pass_in_eval", "is eval_only too", "drop one of the two marks")
    if not node.inputs:
        _refuse(lw, node, item, "pass_in_eval", "reads no node, which eval would pass on")
    if node.train_only:
        why = (
            f"runs only in training (it is train_only, or `{node.inputs[0]}`, the input eval "
            "reads in its place, is)"
        )
        hint = "drop `train_only`, or read first a node eval computes"
        _refuse(lw, node, item, "pass_in_eval", why, hint)
    _same_shape(lw, node, item, "pass_in_eval", "eval")
    return replaced(node, pass_in_eval=True)


def one_mode_node(lw: Lowerer, node: Node, item: Item) -> Node:
    """`node` as its item's `eval_only` or `pass_in_eval` marks it (each checked: E315,
    Skip); unchanged when the item has neither."""
    if getattr(item.spec, "eval_only", False):
        node = eval_only_node(lw, node, item)
    if getattr(item.spec, "pass_in_eval", False):
        node = pass_in_eval_node(lw, node, item)
    return node


def one_mode_made(lw: Lowerer, scope: Scope, name: str, item: Item) -> None:
    """E315 (and Skip) unless an eval_only or pass_in_eval item made one node, marked by
    the functions above: a flat `repeat` or a `for_each` splices several into the list,
    none of them the item's."""
    spec = item.spec
    mark = (
        "eval_only"
        if getattr(spec, "eval_only", False)
        else "pass_in_eval"
        if getattr(spec, "pass_in_eval", False)
        else None
    )
    if mark is None:
        return
    node = next((n for n in reversed(scope.nodes) if n.name == name), None)
    if node is None or getattr(node, mark):
        return
    lw.error(
        "E315",
        f"{mark} marks one step, and this `{spec.type}` makes several nodes here",
        item.ypath + (mark,),
        f"put its layers in a `sequential` (one module) and mark that {mark}",
    )
    raise Skip


def _one_output(lw: Lowerer, node: Node, item: Item, mark: str, skipper: str) -> None:
    if node.child is not None and len(node.child.outputs) > 1:
        why = f"returns {len(node.child.outputs)} outputs, where {skipper} needs one"
        _refuse(lw, node, item, mark, why, _HINT if mark == "eval_only" else _PASS_HINT)


def _same_shape(lw: Lowerer, node: Node, item: Item, mark: str, skipper: str) -> None:
    shape, before = node.shape, node.in_shapes[0]
    if shape is not None and before is not None and tuple(shape) != tuple(before):
        why = f"makes the shape {format_shape(shape)} from {format_shape(before)}"
        what = "" if len(node.in_shapes) == 1 else f" (its first input, `{node.inputs[0]}`)"
        hint = _HINT if mark == "eval_only" else _PASS_HINT
        _refuse(lw, node, item, mark, f"{why}{what}, which {skipper} would not", hint)


def _refuse(
    lw: Lowerer, node: Node, item: Item, mark: str, why: str, hint: str | None = None
) -> NoReturn:
    hint = hint or (_HINT if mark == "eval_only" else _PASS_HINT)
    lw.error("E315", f"`{node.name}` is {mark} but {why}", item.ypath + (mark,), hint)
    raise Skip
