"""Block instances that differ from a kept one only in arguments that reach nothing but the
fields of some of its layers: the kept instance with those layers' fields bound again.

EfficientNet, ConvNeXt and MaxViT pass each block instance its own stochastic depth rate,
so the memo (memo.py) had no hit for blocks that are otherwise alike: every one was lowered
in full. A param of a block is *swappable* when no `let:` of the block reads it and the
only items that read it are layers of a registered kind written directly in the block's
`layers:` (not in a construct or a block call inside it), each with a name no other item
of the block gives, no `key`, no pieces (`Op.names_field`), one input (so no join's
`when` can rewrite its attributes), the default channel axis, and no `when` that reads
it. Such a param decides no structure, no other value and no scope: only those layers'
attributes (and the instance's `args`).

A call whose key (memo.InstanceMemo.key) equals a kept instance's but for the values of
swappable params takes the kept instance as a hit would (its layer items charged, its
requirements replayed, under the same conditions), with each layer that reads one of them
bound and shape-checked again: its per-instance fields evaluated where the new arguments
are in scope, its shape rule run on the same inputs. Every other value the instance sees
(its other arguments, its lets, which read no swappable param, and its input) is the kept
one's, so its other nodes are what a real lowering would make. Anything but a clean answer
(a field that fails or reads its input's sizes, a rule that fails, records a requirement
or asks what is pinned, an output shape that is not the kept one) leaves the call to a real
lowering, so every diagnostic still comes from one. The result is no copy (`copy_of`
unset): the passes look at its attributes anew; the modules inside it are copies as a
hit's are. It is kept as a real lowering would be, as portable to another variant's walk
as the instance it was made from (its rebound layers asked that walk nothing). A block whose
rebindings mostly change a shape (a width that only a linear's field reads) stops being tried:
which way an instance is made changes nothing but the time it takes.

Measured on the shipped specs (`check specs/*.yaml`): about 410 of EfficientNet's,
ConvNeXt's and MaxViT's block instances are swapped, about 3% of lowering's work.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..ir import Module, replaced
from ..ops import REGISTRY
from ..ops.base import META_FIELDS, Op
from ..ops.shapectx import ShapeContext

if TYPE_CHECKING:  # pragma: no cover
    from ..dims import Dim
    from .context import Child, Item
    from .walker import Lowerer


class Swappable:
    """A block's swappable params (`free`) and the items that read one (see the module
    docstring), worked out once per block object."""

    __slots__ = ("bdef", "failed", "free", "items", "won")

    def __init__(self, bdef: Any, free: frozenset[str], items: tuple[Item, ...]) -> None:
        self.bdef = bdef  # held: found by id(bdef)
        self.free = free
        self.items = items
        #: rebindings that came out the same shape (`won`) or not: a block whose swappable
        #: params mostly change shapes (a conv's width) is not tried further
        self.won = self.failed = 0


def swappable(lw: Lowerer, bdef: Any, items: list[Item], plans: dict[int, Any]) -> Swappable:
    """The block's Swappable (`items`: its layer items, as the walk lowers them), kept in
    `plans` (its memo's: a family's variants that share the memo share their blocks)."""
    kept = plans.get(id(bdef))
    if kept is None or kept.bdef is not bdef:
        kept = plans[id(bdef)] = _swappable(lw, bdef, items)
    return kept  # type: ignore[no-any-return]


def _swappable(lw: Lowerer, bdef: Any, items: list[Item]) -> Swappable:
    from .memo import _names_in, spec_names

    params = frozenset(bdef.params)
    blocked: set[str] = set()
    if not all(_names_in(lw, raw, blocked) for raw in bdef.let.values()):
        return Swappable(bdef, frozenset(), ())
    given: dict[str, int] = {}
    for it in items:
        for name in it.declared_names:
            given[name] = given.get(name, 0) + 1
    layers = []
    for it in items:
        read = spec_names(lw, it.spec)
        if read is None:
            return Swappable(bdef, frozenset(), ())
        if read.isdisjoint(params):
            continue
        if not _plain_layer(it, given):
            blocked |= read
            continue
        meta: set[str] = set()
        if not all(_names_in(lw, getattr(it.spec, f, None), meta) for f in META_FIELDS):
            return Swappable(bdef, frozenset(), ())
        blocked |= meta
        layers.append(it)
    free = params - blocked
    return Swappable(
        bdef, free, tuple(it for it in layers if not free.isdisjoint(spec_names(lw, it.spec) or ()))
    )


def _plain_layer(it: Item, given: Mapping[str, int]) -> bool:
    """A layer whose node is its own name's, with nothing but its attributes to rebind."""
    spec = it.spec
    op = REGISTRY.get(getattr(spec, "type", None))  # type: ignore[arg-type]
    name = getattr(spec, "name", None)
    return (
        op is not None
        and not op.names_field
        and op.arity == 1
        and type(op).channel_axis is Op.channel_axis
        and name is not None
        and given.get(name) == 1
        and getattr(spec, "key", None) is None
        and not spec.model_extra
    )


class _Probe(ShapeContext):
    """A shape rule's context for a rebinding: it settles what the input settles, and
    notes (for a real lowering instead) a requirement it would record or a pinned read."""

    def __init__(self) -> None:
        super().__init__()
        self.touched = False

    def wants(self, kind: str, lhs: Dim, rhs: Dim | None) -> bool:
        self.touched = True
        return False

    def pinned(self, d: Dim) -> int | None:
        self.touched = True
        return None

    def in_force(self) -> list[Any]:
        self.touched = True
        return []


def swapped_attrs(
    lw: Lowerer, plan: Swappable, module: Module, env: Mapping[str, Any]
) -> dict[str, dict[str, Any]] | None:
    """The attributes of each node of kept `module` that reads a swappable param, bound
    where `env` (the new instance's names) is in scope; None when a real lowering must
    decide (see the module docstring)."""
    from .itemplan import item_plan
    from .layer import binding

    out: dict[str, dict[str, Any]] = {}
    nodes = {n.name: n for n in module.nodes}
    for it in plan.items:
        node = nodes.get(it.spec.name)  # type: ignore[attr-defined]
        if node is None:
            continue  # its `when` (which reads no swappable param) left it out here too
        bound = binding(lw, item_plan(lw, it.spec))
        if bound.reads_input or node.kind != it.spec.type or node.src != bound.src:
            return None
        if node.span != lw.span(it.ypath):
            return None
        new = _rebound(bound, node, env)
        if new is None:
            plan.failed += 1
            return None  # a new shape, or a failure: a real lowering decides
        out[node.name] = new
    plan.won += 1
    return out


def _rebound(bound: Any, node: Any, env: Mapping[str, Any]) -> dict[str, Any] | None:
    """The node's attributes as its Binding and shape rule make them where `env` is in
    scope, when its shape comes out the same and nothing fails or is recorded."""
    from .values import bind_value

    attrs = bound.template.copy()
    probe = _Probe()
    try:
        for fname, _, raw, final in bound.bound:
            attrs[fname] = bind_value(raw, final, env)
        res = REGISTRY[node.kind].infer(attrs, list(node.in_shapes), probe)
    except Exception:
        return None
    if probe.touched or tuple(res.shape) != tuple(node.shape):
        return None
    return res.attrs  # type: ignore[no-any-return]


def swap_key(plan: Swappable, key: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """`key` (a block instance's memo key) with the values of its swappable params left
    out: the key of every instance that differs from it only in those."""
    if not plan.free or (plan.failed > 8 and plan.failed > 2 * plan.won):
        return None
    free = plan.free
    bname, args = key[0]
    if args[0] != "scalars":
        return None
    _, names, kinds, values = args
    kinds = tuple(None if n in free else k for n, k in zip(names, kinds))
    values = tuple(None if n in free else v for n, v in zip(names, values))
    return ((bname, "swap", names, kinds, values), *key[1:])


def swapped(module: Module, child: Child, attrs: Mapping[str, dict[str, Any]]) -> Module:
    """A hit's module (a re-rooted copy of the kept one) with the rebound attributes, its
    own arguments, and no `copy_of`: it is no copy of the kept instance. Each of its nodes
    holds attributes of its own, as a real lowering's do: the shape pass takes nodes that
    share their attribute dicts for a memo copy's (passes/walkmemo.py), and would compare
    this module, node by node, with each instance swapped from the same one."""
    for n in module.nodes:  # the re-rooted copies: new objects, this module's alone
        n.__dict__["attrs"] = attrs[n.name] if n.name in attrs else dict(n.attrs)
    return replaced(module, args=dict(child.args or {}), copy_of=None)
