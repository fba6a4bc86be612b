"""Params of type `block`: a family chooses which block its layers call.

    params:
      block: {type: block, default: BasicBlock}
    variants:
      resnet50: {params: {block: Bottleneck, layers: [3, 4, 6, 3]}}
    layers:
      - {name: layer1, type: repeat, count: layers[0], layer: {type: block, planes: 64}}

The choice is made when the spec is composed (by the default, a variant or an `extends:`):
every `type:` naming the param in the spec's own layers and blocks calls the chosen block,
and the param stays readable in expressions as a `str` whose only allowed value is that
block's name (`--set` cannot pick another block, since the network's structure was fixed by
the choice). A block imported by `use:` keeps its own scope: a `type:` inside it names its own
file's blocks, never the importing spec's param. A param named like a layer kind, a construct
or one of the spec's own blocks (its base's too, imported by the base's `use:`) would turn
every such `type:` into the chosen block: E304.
"""

from __future__ import annotations

import difflib
from typing import Any

from ..errors import LoadError
from ..loader import LoadedDoc


def _block_params(params: Any) -> dict[str, dict[str, Any]]:
    if not isinstance(params, dict):
        return {}
    return {
        name: entry
        for name, entry in params.items()
        if isinstance(entry, dict) and entry.get("type") == "block"
    }


def resolve_block_params(doc: LoadedDoc) -> LoadedDoc:
    """`doc` with each `block` param's choice written into the layers that call it."""
    data = doc.data
    if not isinstance(data, dict):
        return doc
    chosen = _block_params(data.get("params"))
    if not chosen:
        return doc
    blocks = data.get("blocks") if isinstance(data.get("blocks"), dict) else {}
    swaps: dict[str, str] = {}
    params = dict(data["params"])
    imported = {name for name in blocks if _is_imported(doc, name)}
    for name, entry in chosen.items():
        _refuse_shadowing(doc, name, blocks, imported)
        value = entry.get("default")
        if not isinstance(value, str) or value not in blocks:
            close = difflib.get_close_matches(str(value), list(blocks), n=1)
            raise LoadError(
                f"block param `{name}` is {value!r}, which names no block of this spec",
                span=doc.span_of(("params", name, "default")),
                code="E115",
                hint=(f"did you mean `{close[0]}`? " if close else "")
                + "a block param's value (its default, or a variant's) names a block under "
                "`blocks:` or imported by `use:`",
                sources=doc.sources,
            )
        swaps[name] = value
        params[name] = {**entry, "type": "str", "choices": [value]}
    out = {**data, "params": params}
    if "layers" in data:
        out["layers"] = _rewrite(data["layers"], swaps)
    if blocks:
        out["blocks"] = {
            name: {**body, "layers": _rewrite(body["layers"], swaps)}
            if isinstance(body, dict) and "layers" in body and name not in imported
            else body
            for name, body in blocks.items()
        }
    return LoadedDoc(
        out, doc.file, doc.text, doc.spans, doc.key_spans, dict(doc.other_sources), doc.variant
    )


def _is_imported(doc: LoadedDoc, block: str) -> bool:
    """Whether `block` came in through a `use:` (of this spec, or of a base it extends)."""
    span = doc.span_of(("blocks", block), key=True) or doc.span_of(("blocks", block))
    return span is not None and any(site.how == "imported" for site in span.import_sites())


def _named_by_base(doc: LoadedDoc, block: str) -> bool:
    """Whether `block` is one a base spec names in its `use:` (not one copied along because
    an imported block calls it), brought in by `extends:`."""
    span = doc.key_spans.get(("blocks", block))
    return (
        span is not None
        and span.named_import
        and any(site.how == "extended" for site in span.import_sites())
    )


def _refuse_shadowing(doc: LoadedDoc, name: str, blocks: Any, imported: set[str]) -> None:
    """E304 for a block param named like a layer kind, a construct, an own block or a block
    a base brings in, imported by the base's `use:` (one this spec's own `use:` imports
    under the param's name is E304 at that import, `compose/imports.py`)."""
    from ..constructs import kind_named

    what = kind_named(name)
    if not what and name in blocks and name not in imported:
        what = "block of this spec"
    elif not what and name in blocks and _named_by_base(doc, name):
        what = "block a base spec imports (by its `use:`)"
    if not what:
        return
    raise LoadError(
        f"block param `{name}` has the name of a {what}: every `type: {name}` would call "
        "the chosen block",
        span=doc.span_of(("params", name), key=True),
        code="E304",
        hint="rename the param (`block` is the usual name); to replace a block a base spec "
        "calls, swap it with `blocks: {Old: New}` in an `extends:`",
        sources=doc.sources,
    )


def _rewrite(node: Any, swaps: dict[str, str]) -> Any:
    if isinstance(node, list):
        return [_rewrite(item, swaps) for item in node]
    if not isinstance(node, dict):
        return node
    out = {k: _rewrite(v, swaps) for k, v in node.items()}
    kind = node.get("type")
    if isinstance(kind, str) and kind in swaps:
        out["type"] = swaps[kind]
    return out
