"""Child modules lowered once per distinct call: the 36 identical Bottlenecks of a
ResNet-152 stage cost one lowering and 35 copies.

A block instance's module depends only on what its body can see: the block, its bound
arguments, its input's shape and channel dim (`in_channels` and the block's `let:`s derive
from them), and, for the errors it could raise, how deep the walk is, which blocks enclose
it and which names have failed. Any other child module (a `sequential`, a repeat's
Sequential, a shortcut, a branch) is keyed by its items instead of a call: the spec objects
and where they are written, the copies' forced names and index values, and the value (or
absence) of every name the text of those specs can read (`spec_names`: each string that
parses as an expression, each `{part}` of a template, in any field but the kind, the name
and `from`, which are never evaluated; a spec holding anything else is not kept). A string
read as text rather than as an expression only makes the key stricter.
The spec's params and lets are fixed for the whole lowering, and the memo lives in one
`Lowerer`, so they need no place in the key. A hit is the kept module re-rooted at the new
path (fresh Module and Node objects, sharing their frozen contents), with the walk's
bookkeeping replayed: the layer items it charged and the shape requirements it recorded,
renamed to the new path. An instance that reported anything (an error or a warning) is
never kept, so every diagnostic comes from a real lowering.

The variants of one family read once (`compose.family_store`) share one memo when what a
block body can see is the same in each: the blocks (the same objects), the names of the
spec's params and lets, the checkpointed blocks and the value of every spec-level name a
block could read that its own params and lets do not hide (`--set` and a variant's params
included). Their block instances are then hits across variants (ResNet-101 takes
ResNet-50's Bottlenecks), with two more checks, since the walk before an instance differs
between variants: a requirement the instance found already recorded must be recorded in the
new walk too (it is not replayed), and an instance that read the requirements in force
(`pinned`), or was lowered after an E411 (reported once per place), is kept for its own
walk only. Variants that share a memo share the walk's plans too (what it works out once
per spec object, list or block: ItemPlans and Bindings, call plans, the expressions' name
origins, declarations), which depend on nothing the key does not fix.

A block of several inputs (`inputs: [x, skip]`) keys its instances on every input's shape
(its call key holds those after the first) and takes no rebinding or reshaping below.

A block call that misses may still be a kept instance with a few layers bound again, when
it differs from it only in value-only params: ones whose value reaches nothing but some
layers' fields (a stochastic depth rate per block): rebind.py. One of a block of plain
layers that takes a kept instance's structure with other widths or input sizes may be that
instance with every node bound and shaped again: reshape.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..compose import family_store
from ..dims import shape_key
from ..expr import ExprError
from ..ir import Module, Node, replaced
from ..limits import spend_family
from ..ops.fromspec import is_computed
from ..ops.templates import TEMPLATE_PART
from . import reshape
from .context import Item, RequireOnce
from .rebind import Rebindable, masked_key, rebindable, rebound_attrs, rebound_module
from .reshape import Reshapable, reshapable, reshaped_instance
from .values import parsed

if TYPE_CHECKING:  # pragma: no cover
    from ..dims import Dim
    from ..ops.base import Constraint
    from .walker import Lowerer

#: `out_axes` had no entry for the instance's path (its outputs failed).
_NO_AXIS = object()
#: `_rerooted` keeps the module's own span
_OWN_SPAN = object()
#: fields no lowering evaluates: the kind (a layer kind, construct or block), the node's
#: name and the nodes it reads (`from`, unless computed: `_computed_from`)
_NEVER_READ = frozenset({"type", "name", "from_"})
_NONE_FAILED: frozenset[str] = frozenset()
_NONE_SEEN: frozenset[Any] = frozenset()
#: the types of argument args_key keys by name, type and value
_SCALARS = frozenset((int, str, bool, float))
#: the Lowerer's caches of what is worked out once per spec object, list or block (its
#: ItemPlans and layer Bindings, call plans, expressions' name origins, declarations ...)
_PLANS = (
    "item_plans",
    "plans",
    "expr_cache",
    "declared",
    "block_items",
    "item_lists",
    "block_defaults",
)


class Lowered:
    """One lowered instance and what lowering it did besides making the module: `walk` is
    the context of the walk that lowered it; `seen` the requirements it met already
    recorded before it; `portable`: whether another variant's walk may take it. (A plain
    class: one is made per distinct instance, and nothing changes it once made.)"""

    __slots__ = ("charged", "constraints", "module", "out_axis", "portable", "seen", "walk")

    def __init__(
        self,
        module: Module,
        charged: int,
        constraints: tuple[Constraint, ...],
        out_axis: Any,
        walk: Any = None,
        seen: frozenset[Any] = _NONE_SEEN,
        portable: bool = True,
    ) -> None:
        self.module = module
        self.charged = charged
        self.constraints = constraints
        self.out_axis = out_axis
        self.walk = walk
        self.seen = seen
        self.portable = portable


class _Log:
    """What the walk's context saw while one instance was lowered for real."""

    __slots__ = ("portable", "seen")

    def __init__(self) -> None:
        self.seen: set[Any] = set()
        self.portable = True


class MemoContext(RequireOnce):
    """Lowering's shape context, noting for the instance being lowered (innermost log) the
    requirements it found recorded already and whether it read those in force: what decides
    if another walk may take the instance (see the module docstring)."""

    def __init__(self) -> None:
        super().__init__()
        self.logs: list[_Log] = []

    def wants(self, kind: str, lhs: Dim, rhs: Dim | None) -> bool:
        if super().wants(kind, lhs, rhs):
            return True
        if self.logs:
            self.logs[-1].seen.add(self.once_key(kind, lhs, rhs))
        return False

    def pinned(self, d: Dim) -> int | None:
        for log in self.logs:  # its answer depends on the walk so far
            log.portable = False
        return super().pinned(d)


def args_key(args: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """Bound block arguments as a hashable key that tells apart what `==` would merge
    (`1`, `1.0` and `True`; `0.0` and `-0.0`); None when a value cannot be keyed."""
    values = tuple(args.values())
    kinds = tuple(map(type, values))
    if _SCALARS.issuperset(kinds):  # the common case: names, types and values, no loop
        if float in kinds and 0 in values:  # a float zero: its repr tells 0.0 from -0.0
            values = tuple([repr(v) if k is float else v for v, k in zip(values, kinds)])
        return ("scalars", tuple(args), kinds, values)
    out = []
    plain = True
    for name, value in args.items():
        kind = type(value)
        if kind is int or kind is str or kind is bool:  # the common cases, without a call
            out.append((name, kind, value))
        elif kind is float:
            out.append((name, kind, repr(value)))
        else:
            out.append((name, _frozen(value)))
            plain = False
    key = tuple(out)
    if not plain:
        try:
            hash(key)
        except TypeError:
            return None
    return key


def _frozen(value: Any) -> Any:
    kind = type(value)
    if kind is int or kind is str or kind is bool:  # the common case, as the end has it
        return (kind.__name__, value)
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_frozen(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, float):
        return ("float", repr(value))
    return (type(value).__name__, value)


class InstanceMemo:
    """The kept instances of one lowering, by call key."""

    def __init__(self) -> None:
        self.kept: dict[tuple[Any, ...], Lowered] = {}
        self.held: list[Any] = []
        #: what items_key reads of a list of items, by id of the list (held here)
        self.items: dict[int, tuple[list[Item], tuple | None, list[str]]] = {}
        #: a family's shared memo: the plans of the walk that made it, by Lowerer attribute
        self.plans: dict[str, dict[Any, Any]] = {}
        #: the key of a kept block instance by its masked key (rebind.py: its key without
        #: the values of its value-only params)
        self.masked: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        #: each block's rebind.Rebindable, by id of the block (held there)
        self.rebindable: dict[int, Rebindable] = {}
        #: the key of a kept block instance that recorded no requirement, by its key
        #: without its free params and input sizes, and each block's Reshapable (reshape.py)
        self.shaped: dict[tuple[Any, ...], tuple[Any, ...]] = {}
        self.reshapable: dict[int, Reshapable] = {}
        #: each input shape's shape_key, by id of the shape (held beside it): a block's
        #: copies pass on the very same shapes, so a stage's instances read the same
        self.shape_keys: dict[int, tuple[Any, tuple[Any, ...]]] = {}
        #: whether a walk took this memo for its own (`attached`); a new walk's starts False
        self.attached = False

    def attached_to(self, lw: Lowerer) -> InstanceMemo:
        """The memo `lw` lowers with (asked once its params and lets are bound): its
        family's shared one for what its blocks see, else this one."""
        store = family_store(lw.doc) if isinstance(lw.ctx, MemoContext) else None
        key = None if store is None else _family_key(lw, store)
        memo = self
        if store is not None and key is not None:
            try:
                memo = store.setdefault(("lowering memo", key), self)
            except TypeError:  # a value that cannot be hashed: this walk's own memo
                memo = self
            if memo is self:  # its key holds the blocks' ids: they live as long as it
                self.held.append(getattr(lw.spec, "blocks", None))
                self.plans = {name: getattr(lw, name) for name in _PLANS}
            else:
                memo.lend_plans(lw)
        memo.attached = True
        return memo

    def lend_plans(self, lw: Lowerer) -> None:
        """Give `lw` the plans of the walk that made this (shared) memo, with its own
        added: what a walk works out once per spec object, list or block depends on
        nothing `_family_key` does not fix (the blocks, the names of the spec's params and
        lets), so a family's variants that share the memo work each out once."""
        for name, shared in self.plans.items():
            for k, v in getattr(lw, name).items():
                shared.setdefault(k, v)
            setattr(lw, name, shared)

    def key(self, lw: Lowerer, call: tuple[Any, ...], in_shape: Any, axis: Any) -> tuple | None:
        """The full key of an instance: the call (block, arguments, or a child's items_key)
        and its context."""
        if in_shape is None:
            return None
        kept = self.shape_keys.get(id(in_shape))  # shape_key, once per shape object
        if kept is None or kept[0] is not in_shape:
            kept = self.shape_keys[id(in_shape)] = (in_shape, shape_key(in_shape))
        failed = frozenset(lw.failed) if lw.failed else _NONE_FAILED
        return (call, kept[1], axis, lw.depth, tuple(lw.block_stack), failed)

    def items_key(self, lw: Lowerer, child: Any, env: Mapping[str, Any]) -> tuple | None:
        """What a child module that is no block call is made of (see the module docstring);
        None when a spec holds something unknown or a value cannot be keyed."""
        if child.block is not None or child.args or child.lets or child.register_order:
            return None
        kept = self.items.get(id(child.items))
        if kept is None or kept[0] is not child.items:
            kept = self.items[id(child.items)] = (child.items, *_items_part(lw, child.items))
        items, ordered = kept[1], kept[2]
        if items is None:
            return None
        # the value of each name in scope, and the names that are not (text, or an error),
        # in one pass over the names
        bound: dict[str, Any] = {}
        unbound: list[str] = []
        for n in ordered:
            if n in env:
                bound[n] = env[n]
            else:
                unbound.append(n)
        values = args_key(bound)
        if values is None:
            return None
        shape = (child.class_name, tuple(child.outputs or ()), tuple(child.switches))
        return (
            "items",
            items,
            shape,
            child.state_dict_version,
            child.checkpoint,
            values,
            tuple(unbound),
        )

    def lookup(self, lw: Lowerer, key: tuple[Any, ...], path: str, span: Any) -> Module | None:
        """The instance at `path`, when one like it was lowered and fits the layer budget."""
        kept = self.kept.get(key)
        if kept is None or lw.count + kept.charged > lw.max_layers:
            return None  # lowering it for real stops at the right item (E310)
        ctx = lw.ctx
        if kept.walk is not ctx and not (kept.portable and kept.seen <= ctx.seen):
            return None  # another variant's walk: this one would record it differently
        if spend_family(kept.charged) is not None:  # a copy is charged like a lowering
            return None  # the family's shared budget is spent: E310 at the right item
        old = kept.module.path
        lw.count += kept.charged
        logs = getattr(ctx, "logs", None)
        if logs:  # an enclosing instance met what this one met
            if kept.seen:
                logs[-1].seen |= kept.seen
            if not kept.portable:
                logs[-1].portable = False
        for c in kept.constraints:  # each is recorded once (none, when kept in this walk)
            if ctx.wants(c.kind, c.lhs, c.rhs):
                ctx.constraints.append(replaced(c, node=path + c.node[len(old) :]))
        if kept.out_axis is not _NO_AXIS:
            lw.out_axes[path] = kept.out_axis
        return _rerooted(kept.module, old, path, span)

    def rebound(
        self,
        lw: Lowerer,
        key: tuple[Any, ...],
        masked: tuple[Any, ...],
        plan: Rebindable,
        child: Any,
        env: Mapping[str, Any],
        path: str,
        span: Any,
    ) -> Module | None:
        """The instance at `path` as a kept one that differs from it only in value-only
        params, its layers that read them bound again (rebind.py); None when there is none
        or a real lowering must decide."""
        like = self.masked.get(masked)
        if like is None:
            return None
        kept = self.kept[like]
        attrs = rebound_attrs(lw, plan, kept.module, env)
        if attrs is None:
            return None
        module = self.lookup(lw, like, path, span)
        if module is None:
            return None
        module = rebound_module(plan, module, child, attrs)
        # kept as a real lowering would be: its rebound layers recorded nothing, so it
        # requires what the kept instance requires, and another walk may take it when that
        # one may
        old = kept.module.path
        made = tuple(replaced(c, node=path + c.node[len(old) :]) for c in kept.constraints)
        self.kept[key] = Lowered(
            module, kept.charged, made, kept.out_axis, lw.ctx, kept.seen, kept.portable
        )
        return module

    def lower(
        self,
        lw: Lowerer,
        key: tuple[Any, ...],
        lower: Any,
        path: str,
    ) -> Module:
        """`lower()` (the instance's real lowering), kept under `key` when it was clean."""
        ctx = lw.ctx
        count, reported, required = lw.count, len(lw.bag.diagnostics), len(ctx.constraints)
        logs: list[_Log] | None = getattr(ctx, "logs", None)
        if logs is None:
            module = lower()
            log = _Log()
            log.portable = False
        else:
            log = _Log()
            logs.append(log)
            try:
                module = lower()
            finally:
                logs.pop()
                if logs:  # what an instance inside met, its enclosing instance met
                    if log.seen:
                        logs[-1].seen |= log.seen
                    if not log.portable:
                        logs[-1].portable = False
        if len(lw.bag.diagnostics) == reported:
            made = tuple(ctx.constraints[required:])
            seen = _NONE_SEEN
            if log.seen:  # those it recorded itself are replayed
                seen = frozenset(log.seen - {ctx.once_key(c.kind, c.lhs, c.rhs) for c in made})
            self.kept[key] = Lowered(
                module,
                lw.count - count,
                made,
                lw.out_axes.get(path, _NO_AXIS),
                ctx,
                seen,
                # after an E411, the same growth elsewhere fails quietly (layer.py): only
                # this walk, which reported it, may take such an instance
                log.portable and not lw.too_large_at,
            )
        return module


def lower_instance(
    lw: Lowerer, child: Any, env: Mapping[str, Any], in_shape: Any, path: str, span: Any, axis: Any
) -> Module:
    """`lw.lower_scope` of a child module, through the memo when it can be keyed."""
    memo = lw.memo
    if not memo.attached:
        memo = lw.memo = memo.attached_to(lw)
    call = child.call if child.call is not None else memo.items_key(lw, child, env)
    key = None if call is None else memo.key(lw, call, in_shape, axis)
    if key is None:
        return lw.lower_scope(child, env, in_shape, path, span, axis)
    kept = memo.lookup(lw, key, path, span)
    if kept is not None:
        return kept
    masked = shaped = None
    if child.call is not None and (child.input_names or child.output_names):
        pass  # a block of several inputs: only an instance with every input's shape the same
    elif child.call is not None:  # one like it but for its value-only params (rebind.py)
        bdef = lw.spec.blocks[child.call[0]]
        plan = rebindable(lw, bdef, child.items, memo.rebindable)
        masked = masked_key(plan, key)
        if masked is not None:
            module = memo.rebound(lw, key, masked, plan, child, env, path, span)
            if module is not None:
                return module
        # one of the same structure but for its sizes (reshape.py)
        same = reshapable(lw, bdef, child.items, memo.reshapable)
        shaped = reshape.masked_key(same, key)
        if shaped is not None:
            where = (path, span)
            module = reshaped_instance(memo, lw, key, shaped, same, child, env, in_shape, where)
            if module is not None:
                return module
    else:  # its key holds its specs' ids: they live as long as the memo
        memo.held.append(child.items)
    module = memo.lower(
        lw, key, lambda: lw.lower_scope(child, env, in_shape, path, span, axis), path
    )
    if masked is not None and key in memo.kept:
        memo.masked.setdefault(masked, key)
    made = None if shaped is None else memo.kept.get(key)
    if made is not None and not made.constraints and not made.seen:
        memo.shaped[shaped] = key  # the latest: this walk's, if any
    return module


def _items_part(lw: Lowerer, items: list[Item]) -> tuple[tuple | None, list[str]]:
    """The part of an items key fixed by the list itself: each item's spec, place, forced
    name and copy env, and the names its specs could read (sorted); None for a list that
    cannot be keyed."""
    names: set[str] = set()
    out = []
    for it in items:
        read = spec_names(lw, it.spec)
        copy_env = args_key(it.env) if it.env else ()
        if read is None or copy_env is None:
            return None, []
        names |= read
        out.append((id(it.spec), it.ypath, it.name, copy_env))
    return tuple(out), sorted(names)


def spec_names(lw: Lowerer, spec: Any) -> frozenset[str] | None:
    """Every name the text of `spec` (and of the specs inside it) could read, worked out
    once per spec object (a spec inside it through its own entry); None when it holds a
    value of a kind not known here."""
    key = ("names", id(spec))
    kept = lw.plans.get(key)
    if kept is None or kept[0] is not spec:
        fields = getattr(type(spec), "model_fields", None)
        out: set[str] = set()
        known = fields is not None and all(
            _names_in(lw, v, out)
            for v in (
                *(getattr(spec, f) for f in fields if f not in _NEVER_READ),
                spec.model_extra or {},
                _computed_from(spec),
            )
        )
        kept = lw.plans[key] = (spec, frozenset(out) if known else None)
    return kept[1]  # type: ignore[no-any-return]


def _computed_from(spec: Any) -> Any:
    """A spec's `from` when its names are computed where it is (they read names); None
    when it is names as written, which no lowering evaluates."""
    raw = getattr(spec, "from_", None)
    return raw if is_computed(raw) else None


@lru_cache(maxsize=4096)
def text_names(text: str) -> frozenset[str]:
    """The names a string could read: an expression's, or a template's `{part}`s' (text
    that is neither reads none)."""
    try:
        return frozenset(parsed(text).names)
    except ExprError:
        out: set[str] = set()
        for part in TEMPLATE_PART.findall(text):
            with contextlib.suppress(ExprError):  # it cannot be read at all
                out |= parsed(part).names
        return frozenset(out)


def _names_in(lw: Lowerer, value: Any, out: set[str]) -> bool:
    if value is None or isinstance(value, (bool, int, float)):
        return True
    if isinstance(value, str):
        out |= text_names(value)
        return True
    if isinstance(value, (list, tuple)):
        return all(_names_in(lw, v, out) for v in value)
    if isinstance(value, dict):
        return all(_names_in(lw, k, out) and _names_in(lw, v, out) for k, v in value.items())
    if isinstance(value, Item):
        return _names_in(lw, value.spec, out) and _names_in(lw, dict(value.env), out)
    names = spec_names(lw, value)
    if names is None:
        return False
    out |= names
    return True


def _family_key(lw: Lowerer, store: dict[Any, Any]) -> tuple[Any, ...] | None:
    """What every block body of `lw`'s spec can see besides its call and input (see the
    module docstring); None when some of it cannot be keyed. The blocks are told apart by
    object: a family's variants share theirs when they are the same (validate.py)."""
    spec = lw.spec
    blocks = getattr(spec, "blocks", None) or {}
    names: set[str] = set()
    for bdef in blocks.values():
        kept = store.get(("block names", id(bdef)))
        if kept is None or kept[0] is not bdef:
            read = spec_names(lw, bdef)
            # its params (every one bound per call, a default being a literal) and its lets
            # (which no spec param or let may share a name with) hide the spec's names
            read = None if read is None else read - bdef.params.keys() - bdef.let.keys()
            kept = store[("block names", id(bdef))] = (bdef, read)
        if kept[1] is None:
            return None
        names |= kept[1]
    env = lw.spec_env
    ordered = sorted(names)
    values = args_key({n: env[n] for n in ordered if n in env})
    if values is None:
        return None
    return (
        tuple((name, id(bdef)) for name, bdef in blocks.items()),
        tuple(getattr(spec, "params", None) or ()),
        tuple(getattr(spec, "let", None) or ()),
        tuple(getattr(spec, "checkpoint", None) or ()),
        values,
        tuple(n for n in ordered if n not in env),
    )


def _rerooted(module: Module, old: str, new: str, span: Any = _OWN_SPAN) -> Module:
    """`module` (lowered at path `old`) as it is at path `new`: every module's path renamed,
    new objects throughout, so nothing downstream sees one node in two places; `span`, when
    given, is the new module's own (the call's: its children keep theirs). Its frozen
    fields are shared, `args` too (nothing changes a module's)."""
    nodes = []
    for n in module.nodes:  # replaced(n), without its call per node
        copy = object.__new__(Node)
        copy.__dict__.update(n.__dict__)
        if n.child is not None:
            copy.__dict__["child"] = _rerooted(n.child, old, new)
        nodes.append(copy)
    path = new + module.path[len(old) :]
    origin = module.copy_of or module  # what the passes key their findings on
    if span is _OWN_SPAN:
        return replaced(module, path=path, nodes=tuple(nodes), copy_of=origin)
    return replaced(module, path=path, nodes=tuple(nodes), copy_of=origin, span=span)


__all__ = ["InstanceMemo", "Lowered", "args_key", "lower_instance"]
