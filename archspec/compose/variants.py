"""`variants:`: one spec file, a family, and its named members.

    name: resnet
    params:
      layers: list
    variants:
      resnet18: {class_name: ResNet18, params: {layers: [2, 2, 2, 2]}}
      resnet34: {class_name: ResNet34, params: {layers: [3, 4, 6, 3]}}

A variant is chosen by name (`--variant resnet18`, `variant="resnet18"`, or the built-in name
alone when the family ships with archspec); it becomes the spec's `name`, its `params` become
the defaults of the family's params (still overridable with `--set`), and `class_name`,
`description` and `input` replace the family's when given. The result is one plain spec.
"""

from __future__ import annotations

import difflib
from typing import Any

from ..errors import LoadError, SourceSpan, clipped, close_names_to
from ..lazymethods import dataclass
from ..loader import LoadedDoc, PathKey

#: The keys one variant may set.
VARIANT_KEYS = ("class_name", "description", "input", "inputs", "params")
#: Most variants one family may have.
MAX_VARIANTS = 256
_TYPE_NAMES = frozenset({"int", "float", "bool", "str", "list"})


def _error(message: str, span: SourceSpan | None, hint: str, doc: LoadedDoc) -> LoadError:
    return LoadError(message, span=span, code="E113", hint=hint, sources=doc.sources)


def variant_names(data: Any) -> list[str]:
    """The variants a family's data declares (none for a plain spec, nor for more than
    MAX_VARIANTS: reading the file reports that once, not once per variant)."""
    found = data.get("variants") if isinstance(data, dict) else None
    if not isinstance(found, dict) or len(found) > MAX_VARIANTS:
        return []
    return [k for k in found if isinstance(k, str)]


@dataclass(frozen=True)
class FamilySpans:
    """A family's spans sorted once for all of its variants (`compose.one_reading` keeps
    them with the family): those outside `variants:`, which each variant starts from a copy
    of, their `_head` index, and each variant's own spans by its name."""

    spans: dict[PathKey, SourceSpan]
    key_spans: dict[PathKey, SourceSpan]
    heads: dict[PathKey, list[PathKey]]
    own: dict[Any, list[tuple[PathKey, SourceSpan]]]

    @classmethod
    def of(cls, doc: LoadedDoc) -> FamilySpans:
        spans: dict[PathKey, SourceSpan] = {}
        own: dict[Any, list[tuple[PathKey, SourceSpan]]] = {}
        for path, span in doc.spans.items():
            if path[:1] != ("variants",):
                spans[path] = span
            elif len(path) >= 2:
                own.setdefault(path[1], []).append((path, span))
        key_spans = {p: s for p, s in doc.key_spans.items() if p[:1] != ("variants",)}
        heads: dict[PathKey, list[PathKey]] = {}
        for path in spans:
            if path[:1] in _TARGETS:
                heads.setdefault(_head(path), []).append(path)
        return cls(spans, key_spans, heads, own)


def _own_start(doc: LoadedDoc) -> SourceSpan | None:
    """The start of `doc`'s own file: a spec that extends another has its base's root span
    (the merged text begins there), which would blame the base for what this file lacks."""
    root = doc.span_of(())
    if root is None or root.file == doc.file:
        return root
    return SourceSpan(doc.file, 1, 1)


def select_variant(
    doc: LoadedDoc, variant: str | None, spans: FamilySpans | None = None
) -> LoadedDoc:
    """`doc` as the plain spec of `variant` (doc unchanged when it is no family and no variant
    is asked for); `spans`: `FamilySpans.of(doc)`, when the caller keeps it."""
    data = doc.data
    family = isinstance(data, dict) and "variants" in data
    if not family:
        if variant is not None:
            raise _error(
                f"{doc.file} has no variants, so it has no variant `{clipped(variant)}`",
                _own_start(doc),
                "drop --variant (variant=), or add `variants:` to the spec",
                doc,
            )
        return doc
    variants = data["variants"]
    vspan = doc.span_of(("variants",), key=True)
    if not isinstance(variants, dict) or not 1 <= len(variants) <= MAX_VARIANTS:
        raise _error(
            f"`variants` maps each variant's name to what it sets (1 to {MAX_VARIANTS})",
            vspan,
            "write `variants: {small: {params: {width: 16}}, large: {params: {width: 64}}}`",
            doc,
        )
    names = list(variants)
    if variant is None and len(names) == 1:
        variant = names[0]  # a family of one: there is nothing to choose
    if variant is None:
        raise _error(
            f"{doc.file} is a family of {len(names)} variants; choose one",
            vspan,
            f"pass --variant NAME (variant= in Python); variants: {', '.join(names)}",
            doc,
        )
    if variant not in variants:
        close = close_names_to(variant, names)
        lead = f"did you mean `{close[0]}`? " if close else ""
        raise _error(
            f"{doc.file} has no variant `{clipped(variant)}`",
            vspan,
            f"{lead}variants: {', '.join(names)}",
            doc,
        )
    return _apply(doc, variant, variants[variant], spans or FamilySpans.of(doc))


def _unknown_key_hint(doc: LoadedDoc, key: Any) -> str:
    """What a variant sets; for a key that is one of the spec's params (`pyr_s: {n: 2}`),
    where it goes (`params: {n: 2}`)."""
    params = doc.data.get("params")
    if isinstance(key, str) and isinstance(params, dict) and key in params:
        return f"`{key}` is a param of the spec: set it under the variant's `params:`"
    return f"a variant sets {', '.join(VARIANT_KEYS)}"


def _apply(doc: LoadedDoc, variant: str, body: Any, family: FamilySpans) -> LoadedDoc:
    base: PathKey = ("variants", variant)
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise _error(
            f"variant `{variant}` is a mapping of {', '.join(VARIANT_KEYS)}",
            doc.span_of(base),
            "write `{class_name: Net18, params: {depth: 18}}`",
            doc,
        )
    for key in body:
        if key not in VARIANT_KEYS:
            raise _error(
                f"unknown key `{key}` in variant `{variant}`",
                doc.span_of((*base, key), key=True),
                _unknown_key_hint(doc, key),
                doc,
            )
    data = {k: v for k, v in doc.data.items() if k != "variants"}
    spans = _Spans.of_variant(family, variant)
    key_spans = dict(family.key_spans)
    data["name"] = variant
    spans.set(("name",), doc.span_of(base, key=True) or doc.span_of(("name",)))
    for key in ("class_name", "description", "input", "inputs"):
        if key in body:
            drop_other_form(data, key)  # one input, or several: the variant's form
            data[key] = body[key]
            spans.move((*base, key), (key,))
    for pname, value in _variant_params(doc, body, base).items():
        _set_default(doc, data, spans, pname, value, (*base, "params", pname))
    return LoadedDoc(
        data, doc.file, doc.text, spans.table, key_spans, dict(doc.other_sources), variant=variant
    )


#: The header keys of the other form of a network's input, which a variant or an extending
#: spec that gives one form drops from its family's or base's.
OTHER_FORM = {"input": ("inputs",), "inputs": ("input", "input_dtype")}


def drop_other_form(data: dict[str, Any], key: str) -> None:
    """Before `key` (`input` or `inputs`) is set in `data`, drop the other form's keys."""
    for other in OTHER_FORM.get(key, ()):
        data.pop(other, None)


#: The heads of every path a move replaces the spans below (`_apply`, `_set_default`).
_TARGETS = frozenset({("params",), *((key,) for key in VARIANT_KEYS)})


def _head(path: PathKey) -> PathKey:
    """The part of a path a move's target shares with every path below it."""
    return path[:2] if path[:1] == ("params",) else path[:1]


class _Spans:
    """A span table being edited, indexed by `_head`, and the spans a move reads from: a
    move finds the spans below its source and its target without scanning the whole table
    (a family's spans, imported blocks included, number thousands, and each of a variant's
    params is a move)."""

    def __init__(
        self,
        table: dict[PathKey, SourceSpan],
        own: list[Any],
        heads: dict[PathKey, list[PathKey]] | None = None,
    ) -> None:
        self.table = table
        self.own: list[tuple[PathKey, SourceSpan]] = own
        if heads is None:
            heads = {}
            for path in table:
                if path[:1] in _TARGETS:
                    heads.setdefault(_head(path), []).append(path)
        self.heads = heads

    @classmethod
    def of_variant(cls, family: FamilySpans, variant: str) -> _Spans:
        """The family's spans less `variants:` (copied); moves read the variant's own entry."""
        heads = {head: list(paths) for head, paths in family.heads.items()}
        return cls(dict(family.spans), family.own.get(variant, []), heads)

    def set(self, path: PathKey, span: SourceSpan | None) -> None:
        if path not in self.table and path[:1] in _TARGETS:
            self.heads.setdefault(_head(path), []).append(path)
        self.table[path] = span  # type: ignore[assignment]

    def move(self, src: PathKey, dst: PathKey) -> None:
        """Point the spans of `dst` and below at the text of `src` and below."""
        n = len(dst)
        for path in self.heads.get(_head(dst), ()):
            if path[:n] == dst:
                self.table.pop(path, None)
        m = len(src)
        for path, span in self.own:
            if path[:m] == src:
                self.set((*dst, *path[m:]), span)


def _variant_params(doc: LoadedDoc, body: dict[str, Any], base: PathKey) -> dict[str, Any]:
    params = body.get("params", {})
    if not isinstance(params, dict):
        raise _error(
            "a variant's `params` maps param names to values",
            doc.span_of((*base, "params")),
            "write `params: {layers: [2, 2, 2, 2]}`",
            doc,
        )
    return params


def _set_default(
    doc: LoadedDoc,
    data: dict[str, Any],
    spans: _Spans | dict[PathKey, SourceSpan],
    pname: str,
    value: Any,
    vpath: PathKey,
) -> None:
    """Make `value` the default of the family's param `pname` (`spans`: edited in place;
    the spans moved there are `doc`'s)."""
    if not isinstance(spans, _Spans):
        spans = _Spans(spans, list(doc.spans.items()))
    declared = data.get("params") if isinstance(data.get("params"), dict) else {}
    if pname not in declared:
        close = difflib.get_close_matches(pname, list(declared), n=1)
        raise _error(
            f"variant sets `{pname}`, which the family does not declare",
            doc.span_of(vpath, key=True),
            f"did you mean `{close[0]}`?" if close else "declare it under the spec's `params:`",
            doc,
        )
    entry = declared[pname]
    params = dict(declared)
    if isinstance(entry, dict):
        params[pname] = {**entry, "default": value}
        target: PathKey = ("params", pname, "default")
    elif isinstance(entry, str) and entry in _TYPE_NAMES:
        params[pname] = {"type": entry, "default": value}
        spans.set(("params", pname, "type"), doc.span_of(("params", pname)))
        target = ("params", pname, "default")
    else:
        params[pname] = value
        target = ("params", pname)
    data["params"] = params
    spans.move(vpath, target)
    # A check of the default as a whole (type, bounds) points at the variant that set it.
    spans.set(("params", pname), doc.span_of(vpath))
