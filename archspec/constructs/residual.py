"""`residual`: out = activation(body(x) + shortcut(x)), written in the enclosing scope."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

from ..loader import PathKey
from ..lowering.context import Child, Item, Named, Site, channels_env, synth, when_text
from ..ops import REGISTRY, ActivationFn
from ..ops.base import Bool, Final, Name, NodeBase
from .registry import Construct, NameWalk

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering.walker import Lowerer


class Shortcut(BaseModel):
    """The projection path of a residual; absent or `when` false means identity."""

    model_config = ConfigDict(extra="forbid")
    name: Name = "downsample"
    when: Bool | None = None
    layers: list[Node]  # noqa: F821


class ResidualNode(NodeBase):
    """out = activation(body(x) + shortcut(x)); body layers become children of this scope."""

    type: Literal["residual"]
    body: list[Node]  # noqa: F821
    shortcut: Shortcut | None = None
    activation: ActivationFn | None = None


def lower(lw: Lowerer, site: Site) -> str:
    """The body's nodes, the shortcut's child module, an `add` and the activation."""
    item, scope, spec = site.item, site.scope, site.spec
    lw.one_input(site, "a residual takes one input")
    entry = prev = site.inputs[0]
    for i, body_item in enumerate(spec.body):
        prev = (
            lw.lower_item(Item(body_item, item.ypath + ("body", i)), scope, site.env, prev) or prev
        )
    identity = entry
    sc = spec.shortcut
    if sc is not None:
        keep = sc.when is None or lw.eval_value(
            sc.when,
            Final("bool"),
            channels_env(site.env, scope.shapes.get(entry), scope.axes.get(entry, 1)),
            item.ypath + ("shortcut", "when"),
        )
        if keep:
            children = [
                Item(s, item.ypath + ("shortcut", "layers", i)) for i, s in enumerate(sc.layers)
            ]
            fake = Item(Named(name=sc.name, when=sc.when), item.ypath + ("shortcut",))
            at = dataclasses.replace(
                site, item=fake, inputs=(entry,), in_shapes=[scope.shapes.get(entry)]
            )
            identity = lw.lower_child(at, Child(children, "Sequential"))
        else:
            scope.switches.append((sc.name, when_text(sc.when)))
    base = getattr(spec, "name", None)
    add_name = f"{base}_sum" if base and spec.activation else base
    add_spec = synth(REGISTRY["add"].spec, type="add", name=add_name, from_=[prev, identity])
    out = lw.lower_item(Item(add_spec, item.ypath), scope, site.env, prev)
    if spec.activation:
        act = synth(REGISTRY["activation"].spec, type="activation", fn=spec.activation, name=base)
        out = lw.lower_item(Item(act, item.ypath + ("activation",)), scope, site.env, out)
    return out  # type: ignore[return-value]


def walk_names(item: Mapping[str, Any], path: PathKey, walk: NameWalk) -> None:
    walk.nodes(item.get("body"), path + ("body",))
    shortcut = item.get("shortcut")
    if isinstance(shortcut, dict):
        if "name" in shortcut:
            walk.module_name(shortcut["name"], path + ("shortcut", "name"))
        walk.nodes(shortcut.get("layers"), path + ("shortcut", "layers"))


CONSTRUCT = Construct(
    kind="residual",
    schema=ResidualNode,
    lower=lower,
    summary="activation(body(x) + shortcut(x))",
    description=(
        "out = activation(body(x) + shortcut(x)), as torchvision's BasicBlock and Bottleneck "
        "write it: the body's layers become children of the enclosing module, the shortcut "
        "(default name `downsample`) one child Sequential kept when its `when` holds, and "
        "the join an `add` (named `NAME_sum` when an activation follows and takes `NAME`)."
    ),
    makes_module=False,
    walk_names=walk_names,
)
