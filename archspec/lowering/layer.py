"""One layer of a registered kind: its fields bound, its shape rule run, one node (one per
piece for a kind with several outputs, `Op.names_field`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, NoReturn

from ..expr import ExprError
from ..ir import ABSENT_AS, INPUT, AttrExpr, Node, node_of, replaced
from ..ops import ShapeFailure
from ..ops.base import Final, LayerSpec
from .context import NAMES_FAILED, BadValue, Item, Scope, Site, Skip, when_text
from .exprs import attr_expr, text_expr
from .reuse import bind_target
from .values import (
    LIST_ITEMS_PER_ITEM,
    bind_value,
    checked_value,
    field_plan,
    field_runner,
    parsed,
    reads_input,
)

if TYPE_CHECKING:  # pragma: no cover
    from .itemplan import ItemPlan
    from .walker import Lowerer


def lower_op(lw: Lowerer, site: Site, plan: ItemPlan) -> str | None:
    """One layer (`plan`: its spec's ItemPlan): its fields bound, its shape rule run, one
    node; its name, or None for a learned tensor, which is not in the flow (the next node
    reads what arrived before it)."""
    if not plan.computed_names:
        return _lower_op(lw, site, plan, plan.own_names)
    from .fromlist import piece_names_here  # fromlist reads item plans: imported late

    scope = site.scope
    try:
        pieces = piece_names_here(lw, site.item, scope, site.local, plan.op.names_field)  # type: ignore[arg-type]
    except Skip:  # its names are not known: a reader's may be one, so none is called unknown
        scope.shapes[NAMES_FAILED] = None
        raise
    try:
        return _lower_op(lw, site, plan, pieces)
    except Skip:
        # its readers are not checked against a guess: the walk knows written names only
        for piece in pieces:
            if piece not in scope.shapes:
                scope.shapes[piece], scope.train[piece] = None, False
        raise


def _lower_op(lw: Lowerer, site: Site, plan: ItemPlan, pieces: list[str]) -> str | None:
    """lower_op, the names of its pieces (a chunk's `names`) given."""
    item, scope, inputs = site.item, site.scope, site.inputs
    op = plan.op
    is_module = op.style == "module" and not (
        op.functional and (plan.spec_name or item.name) and plan.key is None
    )
    name = pieces[0] if pieces else scope.next_name(item, plan.kind, is_module)
    if op.arity != 1 or len(inputs) != 1:  # one input, the common case, is right
        _check_inputs(lw, plan, item, inputs)
    if op.arity == 0:
        # what it binds still sees the input before it (`in_channels`)
        inputs, site = (), replaced(site, inputs=(), in_shapes=[], made_local=site.local)
    bound = plan.binding  # binding(lw, plan), without its call once made in this block
    if bound is None or bound.block != (lw.block_stack[-1] if lw.block_stack else None):
        bound = binding(lw, plan)
    # bind_fields(lw, bound, site), without its call for a layer whose fields bind alike
    attrs = bind_fields(lw, bound, site, name) if bound.bound else bound.template.copy()
    if None in site.in_shapes:
        raise Skip
    if op.reads_nodes:
        attrs = bind_target(lw, scope, item, attrs, inputs)
    if plan.computed_names:
        attrs[op.names_field] = pieces  # type: ignore[index]
    if pieces:
        lw.charge(len(pieces) - 1, item.ypath)
    when = plan.when  # in the node as made, not added by add_node
    when_src, when_expr = (None, None) if when is None else (plan.when_text, text_expr(lw, when))
    made: list[str] = []
    for index, piece in enumerate(pieces or (name,)):
        lw.ctx.node = f"{scope.path}.{piece}" if scope.path else piece  # scope.qual(piece)
        given = {**attrs, "_index": index} if pieces else attrs
        try:
            res = op.infer(given, site.in_shapes, lw.ctx)  # type: ignore[arg-type]
        except ShapeFailure as exc:
            _shape_failure(lw, exc, scope.qual(piece), item, bound.src, plan.when_text)
            raise Skip from None
        node = node_of(
            piece,
            plan.kind,
            res.attrs,
            inputs,
            res.shape,
            tuple(site.in_shapes),  # type: ignore[arg-type]
            lw.span(item.ypath),
            site.train,
            None,
            bound.src,
            when_src,
            is_module,
            bound.exprs,
            when_expr,
            bound.stated,
        )
        if when is not None:
            node = absent_as_previous(scope, node)
        made.append(lw.add_node(scope, node, item))
    # the next item, without `from`, reads one piece: a chunk's last, a pool's values
    return None if op.arity == 0 else made[op.flow_piece if pieces else -1]


def _check_inputs(lw: Lowerer, plan: ItemPlan, item: Item, inputs: tuple[str, ...]) -> None:
    """E305 (and Skip) unless the layer reads as many inputs as its kind takes."""
    op, kind = plan.op, plan.kind
    if op.arity == 0 and plan.from_ is not None:
        lw.error(
            "E305",
            f"{kind} reads no input, `from` names {len(inputs)}",
            item.ypath + ("from",),
            "a learned tensor is read by the nodes that use it: drop its `from`",
        )
        raise Skip
    if op.arity == 1 and not 1 <= len(inputs) <= 1 + op.optional_inputs:
        most = op.optional_inputs + 1
        lw.error(
            "E305",
            f"{kind} takes {'one input' if most == 1 else f'1 to {most} inputs'}, "
            f"`from` names {len(inputs)}",
            item.ypath + ("from",),
            "only merge layers (add, mul, concat) and layers made for it take several inputs",
        )
        raise Skip
    most = op.arity + op.optional_inputs if isinstance(op.arity, int) else 0
    if isinstance(op.arity, int) and op.arity > 1 and not op.arity <= len(inputs) <= most:
        takes = f"{op.arity} to {most}" if most > op.arity else op.arity
        lw.error(
            "E305",
            f"{kind} takes {takes} inputs, `from` names {len(inputs)}",
            item.ypath + (("from",) if plan.from_ is not None else ()),
            f"name its {op.arity} inputs in order, e.g. `from: [input, conv2]`",
        )
        raise Skip
    if op.arity == "many" and plan.from_ is None:
        lw.error(
            "E305",
            f"{kind} joins several inputs: give them with `from: [a, b]`",
            item.ypath,
            "name the nodes it joins, e.g. `from: [input, conv2]`",
        )
        raise Skip


def absent_as_previous(scope: Scope, node: Node) -> Node:
    """A join under a `when` that reads the node before it: where the `when` leaves it out,
    what follows reads that node, so one emitted class writes the join under an `if`
    (`if self.use_res_connect: out = x + out`), as for a residual's `add_when`."""
    prev = scope.nodes[-1].name if scope.nodes else INPUT
    if len(node.inputs) < 2 or prev not in node.inputs:
        return node
    return replaced(node, attrs={**node.attrs, ABSENT_AS: node.inputs.index(prev)})


def _shape_failure(
    lw: Lowerer, exc: ShapeFailure, qual: str, item: Item, src: Any, when: str | None = None
) -> None:
    """A shape rule's error at its field; E411 once per spec position (repeat copies and
    block instances grow the same expression past the same bound). A join kept by a `when`
    on `in_channels` is the trap of a block's two adds (`from: [conv2, downsample]` when
    `in_channels != out`, `from: [conv2, input]` otherwise): there `in_channels` is the
    join's own first input's, so the wrong add was kept; the hint says so."""
    yp = item.ypath + ((exc.field,) if exc.field and exc.field in src else ())
    if exc.code == "E411":
        span = lw.span(yp)
        if span in lw.too_large_at:
            return
        lw.too_large_at.add(span)
    hint = exc.hint
    if exc.code in ("E402", "E403") and when is not None and _READS_IN.search(when):
        hint = (
            f"this node's `when` ({when}) reads `in_channels`, which here is the channels of "
            "its own first input, not the block's: bind the block's once (`let: {cin: "
            f"in_channels}}`) and test `cin`. Otherwise: {hint}"
        )
    lw.error(exc.code, f"{qual}: {exc.message}", yp, hint)


_READS_IN = re.compile(r"\bin_channels\b")


def duplicate_name(lw: Lowerer, scope: Scope, node: Node, item: Item) -> NoReturn:
    """E304 for a node whose name another node of its module has, and Skip: the hint says
    where the other one is (maybe another file: a base's layer, an `insert:`) and, when both
    have `when`s, that both held (`both_kept_hint`)."""
    hint = "names become attribute names and state_dict keys; make them unique"
    other = next((n for n in scope.nodes if n.name == node.name), None)
    if node.name in scope.aliases:
        whose = "the network's" if scope.path == "" else "the block's"
        hint = f"`{node.name}` names one of {whose} `inputs:`; rename one of them"
    elif other is not None:
        when = getattr(item.spec, "when", None)
        if when is not None and node.when is None:  # add_node gives a child module's its own
            node = replaced(node, when=when_text(when))
        hint = both_kept_hint(other, node) or hint
    field = "key" if getattr(item.spec, "key", None) is not None else "name"
    if other is not None and other.span is not None and other.span != node.span:
        hint += f" (the other `{node.name}` is at {other.span})"
    elif other is not None and field == "name" and getattr(item.spec, "name", None):
        hint = (  # one written layer made both: copies of a repeat or for_each
            "every copy of a repeated layer takes its `name`: drop it and the copies are "
            f'numbered 0, 1, ..., or name them by the repeat\'s `names: "{node.name}{{i}}"`'
        )
    lw.error("E304", f"duplicate name `{node.name}` in this module", item.ypath + (field,), hint)
    raise Skip


def both_kept_hint(first: Node, second: Node) -> str | None:
    """The hint of the E304 of two nodes of one name that each have a `when`: both held
    here. Complementary `when`s on `in_channels` are the usual cause (a block's `project`
    conv when `in_channels != out`, an identity of that name when `in_channels == out`):
    there each reads the channels of its own input, and the first node changed them for the
    second, so the hint gives both values and the cure. None when either has no `when`."""
    if first.when is None or second.when is None:
        return None
    held = f"both `when`s hold here (`{first.when}` and `{second.when}`)"
    if not _READS_IN.search(f"{first.when} {second.when}"):
        return f"{held}: two nodes of one name need `when`s that never hold together"
    seen = [_channels_in(first), _channels_in(second)]
    values = f" ({seen[0]} at the first, {seen[1]} here)" if None not in seen else ""
    return (
        f"{held}: `in_channels` is the channel count of each node's own input{values}, not "
        "the block's; bind the block's once (`let: {cin: in_channels}`) and test `cin`"
    )


def _channels_in(node: Node) -> Any:
    """Dim 1 of the node's first input, or None where it has none."""
    shape = node.in_shapes[0] if node.in_shapes else None
    return shape[1] if shape is not None and len(shape) > 1 else None


class Binding:
    """How one layer spec's fields bind, worked out once per spec object (and enclosing
    block, which tags the names its expressions read): every copy and block instance of
    the spec states the same fields with the same text, so only its expressions are
    evaluated per instance. A literal is bound here once; one its field refuses is left
    to each instance, which reports it."""

    __slots__ = ("block", "bound", "exprs", "lists", "reads_input", "src", "stated", "template")

    def __init__(self, lw: Lowerer, spec: LayerSpec) -> None:
        self.block = lw.block_stack[-1] if lw.block_stack else None
        #: every attribute in field order; those in `bound` hold a placeholder
        self.template: dict[str, Any] = {}
        #: (field, YAML key, raw value, Final, its expression's closure or None:
        #: `field_runner`) of the fields evaluated per instance
        self.bound: list[tuple[str, str, Any, Final, Any]] = []
        self.src: dict[str, Any] = {}
        self.exprs: dict[str, AttrExpr] = {}
        given, model = spec.model_fields_set, type(spec)
        for fname, key, final in field_plan(model):
            raw = getattr(spec, fname)
            if fname in given:
                self.src[fname] = raw
                expr = attr_expr(lw, raw, final)
                if expr is not None:
                    self.exprs[fname] = expr
                self.template[fname] = raw if final is None else _literal(raw, final)
            else:  # the model's default, the same object for every spec of the kind
                self.template[fname] = raw if final is None else _default(model, fname, raw, final)
            if self.template[fname] is _PER_INSTANCE:
                run = field_runner(raw, final)  # type: ignore[arg-type]
                self.bound.append((fname, key, raw, final, run))  # type: ignore[arg-type]
        self.stated = frozenset(self.src)
        #: whether a field bound per instance could read `in_channels` or `in_features`
        self.reads_input = any(reads_input(b[2]) for b in self.bound)
        #: (field, raw) of the fields bound per instance that may hold a list (_LIST_WHY)
        self.lists = tuple((b[0], b[2]) for b in self.bound if b[3].kind in _LIST_KINDS)

    def fill(self, attrs: dict[str, Any], env: Mapping[str, Any]) -> None:
        """Bind each field evaluated per instance into `attrs` where `env` is in scope:
        bind_value, a kept closure run at once (`field_runner`). What is bound before a
        failure stays in `attrs`, for the caller's report."""
        for fname, _, raw, final, run in self.bound:
            attrs[fname] = (
                bind_value(raw, final, env) if run is None else checked_value(run(env), final, env)
            )


_LIST_KINDS = frozenset(("ints", "floats", "any"))
_LIST_WHY = (
    f"a layer counts one more per {LIST_ITEMS_PER_ITEM:,} items of the lists its fields hold, "
    "which every copy checks"
)


#: a field's value that depends on where the layer is (or whose error each instance reports)
_PER_INSTANCE = object()


def _literal(raw: Any, final: Final) -> Any:
    """A scalar literal's bound value (it reads no names), else _PER_INSTANCE."""
    if type(raw) is str and final.choices and raw in final.choices:
        return raw  # a word as written (`mode: row`, `padding: same`)
    if isinstance(raw, (str, list, dict)):
        return _PER_INSTANCE
    try:
        return bind_value(raw, final, {})
    except (ExprError, ValueError):
        return _PER_INSTANCE


#: each layer model's field defaults, bound: (model, field) -> (the default, its _literal)
_DEFAULTS: dict[tuple[type, str], tuple[Any, Any]] = {}


def _default(model: type[LayerSpec], fname: str, raw: Any, final: Final) -> Any:
    """`_literal(raw, final)`, worked out once per model and field for its default value
    (the same object in every spec that leaves the field out)."""
    kept = _DEFAULTS.get((model, fname))
    if kept is not None and kept[0] is raw:
        return kept[1]
    value = _literal(raw, final)
    _DEFAULTS[(model, fname)] = (raw, value)
    return value


def binding(lw: Lowerer, plan: ItemPlan) -> Binding:
    """The layer's Binding in the enclosing block, made at its first instance there and
    kept on its ItemPlan."""
    block = lw.block_stack[-1] if lw.block_stack else None
    kept = plan.binding
    if kept is None or kept.block != block:
        kept = plan.binding = Binding(lw, plan.spec)
    return kept  # type: ignore[no-any-return]


def bind_fields(lw: Lowerer, plan: Binding, site: Site, name: str) -> dict[str, Any]:
    """A layer's attributes evaluated at `site` (Skip when one fails, reported, the node
    `name` and the field beginning a message about a value). A layer
    whose fields read no size of its input by name is bound in the site's `env`: the same
    values as in its `local`, without making that; a failure is bound again in `local`,
    whose names its messages list."""
    attrs = plan.template.copy()
    env = site.local if plan.reads_input else site.env
    try:
        plan.fill(attrs, env)
    except (ExprError, ValueError, RecursionError):
        if plan.lists:
            _charge_lists(lw, plan, site, attrs, env)  # before the copy's report (Skip)
        _report_fields(lw, plan, site, attrs, site.scope.qual(name))
        return attrs
    if plan.lists:
        _charge_lists(lw, plan, site, attrs, env)
    return attrs


def _charge_lists(
    lw: Lowerer, plan: Binding, site: Site, attrs: dict[str, Any], env: Mapping[str, Any]
) -> None:
    """Charge the items of the layer's list fields (E310 past the limit): each bound value,
    or for a field that failed to bind, the list its text gives (its walk failed late)."""
    items = 0
    for fname, raw in plan.lists:
        value = attrs[fname]
        if value is _PER_INSTANCE and isinstance(raw, str):
            try:
                value = parsed(raw).evaluate(env)
            except (ExprError, ValueError):
                continue
        elif value is _PER_INSTANCE:
            value = raw
        if type(value) is list:
            items += len(value)
    if items >= LIST_ITEMS_PER_ITEM:
        lw.charge(items // LIST_ITEMS_PER_ITEM, site.ypath, why=_LIST_WHY)


def _report_fields(
    lw: Lowerer, plan: Binding, site: Site, attrs: dict[str, Any], qual: str
) -> None:
    """Bind every field again in the site's `local`, reporting each that fails (`qual`, the
    node's path, names the instance); Skip."""
    failed = False
    for fname, key, raw, final, _ in plan.bound:
        yp = site.ypath + (key,)
        field = f"{qual}: {key}"
        try:
            attrs[fname] = lw.eval_value(raw, final, site.local, yp, False, field)
        except BadValue:
            failed = True
    if failed:
        raise Skip
