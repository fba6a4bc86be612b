"""`extends:`: a spec made from another one, with overrides.

    archspec: 1
    extends: resnet50            # a built-in name, or a .yaml file in the spec's tree
    name: resnet50_10
    params: {num_classes: 10}    # new defaults for the base's params (or new params)
    let: {width: num_classes * 4}  # joins the base's lets (same name: replaces it in place)
    replace:
      fc: {type: linear, out_features: 10}
    remove: [maxpool]
    insert:
      - {after: avgpool, layers: [{name: drop, type: dropout, p: 0.2}]}
    blocks:
      Bottleneck: SEBottleneck   # a name: every call of Bottleneck calls SEBottleneck
      SEBottleneck: {...}        # a mapping: a block of this spec (new, or replacing one)

The base is composed first (its own imports, variant, and base), then the overrides are
applied to its plain data; each piece keeps the span of the file it came from, and the
base's spans record the `extends:` that brought them in.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import LoadError, SourceSpan
from ..loader import LoadedDoc, PathKey
from .variants import _set_default, drop_other_form

#: Header keys the extending spec replaces as a whole when it gives them.
WHOLE_KEYS = (
    "archspec",
    "name",
    "class_name",
    "description",
    "input",
    "inputs",
    "layers",
    "outputs",
    "init",
    "state_dict_version",
    "register_order",
    "legacy_versions",
    "shard",
    "checkpoint",
    "frozen",
    "tied",
)
#: Keys only an extending spec has.
EDIT_KEYS = ("extends", "replace", "remove", "insert")
_TYPE_NAMES = frozenset({"int", "float", "bool", "str", "list"})
_HANDLED = frozenset({*WHOLE_KEYS, *EDIT_KEYS, "params", "let", "blocks", "use"})

Spans = dict[PathKey, SourceSpan]


def _refuse_copy(
    layers: list[tuple[Any, Spans, Spans, PathKey]],
    name: Any,
    names: list[Any],
    at: SourceSpan | None,
    child: LoadedDoc,
) -> None:
    """Raise the error for an edit naming a copy that a top-level flat `repeat` or
    `for_each` names (Xception's `block{i + 4}`): it is no written layer. Any other name
    passes."""
    copies = _copies_named(layers, name, names)
    if copies is None:
        return
    kind, template, where, around = copies
    raise _error(
        f"`{name}` is a copy the base's flat `{kind}` makes (`names: {template}`{where}), not "
        "a layer written in the base: `extends` edits written layers, and a flat copy has "
        "none of its own",
        at,
        f"name a written layer instead{around}, or give `layers:` whole (`archspec show` "
        "prints the base's)",
        child,
    )


def _copies_named(
    layers: list[tuple[Any, Spans, Spans, PathKey]], name: Any, names: list[Any]
) -> tuple[str, str, str, str] | None:
    """Where a name comes from a top-level flat `repeat` or `for_each` whose `names:`
    template could make it: its kind, template, location and the written layers around
    it; None otherwise."""
    if not isinstance(name, str):
        return None
    for i, (item, spans, _keys, where) in enumerate(layers):
        if not (isinstance(item, dict) and item.get("flat") is True):
            continue
        template = item.get("names")
        if not isinstance(template, str) or not _template_matches(template, name):
            continue
        span = spans.get(where)
        line = f", {Path(span.file).name}:{span.line}" if span is not None else ""
        around = [n for n in (names[i - 1] if i else None, *names[i + 1 : i + 2]) if n]
        listed = ", ".join(f"`{n}`" for n in around)
        beside = f" (around the copies: {listed})" if around else ""
        return str(item.get("type")), template, line, beside
    return None


def _template_matches(template: str, name: str) -> bool:
    """Whether a `names:` template (`block{i + 4}`) can give `name`: its text outside the
    `{...}` parts as written, each part any text."""
    parts = re.split(r"\{[^{}]*\}", template)
    if len(parts) == 1:
        return template == name
    return re.fullmatch(".+".join(re.escape(p) for p in parts), name) is not None


def _error(message: str, span: SourceSpan | None, hint: str, doc: LoadedDoc) -> LoadError:
    return LoadError(message, span=span, code="E114", hint=hint, sources=doc.sources)


def _graft(out: Spans, dst: PathKey, table: Spans, src: PathKey) -> None:
    """Copy the spans under `src` of `table` to `dst` in `out` (replacing what was there)."""
    n, m = len(dst), len(src)
    for path in [p for p in out if p[:n] == dst]:
        del out[path]
    for path, span in table.items():
        if path[:m] == src:
            out[(*dst, *path[m:])] = span


class _Reroot:
    """A base's span with the `extends:` site at the end of its import chain: a span the base
    imported keeps its import sites and gains the extends site after them (it used to keep
    only the import sites, so an error in a block the base imports never named the spec
    that extends it)."""

    def __init__(self, site: SourceSpan | None) -> None:
        if site is not None:  # a copy, marked: the note under an error says "extended at"
            site = site.with_via(site.via)
            site.__dict__["how"] = "extended"
        self.site = site
        self.chains: dict[int, tuple[SourceSpan, SourceSpan]] = {}  # spans share their chains

    def __call__(self, span: SourceSpan) -> SourceSpan:
        if self.site is None:
            return span
        return span.with_via(self._chain(span.via) if span.via is not None else self.site)

    def _chain(self, via: SourceSpan) -> SourceSpan:
        found = self.chains.get(id(via))
        if found is None:
            tail = self._chain(via.via) if via.via is not None else self.site
            found = self.chains[id(via)] = (via, via.with_via(tail))  # keeps `via` alive: id
        return found[1]


class Merge:
    """The base's plain spec with the extending spec's overrides applied."""

    def __init__(self, base: LoadedDoc, child: LoadedDoc, site: SourceSpan | None) -> None:
        self.child = child
        self.data: dict[str, Any] = dict(base.data) if isinstance(base.data, dict) else {}
        reroot = _Reroot(site)
        self.spans = {p: reroot(s) for p, s in base.spans.items()}
        self.key_spans = {p: reroot(s) for p, s in base.key_spans.items()}
        items = self.data.get("layers")
        base_spans, base_keys = dict(self.spans), dict(self.key_spans)
        #: Names `remove:` took out, so later edits naming one say so.
        self.removed: set[str] = set()
        #: Top-level layers as (data, spans table, key spans table, path there).
        self.layers: list[tuple[Any, Spans, Spans, PathKey]] = [
            (item, base_spans, base_keys, ("layers", i))
            for i, item in enumerate(items if isinstance(items, list) else [])
        ]
        self.sources = {**base.sources, **child.sources}
        #: The edits that could not be made: all are reported, each at its place.
        self.failed: list[LoadError] = []

    def apply(self) -> LoadedDoc:
        child = self.child.data
        for key in WHOLE_KEYS:
            if key in child:
                drop_other_form(self.data, key)  # the base's other form of input
                self.data[key] = child[key]
                _graft(self.spans, (key,), self.child.spans, (key,))
                _graft(self.key_spans, (key,), self.child.key_spans, (key,))
        if "layers" in child:
            self.layers = [
                (item, self.child.spans, self.child.key_spans, ("layers", i))
                for i, item in enumerate(
                    child["layers"] if isinstance(child["layers"], list) else []
                )
            ]
        if "name" in child and "class_name" not in child:
            self.data.pop("class_name", None)
        for key in child.keys() - _HANDLED:  # a typo: validation reports it where it is
            self.data[key] = child[key]
            _graft(self.spans, (key,), self.child.spans, (key,))
            _graft(self.key_spans, (key,), self.child.key_spans, (key,))
        self._params(child.get("params"))
        self._lets(child.get("let"))
        for edit, key in (
            (self._blocks, "blocks"),
            (self._replace, "replace"),
            (self._remove, "remove"),
            (self._insert, "insert"),
        ):
            try:
                edit(child.get(key))
            except LoadError as err:  # a whole table of the wrong shape: its one error
                self.failed.append(err)
        if self.failed:  # each edit that failed, not only the first: one run shows them all
            diagnostics = sorted(  # in the order of the file, as validation reports
                (d for err in self.failed for d in err.diagnostics),
                key=lambda d: (d.span.line, d.span.col) if d.span else (0, 0),
            )
            raise LoadError(diagnostics=diagnostics, sources=self.child.sources)
        self._rebuild_layers()
        other = {k: v for k, v in self.sources.items() if k != self.child.file}
        return LoadedDoc(
            self.data, self.child.file, self.child.text, self.spans, self.key_spans, other
        )

    # -- params and blocks ------------------------------------------------------------
    def _params(self, params: Any) -> None:
        if params is None:
            return
        if not isinstance(params, dict):
            self.data["params"] = params  # validation reports it, at the child's span
            _graft(self.spans, ("params",), self.child.spans, ("params",))
            return
        declared = self.data.get("params")
        self.data["params"] = dict(declared) if isinstance(declared, dict) else {}
        for name, entry in params.items():
            path = ("params", name)
            plain_value = not isinstance(entry, dict) and not (
                isinstance(entry, str) and entry in _TYPE_NAMES
            )
            if name in self.data["params"] and plain_value:
                _set_default(self.child, self.data, self.spans, name, entry, path)
                continue
            self.data["params"][name] = entry
            _graft(self.spans, path, self.child.spans, path)
            _graft(self.key_spans, path, self.child.key_spans, path)

    def _lets(self, lets: Any) -> None:
        """The child's `let:` bindings join the base's: one of the same name replaces the
        base's where it stands (later bindings may read it), a new one comes after them."""
        if lets is None:
            return
        base = self.data.get("let")
        if not isinstance(lets, dict) or not isinstance(base, dict):
            self.data["let"] = lets  # validation reports a wrong shape, at the child's span
            _graft(self.spans, ("let",), self.child.spans, ("let",))
            _graft(self.key_spans, ("let",), self.child.key_spans, ("let",))
            return
        self.data["let"] = {**base, **lets}
        for name in lets:
            path = ("let", name)
            _graft(self.spans, path, self.child.spans, path)
            _graft(self.key_spans, path, self.child.key_spans, path)

    def _blocks(self, blocks: Any) -> None:
        if blocks is None:
            return
        if not isinstance(blocks, dict):
            raise _error(
                "`blocks` maps block names to blocks", self._at(("blocks",)), "", self.child
            )
        merged = dict(self.data.get("blocks") or {})
        swaps: dict[str, str] = {}
        for name, body in blocks.items():
            if isinstance(body, str):
                swaps[name] = body
                continue
            merged[name] = body
            _graft(self.spans, ("blocks", name), self.child.spans, ("blocks", name))
            _graft(self.key_spans, ("blocks", name), self.child.key_spans, ("blocks", name))
        self.data["blocks"] = merged
        for old, new in swaps.items():
            where = self._at(("blocks", old))
            for name, what in ((old, "the base has no block"), (new, "there is no block")):
                if name not in merged:
                    close = difflib.get_close_matches(name, list(merged), n=1)
                    self.failed.append(
                        _error(
                            f"cannot swap `{old}` for `{new}`: {what} `{name}`",
                            where,
                            f"did you mean `{close[0]}`?"
                            if close
                            else "blocks: " + ", ".join(merged),
                            self.child,
                        )
                    )
                    break
        if swaps:
            self._swap(swaps)

    def _swap(self, swaps: dict[str, str]) -> None:
        """Every call of a swapped block, outside the block it is swapped for, calls the new one."""

        def rewrite(node: Any, skip: str | None) -> Any:
            if isinstance(node, list):
                return [rewrite(item, skip) for item in node]
            if not isinstance(node, dict):
                return node
            out = {k: rewrite(v, skip) for k, v in node.items()}
            kind = node.get("type")
            if isinstance(kind, str) and kind in swaps and swaps[kind] != skip:
                out["type"] = swaps[kind]
            return out

        self.layers = [(rewrite(item, None), *rest) for item, *rest in self.layers]
        _move_block_choices(self.data.get("params"), swaps)
        blocks = self.data["blocks"]
        for name, body in list(blocks.items()):
            if isinstance(body, dict) and "layers" in body:
                blocks[name] = {**body, "layers": rewrite(body["layers"], name)}

    # -- layer edits ------------------------------------------------------------------
    def _at(self, path: PathKey, key: bool = False) -> SourceSpan | None:
        return self.child.span_of(path, key=key)

    def _found(self, name: Any, path: PathKey) -> int | None:
        """`_index`, or None with its error kept (the other edits still run and report)."""
        try:
            return self._index(name, path)
        except LoadError as err:
            self.failed.append(err)
            return None

    def _index(self, name: Any, path: PathKey) -> int:
        names = [item.get("name") if isinstance(item, dict) else None for item, *_ in self.layers]
        if name in names:
            return names.index(name)
        if isinstance(name, str) and name in self.removed:
            twice = path[0] == "remove"
            raise _error(
                f"`{name}` is listed twice in `remove`"
                if twice
                else f"`{name}` is removed (`remove:`): there is no layer to insert beside",
                self._at(path),
                "list each layer once" if twice else "anchor the insertion at a layer that stays",
                self.child,
            )
        known = [n for n in names if isinstance(n, str)]
        _refuse_copy(self.layers, name, names, self._at(path), self.child)
        close = difflib.get_close_matches(str(name), known, n=1)
        raise _error(
            f"the base has no top-level layer named `{name}`",
            self._at(path),
            f"did you mean `{close[0]}`?" if close else "named layers: " + ", ".join(known),
            self.child,
        )

    def _replace(self, edits: Any) -> None:
        if edits is None:
            return
        if not isinstance(edits, dict):
            raise _error(
                "`replace` maps a layer's name to the layer that takes its place",
                self._at(("replace",)),
                "write `replace: {fc: {type: linear, out_features: 10}}`",
                self.child,
            )
        for name, node in edits.items():
            i = self._found(name, ("replace", name))
            if i is None:
                continue
            spans, keys = dict(self.child.spans), dict(self.child.key_spans)
            if isinstance(node, dict) and "name" not in node:
                node = {"name": name, **node}
                spans[("replace", name, "name")] = self._at(("replace", name), key=True)
            self.layers[i] = (node, spans, keys, ("replace", name))

    def _remove(self, names: Any) -> None:
        if names is None:
            return
        if not isinstance(names, list):
            raise _error(
                "`remove` lists the names of top-level layers",
                self._at(("remove",)),
                "write `remove: [maxpool]`",
                self.child,
            )
        replaced = self.child.data.get("replace") if isinstance(self.child.data, dict) else None
        for j, name in enumerate(names):
            if isinstance(replaced, dict) and isinstance(name, str) and name in replaced:
                self.failed.append(
                    _error(
                        f"`{name}` is both replaced (`replace:`) and removed (`remove:`)",
                        self._at(("remove", j)),
                        "keep one of the two edits: the replacement would be dropped unseen",
                        self.child,
                    )
                )
                continue
            i = self._found(name, ("remove", j))
            if i is None:
                continue
            del self.layers[i]
            if isinstance(name, str):
                self.removed.add(name)

    def _insert(self, inserts: Any) -> None:
        if inserts is None:
            return
        hint = "write `insert: [{after: avgpool, layers: [{type: dropout, p: 0.2}]}]`"
        if not isinstance(inserts, list):
            raise _error("`insert` is a list", self._at(("insert",)), hint, self.child)
        for j, edit in enumerate(inserts):
            path: PathKey = ("insert", j)
            anchors = [k for k in ("before", "after") if isinstance(edit, dict) and k in edit]
            if (
                not isinstance(edit, dict)
                or len(anchors) != 1
                or set(edit) != {anchors[0], "layers"}
                or not isinstance(edit["layers"], list)
            ):
                self.failed.append(
                    _error(
                        "each insertion has `before` or `after` (a layer's name) and `layers`",
                        self._at(path),
                        hint,
                        self.child,
                    )
                )
                continue
            at = self._found(edit[anchors[0]], (*path, anchors[0]))
            if at is None:
                continue
            at += anchors[0] == "after"
            new = [
                (item, self.child.spans, self.child.key_spans, (*path, "layers", k))
                for k, item in enumerate(edit["layers"])
            ]
            self.layers[at:at] = new

    def _rebuild_layers(self) -> None:
        if "layers" not in self.data and not self.layers:
            return
        self.data["layers"] = [item for item, *_ in self.layers]
        whole_span = self.spans.get(("layers",))
        key_span = self.key_spans.get(("layers",))
        _graft(self.spans, ("layers",), {}, ())
        _graft(self.key_spans, ("layers",), {}, ())
        if whole_span is not None:
            self.spans[("layers",)] = whole_span
        if key_span is not None:
            self.key_spans[("layers",)] = key_span
        for i, (_, spans, keys, src) in enumerate(self.layers):
            for table, out in ((spans, self.spans), (keys, self.key_spans)):
                m = len(src)
                for path, span in table.items():
                    if path[:m] == src:
                        out[("layers", i, *path[m:])] = span


def _move_block_choices(params: Any, swaps: dict[str, str]) -> None:
    """A `block` param (the base's are not resolved yet) that chooses a swapped block
    chooses the block it is swapped for."""
    for name, entry in (params if isinstance(params, dict) else {}).items():
        if not isinstance(entry, dict) or entry.get("type") != "block":
            continue
        default = entry.get("default")  # any value yet: validation reports a wrong one
        if isinstance(default, str) and default in swaps:
            params[name] = {**entry, "default": swaps[default]}


def extend(
    child: LoadedDoc,
    base_of: Callable[[Any, SourceSpan | None], LoadedDoc],
) -> LoadedDoc:
    """`child` applied to its composed base (`base_of(ref, site)` finds and composes it)."""
    site = child.span_of(("extends",))
    base = base_of(child.data["extends"], site)
    if not isinstance(base.data, dict):
        raise _error(f"{base.file} is not a spec", site, "extend a spec file", child)
    data = {k: v for k, v in child.data.items() if k not in ("extends",)}
    child = LoadedDoc(
        data, child.file, child.text, child.spans, child.key_spans, child.other_sources
    )
    return Merge(base, child, site).apply()


def is_file_ref(ref: str) -> bool:
    """A reference to a file (by its suffix) rather than a built-in spec's name."""
    return Path(ref).suffix.lower() in (".yaml", ".yml") or "/" in ref
