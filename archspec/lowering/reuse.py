"""A `reuse` layer's target: the earlier node of its list whose module it calls again.

The name is looked up as `from` names are (this list only, earlier nodes only), and what it
names must be a module of its own: a layer that is a child module of one input, a
`sequential` or a block instance (of several inputs too: the reuse's `from` then names one
node per input, in the block's order: a recurrent cell `[x, h]` called again on each step's
input and state). The node found goes into the private
attribute `ops.reuse.TARGET`, whose rules the reuse's shape rule runs again on the reuse's
own input.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..ir import INPUT, Node, iter_nodes
from ..ops import REGISTRY
from ..ops.reuse import REPLAYED, TARGET
from .context import Item, Scope, Skip
from .refs import _enclosing_path, _nested_path

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer

_WHAT = (
    "`reuse` calls a module again: name a layer that is a module (conv2d, linear, ...), a "
    "`sequential` or a block instance"
)


def bind_target(
    lw: Lowerer, scope: Scope, item: Item, attrs: dict[str, Any], inputs: tuple[str, ...]
) -> dict[str, Any]:
    """`attrs` with the reused node (E305 for a name it cannot reach or a count of `inputs`
    the module does not take, E314 for a node that is no module of its own; Skip after
    any)."""
    name = attrs["node"]
    ypath = item.ypath + ("node",)
    target = next((n for n in reversed(scope.nodes) if n.name == name), None)
    if target is None and name in (item.name, getattr(item.spec, "name", None)):
        lw.error(
            "E305",
            f"`reuse` names `{name}`, its own name: a reuse calls an earlier module again",
            ypath,
            "name the module above it whose weights this call shares (`node: mlp`)",
        )
        raise Skip
    if target is None:
        _unreachable(lw, scope, name, ypath)
        raise Skip
    if target.shape is None:  # it failed, and said why: nothing to call again
        raise Skip
    # every later stage runs the module's layers again for this call (and those the reuses
    # inside it run): count them as items (E310), so a reuse of a large module many times
    # over, or of reuses of reuses, is refused, not a hang
    layers = _replayed(target)
    lw.charge(layers, item.ypath, why="a `reuse` counts the layers of the module it calls")
    bad, hint = _no_module(target)
    if bad:
        lw.error(
            "E314", f"`reuse` names `{name}`, {bad}: there is no module to call again", ypath, hint
        )
        raise Skip
    takes = target.child.input_names if target.child is not None else ()
    if len(inputs) != max(len(takes), 1):
        lw.error(
            "E305",
            f"`reuse` calls `{name}` again, which takes "
            + (f"{len(takes)} inputs ({', '.join(takes)})" if takes else "one input")
            + f", and `from` names {len(inputs)}",
            item.ypath + ("from",),
            "give `from` one node per input of the module, in its order"
            if takes
            else "give `from` one name; join several first with add or concat",
        )
        raise Skip
    return {**attrs, TARGET: target, REPLAYED: layers}


def _replayed(target: Node) -> int:
    """The layers a call of `target` runs: a reuse inside it counts what it calls."""
    if target.child is None:
        return int(target.attrs.get(REPLAYED, 1))
    return sum(int(n.attrs.get(REPLAYED, 1)) for _, n in iter_nodes(target.child))


def _no_module(target: Node) -> tuple[str, str]:
    """What `target` is when it has no module to call again (of one output), and the hint;
    ("", "") for a module."""
    if target.child is not None:
        if len(target.child.outputs) > 1:  # its call's `names` read the tuple it returns
            return "a block of several outputs", "reuse a module of one output"
        return "", ""
    if target.is_module:
        if REGISTRY[target.kind].arity != 1:  # departition, maxunpool2d: a reuse gives one
            return "a layer of several inputs", "reuse a module of one input"
        return "", ""
    if REGISTRY[target.kind].reads_nodes:
        called = target.attrs.get("node")
        return "itself a reuse", f"name the module it calls, `node: {called}`"
    if REGISTRY[target.kind].style == "tensor":
        return "a learned tensor", _WHAT
    return "computed in forward, with no module", _WHAT


def _unreachable(lw: Lowerer, scope: Scope, name: str, ypath: tuple[Any, ...]) -> None:
    """Why `name` is no earlier module of this list: later, switched off, input, elsewhere."""
    where = "names the nodes of its own layer list, declared above it"
    if name == INPUT or name in scope.aliases:
        lw.error(
            "E314",
            f"`reuse` names the input `{name}`: there is no module to call again",
            ypath,
            _WHAT,
        )
    elif name in scope.removed:
        lw.error(
            "E305",
            f"`reuse` names `{name}`, switched off by its `when` here",
            ypath,
            "reuse a module only where its `when` keeps it: give the reuse the same `when`",
        )
    elif scope.is_later(name):
        lw.error(
            "E305",
            f"`{name}` is declared later in this layer list",
            ypath,
            f"`reuse` {where}: move `{name}` above it (its first call)",
        )
    elif (inner := _nested_path(name, scope)) is not None:
        lw.error(
            "E305",
            f"`{name}` is a node inside `{inner.split('.', 1)[0]}` (`{inner}`)",
            ypath,
            f"`reuse` {where}: reuse the module holding it, or write the layers "
            "that call it in the same list",
        )
    elif (outer := _enclosing_path(lw, name, scope)) is not None:
        lw.error(
            "E305",
            f"`{name}` is a node of an enclosing layer list (`{outer}`)",
            ypath,
            f"`reuse` {where}: a `sequential` or a block is a module of its own; write "
            f"the reuse in the list that makes `{name}`",
        )
    else:
        known = [n.name for n in scope.nodes if n.is_module or n.child is not None]
        close = lw.close_matches(name, known)
        hint = (
            f"did you mean `{close[0]}`?"
            if close
            else f"modules defined before this point: {', '.join(known[-8:]) or 'none'}"
        )
        lw.error(
            "E305", f"`reuse` names `{name}`, which is no node of this layer list", ypath, hint
        )
