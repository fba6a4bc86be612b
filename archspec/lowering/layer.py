"""One layer of a registered kind: its fields bound, its shape rule run, one node (one per
piece for a kind with several outputs, `Op.names_field`)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..ir import AttrExpr, Node
from ..loader import PathKey
from ..ops import REGISTRY, ShapeFailure
from ..ops.base import LayerSpec
from .context import BadValue, Item, Site, Skip
from .exprs import attr_expr
from .values import field_plan

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer


def lower_op(lw: Lowerer, site: Site) -> str | None:
    """One layer: its fields bound, its shape rule run, one node; its name, or None for a
    learned tensor, which is not in the flow (the next node reads what arrived before it)."""
    item, scope, spec, inputs = site.item, site.scope, site.spec, site.inputs
    op = REGISTRY[spec.type]
    pieces = list(getattr(spec, op.names_field)) if op.names_field else []
    is_module = op.style == "module" and not (
        op.functional and item.declared_name and getattr(spec, "key", None) is None
    )
    name = pieces[0] if pieces else scope.next_name(item, spec.type, is_module)
    if op.arity == 0:
        if getattr(spec, "from_", None) is not None:
            lw.error(
                "E305",
                f"{spec.type} reads no input, `from` names {len(inputs)}",
                item.ypath + ("from",),
                "a learned tensor is read by the nodes that use it: drop its `from`",
            )
            raise Skip
        inputs, site = (), dataclasses.replace(site, inputs=(), in_shapes=[])
    if op.arity == 1 and len(inputs) != 1:
        lw.error(
            "E305",
            f"{spec.type} takes one input, `from` names {len(inputs)}",
            item.ypath + ("from",),
            "only merge layers (add, mul, concat) and layers made for it take several inputs",
        )
        raise Skip
    if isinstance(op.arity, int) and op.arity > 1 and len(inputs) != op.arity:
        lw.error(
            "E305",
            f"{spec.type} takes {op.arity} inputs, `from` names {len(inputs)}",
            item.ypath + (("from",) if getattr(spec, "from_", None) is not None else ()),
            f"name its {op.arity} inputs in order, e.g. `from: [input, conv2]`",
        )
        raise Skip
    if op.arity == "many" and getattr(spec, "from_", None) is None:
        lw.error(
            "E305",
            f"{spec.type} joins several inputs: give them with `from: [a, b]`",
            item.ypath,
            "name the nodes it joins, e.g. `from: [input, conv2]`",
        )
        raise Skip
    attrs, src, exprs = bind_fields(lw, spec, site.local, item.ypath)
    if any(s is None for s in site.in_shapes):
        raise Skip
    if pieces:
        lw.charge(len(pieces) - 1, item.ypath)
    for index, piece in enumerate(pieces or [name]):
        lw.ctx.node = scope.qual(piece)
        given = {**attrs, "_index": index} if pieces else attrs
        try:
            res = op.infer(given, site.in_shapes, lw.ctx)  # type: ignore[arg-type]
        except ShapeFailure as exc:
            _shape_failure(lw, exc, scope.qual(piece), item, src)
            raise Skip from None
        node = Node(
            piece,
            spec.type,
            res.attrs,
            inputs,
            res.shape,
            tuple(site.in_shapes),  # type: ignore[arg-type]
            lw.span(item.ypath),
            site.train,
            src=src,
            is_module=is_module,
            exprs=exprs,
            stated=frozenset(src),
        )
        out = lw.add_node(scope, node, item)
    return None if op.arity == 0 else out


def _shape_failure(lw: Lowerer, exc: ShapeFailure, qual: str, item: Item, src: Any) -> None:
    """A shape rule's error at its field; E411 once per spec position (repeat copies and
    block instances grow the same expression past the same bound)."""
    yp = item.ypath + ((exc.field,) if exc.field and exc.field in src else ())
    if exc.code == "E411":
        span = lw.span(yp)
        if span in lw.too_large_at:
            return
        lw.too_large_at.add(span)
    lw.error(exc.code, f"{qual}: {exc.message}", yp, exc.hint)


def bind_fields(
    lw: Lowerer, spec: LayerSpec, env: Mapping[str, Any], ypath: PathKey
) -> tuple[dict[str, Any], dict[str, Any], dict[str, AttrExpr]]:
    """A layer's attributes evaluated, the spec text of those it states, and the
    expressions among them (see exprs.py)."""
    attrs: dict[str, Any] = {}
    src: dict[str, Any] = {}
    exprs: dict[str, AttrExpr] = {}
    failed = False
    given = spec.model_fields_set
    for fname, key, final in field_plan(type(spec)):
        raw = getattr(spec, fname)
        if fname in given:
            src[fname] = raw
            expr = attr_expr(lw, raw, final)
            if expr is not None:
                exprs[fname] = expr
        if final is None:
            attrs[fname] = raw
            continue
        try:
            attrs[fname] = lw.eval_value(raw, final, env, ypath + (key,), raise_skip=False)
        except BadValue:
            failed = True
    if failed:
        raise Skip
    return attrs, src, exprs
