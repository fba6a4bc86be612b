"""Spec -> IR: bind params, expand blocks, repeats, VGG cfgs, residuals and branches.

Lowering walks each layer list in declaration order and runs every node's shape rule as it
goes: inferring `in_channels` needs the incoming shape, and so do expressions that read
`in_channels` (a shortcut that exists only when the channel count changes). References to
earlier nodes (`from:`) make a DAG; a reference to a later node is refused, which rules out
cycles by construction and keeps registration order equal to execution order.

Errors are collected, not raised one at a time: a node whose inputs failed is skipped
quietly, so one run reports every independent mistake.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import math
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from pydantic import BaseModel

from .dims import Dim, Shape, format_shape
from .errors import Diagnostic, DiagnosticBag, SourceSpan, SpecError
from .expr import ExprError, parse_expr
from .ir import INPUT, Graph, InitStep, Module, Node, Output, ParamInfo, iter_nodes
from .loader import MAX_INT, LoadedDoc, PathKey
from .ops import REGISTRY, ShapeContext, ShapeFailure
from .ops.base import META_FIELDS, Final, LayerSpec, check_name
from .schema import ParamDecl, models

#: Expansion limits: a spec may not grow past these however its params are set.
#: MAX_NODES, the default of `max_layers=` (`--max-layers`), counts every layer item expanded
#: (blocks, repeats and failed items too) and keeps a check under about half a second;
#: ResNet-152 expands to under 600. A repeat count is bounded by the same figure.
MAX_NODES = 10_000
#: How an E310 for expansion ends: the setting a user with a network that large needs.
_RAISE_LIMIT = "if the network really is this large, raise the limit: --max-layers N (max_layers=N)"
MAX_BLOCK_DEPTH = 32
#: Items nested in items (each level costs a few Python frames here and in every backend).
MAX_NESTING = 100

_TYPE_NAMES = ("int", "float", "bool", "str", "list")


class _Skip(Exception):
    """A node could not be lowered; its diagnostic is already recorded."""


@dataclass
class Item:
    """A node spec to lower, with where it came from and extra names in scope."""

    spec: BaseModel
    ypath: PathKey
    env: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None  # forced name (branches, repeat copies)


@dataclass
class _Scope:
    path: str
    nodes: list[Node] = field(default_factory=list)
    shapes: dict[str, Shape | None] = field(default_factory=dict)
    train: dict[str, bool] = field(default_factory=dict)
    removed: set[str] = field(default_factory=set)
    #: where each name of the layer list is declared (its last index) and what it reads
    declared_at: dict[str, int] = field(default_factory=dict)
    refs: dict[str, list[str]] = field(default_factory=dict)
    index: int = 0
    position: int = 0
    auto: dict[str, int] = field(default_factory=dict)
    switches: list[tuple[str, str]] = field(default_factory=list)

    def qual(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def is_later(self, name: str) -> bool:
        """True when `name` is declared after the item being lowered."""
        return self.declared_at.get(name, -1) > self.index


class Lowerer:
    """Turns one validated spec into a Graph, collecting diagnostics."""

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
        self.ctx = ShapeContext()
        self.count = 0
        self.depth = 0
        self.block_stack: list[str] = []
        self.globals: dict[str, Any] = {}
        self.failed: set[str] = set()
        self.suggestion_budget = 20_000
        self.init_rules: list[InitStep] = []

    # -- diagnostics -------------------------------------------------------------------
    def span(self, ypath: PathKey, key: bool = False) -> SourceSpan | None:
        return self.doc.span_of(ypath, key=key)

    def error(
        self, code: str, message: str, ypath: PathKey, hint: str | None = None, key: bool = False
    ) -> None:
        self.bag.add(Diagnostic(code, message, self.span(ypath, key), hint))

    def close_matches(self, name: str, candidates: Sequence[str]) -> list[str]:
        """The "did you mean" for `name`, while the run's budget of comparisons lasts: a
        file can repeat one mistake thousands of times in a scope of thousands of names."""
        if len(candidates) > self.suggestion_budget:
            return []
        self.suggestion_budget -= len(candidates)
        return difflib.get_close_matches(name, candidates, n=1)

    def fail(self) -> SpecError:
        return SpecError(diagnostics=self.bag.errors, sources={self.doc.file: self.doc.text})

    # -- entry --------------------------------------------------------------------------
    def lower(self) -> Graph:
        spec = self.spec
        info = self.bind_params()
        in_shape = tuple(Dim.of(d) for d in spec.input)
        root = self.lower_scope(
            [Item(s, ("layers", i)) for i, s in enumerate(spec.layers)],
            self.globals,
            in_shape,
            path="",
            class_name=spec.class_name or _class_name(spec.name),
            outputs=spec.outputs,
            outputs_ypath=("outputs",),
            span=self.span(()),
        )
        init = self.lower_init(root)
        if root is not None and not any(not o.train_only for o in root.outputs):
            self.error(
                "E312",
                "every output is train_only: eval mode would return nothing",
                ("outputs",),
                "list at least one node that runs in eval mode in `outputs`",
            )
        if self.bag.errors or root is None:
            raise self.fail()
        blocks = {name: tuple(self.param_infos(b.params)) for name, b in spec.blocks.items()}
        return Graph(
            name=spec.name,
            class_name=spec.class_name or _class_name(spec.name),
            description=spec.description,
            file=self.doc.file,
            input_shape=in_shape,
            params=dict(self.globals),
            param_info=tuple(info),
            root=root,
            init=tuple(init),
            init_rules=tuple(self.init_rules),
            constraints=tuple(self.ctx.constraints),
            diagnostics=tuple(self.bag.warnings),
            sources={self.doc.file: self.doc.text},
            blocks=blocks,
            block_docs={name: b.doc for name, b in spec.blocks.items()},
            input_span=self.span(("input",)),
        )

    # -- params -------------------------------------------------------------------------
    def param_infos(self, decls: Mapping[str, Any]) -> list[ParamInfo]:
        out = []
        for name, entry in decls.items():
            decl = _decl(entry)
            out.append(ParamInfo(name, decl.type, decl.default, decl.doc, decl.default is None))
        return out

    def bind_params(self) -> list[ParamInfo]:
        decls = self.spec.params
        for key in self.overrides:
            if key not in decls:
                close = self.close_matches(key, list(decls))
                hint = (
                    f"did you mean `{close[0]}`?"
                    if close
                    else (f"this spec's params: {', '.join(decls) or 'none'}")
                )
                self.error("E302", f"unknown param `{key}`", ("params",), hint)
        for name, entry in decls.items():
            decl = _decl(entry)
            yp = ("params", name)
            # Until bound, a param counts as failed: expressions that read it are skipped
            # quietly instead of each reporting "unknown name" after the real error.
            self.failed.add(name)
            if name in self.overrides:
                raw = self.overrides[name]
                try:
                    value = coerce_param(
                        raw, decl, from_text=isinstance(raw, str) and decl.type != "str"
                    )
                except ValueError as exc:
                    self.error("E309", f"param `{name}`: {exc}", yp, _param_hint(decl))
                    continue
            elif decl.default is None:
                self.error(
                    "E303",
                    f"param `{name}` has no default and was not given",
                    yp,
                    f"give it: --set {name}=... or {name}=... in Python",
                )
                continue
            else:
                try:
                    value = coerce_param(decl.default, decl)
                except ValueError as exc:
                    self.error("E309", f"param `{name}` default: {exc}", yp, _param_hint(decl))
                    continue
            self.globals[name] = value
            self.failed.discard(name)
        return self.param_infos(decls)

    # -- scopes -------------------------------------------------------------------------
    def lower_scope(
        self,
        items: Sequence[Item],
        env: Mapping[str, Any],
        in_shape: Shape | None,
        *,
        path: str,
        class_name: str,
        outputs: Sequence[str] | None = None,
        outputs_ypath: PathKey = (),
        span: SourceSpan | None = None,
        block: str | None = None,
        args: Mapping[str, Any] | None = None,
    ) -> Module | None:
        scope = _Scope(path)
        scope.shapes[INPUT] = in_shape
        scope.train[INPUT] = False
        # Computed once per list (not per item): a repeat of 10,000 copies stays linear.
        for idx, it in enumerate(items):
            declared = getattr(it.spec, "name", None) or it.name
            if declared:
                scope.declared_at[declared] = idx
                scope.refs[declared] = _refs(it.spec)
        prev = INPUT
        for idx, item in enumerate(items):
            scope.index = idx
            try:
                prev = self.lower_item(item, scope, env, prev) or prev
            except _Skip:
                name = getattr(item.spec, "name", None) or item.name
                if name:
                    scope.shapes[name] = None
                    scope.train[name] = False
                    prev = name
        outs: list[Output] = []
        if outputs:
            for j, oname in enumerate(outputs):
                if oname in scope.removed:
                    continue
                if oname not in scope.shapes:
                    self.unknown_ref(oname, scope, outputs_ypath + (j,))
                    continue
                outs.append(Output(oname, scope.train.get(oname, False)))
        else:
            outs.append(Output(prev, scope.train.get(prev, False)))
        return Module(
            class_name=class_name,
            path=path,
            nodes=tuple(scope.nodes),
            outputs=tuple(outs),
            in_shape=in_shape,
            span=span,
            block=block,
            args=dict(args or {}),
            switches=tuple(scope.switches),
        )

    def unknown_ref(
        self, name: str, scope: _Scope, ypath: PathKey, current: str | None = None
    ) -> None:
        if scope.is_later(name):
            cycle = _find_cycle(name, scope.refs)
            if cycle and current in cycle:
                # Tell it from the node being lowered: "a -> b -> a".
                k = cycle.index(current)
                cycle = cycle[k:-1] + cycle[:k] + [current]
            if cycle:
                self.error(
                    "E306",
                    f"cycle in references: {' -> '.join(cycle)}",
                    ypath,
                    "a node cannot depend on itself, directly or through others",
                )
            else:
                self.error(
                    "E305",
                    f"`{name}` is declared later in this layer list",
                    ypath,
                    "nodes run in the order they are written: move it above, "
                    "or read an earlier node",
                )
            return
        known = [n for n in scope.shapes if n != INPUT]
        close = self.close_matches(name, known)
        hint = (
            f"did you mean `{close[0]}`?"
            if close
            else (
                f"names defined before this point: {', '.join(known[-8:]) or 'none'} (and `input`)"
            )
        )
        self.error("E305", f"unknown reference `{name}`", ypath, hint)

    def next_name(self, scope: _Scope, item: Item, kind: str, is_module: bool) -> str:
        explicit = getattr(item.spec, "name", None) or item.name
        if explicit:
            return explicit
        if is_module:
            name = str(scope.position)
        else:
            k = scope.auto.get(kind, 0)
            scope.auto[kind] = k + 1
            name = kind if k == 0 else f"{kind}_{k}"
        return name

    def resolve_inputs(self, item: Item, scope: _Scope, prev: str) -> tuple[str, ...]:
        spec = item.spec
        raw = getattr(spec, "from_", None)
        if raw is None:
            return (prev,)
        names = [raw] if isinstance(raw, str) else list(raw)
        bad = False
        for j, n in enumerate(names):
            if n not in scope.shapes or n in scope.removed:
                yp = item.ypath + ("from",) + ((j,) if not isinstance(raw, str) else ())
                if n in scope.removed:
                    self.error(
                        "E305",
                        f"`{n}` is switched off by its `when` here",
                        yp,
                        "give this node the same `when`, or read another node",
                    )
                else:
                    self.unknown_ref(n, scope, yp, getattr(item.spec, "name", None) or item.name)
                bad = True
        if bad:
            raise _Skip
        return tuple(names)

    def add_node(self, scope: _Scope, node: Node, item: Item) -> str:
        if node.name in scope.shapes:
            self.error(
                "E304",
                f"duplicate name `{node.name}` in this module",
                item.ypath + ("name",),
                "names become attribute names and state_dict keys; make them unique",
            )
            raise _Skip
        when = getattr(item.spec, "when", None)
        if when is not None and node.when is None:
            node = dataclasses.replace(node, when=_when_text(when))
        scope.nodes.append(node)
        scope.shapes[node.name] = node.shape
        scope.train[node.name] = node.train_only
        if node.is_module:
            scope.position += 1
        return node.name

    # -- items ----------------------------------------------------------------------------
    def charge(self, units: int, ypath: PathKey, *, reserve: bool = False) -> None:
        """Count expansion work; past `max_layers` stop lowering (failed items count too).

        `reserve` only checks that `units` more items would fit, before they are made.
        """
        if self.count + units > self.max_layers:
            self.error(
                "E310",
                f"the spec expands to more than {self.max_layers:,} layer items (layers, "
                "blocks and repeats, counted as they are expanded)",
                ypath,
                f"lower the repeat counts or the nesting of repeats and blocks; {_RAISE_LIMIT}",
            )
            raise SpecErrorAbort
        if not reserve:
            self.count += units

    def lower_item(
        self, item: Item, scope: _Scope, env: Mapping[str, Any], prev: str
    ) -> str | None:
        """Lower one item (and what it expands to); its name, or None when `when` drops it."""
        self.charge(1, item.ypath)
        if self.depth >= MAX_NESTING:
            self.error(
                "E310",
                f"layers nest deeper than {MAX_NESTING} levels (blocks, repeats, "
                "sequentials and residuals inside each other)",
                item.ypath,
                "flatten the structure: nets this deep are written with `repeat`",
            )
            raise SpecErrorAbort
        self.depth += 1
        try:
            return self._lower_item(item, scope, env, prev)
        finally:
            self.depth -= 1

    def _lower_item(
        self, item: Item, scope: _Scope, env: Mapping[str, Any], prev: str
    ) -> str | None:
        spec = item.spec
        env = {**env, **item.env}
        inputs = self.resolve_inputs(item, scope, prev)
        in_shapes = [scope.shapes[n] for n in inputs]
        local = dict(env)
        if (
            in_shapes
            and in_shapes[0] is not None
            and len(in_shapes[0]) >= 2
            and in_shapes[0][1].is_const
        ):
            local["in_channels"] = in_shapes[0][1].value
        when = getattr(spec, "when", None)
        if when is not None:
            ok = self.eval_value(when, Final("bool"), local, item.ypath + ("when",))
            if not ok:
                name = getattr(spec, "name", None) or item.name
                if name:
                    scope.removed.add(name)
                scope.switches.append((name or "", _when_text(when)))
                return None
            if spec.type in ("residual", "parallel"):  # its nodes do not carry the `when`
                scope.switches.append(("", _when_text(when)))
        train = bool(getattr(spec, "train_only", False)) or any(
            scope.train.get(n, False) for n in inputs
        )
        kind = spec.type
        if kind in REGISTRY:
            return self.lower_op(item, scope, local, inputs, in_shapes, train)
        if kind == "sequential":
            return self.lower_child(
                item,
                scope,
                env,
                inputs,
                in_shapes,
                train,
                [Item(s, item.ypath + ("layers", i)) for i, s in enumerate(spec.layers)],
                "Sequential",
            )
        if kind == "repeat":
            self.check_index(item)
            count = self.eval_value(spec.count, Final("int", ge=0), local, item.ypath + ("count",))
            if count > self.max_layers:
                self.error(
                    "E310",
                    f"repeat count {count:,} is over the limit of {self.max_layers:,} layer items",
                    item.ypath + ("count",),
                    f"lower the count; {_RAISE_LIMIT}",
                )
                raise _Skip
            self.charge(count, item.ypath + ("count",), reserve=True)
            if isinstance(spec.count, str):  # an expression deciding structure
                scope.switches.append(("", spec.count))
            copies = [
                Item(spec.layer, item.ypath + ("layer",), {spec.index: k}, str(k))
                for k in range(count)
            ]
            return self.lower_child(
                item, scope, env, inputs, in_shapes, train, copies, "Sequential"
            )
        if kind == "vgg_cfg":
            scope.switches += [
                ("", raw) for raw in (spec.cfg, spec.batch_norm) if isinstance(raw, str)
            ]
            return self.lower_child(
                item,
                scope,
                env,
                inputs,
                in_shapes,
                train,
                self.expand_cfg(item, local),
                "Sequential",
            )
        if kind == "residual":
            return self.lower_residual(item, scope, env, inputs, in_shapes, train)
        if kind == "parallel":
            return self.lower_parallel(item, scope, env, inputs, in_shapes, train)
        return self.lower_block_call(item, scope, env, local, inputs, in_shapes, train)

    def check_index(self, item: Item) -> None:
        """Refuse a repeat index that would hide a param in scope (E304).

        Lowering would read the index and emitted code the param (or the other way round),
        so the two would disagree. An enclosing repeat's index may be reused: the inner one
        hides it in emitted code too.
        """
        spec = item.spec
        block = self.block_stack[-1] if self.block_stack else None
        block_params = set(self.spec.blocks[block].params) if block else set()
        if spec.index in block_params:
            owner = f"block {block}"
        elif spec.index in self.spec.params:
            owner = "the spec"
        else:
            return
        taken = block_params | set(self.spec.params)
        free = next(n for n in ("k", "j", "idx", "copy", f"{spec.index}_") if n not in taken)
        explicit = "index" in spec.model_fields_set
        self.error(
            "E304",
            f"repeat index `{spec.index}` has the name of a param of {owner}, which it would hide",
            item.ypath + ("index",) if explicit else item.ypath,
            f"name the index otherwise (`index: {free}`) or rename the param"
            + ("" if explicit else f"; a repeat's index is `{spec.index}` unless given"),
        )
        raise _Skip

    def lower_op(
        self,
        item: Item,
        scope: _Scope,
        env: Mapping[str, Any],
        inputs: tuple[str, ...],
        in_shapes: list[Shape | None],
        train: bool,
    ) -> str:
        spec = item.spec
        op = REGISTRY[spec.type]
        name = self.next_name(scope, item, spec.type, op.style == "module")
        if op.arity == 1 and len(inputs) != 1:
            self.error(
                "E305",
                f"{spec.type} takes one input, `from` names {len(inputs)}",
                item.ypath + ("from",),
                "only merge layers (add, concat) take several inputs",
            )
            raise _Skip
        if op.arity == "many" and getattr(spec, "from_", None) is None:
            self.error(
                "E305",
                f"{spec.type} joins several inputs: give them with `from: [a, b]`",
                item.ypath,
                "name the nodes it joins, e.g. `from: [input, conv2]`",
            )
            raise _Skip
        attrs, src = self.bind_fields(spec, env, item.ypath)
        shape = None
        if all(s is not None for s in in_shapes):
            self.ctx.node = scope.qual(name)
            try:
                res = op.infer(attrs, in_shapes, self.ctx)  # type: ignore[arg-type]
            except ShapeFailure as exc:
                yp = item.ypath + ((exc.field,) if exc.field and exc.field in src else ())
                self.error(exc.code, f"{scope.qual(name)}: {exc.message}", yp, exc.hint)
                raise _Skip from None
            attrs, shape = res.attrs, res.shape
        else:
            raise _Skip
        node = Node(
            name,
            spec.type,
            attrs,
            inputs,
            shape,
            tuple(in_shapes),  # type: ignore[arg-type]
            self.span(item.ypath),
            train,
            None,
            src,
        )
        return self.add_node(scope, node, item)

    def lower_child(
        self,
        item: Item,
        scope: _Scope,
        env: Mapping[str, Any],
        inputs: tuple[str, ...],
        in_shapes: list[Shape | None],
        train: bool,
        children: list[Item],
        class_name: str,
        *,
        block: str | None = None,
        args: Mapping[str, Any] | None = None,
        outputs: Sequence[str] | None = None,
        outputs_ypath: PathKey = (),
        src: Mapping[str, Any] | None = None,
    ) -> str:
        if len(inputs) != 1:
            self.error(
                "E305",
                "a module takes one input",
                item.ypath + ("from",),
                "give `from` one name; join several first with add or concat",
            )
            raise _Skip
        name = self.next_name(scope, item, "module", True)
        child = self.lower_scope(
            children,
            env,
            in_shapes[0],
            path=scope.qual(name),
            class_name=class_name,
            outputs=outputs,
            outputs_ypath=outputs_ypath,
            span=self.span(item.ypath),
            block=block,
            args=args,
        )
        assert child is not None
        # an output whose node failed has no shape (and no node): the parent skips quietly
        by_name = {n.name: n.shape for n in child.nodes}
        shapes = [child.in_shape if o.name == INPUT else by_name.get(o.name) for o in child.outputs]
        shape = shapes[0] if shapes else None
        if len(child.outputs) > 1:
            self.error(
                "E305",
                f"{scope.qual(name)} has {len(child.outputs)} outputs; "
                "a module used inside another must have one",
                item.ypath,
                "give its `outputs` one name, or join them with add or concat first",
            )
            raise _Skip
        if shape is None:
            node = Node(
                name,
                "module",
                {},
                inputs,
                None,
                tuple(in_shapes),
                self.span(item.ypath),
                train,
                child,
            )  # type: ignore[arg-type]
            self.add_node(scope, node, item)
            raise _Skip
        node = Node(
            name,
            "module",
            {},
            inputs,
            shape,
            tuple(in_shapes),
            self.span(item.ypath),  # type: ignore[arg-type]
            train,
            child,
            src=dict(src or {}),
        )
        return self.add_node(scope, node, item)

    def expand_cfg(self, item: Item, env: Mapping[str, Any]) -> list[Item]:
        """VGG make_layers: v -> conv3x3(pad 1) [+ BN] + ReLU(inplace); "M" -> MaxPool(2, 2)."""
        spec = item.spec
        cfg = spec.cfg
        if isinstance(cfg, str):
            cfg = self.eval_value(cfg, Final("any"), env, item.ypath + ("cfg",))
            if not isinstance(cfg, list) or not all(
                (isinstance(v, int) and not isinstance(v, bool) and v >= 1) or v == "M" for v in cfg
            ):
                self.error(
                    "E309",
                    'cfg must be a list of positive ints and "M"',
                    item.ypath + ("cfg",),
                    'e.g. [64, M, 128, M]: channel counts, and "M" for a 2x2 max pool',
                )
                raise _Skip
        bn = self.eval_value(spec.batch_norm, Final("bool"), env, item.ypath + ("batch_norm",))
        per_size = 3 if bn else 2  # conv [+ bn] + relu
        self.charge(
            sum(1 if v == "M" else per_size for v in cfg), item.ypath + ("cfg",), reserve=True
        )
        # Specs are made once per distinct entry and shared: a cfg repeats a few sizes.
        made: dict[Any, list[LayerSpec]] = {}
        out: list[Item] = []
        for j, v in enumerate(cfg):
            yp = item.ypath + ("cfg", j)
            if isinstance(v, int) and v < 1:
                self.error(
                    "E309",
                    f"cfg entry {v} must be a positive channel count",
                    yp,
                    'use a channel count >= 1, or "M" for a 2x2 max pool',
                )
                raise _Skip
            if v not in made:
                made[v] = _cfg_layers(v, bn)
            out.extend(Item(layer, yp) for layer in made[v])
        return out

    def lower_residual(
        self,
        item: Item,
        scope: _Scope,
        env: Mapping[str, Any],
        inputs: tuple[str, ...],
        in_shapes: list[Shape | None],
        train: bool,
    ) -> str:
        spec = item.spec
        if len(inputs) != 1:
            self.error(
                "E305",
                "a residual takes one input",
                item.ypath + ("from",),
                "give `from` one name; join several first with add or concat",
            )
            raise _Skip
        entry = inputs[0]
        prev = entry
        for i, body_item in enumerate(spec.body):
            sub = Item(body_item, item.ypath + ("body", i))
            try:
                prev = self.lower_item(sub, scope, env, prev) or prev
            except _Skip:
                raise
        identity = entry
        sc = spec.shortcut
        if sc is not None:
            local = dict(env)
            shp = scope.shapes.get(entry)
            if shp is not None and len(shp) >= 2 and shp[1].is_const:
                local["in_channels"] = shp[1].value
            keep = (
                True
                if sc.when is None
                else self.eval_value(
                    sc.when, Final("bool"), local, item.ypath + ("shortcut", "when")
                )
            )
            if keep:
                children = [
                    Item(s, item.ypath + ("shortcut", "layers", i)) for i, s in enumerate(sc.layers)
                ]
                fake = Item(_Named(name=sc.name, when=sc.when), item.ypath + ("shortcut",))
                identity = self.lower_child(
                    fake,
                    scope,
                    env,
                    (entry,),
                    [scope.shapes.get(entry)],
                    train,
                    children,
                    "Sequential",
                )
            else:
                scope.switches.append((sc.name, _when_text(sc.when)))
        base = getattr(spec, "name", None)
        add_name = f"{base}_sum" if base and spec.activation else base
        add_spec = _synth(REGISTRY["add"].spec, type="add", name=add_name, from_=[prev, identity])
        out = self.lower_item(Item(add_spec, item.ypath), scope, env, prev)
        if spec.activation:
            act = _synth(
                REGISTRY["activation"].spec, type="activation", fn=spec.activation, name=base
            )
            out = self.lower_item(Item(act, item.ypath + ("activation",)), scope, env, out)
        return out  # type: ignore[return-value]

    def lower_parallel(
        self,
        item: Item,
        scope: _Scope,
        env: Mapping[str, Any],
        inputs: tuple[str, ...],
        in_shapes: list[Shape | None],
        train: bool,
    ) -> str:
        spec = item.spec
        if len(inputs) != 1:
            self.error(
                "E305",
                "parallel branches take one input",
                item.ypath + ("from",),
                "give `from` one name; join several first with add or concat",
            )
            raise _Skip
        outs = []
        failed = False
        for key, branch in spec.branches.items():
            yp = item.ypath + ("branches", key)
            try:
                if isinstance(branch, list):
                    children = [Item(s, yp + (i,)) for i, s in enumerate(branch)]
                    outs.append(
                        self.lower_child(
                            Item(_Named(name=key), yp),
                            scope,
                            env,
                            inputs,
                            in_shapes,
                            train,
                            children,
                            "Sequential",
                        )
                    )
                else:
                    if getattr(branch, "name", None) not in (None, key):
                        self.error(
                            "E304",
                            f"branch `{key}` names its layer `{branch.name}`",
                            yp + ("name",),
                            "the branch key is the module name; drop `name`",
                        )
                        raise _Skip
                    if getattr(branch, "from_", None) is not None:
                        self.error(
                            "E305", "a branch reads the parallel input; drop `from`", yp + ("from",)
                        )
                        raise _Skip
                    outs.append(self.lower_item(Item(branch, yp, name=key), scope, env, inputs[0]))
            except _Skip:
                failed = True
        if failed:
            raise _Skip
        outs = [o for o in outs if o is not None]
        base = getattr(spec, "name", None)
        join = spec.join
        if join == "concat":
            dim = self.eval_value(spec.dim, Final("int"), env, item.ypath + ("dim",))
            jspec = _synth(REGISTRY["concat"].spec, type="concat", name=base, dim=dim, from_=outs)
        else:
            jspec = _synth(REGISTRY["add"].spec, type="add", name=base, from_=outs)
        return self.lower_item(Item(jspec, item.ypath), scope, env, inputs[0])  # type: ignore[return-value]

    def lower_block_call(
        self,
        item: Item,
        scope: _Scope,
        env: Mapping[str, Any],
        local: Mapping[str, Any],
        inputs: tuple[str, ...],
        in_shapes: list[Shape | None],
        train: bool,
    ) -> str:
        spec = item.spec
        bname = spec.type
        blocks = self.spec.blocks
        if bname not in blocks:
            known = sorted(
                {*REGISTRY, *blocks, "sequential", "repeat", "vgg_cfg", "residual", "parallel"}
            )
            close = self.close_matches(bname, known)
            hint = (
                f"did you mean `{close[0]}`?"
                if close
                else (
                    "define it under `blocks:`, or use a layer kind (see `archspec list --layers`)"
                )
            )
            self.error(
                "E205", f"unknown layer type or block `{bname}`", item.ypath + ("type",), hint
            )
            raise _Skip
        if bname in self.block_stack:
            chain = " -> ".join([*self.block_stack[self.block_stack.index(bname) :], bname])
            self.error(
                "E307",
                f"block `{bname}` contains itself ({chain})",
                item.ypath + ("type",),
                "blocks cannot be recursive; use `repeat` for stacks",
            )
            raise _Skip
        if len(self.block_stack) >= MAX_BLOCK_DEPTH:
            self.error(
                "E310",
                f"blocks nest deeper than {MAX_BLOCK_DEPTH}",
                item.ypath,
                "flatten the structure: call fewer blocks inside blocks",
            )
            raise _Skip
        bdef = blocks[bname]
        given = dict(spec.model_extra or {})
        args: dict[str, Any] = {}
        bad = False
        for key in given:
            if key not in bdef.params:
                close = self.close_matches(key, list(bdef.params))
                hint = (
                    f"did you mean `{close[0]}`?"
                    if close
                    else (f"{bname} takes: {', '.join(bdef.params) or 'no params'}")
                )
                self.error(
                    "E302",
                    f"block {bname} has no param `{key}`",
                    item.ypath + (key,),
                    hint,
                    key=True,
                )
                bad = True
        for pname, entry in bdef.params.items():
            decl = _decl(entry)
            yp = item.ypath + (pname,)
            if pname in given:
                raw = given[pname]
                try:
                    value = (
                        _parsed(raw).evaluate(local)
                        if isinstance(raw, str) and decl.type != "str"
                        else raw
                    )
                    args[pname] = coerce_param(value, decl)
                except ExprError as exc:
                    if not (isinstance(raw, str) and _reads_failed(raw, self.failed)):
                        self.error(exc.code, f"{bname}.{pname}: {exc.message}", yp, exc.hint)
                    bad = True
                except ValueError as exc:
                    self.error("E309", f"{bname}.{pname}: {exc}", yp, _param_hint(decl))
                    bad = True
            elif decl.default is not None:
                try:
                    args[pname] = coerce_param(decl.default, decl)
                except ValueError as exc:
                    where = ("blocks", bname, "params", pname)
                    self.error("E309", f"{bname}.{pname} default: {exc}", where, _param_hint(decl))
                    bad = True
            else:
                self.error(
                    "E303",
                    f"block {bname} needs param `{pname}`",
                    item.ypath,
                    f"add `{pname}: ...` to this layer",
                )
                bad = True
        if bad:
            raise _Skip
        self.block_stack.append(bname)
        try:
            children = [Item(s, ("blocks", bname, "layers", i)) for i, s in enumerate(bdef.layers)]
            return self.lower_child(
                item,
                scope,
                {**self.globals, **args},
                inputs,
                in_shapes,
                train,
                children,
                bname,
                block=bname,
                args=args,
                outputs=bdef.outputs,
                outputs_ypath=("blocks", bname, "outputs"),
                src=given,
            )
        finally:
            self.block_stack.pop()

    # -- values ---------------------------------------------------------------------------
    def bind_fields(
        self, spec: LayerSpec, env: Mapping[str, Any], ypath: PathKey
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        attrs: dict[str, Any] = {}
        src: dict[str, Any] = {}
        failed = False
        given = spec.model_fields_set
        for fname, key, final in _field_plan(type(spec)):
            raw = getattr(spec, fname)
            if fname in given:
                src[fname] = raw
            if final is None:
                attrs[fname] = raw
                continue
            try:
                attrs[fname] = self.eval_value(raw, final, env, ypath + (key,), raise_skip=False)
            except _BadValue:
                failed = True
        if failed:
            raise _Skip
        return attrs, src

    def eval_value(
        self,
        raw: Any,
        final: Final,
        env: Mapping[str, Any],
        ypath: PathKey,
        raise_skip: bool = True,
    ) -> Any:
        try:
            return bind_value(raw, final, env)
        except ExprError as exc:
            if not (isinstance(raw, str) and self.failed and _reads_failed(raw, self.failed)):
                self.error(exc.code, exc.message, ypath, exc.hint)
        except ValueError as exc:
            self.error("E309", str(exc), ypath, _value_hint(final))
        if raise_skip:
            raise _Skip
        raise _BadValue

    # -- init -----------------------------------------------------------------------------
    def lower_init(self, root: Module | None) -> list[InitStep]:
        steps = []
        for i, rule in enumerate(self.spec.init):
            yp = ("init", i)
            if not rule.layers and not rule.paths:
                self.error(
                    "E204",
                    "an init rule needs `layers` or `paths` to say what it applies to",
                    yp,
                    "e.g. `layers: [conv2d]` or `paths: [layer*.*.bn2]`",
                )
                continue
            for j, kind in enumerate(rule.layers):
                if kind not in REGISTRY or REGISTRY[kind].style != "module":
                    close = self.close_matches(kind, list(REGISTRY))
                    self.error(
                        "E205",
                        f"init rule names unknown layer kind `{kind}`",
                        yp + ("layers", j),
                        f"did you mean `{close[0]}`?"
                        if close
                        else "name layer kinds that make modules with weights (conv2d, linear, "
                        "batchnorm2d, ...)",
                    )
            active = True
            if rule.when is not None:
                try:
                    active = bool(bind_value(rule.when, Final("bool"), self.globals))
                except (ExprError, ValueError) as exc:
                    self.error(
                        "E308",
                        str(getattr(exc, "message", exc)),
                        yp + ("when",),
                        "an init rule's `when` is true or false, over the spec's params",
                    )
                    continue
            fns = []
            for which in ("weight", "bias"):
                fn = getattr(rule, which)
                if fn is None:
                    fns.append(None)
                elif isinstance(fn, str):
                    fns.append(("constant", {"val": 0.0 if fn == "zeros" else 1.0}))
                else:
                    try:
                        name, args = fn.chosen()
                    except ValueError as exc:
                        self.error(
                            "E204",
                            str(exc),
                            yp + (which,),
                            "e.g. `weight: {normal: {std: 0.01}}` or `bias: zeros`",
                        )
                        fns.append(None)
                        continue
                    fns.append(
                        ("constant", {"val": float(args)})
                        if name == "constant"
                        else (name, args.model_dump())
                    )
            for g in rule.paths:
                fnmatch.translate(g)
            step = InitStep(
                tuple(rule.layers),
                tuple(rule.paths),
                fns[0],
                fns[1],
                self.span(yp),
                when=None if rule.when is None else _when_text(rule.when),
                active=active,
            )
            self.init_rules.append(step)
            if root is not None:
                self.check_init_targets(step, yp, root)
            if active:
                steps.append(step)
        return steps

    def check_init_targets(self, step: InitStep, ypath: PathKey, root: Module) -> None:
        """E313 where a fan-based initialiser meets a tensor of fewer than two dims.

        kaiming_* and xavier_* divide by fan-in and fan-out, which torch computes only for a
        weight of rank 2 or more: a bias, or a norm layer's weight, makes torch raise while
        the model is built. Switched-off rules (`when` false) are checked too: emitted code
        keeps them. One error per rule and tensor, at the initialiser.
        """
        for which, fn in (("weight", step.weight), ("bias", step.bias)):
            if fn is None or fn[0] not in _FAN_BASED:
                continue
            for path, node in iter_nodes(root):
                if step.kinds and node.kind not in step.kinds:
                    continue
                if step.globs and not any(fnmatch.fnmatchcase(path, g) for g in step.globs):
                    continue
                rank = tensor_rank(node, which)
                if rank is not None and rank < 2:
                    self.error(
                        "E313",
                        f"{fn[0]} cannot initialise the {which} of `{path}` ({node.kind}): "
                        f"it has {rank} dim, and fan-based init needs 2 or more",
                        ypath + (which,),
                        f"initialise the {which} of {node.kind} layers with `constant`, "
                        "`zeros`, `ones`, `normal` or `uniform`, or narrow the rule's "
                        "`layers`/`paths`",
                    )
                    break


class _BadValue(Exception):
    pass


class SpecErrorAbort(Exception):
    """Expansion limit hit: stop lowering altogether."""


class _Named(BaseModel):
    """A stand-in spec for constructs that create a named child module."""

    name: str
    type: str = "sequential"
    from_: None = None
    when: Any = None  # carried to the node for emitters; lower_child does not evaluate it
    train_only: bool = False


def _cfg_layers(v: Any, bn: bool) -> list[LayerSpec]:
    """The layers of one VGG cfg entry: "M" a 2x2 max pool, a size a conv3x3 [+ BN] + ReLU."""
    if v == "M":
        return [_synth(REGISTRY["maxpool2d"].spec, type="maxpool2d", kernel_size=2, stride=2)]
    conv = _synth(REGISTRY["conv2d"].spec, type="conv2d", out_channels=v, kernel_size=3, padding=1)
    relu = _synth(REGISTRY["relu"].spec, type="relu", inplace=True)
    if bn:
        return [conv, _synth(REGISTRY["batchnorm2d"].spec, type="batchnorm2d"), relu]
    return [conv, relu]


def _synth(model: type[LayerSpec], **fields: Any) -> LayerSpec:
    """A layer spec made by lowering itself (cfg expansion, residual joins): already valid,
    so it skips validation, which also keeps the layer models' validators unbuilt."""
    return model.model_construct(**fields)


#: Initialisers computed from a tensor's fan-in and fan-out (torch needs rank >= 2).
_FAN_BASED = frozenset({"kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform"})

#: Rank of each parameter tensor of the built-in layer kinds that have parameters, known
#: without torch; tests/test_trust_values.py checks it against the modules torch builds.
_WEIGHT_RANKS = {
    "conv1d": 3,
    "conv2d": 4,
    "conv3d": 5,
    "linear": 2,
    "batchnorm1d": 1,
    "batchnorm2d": 1,
    "batchnorm3d": 1,
}


def tensor_rank(node: Node, which: str) -> int | None:
    """Dims of a module node's `weight` or `bias`; None when it has none or is not known
    (a plugin's layer: torch then has the last word, when the model is built)."""
    if node.kind not in _WEIGHT_RANKS:
        return None
    has = node.attrs.get("affine", True) if node.kind.startswith("batchnorm") else True
    if which == "bias" and not node.kind.startswith("batchnorm"):
        has = bool(node.attrs.get("bias", True))
    if not has:
        return None
    return _WEIGHT_RANKS[node.kind] if which == "weight" else 1


def _value_hint(final: Final) -> str:
    """What a field takes, for a value it refused."""
    kinds = {
        "int": "an integer (// divides whole numbers)",
        "ints": "an integer or a list of integers (// divides whole numbers)",
        "float": "a number",
        "bool": "true or false",
    }
    bounds = [
        f"{word} {v:g}"
        for word, v in (("at least", final.ge), ("above", final.gt), ("at most", final.le))
        if v is not None
    ]
    what = kinds.get(final.kind, "a value of its kind")
    return f"this field takes {what}" + (f", {' and '.join(bounds)}" if bounds else "")


def _param_hint(decl: ParamDecl) -> str:
    """What a param takes, for a value it refused."""
    bounds = [f"{k}: {v}" for k, v in (("ge", decl.ge), ("le", decl.le)) if v is not None]
    if decl.choices is not None:
        bounds.append(f"choices: {decl.choices}")
    where = f" with {', '.join(bounds)}" if bounds else ""
    return f"the param is declared `type: {decl.type}`{where}; give a value that fits"


def _when_text(when: Any) -> str:
    """A `when` as expression text (a literal true/false becomes `True`/`False`)."""
    return repr(when) if isinstance(when, bool) else str(when)


def _reads_failed(text: str, failed: set[str]) -> bool:
    """True when an expression reads a param whose own binding already failed."""
    try:
        return bool(_parsed(text).names & failed)
    except ExprError:
        return False


def _refs(spec: Any) -> list[str]:
    raw = getattr(spec, "from_", None)
    if raw is None:
        return []
    return [raw] if isinstance(raw, str) else list(raw)


def _find_cycle(start: str, refs: Mapping[str, list[str]]) -> list[str] | None:
    """A reference path from `start` back to itself through later nodes, if there is one."""
    stack = [(start, [start])]
    seen: set[str] = set()
    while stack:
        cur, path = stack.pop()
        for nxt in refs.get(cur, []):
            if nxt == start:
                return [*path, nxt]
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, [*path, nxt]))
    return None


def _class_name(name: str) -> str:
    parts = [p for p in name.replace("-", "_").split("_") if p]
    out = "".join(p[:1].upper() + p[1:] for p in parts) or "Net"
    return out if out[0].isalpha() else "Net" + out


def _decl(entry: Any) -> ParamDecl:
    """A ParamDecl from the full form, a type name (required param) or a bare default."""
    if isinstance(entry, ParamDecl):
        return entry
    if isinstance(entry, str) and entry in _TYPE_NAMES:
        return ParamDecl(type=entry)  # type: ignore[arg-type]
    if isinstance(entry, bool):
        return ParamDecl(type="bool", default=entry)
    if isinstance(entry, int):
        return ParamDecl(type="int", default=entry)
    if isinstance(entry, float):
        return ParamDecl(type="float", default=entry)
    if isinstance(entry, list):
        return ParamDecl(type="list", default=entry)
    return ParamDecl(type="str", default=entry)


def coerce_param(value: Any, decl: ParamDecl, from_text: bool = False) -> Any:
    """Check (and for CLI text, parse) a param value against its declaration."""
    t = decl.type
    if from_text:
        value = _parse_text(value, t)
    _check_numbers(value)
    if t == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ValueError(f"expected an integer, got {value!r}")
    elif t == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        value = float(value)
    elif t == "bool":
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
    elif t == "str":
        if not isinstance(value, str):
            raise ValueError(f"expected a string, got {value!r}")
    elif t == "list":
        if not isinstance(value, list):
            raise ValueError(f"expected a list, got {value!r}")
        if len(value) > MAX_NODES:
            raise ValueError("list too long")
    if decl.ge is not None and value < decl.ge:
        raise ValueError(f"{value!r} is below the minimum {decl.ge}")
    if decl.le is not None and value > decl.le:
        raise ValueError(f"{value!r} is above the maximum {decl.le}")
    if decl.choices is not None and value not in decl.choices:
        raise ValueError(f"{value!r} is not one of {decl.choices}")
    return value


def _check_numbers(value: Any) -> None:
    """Params from Python or --set meet the bounds YAML values meet (see loader.MAX_INT)."""
    if isinstance(value, list):
        for v in value:
            _check_numbers(v)
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
        bits = value.bit_length()
        text = str(value) if bits < 128 else f"an integer of {bits} bits"
        raise ValueError(f"{text} is out of range (|n| <= 10^15)")


def _parse_text(text: str, t: str) -> Any:
    s = text.strip()
    shown = repr(text) if len(text) <= 40 else repr(text[:37]) + "..."
    if t in ("int", "float") and len(s) > 40:  # before Python parses thousands of digits
        raise ValueError(f"{shown} is out of range (|n| <= 10^15)")
    if t == "int":
        try:
            return int(s, 10)
        except ValueError:
            raise ValueError(f"expected an integer, got {shown}") from None
    if t == "float":
        try:
            v = float(s)
        except ValueError:
            raise ValueError(f"expected a number, got {shown}") from None
        if v != v or v in (float("inf"), float("-inf")):
            raise ValueError(f"expected a finite number, got {text!r}")
        return v
    if t == "bool":
        low = s.lower()
        if low in ("true", "yes", "1", "on"):
            return True
        if low in ("false", "no", "0", "off"):
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if t == "list":
        from .loader import load_yaml

        try:
            return load_yaml(s, "<--set>").data
        except Exception:
            raise ValueError(f"expected a YAML list like [64, 64, M], got {text!r}") from None
    return text


@lru_cache(maxsize=4096)
def _parsed(text: str) -> Any:
    return parse_expr(text)


def bind_value(raw: Any, final: Final, env: Mapping[str, Any]) -> Any:
    """Evaluate a field's raw value (literal or expression) and check it against `final`."""
    if raw is None:
        return None
    if isinstance(raw, str):
        if final.choices and raw in final.choices:
            return raw
        if final.kind == "str":
            return raw
        raw = _parsed(raw).evaluate(env)
    if final.kind == "ints" and isinstance(raw, list):
        return [bind_value(v, Final("int", ge=final.ge), env) for v in raw]
    kind = "int" if final.kind == "ints" else final.kind
    value = raw
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                raise ValueError(
                    f"expected an integer, got {value!r}"
                    + (" (use // for integer division)" if isinstance(value, float) else "")
                )
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        value = float(value)
    elif kind == "bool" and not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{value} is not a finite number")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if final.ge is not None and value < final.ge:
            raise ValueError(f"{value} is below the minimum {final.ge}")
        if final.gt is not None and value <= final.gt:
            raise ValueError(f"{value} must be greater than {final.gt}")
        if final.le is not None and value > final.le:
            raise ValueError(f"{value} is above the maximum {final.le}")
    return value


_FIELD_PLANS: dict[type[BaseModel], tuple[tuple[str, str, Final | None], ...]] = {}


def _field_plan(model: type[BaseModel]) -> tuple[tuple[str, str, Final | None], ...]:
    """A layer model's attribute fields as (name, YAML key, Final), worked out once per
    model: binding runs for every layer of every spec."""
    plan = _FIELD_PLANS.get(model)
    if plan is None:
        plan = tuple(
            (fname, finfo.alias or fname, _final_of(model, fname))
            for fname, finfo in model.model_fields.items()
            if fname not in META_FIELDS
        )
        _FIELD_PLANS[model] = plan
    return plan


@lru_cache(maxsize=1024)
def _final_of(model: type[BaseModel], fname: str) -> Final | None:
    finfo = model.model_fields[fname]
    for m in finfo.metadata:
        if isinstance(m, Final):
            return m
    return _search_final(finfo.annotation)


def _search_final(ann: Any) -> Final | None:
    if typing.get_origin(ann) is typing.Annotated:
        for m in ann.__metadata__:
            if isinstance(m, Final):
                return m
    for a in typing.get_args(ann):
        f = _search_final(a)
        if f is not None:
            return f
    return None


def lower(
    spec: Any,
    doc: LoadedDoc,
    overrides: Mapping[str, Any] | None = None,
    max_layers: int = MAX_NODES,
) -> Graph:
    """Lower a validated spec to the IR, or raise SpecError with every problem found.

    `max_layers` bounds expansion (E310), so a few lines of YAML cannot ask for a billion
    layers; raise it for a network that really is that large.
    """
    if isinstance(max_layers, bool) or not isinstance(max_layers, int) or max_layers < 1:
        raise TypeError(f"max_layers must be a positive int, got {max_layers!r}")
    lowerer = Lowerer(spec, doc, overrides, max_layers)
    try:
        return lowerer.lower()
    except SpecErrorAbort:
        # The limit that stopped lowering (recorded last) is the first thing to read, not
        # the thousandth copy of an error in a repeated layer.
        lowerer.bag.diagnostics.insert(0, lowerer.bag.diagnostics.pop())
        raise lowerer.fail() from None
    except RecursionError:  # a last resort: MAX_NESTING should stop any spec before this
        lowerer.error("E310", "the spec nests too deeply to lower", ())
        raise lowerer.fail() from None


def describe_shape(shape: Shape | None) -> str:
    return "?" if shape is None else format_shape(shape)


__all__ = ["lower", "bind_value", "coerce_param", "check_name", "models"]
