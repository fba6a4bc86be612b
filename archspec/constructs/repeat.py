"""`repeat`: `count` copies of one layer in a Sequential, with the copy's index in scope."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from ..loader import PathKey
from ..lowering.context import RAISE_LIMIT, Child, Item, Site, Skip
from ..ops.base import Final, Int, Name, NodeBase
from .registry import Construct, NameWalk

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering.walker import Lowerer


class RepeatNode(NodeBase):
    """`count` copies of `layer` in a Sequential named 0..count-1; `index` names the copy."""

    type: Literal["repeat"]
    count: Int(ge=0)  # type: ignore[valid-type]
    index: Name = "i"
    layer: Node  # noqa: F821


def lower(lw: Lowerer, site: Site) -> str:
    """A Sequential of the copies; the count is bounded before any copy is made."""
    item, spec = site.item, site.spec
    check_index(lw, item)
    count = lw.eval_value(spec.count, Final("int", ge=0), site.local, item.ypath + ("count",))
    if count > lw.max_layers:
        lw.error(
            "E310",
            f"repeat count {count:,} is over the limit of {lw.max_layers:,} layer items",
            item.ypath + ("count",),
            f"lower the count; {RAISE_LIMIT}",
        )
        raise Skip
    lw.charge(count, item.ypath + ("count",), reserve=True)
    if isinstance(spec.count, str):  # an expression deciding structure
        site.scope.switches.append(("", spec.count))
    copies = [
        Item(spec.layer, item.ypath + ("layer",), {spec.index: k}, str(k)) for k in range(count)
    ]
    return lw.lower_child(site, Child(copies, "Sequential"))


def check_index(lw: Lowerer, item: Item) -> None:
    """Refuse a repeat index that would hide a param in scope (E304).

    Lowering would read the index and emitted code the param (or the other way round),
    so the two would disagree. An enclosing repeat's index may be reused: the inner one
    hides it in emitted code too.
    """
    spec = item.spec
    block = lw.block_stack[-1] if lw.block_stack else None
    bdef = lw.spec.blocks[block] if block else None
    block_params = {*bdef.params, *bdef.let} if bdef is not None else set()
    if spec.index in block_params:
        owner = f"block {block}"
    elif spec.index in lw.spec.params or spec.index in lw.spec.let:
        owner = "the spec"
    else:
        return
    taken = block_params | set(lw.spec.params) | set(lw.spec.let)
    lets = set(lw.spec.let) | (set(bdef.let) if bdef is not None else set())
    what = "let" if spec.index in lets else "param"
    free = next(n for n in ("k", "j", "idx", "copy", f"{spec.index}_") if n not in taken)
    explicit = "index" in spec.model_fields_set
    lw.error(
        "E304",
        f"repeat index `{spec.index}` has the name of a {what} of {owner}, which it would hide",
        item.ypath + ("index",) if explicit else item.ypath,
        f"name the index otherwise (`index: {free}`) or rename the param"
        + ("" if explicit else f"; a repeat's index is `{spec.index}` unless given"),
    )
    raise Skip


def walk_names(item: Mapping[str, Any], path: PathKey, walk: NameWalk) -> None:
    walk.expression_name(item.get("index"), path + ("index",), "repeat index")
    walk.node(item.get("layer"), path + ("layer",))


CONSTRUCT = Construct(
    kind="repeat",
    schema=RepeatNode,
    lower=lower,
    summary="`count` copies of a layer; `i` is the copy's index",
    description=(
        "`count` copies of `layer` in an nn.Sequential whose children are named 0, 1, ...; "
        "inside each copy `index` (default `i`) is the copy's number, so a stage's first "
        "block can differ from the rest (`stride: 2 if i == 0 else 1`)."
    ),
    makes_module=True,
    walk_names=walk_names,
)
