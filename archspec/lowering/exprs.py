"""The expressions lowering evaluates, kept on the IR in the terms they are written in.

An attribute stated as `planes * 4` inside a block is evaluated per instance; the node also
keeps the expression itself (ir.AttrExpr) and where each name it reads is bound, so that an
emitter writes the block's class from the IR, not from the spec text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..expr import ExprError
from ..exprrun import unknown_name
from ..ir import AttrExpr
from ..ops.base import Final
from ..ops.templates import TEMPLATE_PART
from .values import canonical, is_template, parsed

if TYPE_CHECKING:  # pragma: no cover
    from .walker import Lowerer


def attr_expr(lw: Lowerer, raw: Any, final: Final | None) -> AttrExpr | None:
    """The expression a field states (None for a literal or a text field), with where
    each name it reads is bound as the walk stands now."""
    if final is None or final.kind == "str" or not isinstance(raw, (str, list)):
        return None
    block = lw.block_stack[-1] if lw.block_stack else None
    try:
        key = (tuple(raw) if isinstance(raw, list) else raw, final.kind, final.choices, block)
        return lw.expr_cache[key]  # type: ignore[no-any-return]
    except TypeError:  # a list holding lists: not a key, work it out each time
        return _attr_expr(lw, raw, final)
    except KeyError:
        expr = lw.expr_cache[key] = _attr_expr(lw, raw, final)
        return expr


def _attr_expr(lw: Lowerer, raw: Any, final: Final) -> AttrExpr | None:
    texts = [t for t in _texts(raw) if not (final.choices and t in final.choices)]
    if not texts:
        return None
    if final.kind == "word" and isinstance(raw, str) and is_template(raw):
        return _template_expr(lw, raw)
    try:
        exprs = {t: parsed(t) for t in texts}
    except ExprError:
        return None
    names = sorted({n for e in exprs.values() for n in e.names})
    return AttrExpr(_written(raw, exprs), tuple((n, name_origin(lw, n)) for n in names))


def _template_expr(lw: Lowerer, text: str) -> AttrExpr | None:
    """A word field's `{expression}` template as Python: one part alone (`"{act}"`) is that
    expression; text around parts is a call of the names it reads, which emitted code does
    not write in a class's terms (`pyvalues._foreign`), so they decide the class (a class
    per value)."""
    parts = TEMPLATE_PART.findall(text)
    try:
        exprs = [parsed(p) for p in parts]
    except ExprError:
        return None
    names = sorted({n for e in exprs for n in e.names})
    if len(parts) == 1 and text == f"{{{parts[0]}}}":
        py = canonical(parts[0])
    else:
        py = f"template({', '.join(names)})"
    return AttrExpr(py, tuple((n, name_origin(lw, n)) for n in names))


def _texts(raw: Any) -> list[str]:
    """The text items of a value, at any depth of a list (a block argument `[w, [w, w]]`)."""
    if isinstance(raw, list):
        return [t for item in raw for t in _texts(item)]
    return [raw] if isinstance(raw, str) else []


def _written(raw: Any, exprs: dict[str, Any]) -> str:
    """A value as Python text: its expressions canonical, lists nested as they are written."""
    if isinstance(raw, list):
        return f"[{', '.join(_written(item, exprs) for item in raw)}]"
    return canonical(raw) if isinstance(raw, str) and raw in exprs else repr(raw)


def text_expr(lw: Lowerer, raw: Any) -> AttrExpr:
    """A `when`, a repeat count or a switch as an AttrExpr: an expression string with its
    names tagged as the walk stands now; a literal (`true`, `3`) as its Python text."""
    if not isinstance(raw, str):
        return AttrExpr(repr(raw))
    key = ("text", raw, lw.block_stack[-1] if lw.block_stack else None)
    kept = lw.expr_cache.get(key)
    if kept is None:  # the same `when` of a block, in every instance
        kept = lw.expr_cache[key] = _text_expr(lw, raw)
    return kept  # type: ignore[no-any-return]


def _text_expr(lw: Lowerer, raw: str) -> AttrExpr:
    try:
        expr = parsed(raw)
    except ExprError:
        return AttrExpr(raw)
    names = sorted(expr.names)
    return AttrExpr(canonical(raw), tuple((n, name_origin(lw, n)) for n in names))


def name_origin(lw: Lowerer, name: str) -> str:
    """Where a name an expression reads is bound: "block", "spec", "let", "index" or "input".

    A repeat index may not take the name of a param in scope (E304), and `in_channels` and
    `in_features` no param's, so the answer is unambiguous.
    """
    if name in ("in_channels", "in_features"):
        return "input"
    block = lw.block_stack[-1] if lw.block_stack else None
    if block is not None and name in lw.spec.blocks[block].params:
        return "block"
    if name in lw.spec.let or (block is not None and name in lw.spec.blocks[block].let):
        return "let"
    return "spec" if name in lw.spec.params else "index"


#: the fields whose sizes fold tokens back into a map, by the kind that takes them
_FOLD_FIELDS = {"reshape": "shape", "unflatten": "unflattened_size"}


def input_symbol_hint(
    message: str, input_dims: Sequence[Any], hint: str | None, reader: Any = None
) -> str | None:
    """E302's hint for an unknown name that is a symbol of the spec's `input:` (`size: [H,
    W]` to resize to the input): no expression reads a size, kinds that take it from a
    tensor do. Read by a `reshape`'s `shape` or an `unflatten`'s sizes (`reader`: the kind
    and the field), the size is a map's that tokens are folded back into (PVT's
    `x.transpose(1, 2).reshape(B, C, H, W)`), which a departition of one-token groups takes
    from that map. Other messages keep `hint`."""
    name = unknown_name(message)
    if name is not None and name.lower() in ("yes", "no", "on", "off", "y", "n"):
        return (  # text where YAML 1.1 has a boolean: quoted, or a `%YAML 1.2` spec
            f"`{name}` is text here, not a boolean (YAML 1.2, which a spec opening with `%YAML "
            "1.2` is read by, and a quoted word leave yes, no, on and off text): write true or "
            "false"
        )
    if name is None or name not in input_dims:
        return hint
    if reader is not None and _FOLD_FIELDS.get(reader[0]) == reader[1]:
        split = (
            "to split one dim and keep the sizes after it whatever they are (a detection "
            "head's `y.view(n, anchors, 5 + classes, h, w)`), `unflatten` that dim alone "
            "(`{type: unflatten, dim: 1, unflattened_size: [anchors, 5 + classes]}`); "
            if reader[0] == "reshape"
            else ""
        )
        follow = (
            f"{split}to fold (N, L, C) tokens back into the map they came from, at any size, "
            "`unsqueeze` them at dim 2 and `departition` them with `size: 1` and `from: "
            "[tokens, map]` (docs/spec-language.md, 'Tokens back into a map')"
        )
    else:
        follow = (
            "follow the input's size with a kind that takes it from a tensor "
            "(`interpolate_as` or `pad_as` with `from: [x, input]`, an adaptive pool)"
        )
    return (
        f"`{name}` is a symbol of `input:`, a size that no expression reads: {follow}, or "
        "write the number" + (f"; {hint}" if hint else "")
    )


def reader_of(data: Any, ypath: Sequence[Any]) -> tuple[str, str] | None:
    """The `type` of the node whose field `ypath` names, and the field: where in the spec
    document an expression was read (None when the path leads to no node's field)."""
    node = data
    try:
        for part in ypath[:-1]:
            node = node[part]
    except (KeyError, IndexError, TypeError):
        return None
    kind = node.get("type") if isinstance(node, dict) else None
    field = ypath[-1] if ypath else None
    return (kind, field) if isinstance(kind, str) and isinstance(field, str) else None
