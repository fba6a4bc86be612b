"""Block instances that differ from a kept one only in *value-only* arguments: the kept
instance with the layers that read them bound again.

EfficientNet, ConvNeXt, Swin and MaxViT give each block instance its own stochastic depth
rate, so the instance memo (memo.py) keyed every call apart although every shape, width and
structure was the same. A param of a block is value-only when its value can reach nothing
but the fields of some of its layers, which is read off the block's text (conservatively,
with no list of kinds or field names):

- every item that reads it, or a `let:` derived from it, is a layer of a registered kind
  written directly in the block's `layers:` (not in a construct or a block call inside it),
  with a name no other item of the block gives, no `key`, no pieces (`Op.names_field`), one
  input (so no join's `when` rewrites its attributes) and the default channel axis; and it
  is read only in that layer's own fields, never in its `name`, `key`, `from`, `when` or
  `train_only`;
- a let derived from it (one that reads it, or reads such a let) follows the same rule: a
  let whose value something else reads (a `when`, a construct, a nested call, another let
  that is not derived, the block's `outputs`) holds every name it reads to its kept value;
- no item is a `reuse` (`Op.reads_nodes`): it holds the node it calls as that was bound.

Such a param decides no structure, no scope, no name and no nested call: only those layers'
attributes, the derived lets' values and the instance's `args`. A call whose memo key equals
a kept instance's but for the values of value-only params (`masked_key`) takes the kept
instance as a hit would (its layer items charged, its requirements replayed, under the same
conditions), with each layer that reads a moved name bound again: its fields evaluated where
the new arguments (and lets, which the call has bound already, with their diagnostics) are
in scope, its shape rule run on the same inputs. Whether the new values change anything else
is then decided per instance: anything but a clean answer (a field that fails or reads its
input's sizes, a rule that fails, records a requirement or asks what is pinned, an output
shape that is not the kept one) leaves the call to a real lowering, so every diagnostic, and
every value a field refuses, still comes from one. The result is no copy (`copy_of` unset):
the passes look at its nodes anew (a new value may change what they count or warn about);
the modules inside it are copies as a hit's are. It is kept as a real lowering would be, as
portable to another variant's walk as the instance it was made from. A block whose rebindings
mostly change a shape (a width that only a linear's field reads) stops being tried.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from ..ir import Module, replaced
from ..ops import REGISTRY
from ..ops.base import META_FIELDS, Op
from ..ops.shapectx import ShapeContext

if TYPE_CHECKING:  # pragma: no cover
    from ..dims import Dim
    from .context import Child, Item
    from .walker import Lowerer

#: a block's fields besides its params, lets and layers whose text names could read (their
#: names are held to the kept values; `doc` is never evaluated)
_OTHER_FIELDS = ("outputs", "register_order")


class Rebindable:
    """A block's value-only params (`free`), the names whose values follow them (`moved`:
    those params and the lets derived from them), the layer items that read a moved name,
    and the derived lets, worked out once per block object (see the module docstring)."""

    __slots__ = ("bdef", "failed", "free", "items", "lets", "moved", "won")

    def __init__(
        self,
        bdef: Any,
        free: frozenset[str] = frozenset(),
        moved: frozenset[str] = frozenset(),
        items: tuple[Item, ...] = (),
    ) -> None:
        self.bdef = bdef  # held: found by id(bdef)
        self.free = free
        self.moved = moved
        self.items = items
        self.lets = tuple(n for n in bdef.let if n in moved)
        #: rebindings that came out clean (`won`) or not: a block whose value-only params
        #: mostly change shapes after all (a conv's width) is not tried further
        self.won = self.failed = 0


def rebindable(lw: Lowerer, bdef: Any, items: list[Item], plans: dict[int, Any]) -> Rebindable:
    """The block's Rebindable (`items`: its layer items, as the walk lowers them), kept in
    `plans` (its memo's: a family's variants that share the memo share their blocks)."""
    return block_plan(plans, bdef, _rebindable, lw, items)


def block_plan(plans: dict[int, Any], bdef: Any, make: Any, lw: Lowerer, items: list[Item]) -> Any:
    """`make(lw, bdef, items)`, worked out once per block object and kept in `plans` by
    `id(bdef)` (the plan holds its block, so a reused id is not taken for it)."""
    kept = plans.get(id(bdef))
    if kept is None or kept.bdef is not bdef:
        kept = plans[id(bdef)] = make(lw, bdef, items)
    return kept


def block_reads(lw: Lowerer, bdef: Any) -> tuple[dict[str, set[str]], set[str]] | None:
    """The names each of the block's lets reads, and those its other fields read (held: their
    values must be the kept instance's); None when a text cannot be read for its names."""
    from .memo import _names_in

    let_reads: dict[str, set[str]] = {}
    for name, raw in bdef.let.items():
        read: set[str] = set()
        if not _names_in(lw, raw, read):
            return None
        let_reads[name] = read
    held: set[str] = set()
    if not all(_names_in(lw, getattr(bdef, f, None), held) for f in _OTHER_FIELDS):
        return None
    return let_reads, held


def hold_lets(bdef: Any, held: set[str], let_reads: Mapping[str, set[str]]) -> None:
    """Add to `held` what each held let reads: a let held holds its inputs too."""
    for name in reversed(bdef.let):  # later lets first: a let reads only those before it
        if name in held:
            held |= let_reads[name]


def given_up(plan: Any) -> bool:
    """Whether a block's shortcut has failed often enough, and mostly, to stop trying it."""
    return bool(plan.failed > 8 and plan.failed > 2 * plan.won)


def _rebindable(lw: Lowerer, bdef: Any, items: list[Item]) -> Rebindable:
    from .itemplan import item_plan
    from .memo import _names_in, spec_names

    reads = block_reads(lw, bdef)
    if reads is None:
        return Rebindable(bdef)
    let_reads, held = reads  # held: names whose value must be the kept one's
    given: dict[str, int] = {}
    for it in items:
        for name in item_plan(lw, it.spec).declared_names(it.name):
            given[name] = given.get(name, 0) + 1
    if any(_reads_nodes(it) for it in items):
        return Rebindable(bdef)  # a reuse holds the node it calls as that node was bound
    layers = []
    for it in items:
        names = spec_names(lw, it.spec)
        if names is None:
            return Rebindable(bdef)
        if not _plain_layer(it, given):
            held |= names
            continue
        if not all(_names_in(lw, getattr(it.spec, f, None), held) for f in META_FIELDS):
            return Rebindable(bdef)
        layers.append((it, names))
    hold_lets(bdef, held, let_reads)
    free = frozenset(bdef.params) - held
    moved = set(free)
    for name, read in let_reads.items():  # in order: a let reads only those before it
        if not read.isdisjoint(moved):
            moved.add(name)
    rebound = tuple(it for it, names in layers if not names.isdisjoint(moved))
    if not free or not rebound:
        return Rebindable(bdef)
    return Rebindable(bdef, free, frozenset(moved), rebound)


def _reads_nodes(it: Item) -> bool:
    """A layer standing for another node of the list (`Op.reads_nodes`: a reuse)."""
    op = REGISTRY.get(getattr(it.spec, "type", None))  # type: ignore[arg-type]
    return op is not None and op.reads_nodes


def _plain_layer(it: Item, given: Mapping[str, int]) -> bool:
    """A layer whose node is its own name's, with nothing but its attributes to rebind."""
    spec = it.spec
    op = REGISTRY.get(getattr(spec, "type", None))  # type: ignore[arg-type]
    name = getattr(spec, "name", None)
    return (
        op is not None
        and not op.names_field
        and op.arity == 1
        and not op.optional_inputs
        and not getattr(spec, "eval_only", False)  # its check (E315) is add_node's
        and not getattr(spec, "pass_in_eval", False)
        and type(op).channel_axis is Op.channel_axis
        and name is not None
        and given.get(name) == 1
        and getattr(spec, "key", None) is None
        and not spec.model_extra
        and not it.env
    )


def masked_key(plan: Rebindable, key: tuple[Any, ...]) -> tuple[Any, ...] | None:
    """`key` (a block instance's memo key) with the values of its value-only params left
    out: the key of every instance that differs from it only in those; None when the block
    has none (or is no longer tried)."""
    free = plan.free
    if not free or given_up(plan):
        return None
    bname, args = key[0]
    return ((bname, "value-only", masked_args(free, args)), *key[1:])


def masked_args(free: frozenset[str], args: tuple[Any, ...]) -> tuple[Any, ...]:
    """An args_key (memo.py) with the types and values of the params in `free` left out."""
    if args and args[0] == "scalars":
        _, names, kinds, values = args
        held = _held_places(free, names)
        return (names, tuple([kinds[i] for i in held]), tuple([values[i] for i in held]))
    # (name, type, value) or (name, frozen value) per argument
    return tuple((entry[0],) if entry[0] in free else entry for entry in args)


@lru_cache(maxsize=1024)
def _held_places(free: frozenset[str], names: tuple[str, ...]) -> tuple[int, ...]:
    """The places in `names` of the arguments not in `free` (a block's calls name their
    arguments in the same order: one answer per block and shortcut)."""
    return tuple(i for i, n in enumerate(names) if n not in free)


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


def rebound_attrs(
    lw: Lowerer, plan: Rebindable, module: Module, env: Mapping[str, Any]
) -> dict[str, dict[str, Any]] | None:
    """The attributes of each node of kept `module` that reads a moved name, bound where
    `env` (the new instance's names) is in scope; None when a real lowering must decide
    (see the module docstring)."""
    from .itemplan import item_plan
    from .layer import binding

    out: dict[str, dict[str, Any]] = {}
    nodes = {n.name: n for n in module.nodes}
    for it in plan.items:
        node = nodes.get(it.spec.name)  # type: ignore[attr-defined]
        if node is None:
            continue  # its `when` (which reads no moved name) left it out here too
        bound = binding(lw, item_plan(lw, it.spec))
        if bound.reads_input or node.kind != it.spec.type:  # type: ignore[attr-defined]
            return None
        if node.src is not bound.src and node.src != bound.src:
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
    attrs = bound.template.copy()
    probe = _Probe()
    try:
        bound.fill(attrs, env)
        res = REGISTRY[node.kind].infer(attrs, list(node.in_shapes), probe)
    except Exception:  # a real lowering reports it, at its place
        return None
    if probe.touched or tuple(res.shape) != tuple(node.shape):
        return None
    return res.attrs  # type: ignore[no-any-return]


def rebound_module(
    plan: Rebindable, module: Module, child: Child, attrs: Mapping[str, dict[str, Any]]
) -> Module:
    """A hit's module (a re-rooted copy of the kept one) with the rebound attributes, the
    derived lets' new values, its own arguments, and no `copy_of`: it is no copy of the kept
    instance. Each of its nodes holds attributes of its own, as a real lowering's do: the
    shape pass takes nodes that share their attribute dicts for a memo copy's
    (passes/walkmemo.py)."""
    for n in module.nodes:  # the re-rooted copies: new objects, this module's alone
        n.__dict__["attrs"] = attrs[n.name] if n.name in attrs else dict(n.attrs)
    changes: dict[str, Any] = {"args": dict(child.args or {}), "copy_of": None}
    if plan.lets:  # the derived lets' values, as the call bound them
        values = {n: v for n, _, v in child.lets if n in plan.lets}
        changes["lets"] = tuple(
            replaced(let, value=values[let.name]) if let.name in values else let
            for let in module.lets
        )
    return replaced(module, **changes)
