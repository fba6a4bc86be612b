"""`parallel`: branches that all read one input, joined by concatenation or a sum."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from ..ir import DROPPED_WHEN_ABSENT, replaced
from ..loader import PathKey
from ..lowering.context import Child, Item, Named, Site, Skip, items_of, synth
from ..ops import REGISTRY
from ..ops.base import Final, Int, Name, NodeBase
from .registry import Construct, NameWalk

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering.walker import Lowerer


class ParallelNode(NodeBase):
    """Branches that all read the same input, joined by concatenation (or sum)."""

    type: Literal["parallel"]
    branches: dict[Name, Node | list[Node]]  # noqa: F821
    join: Literal["concat", "add"] = "concat"
    dim: Int() = 1  # type: ignore[valid-type]


def lower(lw: Lowerer, site: Site) -> str:
    """Each branch named by its key (a list of layers a child Sequential), then the join."""
    item, spec = site.item, site.spec
    lw.one_input(site, "parallel branches take one input")
    outs = []
    failed = False
    for key, branch in spec.branches.items():
        try:
            outs.append(_branch(lw, site, key, branch))
        except Skip:
            failed = True
    if failed:
        raise Skip
    base = getattr(spec, "name", None)
    if sum(o is not None for o in outs) < 2:
        _too_few(lw, site, list(spec.branches), outs, base)
    outs = [o for o in outs if o is not None]
    if spec.join == "concat":
        dim = lw.eval_value(spec.dim, Final("int"), site.env, item.ypath + ("dim",))
        join = synth(REGISTRY["concat"].spec, type="concat", name=base, dim=dim, from_=outs)
    else:
        join = synth(REGISTRY["add"].spec, type="add", name=base, from_=outs)
    return lw.lower_item(Item(join, item.ypath), site.scope, site.env, site.inputs[0])  # type: ignore[return-value]


def _branch(lw: Lowerer, site: Site, key: str, branch: Any) -> str | None:
    yp = site.ypath + ("branches", key)
    if isinstance(branch, list):
        children = items_of(lw, branch, yp)
        at = Site(
            Item(Named(name=key), yp),
            site.scope,
            site.env,
            site.inputs,
            site.in_shapes,
            site.train,
            site.axis,
            site.made_local,
        )
        return lw.lower_child(at, Child(children, "Sequential"))
    if getattr(branch, "name", None) not in (None, key):
        lw.error(
            "E304",
            f"branch `{key}` names its layer `{branch.name}`",
            yp + ("name",),
            "the branch key is the module name; drop `name`",
        )
        raise Skip
    if getattr(branch, "from_", None) is not None:
        lw.error("E305", "a branch reads the parallel input; drop `from`", yp + ("from",))
        raise Skip
    out = lw.lower_item(Item(branch, yp, name=key), site.scope, site.env, site.inputs[0])
    if out is not None and getattr(branch, "when", None) is not None:
        _mark_dropped(site.scope.nodes, out)
    return out


def _too_few(lw: Lowerer, site: Site, keys: list[str], outs: list[Any], base: Any) -> None:
    """E305 for a parallel left with fewer than two branches (written so, or `when`s leaving
    out the others): there is nothing to join, and the join's error would only say that an
    `add` or `concat` needs two inputs."""
    kept = [f"`{k}`" for k, o in zip(keys, outs) if o is not None]
    gone = [f"`{k}`" for k, o in zip(keys, outs) if o is None]
    what = f"parallel `{base}`" if base else "parallel"
    where = ""
    if len(gone) == 1:
        where = f"; the `when` of {gone[0]} leaves it out here"
    elif gone:
        where = f"; the `when`s of {', '.join(gone)} leave them out here"
    lw.error(
        "E305",
        f"{what} has {' and '.join(kept) or 'no branch'} alone to join{where}",
        site.item.ypath + ("branches",),
        "a parallel joins two or more branches; where one is left, write that case as its "
        "own item under the complementary `when`, with the parallel's name (`from` reads the "
        "one kept)",
        key=True,
    )
    raise Skip


def _mark_dropped(nodes: list[Any], name: str) -> None:
    """A branch under a `when` is left out of the join where the `when` is false: the join
    reads nothing in its place, which the node records for emitted classes."""
    for k in range(len(nodes) - 1, -1, -1):
        if nodes[k].name == name:
            nodes[k] = replaced(nodes[k], attrs={**nodes[k].attrs, DROPPED_WHEN_ABSENT: True})
            return


def walk_names(item: Mapping[str, Any], path: PathKey, walk: NameWalk) -> None:
    branches = item.get("branches")
    if not isinstance(branches, dict):
        return
    for key, branch in branches.items():
        walk.module_name(key, path + ("branches", key), key=True)
        if isinstance(branch, list):
            walk.nodes(branch, path + ("branches", key))
        else:
            walk.node(branch, path + ("branches", key))


CONSTRUCT = Construct(
    kind="parallel",
    schema=ParallelNode,
    lower=lower,
    summary="branches on one input, joined by concat or add",
    description=(
        "Branches that all read the same input, as Inception's: each key of `branches` names "
        "one branch, a single layer or a list of layers (a child Sequential); `join: concat` "
        "(along `dim`, default 1) or `join: add` combines them into the node that stands for "
        "the parallel."
    ),
    makes_module=False,
    walk_names=walk_names,
)
