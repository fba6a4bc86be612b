"""The recursive walk: scopes, items, layers and child modules; constructs by dispatch.

Lowering walks each layer list in declaration order and runs every node's shape rule as it
goes: inferring `in_channels` needs the incoming shape, and so do expressions that read
`in_channels` (a shortcut that exists only when the channel count changes). References to
earlier nodes (`from:`) make a DAG; a reference to a later node is refused, which rules out
cycles by construction and keeps registration order equal to execution order.

Errors are collected, not raised one at a time: a node whose inputs failed is skipped
quietly, so one run reports every independent mistake.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import Diagnostic, DiagnosticBag, SourceSpan, SpecError, once_per_place
from ..expr import ExprError
from ..ir import INPUT, InitStep, Let, Module, Node, Switch, module_of, node_of, replaced
from ..limits import FAMILY_BUDGET, FAMILY_HINT, spend_family
from ..loader import LoadedDoc, PathKey
from ..ops import REGISTRY
from ..ops.base import Final, Op, channels_at_dim_1
from ..schema_inputs import declared_inputs
from .bound import LeastItems
from .context import (
    MAX_NESTING,
    MAX_NODES,
    NAMES_FAILED,
    RAISE_LIMIT,
    Abort,
    BadValue,
    Child,
    Item,
    Scope,
    Site,
    Skip,
    SwitchedOff,
    moved_channels_hint,
    quiet_names,
    when_text,
)
from .evalonly import one_mode_made, one_mode_node
from .exprs import input_symbol_hint, reader_of, text_expr
from .fromlist import computed_inputs
from .itemplan import ItemPlan, item_plan
from .keys import keyed_failed, keyed_site, list_taken
from .layer import absent_as_previous, duplicate_name, lower_op
from .memo import InstanceMemo, MemoContext, lower_instance
from .order import RegisterOrders, registering
from .outputs import output_axes, output_shape, several_outputs
from .refs import off_with_its_input, resolve_inputs, scope_outputs, switch_off, switched_off_early
from .values import bind_value, reads_failed, text_value_hint, value_hint

_BOOL = Final("bool")
#: Op.channel_axis, which keeps the channels where they are when the rank stays (an op that
#: moves them overrides it; a reshape follows them: `moved_axis`); a conv's puts them at
#: dim 1 whatever its input's layout
_KEEPS = Op.channel_axis
#: the rules a reshaped instance may meet (reshape.py checks the axes they give agree)
_AXIS_RULES = (Op.channel_axis, channels_at_dim_1)


class Lowerer:
    """Turns one validated spec into modules of nodes, collecting diagnostics."""

    def __init__(
        self,
        spec: Any,
        doc: LoadedDoc,
        overrides: Mapping[str, Any] | None = None,
        max_layers: int = MAX_NODES,
    ) -> None:
        self.spec = spec
        self.max_layers = max_layers
        self.doc = doc
        self.overrides = dict(overrides or {})
        self.bag = DiagnosticBag()
        self.ctx = MemoContext()
        self.count = 0
        #: the family's shared budget (limits.FAMILY_BUDGET) as it stands for this whole
        #: lowering: lower_item charges it without a call per item
        self.family = FAMILY_BUDGET.get()
        self.depth = 0
        self.block_stack: list[str] = []
        self.scopes: list[Scope] = []  #: the layer lists being lowered, outermost first
        self.globals: dict[str, Any] = {}
        #: the spec's `let:` values (bound after the params, beside them in scope)
        self.lets: dict[str, Any] = {}
        self.failed: set[str] = set()
        self.suggestion_budget = 20_000
        self.init_rules: list[InitStep] = []
        #: spans where an expression grew too large (E411): reported once, not per copy
        self.too_large_at: set[SourceSpan | None] = set()
        #: the channel dim of each child module's output, by path, until its node is added
        self.out_axes: dict[str, int | None] = {}
        #: expressions by (text, field kind, enclosing block), parsed and tagged once (exprs.py)
        self.expr_cache: dict[tuple[Any, ...], Any] = {}
        #: worked out once for all instances: declared names by list (`declarations`), block
        #: bodies, defaults, how each layer and call binds (layer.Binding, block_call.CallPlan)
        self.declared: dict[int, tuple[list[Item], dict[str, int], dict[str, list[str]]]] = {}
        self.block_items: dict[str, list[Item]] = {}
        #: the items of each written layer list, by id of the list (items_of)
        self.item_lists: dict[int, tuple[Any, PathKey, list[Item]]] = {}
        self.block_defaults: dict[tuple[str, str], Any] = {}
        self.plans: dict[tuple[Any, ...], Any] = {}
        #: what the walk reads of each item spec, by id (itemplan.py)
        self.item_plans: dict[int, ItemPlan] = {}
        self.spans: dict[PathKey, SourceSpan | None] = {}
        #: block instances lowered so far, by call and context (lowering/memo.py)
        self.memo = InstanceMemo()
        #: each block's least expansion, so E310 is known before a block is expanded
        self.least = LeastItems(getattr(spec, "blocks", {}) or {}, max_layers + 1)
        self.orders = RegisterOrders()  #: the `register_order:` entries met (order.py)

    @property
    def spec_env(self) -> dict[str, Any]:
        """The names every node sees: the spec's params and lets."""
        return {**self.globals, **self.lets}

    # -- diagnostics -------------------------------------------------------------------
    def span(self, ypath: PathKey, key: bool = False) -> SourceSpan | None:
        if key:
            return self.doc.span_of(ypath, key=True)
        span = self.spans.get(ypath, self)  # every instance of a block asks the same
        if span is self:
            span = self.spans[ypath] = self.doc.span_of(ypath)
        return span  # type: ignore[return-value]

    def error(
        self, code: str, message: str, ypath: PathKey, hint: str | None = None, key: bool = False
    ) -> None:
        if code == "E302":
            reader = reader_of(self.doc.data, ypath)
            dims = [d for di in declared_inputs(self.spec) for d in di.dims]
            hint = input_symbol_hint(message, dims, hint, reader)
        self.bag.add(Diagnostic(code, message, self.span(ypath, key), hint))

    def close_matches(self, name: str, candidates: Sequence[str]) -> list[str]:
        """The "did you mean" for `name`, while the run's budget of comparisons lasts: a
        file can repeat one mistake thousands of times in a scope of thousands of names."""
        if len(candidates) > self.suggestion_budget:
            return []
        self.suggestion_budget -= len(candidates)
        return difflib.get_close_matches(name, candidates, n=1)

    def fail(self) -> SpecError:
        self.orders.flush(self.bag)
        return SpecError(diagnostics=once_per_place(self.bag.errors), sources=self.doc.sources)

    # -- scopes -------------------------------------------------------------------------
    def lower_scope(
        self,
        child: Child,
        env: Mapping[str, Any],
        in_shape: Any,
        path: str,
        span: SourceSpan | None,
        in_axis: int | None = 1,
    ) -> Module:
        """One module: the nodes of `child.items`, lowered in order in a new scope; `in_axis`
        is the dim of the input holding its channels."""
        scope = Scope(path)
        scope.switches.extend(child.switches)
        scope.shapes[INPUT] = in_shape
        scope.axes[INPUT] = in_axis
        scope.train[INPUT] = False
        if child.input_names:
            _block_inputs(scope, child, in_shape, in_axis)
        # Computed once per list (not per item): a repeat of 10,000 copies stays linear; and
        # once per block for its instances, which share their block's list of items.
        scope.declared_at, scope.refs = declarations(self, child.items)
        prev = _lower_items(self, child, scope, env)
        outputs = scope_outputs(self, scope, prev, child)
        if outputs:  # a block of several: each output's (lowering/outputs.py)
            axes = output_axes(scope, outputs)
            self.out_axes[path] = axes[0] if len(axes) == 1 else axes
        module = scope_module(self, child, scope, outputs, in_shape, span, in_axis)
        if child.register_order:
            module = registering(self, module, child, scope)
        return module

    def add_node(self, scope: Scope, node: Node, item: Item) -> str:
        if scope.lists and node.name in scope.lists:
            list_taken(self, node.name, item.ypath + ("name",))
        if node.name in scope.shapes:
            if scope.shapes[node.name] is None and all(n.name != node.name for n in scope.nodes):
                # the name's other holder failed and said why (it may have been meant as
                # this one's complement under another `when`): one mistake, one error
                raise Skip
            duplicate_name(self, scope, node, item)  # E304, Skip
        when = getattr(item.spec, "when", None)
        if when is not None and node.when is None:
            node = replaced(node, when=when_text(when), when_expr=text_expr(self, when))
            node = absent_as_previous(scope, node)
        node = one_mode_node(self, node, item)  # eval_only, pass_in_eval: E315, Skip
        scope.nodes.append(node)
        scope.shapes[node.name] = node.shape
        scope.axes[node.name] = out_axis(self, scope, node)
        scope.train[node.name] = node.train_only
        if node.is_module:
            scope.position += 1
        return node.name

    # -- items ----------------------------------------------------------------------------
    def charge(self, units: int, ypath: PathKey, *, reserve: bool = False, why: str = "") -> None:
        """Count expansion work (failed items too; `reserve`: only check that `units` more
        fit; `why`: what the units are for, when they are not items); past `max_layers`, or
        a family's shared budget, stop lowering."""
        if self.count + units > self.max_layers:
            self.error(
                "E310",
                f"the spec expands to more than {self.max_layers:,} layer items (layers, "
                f"blocks and repeats, counted as they are expanded{'; ' if why else ''}{why})",
                ypath,
                f"lower the repeat counts or the nesting of repeats and blocks; {RAISE_LIMIT}",
            )
            raise Abort
        if refused := spend_family(units, reserve=reserve):
            self.error("E310", refused, ypath, f"{FAMILY_HINT}; {RAISE_LIMIT}")
            raise Abort
        if not reserve:
            self.count += units

    def lower_item(self, item: Item, scope: Scope, env: Mapping[str, Any], prev: str) -> str | None:
        """Lower one item (and what it expands to); its name, or None when `when` drops it."""
        family = self.family  # charge(1), without its call when the item fits
        if self.count >= self.max_layers or (family is not None and family[0] < 1):
            self.charge(1, item.ypath)  # E310 (Abort)
        self.count += 1
        if family is not None:
            family[0] -= 1
        if self.depth >= MAX_NESTING:
            self.error(
                "E310",
                f"layers nest deeper than {MAX_NESTING} levels (blocks, repeats, "
                "sequentials and residuals inside each other)",
                item.ypath,
                "flatten the structure: nets this deep are written with `repeat`",
            )
            raise Abort
        self.depth += 1
        try:
            if item.env:
                env = {**env, **item.env}
            spec = item.spec
            plan = self.item_plans.get(id(spec))  # item_plan, without its call once made
            if plan is None or plan.spec is not spec:
                plan = item_plan(self, spec)
            if plan.when is None and plan.key is None:
                # the common case, `_dispatch` without its call: no `when`, no `key`
                if plan.from_ is None:  # `_site`'s common case, without its call
                    site = Site(
                        item,
                        scope,
                        env,
                        (prev,),
                        [scope.shapes[prev]],
                        plan.train_only or scope.train.get(prev, False),
                        scope.axes.get(prev, 1),
                    )
                else:
                    site = _site(self, item, scope, env, prev, plan)
                if plan.lower is None:
                    return lower_op(self, site, plan)
                return plan.lower(self, site)  # type: ignore[no-any-return]
            held = None
            if plan.when is not None:
                held = switched_off_early(self, item, scope, env, plan)
                if held is False or off_with_its_input(self, item, scope, env, plan):
                    return None
            try:
                site = _site(self, item, scope, env, prev, plan)
            except SwitchedOff:  # its `when`, over its first input's sizes (fromlist.py)
                return None
            return self._dispatch(site, plan, held)
        finally:
            self.depth -= 1

    def _dispatch(self, site: Site, plan: ItemPlan, held: bool | None = None) -> str | None:
        """A layer kind to `lower_op`, a construct to its own lowering, anything else to a
        block call (`plan.lower`); `when` first (unless `held`: it was found true already),
        since a switched-off item is not lowered at all."""
        when = plan.when
        if when is not None:
            ok = held or self.eval_value(when, _BOOL, site.local, site.ypath + ("when",))
            if not ok:
                first = site.inputs[0] if site.inputs else None
                switch_off(self, site.item, site.scope, plan, site.local, first)
                return None
            if plan.construct is not None and not plan.construct.makes_module:
                # its nodes do not carry the `when`: the scope records it
                site.scope.switches.append(("", plan.when_text))  # type: ignore[arg-type]
        if plan.key is not None:
            site = keyed_site(self, site, plan.construct)
        try:
            return lower_op(self, site, plan) if plan.lower is None else plan.lower(self, site)
        except Skip:
            keyed_failed(site, plan.key)
            raise

    def lower_child(self, site: Site, child: Child) -> str:
        """One child module (a node of kind "module") made of `child.items`."""
        item, scope = site.item, site.scope
        if not child.input_names:  # a block call checked its count itself
            self.one_input(site, "a module takes one input")
        name = scope.next_name(item, "module", True)
        env = site.env if child.env is None else child.env
        path, span = scope.qual(name), self.span(item.ypath)
        axis = scope.axes.get(site.inputs[0], 1)
        module = lower_instance(self, child, env, site.in_shapes[0], path, span, axis)
        # an output whose node failed has no shape (and no node): the parent skips quietly
        first = module.outputs[0].name if module.outputs else None
        shape = output_shape(module, first)
        node = _module_node(name, site, shape, span, module, child)
        if child.output_names:  # a block of several outputs, named by the call's `names`
            return several_outputs(self, site, child, name, module, node)
        out = self.add_node(scope, node, item)
        if shape is None:
            raise Skip
        return out

    def one_input(self, site: Site, message: str) -> None:
        """E305 (and Skip) unless the item reads exactly one node: a child module, a
        residual and parallel branches each take one tensor."""
        if len(site.inputs) != 1:
            self.error(
                "E305",
                message,
                site.ypath + ("from",),
                "give `from` one name; join several first with add or concat",
            )
            raise Skip

    # -- values ---------------------------------------------------------------------------
    def eval_value(
        self,
        raw: Any,
        final: Final,
        env: Mapping[str, Any],
        ypath: PathKey,
        raise_skip: bool = True,
        field: str = "",
    ) -> Any:
        """`raw` evaluated and checked against `final`; on failure the error is recorded and
        Skip (or BadValue) raised. Expressions reading a failed param fail quietly. `field`
        (`b.conv: out_channels`) begins the message of a value this instance gave (E308,
        E309): one line of a block or a repeat binds in every instance, and the place alone
        does not say which one the value came from."""
        try:
            return bind_value(raw, final, env)
        except ExprError as exc:
            if not reads_failed(raw, quiet_names(self.failed, env)):
                message = f"{field}: {exc.message}" if field and exc.code == "E308" else exc.message
                self.error(exc.code, message, ypath, moved_channels_hint(exc, env))
        except ValueError as exc:
            message = f"{field}: {exc}" if field else str(exc)
            self.error("E309", message, ypath, text_value_hint(raw, env) or value_hint(final, raw))
        if raise_skip:
            raise Skip
        raise BadValue


def _block_inputs(scope: Scope, child: Child, in_shape: Any, in_axis: int | None) -> None:
    """A block of several inputs (`inputs: [x, skip]`): each a name its nodes read, the
    first standing for `input` (which is no legal name, so no input is called that)."""
    first = child.input_names[0]
    scope.aliases[first] = INPUT
    scope.shapes[first], scope.axes[first], scope.train[first] = in_shape, in_axis, False
    for name, (shape, axis) in zip(child.input_names[1:], child.more_inputs):
        scope.shapes[name], scope.axes[name], scope.train[name] = shape, axis, False
        scope.aliases[name] = name


def _lower_items(lw: Lowerer, child: Child, scope: Scope, env: Mapping[str, Any]) -> str:
    """The items of `child`, lowered in order in `scope`; the name of the last. Meanwhile
    the scope is on `lw.scopes`, where refs.py finds a node of an enclosing list that a
    reader inside a module names (out of its reach)."""
    prev = INPUT
    lw.scopes.append(scope)
    try:
        for idx, item in enumerate(child.items):
            scope.index = idx
            try:
                made = lw.lower_item(item, scope, env, prev)
                if made is not None:
                    one_mode_made(lw, scope, made, item)  # E315, Skip
                prev = made or prev
            except Skip:
                # the readers of a failed item are not checked against a guess: a named
                # item's name, and for an unnamed one a name no spec can write, hold no shape
                declared = item_plan(lw, item.spec).declared_names(item.name)
                for name in declared or [f"<failed item {idx}>"]:
                    scope.shapes[name] = None
                    scope.train[name] = False
                    prev = name
                if getattr(item.spec, "flat", False) is True:
                    # a flat repeat's copies name nodes of this list (`names:`, `key:`) that
                    # now have no node: a reader of one is quiet, as for a chunk's pieces
                    scope.shapes[NAMES_FAILED] = None
    finally:
        lw.scopes.pop()
    return prev


def _site(
    lw: Lowerer, item: Item, scope: Scope, env: Mapping[str, Any], prev: str, plan: ItemPlan
) -> Site:
    """The item's Site: the nodes it reads (`from`, else the one before it) and their shapes."""
    if plan.from_ is None:  # the common case: it reads the node before it
        inputs, in_shapes = (prev,), [scope.shapes[prev]]
        train = plan.train_only or scope.train.get(prev, False)
    else:
        inputs = (
            computed_inputs(lw, item, scope, env)
            if plan.computed
            else resolve_inputs(lw, item, scope, prev)
        )
        in_shapes = [scope.shapes[n] for n in inputs]
        # a step eval skips (`pass_in_eval`) is training-only when what eval reads is
        read = inputs[:1] if plan.pass_in_eval else inputs
        train = plan.train_only or any(scope.train.get(n, False) for n in read)
    axis = scope.axes.get(inputs[0], 1) if inputs else 1
    return Site(item, scope, env, inputs, in_shapes, train, axis)


def scope_module(
    lw: Lowerer,
    child: Child,
    scope: Scope,
    outputs: tuple[Any, ...],
    in_shape: Any,
    span: SourceSpan | None,
    in_axis: int | None,
) -> Module:
    """The Module of a lowered scope (lower_scope), made without the frozen __init__."""
    return module_of(
        class_name=child.class_name,
        path=scope.path,
        nodes=tuple(scope.nodes),
        outputs=outputs,
        in_shape=in_shape,
        span=span,
        block=child.block,
        args=dict(child.args or {}),
        switches=tuple(scope.switches),
        switch_exprs=_switch_exprs(lw, scope) if scope.switches else (),
        keys_off=tuple(scope.keys_off),
        lets=tuple(Let(n, text_expr(lw, raw), v) for n, raw, v in child.lets) if child.lets else (),
        input_names=tuple(child.input_names),
        extra_in_shapes=tuple(shape for shape, _ in child.more_inputs),
        extra_in_axes=tuple(axis for _, axis in child.more_inputs),
        state_dict_version=child.state_dict_version,
        checkpoint=child.checkpoint,
        loops=tuple(scope.loops),
        in_axis=in_axis,
    )


def _switch_exprs(lw: Lowerer, scope: Scope) -> tuple[Switch, ...]:
    """The scope's switches as Switches: each text's expression as text_expr tags it, found
    in the walk's cache without its call once made (a block's switched-off alternatives
    make these in every instance)."""
    cache, spans, reads = lw.expr_cache, scope.switch_spans, scope.switch_reads
    block = lw.block_stack[-1] if lw.block_stack else None
    out = []
    for i, (name, text) in enumerate(scope.switches):
        expr = cache.get(("text", text, block)) if type(text) is str else None
        if expr is None:  # its first instance, or a text that is no string (text_expr)
            expr = text_expr(lw, text)
        out.append(_switch(name, expr, spans.get(i), reads.get(i)))
    return tuple(out)


def _switch(name: str, expr: Any, span: SourceSpan | None, reads: str | None) -> Switch:
    """Switch(name, expr, span, reads) without the frozen __init__ (see ir.node_of): a
    block's switched-off alternatives make one per instance."""
    switch = object.__new__(Switch)
    switch.__dict__.update(name=name, expr=expr, span=span, reads=reads)
    return switch


def declarations(lw: Lowerer, items: list[Item]) -> tuple[dict[str, int], dict[str, list[str]]]:
    """Where each name of `items` is declared (its last index) and what it reads, worked out
    once per list: a block's instances share their block's list (Lowerer.declared), and the
    scopes only read them."""
    kept = lw.declared.get(id(items))
    if kept is not None and kept[0] is items:
        return kept[1], kept[2]
    declared_at: dict[str, int] = {}
    refs: dict[str, list[str]] = {}
    plans = lw.item_plans
    for idx, it in enumerate(items):
        spec = it.spec
        plan = plans.get(id(spec))  # item_plan, without its call once made
        if plan is None or plan.spec is not spec:
            plan = item_plan(lw, spec)
        for declared in plan.declared_names(it.name):
            declared_at[declared] = idx
            refs[declared] = list(plan.refs)
    lw.declared[id(items)] = (items, declared_at, refs)
    return declared_at, refs


def _module_node(
    name: str, site: Site, shape: Any, span: SourceSpan | None, module: Module, child: Child
) -> Node:
    """The node of a child module: its call's spec text and expressions when it has a shape."""
    known = shape is not None
    return node_of(
        name,
        "module",
        {},
        site.inputs,
        shape,
        tuple(site.in_shapes),  # type: ignore[arg-type]
        span,
        site.train,
        module,
        # the call plan's dicts, shared by its instances as a layer's node shares its
        # Binding's (nothing changes a node's)
        (child.src if child.src is not None else {}) if known else {},
        None,
        True,
        (child.exprs if child.exprs is not None else {}) if known else {},
        None,
        frozenset(),
    )


def out_axis(lw: Lowerer, scope: Scope, node: Node) -> int | None:
    """The dim of the node's output holding the channels (see Op.channel_axis)."""
    if node.child is not None:
        return lw.out_axes.pop(node.child.path, 1)
    return follow_axis(node.kind, node.inputs, node.attrs, node.in_shapes, node.shape, scope.axes)


def follow_axis(
    kind: str,
    inputs: Sequence[str],
    attrs: Mapping[str, Any],
    in_shapes: Sequence[Any],
    shape: Any,
    axes: Mapping[str, int | None],
) -> int | None:
    """The channel axis of a layer node's output, from its inputs' (`axes`, by name):
    what `out_axis` records, and what reshape.py checks a reshaped instance keeps."""
    axis = axes.get(inputs[0], 1) if inputs else 1
    op = REGISTRY.get(kind)
    if op is None or shape is None:
        return axis
    if op.category == "merge" and in_shapes and len(in_shapes[0]) != len(shape):
        # a join whose first input broadcasts from a lower rank (a (C, 1, 1) layer scale, a
        # 0-d fusion weight, times an (N, C, H, W) map): the channels are where the inputs
        # of the output's rank hold them, not where that input's dims would move them
        same = [axes.get(i, 1) for i, s in zip(inputs, in_shapes) if len(s) == len(shape)]
        if same:
            return next((a for a in same if a is not None), None)
    rule = type(op).channel_axis
    if axis == 1 and (
        rule is channels_at_dim_1
        or (rule is _KEEPS and bool(in_shapes) and len(shape) == len(in_shapes[0]))
    ):
        return 1  # what the default (and a conv's) does with channels at dim 1
    if axis is None and op.join_sign:
        # an elementwise join of same-rank tensors, whose channel dims coincide: one input
        # that knows it tells (a residual `attn + x` after an attention that reshaped its
        # heads, which loses it on that side)
        same = [axes.get(i) for i, s in zip(inputs, in_shapes) if len(s) == len(shape)]
        axis = next((a for a in same if a is not None), None)
    return op.channel_axis(attrs, axis, in_shapes, shape)
