"""Instances of a block of plain layers that differ from a kept one in arguments that
decide no structure and in the sizes of their input: the kept instance's nodes, each with
its fields bound again and its shape rule run again, in order.

EfficientNet's variants scale every width, RegNet's variants have their own widths, and a
DenseNet layer reads more channels than the one before it: their Conv2dNormActivation,
SqueezeExcitation and DenseLayer instances all missed the instance memo (memo.py), whose
key holds every argument and the input's shape, though each took the structure of one
lowered before. A block qualifies when this can be read off its text (conservatively,
with no list of kinds or field names):

- every item of its `layers:` is a layer of a registered kind (no construct, no block
  call, no `reuse`, which holds the node it calls: `Op.reads_nodes`), with no `key`, no
  pieces (`Op.names_field`), at least one input, the default channel axis, nothing but the
  kind's fields, and no field that reads its input's sizes (`in_channels`, `in_features`);
  the block has no `register_order`;
- the names its items' `name`, `key`, `from`, `when` and `train_only` and the block's
  `outputs` read, and every name a let they read reads (later lets first), are *held*;
  none of them is an input size. The block's other params are *free*.

Held names decide every item's `when`, name and inputs; the free params and the input's
sizes reach only the layers' fields and, through them, their shapes. So an instance whose
memo key equals a kept instance's but for its free params' values and its input's
constant sizes (`masked_key`: its channels, H and W), with the held lets' values the kept
instance's, has the kept instance's nodes (names, kinds, inputs, `when`s, spec text and
expressions), each with the attributes and shapes its fields and shape rule make where the
new arguments and lets (which the call has bound, with their diagnostics) are in scope and
the nodes before it have their new shapes. `reshaped` works those out, item by item: each
`when` evaluated (it must keep the kept instance's node order), each field bound, each
shape rule run. Anything but a clean answer (a value that fails or is refused, a rule that
fails, records a requirement or asks what is pinned, a node that is not the one its item
made) leaves the call to a real lowering, so every diagnostic comes from one. Only kept
instances that recorded no requirement and met none are taken; the result is charged as a
hit is (memo.lookup), is no copy (`copy_of` unset: the passes look at its nodes anew), and
is kept as a real lowering of it would be. A block whose instances mostly fail this stops
being tried.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..ir import ABSENT_AS, INPUT, Module, Node, replaced
from ..ops import REGISTRY
from ..ops.base import META_FIELDS, Final
from .layer import Binding, binding
from .rebind import _Probe, block_plan, block_reads, given_up, hold_lets, masked_args
from .values import INPUT_SIZES, bind_value

if TYPE_CHECKING:  # pragma: no cover
    from .context import Child, Item
    from .memo import InstanceMemo
    from .walker import Lowerer

_BOOL = Final("bool")
#: what a constant size of the input is in a masked key (an int would match it otherwise)
_SIZE = object()


class Reshapable:
    """A block's free params and held lets (see the module docstring), worked out once per
    block object; `items` is empty for a block that does not qualify."""

    __slots__ = ("bdef", "failed", "free", "held_lets", "steps", "won")

    def __init__(
        self,
        bdef: Any,
        steps: tuple[tuple[Any, Any, Binding], ...] = (),
        free: frozenset[str] = frozenset(),
        held_lets: frozenset[str] = frozenset(),
    ) -> None:
        self.bdef = bdef  # held: found by id(bdef)
        #: per item of the block: its `when`, that `when`'s closure (ItemPlan.when_run),
        #: and its layer's Binding in the block
        self.steps = steps
        self.free = free
        self.held_lets = held_lets
        #: instances worked out clean (`won`) or not: a block whose instances mostly fail
        #: (a rule that records requirements on a symbolic input) is not tried further
        self.won = self.failed = 0


def reshapable(lw: Lowerer, bdef: Any, items: list[Item], plans: dict[int, Any]) -> Reshapable:
    """The block's Reshapable (`items`: its items, as the walk lowers them), kept in
    `plans` (its memo's: a family's variants that share the memo share their blocks)."""
    return block_plan(plans, bdef, _reshapable, lw, items)  # type: ignore[no-any-return]


def _reshapable(lw: Lowerer, bdef: Any, items: list[Item]) -> Reshapable:
    from .itemplan import item_plan
    from .memo import _names_in
    from .walker import _AXIS_RULES

    if getattr(bdef, "register_order", None):
        return Reshapable(bdef)
    reads = block_reads(lw, bdef)
    if reads is None:
        return Reshapable(bdef)
    let_reads, held = reads
    steps = []
    for it in items:
        spec = it.spec
        plan = item_plan(lw, spec)
        op = plan.op
        if (
            op is None
            or plan.key is not None
            or op.names_field
            or op.arity == 0
            or op.reads_nodes
            or type(op).channel_axis not in _AXIS_RULES
            or spec.model_extra
            or it.env
            or getattr(spec, "eval_only", False)  # its check (E315) is add_node's
            or plan.pass_in_eval
            or binding(lw, plan).reads_input
        ):
            return Reshapable(bdef)
        if not all(_names_in(lw, getattr(spec, f, None), held) for f in META_FIELDS):
            return Reshapable(bdef)
        steps.append((plan.when, plan.when_run, binding(lw, plan)))
    if not held.isdisjoint(INPUT_SIZES):  # a layer's own input's sizes (a let's are the call's)
        return Reshapable(bdef)
    hold_lets(bdef, held, let_reads)
    free = frozenset(bdef.params) - held
    return Reshapable(bdef, tuple(steps), free, frozenset(held & bdef.let.keys()))


def masked_key(plan: Reshapable, key: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """`key` (a block instance's memo key) without its free params' values and its
    input's constant sizes: the key of every instance that takes the same structure; None
    when the block does not qualify (or is no longer tried)."""
    if not plan.steps or key[2] != 1 or given_up(plan):
        return None  # (key[2]: the input's channel axis, which the layers keep)
    bname, args = key[0]
    shape = tuple([_SIZE if type(d) is int else d for d in key[1]])
    return ((bname, "reshaped", masked_args(plan.free, args)), shape, *key[2:])


def reshaped_instance(
    memo: InstanceMemo,
    lw: Lowerer,
    key: tuple[Any, ...],
    masked: tuple[Any, ...],
    plan: Reshapable,
    child: Child,
    env: Mapping[str, Any],
    in_shape: Any,
    where: tuple[str, Any],
) -> Module | None:
    """The instance at `where` (its path and span) as the kept one its `masked` key finds,
    each node bound and shaped again; None when there is none or a real lowering must
    decide. It is kept under `key` as its real lowering would be: it recorded nothing,
    met nothing recorded and read nothing pinned."""
    like = memo.shaped.get(masked)
    if like is None:
        return None
    kept = memo.kept[like]
    made = reshaped(lw, plan, kept.module, child, env, in_shape)
    if made is None:
        return None
    module = memo.lookup(lw, like, *where)
    if module is None:
        return None
    module = reshaped_module(module, child, in_shape, made)
    portable = getattr(lw.ctx, "logs", None) is not None and not lw.too_large_at
    # a memo.Lowered (without importing memo here); `seen`: the kept one's, empty
    memo.kept[key] = type(kept)(
        module, kept.charged, (), kept.out_axis, lw.ctx, kept.seen, portable
    )
    return module


def reshaped(
    lw: Lowerer,
    plan: Reshapable,
    module: Module,
    child: Child,
    env: Mapping[str, Any],
    in_shape: Any,
) -> list[tuple[dict[str, Any], Any, tuple[Any, ...]]] | None:
    """The (attributes, shape, input shapes) of each node of kept `module` for the instance
    of `child` whose names are `env` and whose input has `in_shape`; None when a real
    lowering must decide (see the module docstring)."""
    out = _reshaped(lw, plan, module, child, env, in_shape)
    if out is None:
        plan.failed += 1
    else:
        plan.won += 1
    return out


def _reshaped(
    lw: Lowerer,
    plan: Reshapable,
    module: Module,
    child: Child,
    env: Mapping[str, Any],
    in_shape: Any,
) -> list[tuple[dict[str, Any], Any, tuple[Any, ...]]] | None:
    if module.lets or child.lets:
        kept = {let.name: let.value for let in module.lets}
        if len(kept) != len(child.lets):
            return None
        for name, _, value in child.lets:  # the lets that decide structure keep theirs
            if name not in kept or (name in plan.held_lets and not _same(kept[name], value)):
                return None
    nodes = module.nodes
    shapes: dict[str, Any] = {INPUT: in_shape}
    out = []
    probe = _Probe()
    k = 0
    try:
        for when, run, bound in plan.steps:
            if when is not None:
                on = None if run is None else run(env)  # refs.switched_off_early's way
                if type(on) is not bool:
                    on = bind_value(when, _BOOL, env)
                if not on:
                    continue
            if k == len(nodes):
                return None
            node = nodes[k]
            k += 1
            if node.src is not bound.src or node.child is not None:
                return None  # not the node this item made
            attrs = bound.template.copy()
            bound.fill(attrs, env)
            ins = tuple([shapes[n] for n in node.inputs])
            res = REGISTRY[node.kind].infer(attrs, list(ins), probe)
            if probe.touched or res.shape is None:
                return None
            new = res.attrs
            if ABSENT_AS in node.attrs:  # layer.absent_as_previous's, as the node has it
                new = {**new, ABSENT_AS: node.attrs[ABSENT_AS]}
            shapes[node.name] = res.shape
            out.append((new, res.shape, ins))
    except Exception:  # a real lowering reports it, at its place
        return None
    if k != len(nodes) or not _axes_agree(nodes, out):
        return None
    return out


def _axes_agree(nodes: Sequence[Node], made: list[tuple[dict[str, Any], Any, Any]]) -> bool:
    """Whether each node's channel axis is the kept node's: a layer that changes the rank
    follows the axis by which dims come through whole (`moved_axis`), which sizes decide."""
    from .walker import follow_axis

    if all(len(shape) == len(ins[0]) for _, shape, ins in made) and all(
        len(n.shape) == len(n.in_shapes[0]) for n in nodes
    ):
        return True  # the two rules a reshapable block meets read sizes only at a rank change
    old: dict[str, int | None] = {INPUT: 1}
    new: dict[str, int | None] = {INPUT: 1}
    for node, (attrs, shape, ins) in zip(nodes, made):
        a = follow_axis(node.kind, node.inputs, node.attrs, node.in_shapes, node.shape, old)
        b = follow_axis(node.kind, node.inputs, attrs, ins, shape, new)
        if a != b:
            return False
        old[node.name], new[node.name] = a, b
    return True


def _same(a: Any, b: Any) -> bool:
    """Equal values of the same type (1, 1.0 and True are not the same let value)."""
    return type(a) is type(b) and a == b


def reshaped_module(
    module: Module, child: Child, in_shape: Any, made: list[tuple[dict[str, Any], Any, Any]]
) -> Module:
    """A hit's module (a re-rooted copy of the kept one) with the nodes' new attributes and
    shapes, its own arguments, lets and input, and no `copy_of`: it is no copy of the kept
    instance."""
    for n, (attrs, shape, ins) in zip(module.nodes, made):  # the copies: this module's
        n.__dict__.update(attrs=attrs, shape=shape, in_shapes=ins)
    values = {n: v for n, _, v in child.lets}
    lets = tuple(replaced(let, value=values[let.name]) for let in module.lets)
    return replaced(module, args=dict(child.args or {}), lets=lets, in_shape=in_shape, copy_of=None)


__all__ = ["Reshapable", "masked_key", "reshapable", "reshaped_instance"]
