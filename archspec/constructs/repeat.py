"""`repeat`: `count` copies of one layer in a Sequential (or spliced flat into the enclosing
list), with the copy's index in scope and, optionally, a name template for the copies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, Field, StrictBool

from ..loader import PathKey
from ..lowering.context import RAISE_LIMIT, Item, Site, Skip
from ..ops.base import Final, Int, Name, NodeBase
from .copies import LAYERS_DOC, RowCopies, check_template, least_copies, lower_copies, lower_row
from .registry import Construct, NameWalk

#: A name template for copies: text with `{expression}` parts (`denselayer{i + 1}`).
Template = Annotated[
    str,
    AfterValidator(check_template),
    Field(description="name template of the copies, e.g. `denselayer{i + 1}`"),
]

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering.walker import Lowerer


class RepeatNode(NodeBase):
    """`count` copies of `layer` in a Sequential named 0..count-1; `index` names the copy."""

    type: Literal["repeat"]
    count: Int(ge=0)  # type: ignore[valid-type]
    index: Name = "i"
    flat: StrictBool = Field(
        False, description="splice the copies into the enclosing list (no Sequential of their own)"
    )
    names: Template | list[Template | None] | None = Field(
        None,
        description="a name template of the copies, or one per item of `layers` (null: the "
        "item's own `key`, or its position)",
    )
    layer: Node | list[Node] | None = Field(  # noqa: F821
        None,
        description="the layer each copy is, or a list of alternatives chosen by their `when`",
    )
    layers: list[Node] | None = Field(  # noqa: F821
        None, min_length=1, description=LAYERS_DOC
    )


def lower(lw: Lowerer, site: Site) -> str | None:
    """A Sequential of the copies; the count is bounded before any copy is made."""
    if isinstance(site.spec, RowCopies):
        return lower_row(lw, site)
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
    # the count is an expression deciding structure
    return lower_copies(lw, site, [[{spec.index: k} for k in range(count)]], [spec.count])


def check_index(lw: Lowerer, item: Item) -> None:
    """Refuse a repeat index that would hide a param in scope (E304).

    Lowering would read the index and emitted code the param (or the other way round),
    so the two would disagree. An enclosing repeat's index may be reused: the inner one
    hides it in emitted code too.
    """
    spec = item.spec
    explicit = "index" in spec.model_fields_set
    where = item.ypath + ("index",) if explicit else item.ypath
    hint = None if explicit else f"; a repeat's index is `{spec.index}` unless given"
    if not free_name(lw, spec.index, where, "repeat index", hint or ""):
        raise Skip


def free_name(
    lw: Lowerer, name: str, where: PathKey, what: str, hint_tail: str = "", key: str = ""
) -> bool:
    """False (E304 recorded) when `name`, bound by a construct, would hide a param or let
    (`key`: the field naming it, when not the last word of `what`)."""
    block = lw.block_stack[-1] if lw.block_stack else None
    bdef = lw.spec.blocks[block] if block else None
    block_params = {*bdef.params, *bdef.let} if bdef is not None else set()
    if name in block_params:
        owner = f"block {block}"
    elif name in lw.spec.params or name in lw.spec.let:
        owner = "the spec"
    else:
        return True
    taken = block_params | set(lw.spec.params) | set(lw.spec.let)
    lets = set(lw.spec.let) | (set(bdef.let) if bdef is not None else set())
    kind = "let" if name in lets else "param"
    free = next(n for n in ("k", "j", "idx", "copy", f"{name}_") if n not in taken)
    key = key or what.rsplit(" ", 1)[-1]
    lw.error(
        "E304",
        f"{what} `{name}` has the name of a {kind} of {owner}, which it would hide",
        where,
        f"name the {key} otherwise (`{key}: {free}`) or rename the param" + hint_tail,
    )
    return False


def walk_names(item: Mapping[str, Any], path: PathKey, walk: NameWalk) -> None:
    walk.expression_name(item.get("index"), path + ("index",), "repeat index")
    walk_copy_items(item, path, walk)


def walk_copy_items(item: Mapping[str, Any], path: PathKey, walk: NameWalk) -> None:
    """The items a copy is made of: `layer` (one, or alternatives) and `layers`."""
    layer = item.get("layer")
    if isinstance(layer, list):
        walk.nodes(layer, path + ("layer",))
    else:
        walk.node(layer, path + ("layer",))
    walk.nodes(item.get("layers"), path + ("layers",))


CONSTRUCT = Construct(
    kind="repeat",
    schema=RepeatNode,
    lower=lower,
    summary="`count` copies of a layer; `i` is the copy's index",
    # alternatives may all be switched off: they promise nothing
    least=lambda spec, inner: (
        spec.count * least_copies(spec, inner) if type(spec.count) is int else 0
    ),
    description=(
        "`count` copies of `layer` in an nn.Sequential whose children are named 0, 1, ...; "
        "inside each copy `index` (default `i`) is the copy's number, so a stage's first "
        "block can differ from the rest (`stride: 2 if i == 0 else 1`). `layers` makes "
        "several items per copy, in order, and `names` then lists one template per item."
    ),
    makes_module=True,
    walk_names=walk_names,
)
