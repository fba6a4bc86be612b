"""Composition: specs made of other specs, resolved before validation.

`compose` takes a parsed spec (plain data and its span map) and returns one plain spec, with
every imported block copied in (`use:`, imports.py) and a family's variant chosen
(`variants:`, variants.py). Validation, lowering and everything after them see a single
spec as they always did; each node of it keeps the span of the file it came from, and spans
in an imported file record where it was imported (`SourceSpan.via`), so an error inside an
imported block names both. Files are reached only within the rules of sources.py.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..errors import LoadError
from ..loader import MAX_NODES, LoadedDoc
from .imports import Importer, materialise
from .sources import LIBRARY_DIR, Reader, library_modules
from .variants import select_variant, variant_names

#: Top-level keys that make a spec composed rather than plain.
COMPOSE_KEYS = frozenset({"use", "variants"})

__all__ = ["COMPOSE_KEYS", "LIBRARY_DIR", "compose", "library_modules", "variant_names"]


def compose(doc: LoadedDoc, path: Path | None = None, *, variant: str | None = None) -> LoadedDoc:
    """The plain spec `doc` stands for: imports resolved, `variant` chosen.

    `path` is the file `doc` was read from (None for YAML text or a mapping, which may then
    import only from the built-in library); its folder is the tree imports may reach.
    """
    data = doc.data
    if not isinstance(data, dict) or not COMPOSE_KEYS & data.keys():
        return select_variant(doc, variant)
    if "use" in data:
        doc = _with_imports(doc, path)
    doc = select_variant(doc, variant)
    _check_size(doc)
    return doc


def _with_imports(doc: LoadedDoc, path: Path | None) -> LoadedDoc:
    real = Path(os.path.realpath(path)) if path is not None else None
    reader = Reader(root=real.parent if real is not None else None)
    reader.total_bytes = len(doc.text.encode("utf-8", "surrogatepass"))
    importer = Importer(reader)
    root = importer.module(doc, real, str(real) if real is not None else "<root>")
    imported = materialise(root, frozenset(root.blocks()))
    data = {k: v for k, v in doc.data.items() if k != "use"}
    own = data.get("blocks")
    if imported.blocks and (own is None or isinstance(own, dict)):
        data["blocks"] = {**imported.blocks, **(own or {})}
    spans = {**doc.spans, **imported.spans}
    key_spans = {**doc.key_spans, **imported.key_spans}
    sources = {name: text for name, text in reader.sources.items() if name != doc.file}
    return LoadedDoc(data, doc.file, doc.text, spans, key_spans, {**doc.other_sources, **sources})


def _check_size(doc: LoadedDoc) -> None:
    """The node limit of one file holds for the composed spec (imports included)."""
    count, stack = 0, [doc.data]
    while stack:
        node = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise LoadError(
                f"the composed spec has more than {MAX_NODES:,} YAML nodes",
                span=doc.span_of(("use",)) or doc.span_of(()),
                code="E104",
                hint="the size limits of a spec count the blocks it imports too",
                sources=doc.sources,
            )
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
