"""`residual`: out = activation(body(x) + shortcut(x)), written in the enclosing scope."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from ..ir import ABSENT_AS, replaced
from ..loader import PathKey
from ..lowering.context import Child, Item, Named, Site, channels_env, items_of, synth, when_text
from ..lowering.exprs import text_expr
from ..ops import ACTIVATION_FNS, REGISTRY
from ..ops.base import Bool, Final, Name, NodeBase
from ..ops.words import Word
from .registry import Construct, NameWalk

if TYPE_CHECKING:  # pragma: no cover
    from ..lowering.walker import Lowerer


class Shortcut(BaseModel):
    """The projection path of a residual; absent or `when` false means identity."""

    model_config = ConfigDict(extra="forbid")
    name: Name = "downsample"
    when: Bool | None = None
    first: StrictBool = Field(
        False,
        description="register the shortcut before the body (torchvision's RegNet registers "
        "`proj` before `f`), so its state_dict keys come first",
    )
    layers: list[Node] | None = None  # noqa: F821
    layer: Node | None = Field(  # noqa: F821
        None,
        description="one layer that is the shortcut module itself, in place of `layers` "
        "(locuslab's TCN: `self.downsample = nn.Conv1d(...)`, keys `downsample.weight`)",
    )

    @model_validator(mode="after")
    def _one_form(self) -> Shortcut:
        if (self.layers is None) == (self.layer is None):
            raise ValueError(
                "a shortcut takes `layers` (a Sequential of them) or `layer` (one layer that is "
                "the shortcut module itself): give one of the two"
            )
        own = [f for f in ("name", "key", "from_", "when") if getattr(self.layer, f, None)]
        if own:
            field = own[0].rstrip("_")
            raise ValueError(
                f"a shortcut's `layer` takes no `{field}`: it is named by the shortcut's `name` "
                "(default `downsample`), reads the residual's input and is kept by the "
                "shortcut's `when`"
            )
        return self


class ResidualNode(NodeBase):
    """out = activation(body(x) + shortcut(x)); body layers become children of this scope."""

    type: Literal["residual"]
    body: list[Node]  # noqa: F821
    shortcut: Shortcut | None = None
    activation: Word(ACTIVATION_FNS) | None = None  # type: ignore[valid-type]
    add_when: Bool | None = Field(
        None,
        description="add the input only when this holds (it can read the input's "
        "in_channels); otherwise the output is the body's",
    )

    @model_validator(mode="after")
    def _add_when_without_shortcut(self) -> ResidualNode:
        if self.add_when is not None and self.shortcut is not None:
            raise ValueError(
                "`add_when` switches the identity add, so there is no shortcut to give: drop "
                "`shortcut`, or drop `add_when` and give the shortcut a `when`"
            )
        return self


def lower(lw: Lowerer, site: Site) -> str:
    """The body's nodes, the shortcut's child module, an `add` and the activation."""
    item, scope, spec = site.item, site.scope, site.spec
    lw.one_input(site, "a residual takes one input")
    entry = site.inputs[0]
    sc = spec.shortcut
    if sc is not None and sc.first:
        identity = _lower_shortcut(lw, site, entry)
        prev = _lower_body(lw, site, entry)
    else:
        prev = _lower_body(lw, site, entry)
        identity = _lower_shortcut(lw, site, entry) if sc is not None else entry
    entry_env = channels_env(site.env, scope.shapes.get(entry), scope.axes.get(entry, 1))
    base = getattr(spec, "name", None)
    add_name = f"{base}_sum" if base and spec.activation else base
    add_spec = synth(REGISTRY["add"].spec, type="add", name=add_name, from_=[prev, identity])
    before = len(lw.bag.diagnostics)
    try:
        if spec.add_when is not None:
            out = _conditional_add(lw, site, add_spec, entry_env) or prev
        else:
            out = lw.lower_item(Item(add_spec, item.ypath), scope, site.env, prev)
    finally:
        _retell_join_errors(lw, before, site, prev, identity, identity != entry)
    if spec.activation:
        act = synth(REGISTRY["activation"].spec, type="activation", fn=spec.activation, name=base)
        out = lw.lower_item(Item(act, item.ypath + ("activation",)), scope, site.env, out)
    return out  # type: ignore[return-value]


def _lower_body(lw: Lowerer, site: Site, entry: str) -> str:
    """The body's nodes in the enclosing scope, the first reading the residual's input."""
    prev = entry
    for item in items_of(lw, site.spec.body, site.item.ypath + ("body",)):
        prev = lw.lower_item(item, site.scope, site.env, prev) or prev
    return prev


def _lower_shortcut(lw: Lowerer, site: Site, entry: str) -> str:
    """The shortcut's child module (its name) when its `when` holds, else `entry` (the
    switch recorded)."""
    item, scope, sc = site.item, site.scope, site.spec.shortcut
    if sc.layer is not None:  # the layer is the module: `downsample.weight`
        at = _named_layer(lw, sc, item.ypath + ("shortcut", "layer"))
        return lw.lower_item(at, scope, site.env, entry) or entry
    entry_env = channels_env(site.env, scope.shapes.get(entry), scope.axes.get(entry, 1))
    keep = sc.when is None or lw.eval_value(
        sc.when, Final("bool"), entry_env, item.ypath + ("shortcut", "when")
    )
    if not keep:
        scope.switches.append((sc.name, when_text(sc.when)))
        return entry
    children = items_of(lw, sc.layers, item.ypath + ("shortcut", "layers"))
    fake = Item(Named(name=sc.name, when=sc.when), item.ypath + ("shortcut",))
    at = replaced(site, item=fake, inputs=(entry,), in_shapes=[scope.shapes.get(entry)])
    return lw.lower_child(at, Child(children, "Sequential"))


def _named_layer(lw: Lowerer, sc: Shortcut, ypath: PathKey) -> Item:
    """The item of a shortcut's `layer`: the layer under the shortcut's name and `when` (made
    once per shortcut, so every instance of a block lowers the same item, and its `when`
    reads the residual's input, as the shortcut's does)."""
    key = ("shortcut layer", id(sc))
    kept = lw.plans.get(key)
    if kept is None or kept[0] is not sc:
        spec = sc.layer.model_copy(update={"name": sc.name, "when": sc.when})  # type: ignore[union-attr]
        kept = lw.plans[key] = (sc, Item(spec, ypath))
    return kept[1]  # type: ignore[no-any-return]


def _width(shape: Any, axis: int | None) -> str | None:
    """A side's width as a hint names it: the size of the dim its channels are at (a
    `permute` moves them; tokens have theirs last), None when that is not known."""
    if shape is None or axis is None or not 0 < axis < len(shape):
        return None
    return f"{shape[axis]} channels" + ("" if axis == 1 else f" (at dim {axis})")


def _retell_join_errors(
    lw: Lowerer, before: int, site: Site, body: str, identity: str, projected: bool
) -> None:
    """The add's E402s (recorded since `before`) with a hint that points at the side to fix.

    The add alone would say "add a projection shortcut", which is wrong when there is one
    (then the body and the shortcut disagree) or when the shortcut is left out because the
    block keeps its width (then the body's last layer is what is wrong)."""
    diags, at = lw.bag.diagnostics, lw.span(site.ypath)
    found = [
        k for k in range(before, len(diags)) if diags[k].code == "E402" and diags[k].span == at
    ]
    if not found:
        return
    spec = site.spec
    scope = site.scope
    b = scope.shapes.get(body)
    width = _width(b, scope.axes.get(body, 1)) or "its shape"
    sc = spec.shortcut
    if projected:
        other = _width(scope.shapes.get(identity), scope.axes.get(identity, 1))
        hint = (
            f"the body ends with {width} and the shortcut `{sc.name}` with "
            f"{other or 'another shape'}: make the body's last layer and the shortcut's give "
            "the same shape"
        )
    elif spec.add_when is not None:
        hint = (
            "the input is added here (`add_when` holds) but the body changes its shape: add the "
            "condition that makes them equal (`... and in_channels == out`), or fix the body"
        )
    elif sc is not None:
        hint = (
            f"the shortcut `{sc.name}` is left out here (its `when` is false), so the body must "
            f"keep the input's shape, but it ends with {width}: fix the body's last layer, or "
            "the shortcut's `when`"
        ) + _later_in_channels(spec.body)
    elif b is not None and len(b) in (2, 3):
        return  # (N, F) features or (N, L, D) tokens: the add's own hint speaks of their dims
    else:
        hint = (
            f"the body ends with {width}: if the block is meant to change the shape, add a "
            "projection shortcut (1x1 conv, and stride if the size differs); otherwise make the "
            "body's last layer keep the input's shape"
        ) + _later_in_channels(spec.body)
    for k in found:
        diags[k] = dataclasses.replace(diags[k], hint=hint)


def _later_in_channels(body: list[Any]) -> str:
    """A note for a body that does not keep its width while an item after its first reads
    `in_channels` (`out: in_channels` to come back to the block's width): there it is that
    item's own input, not the block's, which is the trap of docs/spec-language.md's Blocks."""
    for node in body[1:]:
        found = _reads_in_channels(node)
        if found is not None:
            label = getattr(node, "name", None) or getattr(node, "type", "item")
            return (
                f". `in_channels` in `{label}`'s `{found}` is the width of that item's own "
                "input, not the block's: bind the block's once with `let: {cin: in_channels}` "
                "and read `cin`"
            )
    return ""


def _reads_in_channels(value: Any, field: str = "") -> str | None:
    """The field (a path) of an item whose text reads `in_channels`, `when`s aside, read off
    its attributes (a `model_dump` would build pydantic serializers that change the JSON
    Schema `archspec schema` writes later in the process)."""
    if isinstance(value, str):
        return field if _IN_CHANNELS.search(value) else None
    if isinstance(value, BaseModel):
        value = {**vars(value), **(value.__pydantic_extra__ or {})}
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, inner in items:
        if key in ("when", "add_when"):
            continue
        found = _reads_in_channels(inner, f"{field}.{key}" if field else str(key))
        if found is not None:
            return found
    return None


_IN_CHANNELS = re.compile(r"\bin_channels\b")


def _conditional_add(lw: Lowerer, site: Site, add_spec: Any, entry_env: Any) -> str | None:
    """The add of `add_when`, or None when it does not hold (the output is the body's).

    The condition speaks of the residual's input (`in_channels` is its channel count), so it
    is evaluated here, not as the add's own `when` (whose input is the body's output). Every
    instance names the add alike, kept or not, and a kept add carries the condition, so one
    emitted class writes `if self.use_res_connect:` around it.
    """
    item, scope, spec = site.item, site.scope, site.spec
    when, ypath = spec.add_when, item.ypath + ("add_when",)
    if not add_spec.name:
        add_spec.name = scope.next_name(Item(add_spec, item.ypath), "add", False)
    if not lw.eval_value(when, Final("bool"), entry_env, ypath):
        scope.removed.add(add_spec.name)
        # no span: as a shortcut's, this switch is no chain item an emitted `if` must keep
        scope.switches.append((add_spec.name, when_text(when)))
        return None
    name = lw.lower_item(Item(add_spec, item.ypath), scope, site.env, add_spec.from_[0])
    node = scope.nodes[-1]
    if name is not None and node.name == name:
        attrs = {**node.attrs, ABSENT_AS: 0}  # without the add, the output is the body's
        scope.nodes[-1] = replaced(
            node, attrs=attrs, when=when_text(when), when_expr=text_expr(lw, when)
        )
    return name


def walk_names(item: Mapping[str, Any], path: PathKey, walk: NameWalk) -> None:
    walk.nodes(item.get("body"), path + ("body",))
    shortcut = item.get("shortcut")
    if isinstance(shortcut, dict):
        if "name" in shortcut:
            walk.module_name(shortcut["name"], path + ("shortcut", "name"))
        walk.nodes(shortcut.get("layers"), path + ("shortcut", "layers"))
        if "layer" in shortcut:
            walk.node(shortcut["layer"], path + ("shortcut", "layer"))


CONSTRUCT = Construct(
    kind="residual",
    schema=ResidualNode,
    lower=lower,
    summary="activation(body(x) + shortcut(x))",
    least=lambda spec, inner: inner(spec.body),
    description=(
        "out = activation(body(x) + shortcut(x)), as torchvision's BasicBlock and Bottleneck "
        "write it: the body's layers become children of the enclosing module, the shortcut "
        "(default name `downsample`) one child Sequential kept when its `when` holds, and "
        "the join an `add` (named `NAME_sum` when an activation follows and takes `NAME`); "
        "with `add_when`, the add only where that holds (MobileNetV2's use_res_connect)."
    ),
    makes_module=False,
    walk_names=walk_names,
)
