"""Composition: specs made of other specs, resolved before validation.

`compose` takes a parsed spec (plain data and its span map) and returns one plain spec, with
every imported block copied in (`use:`, imports.py) and a family's variant chosen
(`variants:`, variants.py). Validation, lowering and everything after them see a single
spec as they always did; each node of it keeps the span of the file it came from, and spans
in an imported file record where it was imported (`SourceSpan.via`), so an error inside an
imported block names both. Files are reached only within the rules of sources.py.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Protocol

from ..errors import LoadError, SourceSpan, clipped, close_names_to
from ..lazymethods import dataclass
from ..loader import MAX_NODES, LoadedDoc, fresh_copy, is_kept
from .block_params import resolve_block_params
from .extends import extend, is_file_ref
from .imports import Importer, materialise
from .sources import LIBRARY_DIR, MAX_IMPORT_DEPTH, Reader, Shared, library_modules, refused
from .variants import FamilySpans, select_variant, variant_names

#: Top-level keys that make a spec composed rather than plain.
COMPOSE_KEYS = frozenset({"use", "variants", "extends"})


#: Finds a built-in spec by name: (its file, the variant the name stands for), or None.
class Builtins(Protocol):
    """The built-in specs `extends:` names: one by name (its file and variant), and every
    name, for the "did you mean" of one that is none."""

    def __call__(self, name: str) -> tuple[Path, str | None] | None: ...

    def names(self) -> list[str]: ...


__all__ = [
    "COMPOSE_KEYS",
    "LIBRARY_DIR",
    "compose",
    "library_modules",
    "family_store",
    "one_reading",
    "only_read",
    "read_once",
    "shares_family_data",
    "variant_names",
]


@dataclass
class _Reading:
    """What `one_reading` keeps while it lasts."""

    #: the compositions made, before a variant is chosen, with their spans sorted for
    #: choosing one, what later stages keep for the whole family (family_store) and the
    #: sizes of its parts, by what they are made from
    kept: dict[tuple[str, str, str | None], tuple[LoadedDoc, FamilySpans, dict[Any, Any], _Sizes]]
    #: each variant composed (by id, held) -> its family's store, and whether the variant
    #: shares the family's data (`only_read`)
    stores: dict[int, tuple[LoadedDoc, dict[Any, Any], bool]]
    #: the texts of the spec files read (`read_once`) and their real paths, by path as named
    texts: dict[str, str]
    reals: dict[str, Path]


_READ: ContextVar[_Reading | None] = ContextVar("archspec_one_reading", default=None)
#: Set while the caller of `compose` only reads what it returns (`only_read`).
_ONLY_READ: ContextVar[bool] = ContextVar("archspec_only_read", default=False)


@contextlib.contextmanager
def one_reading(kept: list[Any] | None = None) -> Iterator[None]:
    """Compose the variants of one family inside: the family file (its imports, its base)
    is composed once, from one reading of its files, and each variant is chosen from that.

    Outside, every `compose` reads the files again (a file may change between two calls);
    inside, the files are taken as read once, as one call composing every variant would.
    `kept`: where the reading goes when it ends, rather than being freed there (the command
    line keeps it for a process that ends right after: see archspec.cli.app.kept_until_exit);
    nothing reads it again."""
    reading = _Reading({}, {}, {}, {})
    token = _READ.set(reading)
    try:
        yield
    finally:
        _READ.reset(token)
        if kept is not None:
            kept.append(reading)


@contextlib.contextmanager
def only_read() -> Iterator[None]:
    """Compose for a caller that reads what `compose` returns and never edits it (api's
    `_parse`: validation and lowering only read a spec): a plain spec is then its kept parse
    itself, and a family's variant inside `one_reading` shares the family's data, which
    nothing edits, instead of being a copy of it (`shares_family_data`)."""
    token = _ONLY_READ.set(True)
    try:
        yield
    finally:
        _ONLY_READ.reset(token)


def read_once(path: str | Path, read: Callable[[str | Path], str]) -> str:
    """`read(path)`, the text of a spec file: inside `one_reading`, read once for all the
    variants of its family (a failed read is not kept: each raises its error)."""
    reading = _READ.get()
    if reading is None:
        return read(path)
    text = reading.texts.get(str(path))
    if text is None:
        text = reading.texts[str(path)] = read(path)
    return text


def family_store(doc: LoadedDoc) -> dict[Any, Any] | None:
    """A store shared by every variant of one family composed in this `one_reading` (the
    validated blocks and layers, the lowering memo), for `doc` as `compose` returned it;
    None for any other document, or outside `one_reading`. It lives as long as the reading:
    nothing in it reaches another family, another reading or another call."""
    reading = _READ.get()
    found = reading.stores.get(id(doc)) if reading is not None else None
    return found[1] if found is not None and found[0] is doc else None


def shares_family_data(doc: LoadedDoc) -> bool:
    """Whether `doc` is a variant composed inside `only_read` and `one_reading`: its data
    shares the family's, which nothing edits, so a later stage may keep a part of it as it
    is (a copy of a part is kept of any other document: its caller may edit it)."""
    reading = _READ.get()
    found = reading.stores.get(id(doc)) if reading is not None else None
    return found is not None and found[0] is doc and found[2]


def compose(
    doc: LoadedDoc,
    path: Path | None = None,
    *,
    variant: str | None = None,
    builtins: Builtins | None = None,
    _stack: tuple[str, ...] = (),
    _shared: Shared | None = None,
    _resolve: bool = True,
) -> LoadedDoc:
    """The plain spec `doc` stands for: imports resolved, its base extended, `variant` chosen.

    `path` is the file `doc` was read from (None for YAML text or a mapping, which may then
    import only from the built-in library); its folder is the tree imports may reach.
    `builtins` finds the built-in specs an `extends:` may name. `doc` may be a kept parse
    (`loader.load_yaml(copy=False)`): it is copied before anything edits it, and a family's
    variant inside `one_reading` needs no copy of it at all.
    """
    data = doc.data
    resolve = resolve_block_params if _resolve else _as_is
    if not isinstance(data, dict) or not COMPOSE_KEYS & data.keys():
        plain = doc if not _stack and _ONLY_READ.get() else _own(doc)  # only read: no copy
        return resolve(select_variant(plain, variant))
    shared = _shared or Shared(total_bytes=len(doc.text.encode("utf-8", "surrogatepass")))
    try:
        return _composed(doc, path, variant, builtins, _stack, shared, resolve)
    except LoadError as err:
        if not _stack:  # the texts of every file read, so the error shows its line
            for name, text in {**doc.sources, **shared.sources}.items():
                err.sources.setdefault(name, text)
        raise


def _composed(
    doc: LoadedDoc,
    path: Path | None,
    variant: str | None,
    builtins: Builtins | None,
    _stack: tuple[str, ...],
    shared: Shared,
    resolve: Callable[[LoadedDoc], LoadedDoc] = resolve_block_params,
) -> LoadedDoc:
    """`compose` of a spec that has composition keys."""
    reading = _READ.get() if not _stack and "variants" in doc.data else None
    real = _real(path, reading)
    if reading is not None:  # a family inside `one_reading`: its imports and base done once
        key = (doc.text, doc.file, str(real) if real is not None else None)
        found = reading.kept.get(key)
        if found is None:
            base = _imported_and_extended(_own(doc), real, builtins, (), shared)
            found = reading.kept[key] = (base, FamilySpans.of(base), {}, _Sizes(base.data))
        doc = resolve(select_variant(found[0], variant, found[1]))  # shares the family's data
        _check_size(doc, found[3])
        only = _ONLY_READ.get()
        if not only:  # the variant, copied: the caller may edit it, and nothing kept may change
            doc = fresh_copy(doc)
        reading.stores[id(doc)] = (doc, found[2], only)  # held: the id stays this document's
        return doc
    doc = _imported_and_extended(_own(doc), real, builtins, _stack, shared)
    doc = resolve(select_variant(doc, variant))
    _check_size(doc)
    return doc


def _as_is(doc: LoadedDoc) -> LoadedDoc:
    """A base an `extends:` reads keeps its `block` params unresolved: the extending spec
    may choose another block (`params: {block: Bottleneck}`), or swap the chosen one."""
    return doc


def _real(path: Path | None, reading: _Reading | None) -> Path | None:
    """`path` with symlinks followed (once per path inside `one_reading`)."""
    if path is None:
        return None
    if reading is None:
        return Path(os.path.realpath(path))
    real = reading.reals.get(str(path))
    if real is None:
        real = reading.reals[str(path)] = Path(os.path.realpath(path))
    return real


def _own(doc: LoadedDoc) -> LoadedDoc:
    """`doc`, copied if it is a kept parse (`load_yaml(copy=False)`), which nothing edits."""
    return fresh_copy(doc) if is_kept(doc) else doc


def _imported_and_extended(
    doc: LoadedDoc,
    real: Path | None,
    builtins: Builtins | None,
    _stack: tuple[str, ...],
    shared: Shared,
) -> LoadedDoc:
    """`doc` with its imports copied in and its base extended (no variant chosen yet)."""
    data = doc.data
    stack = _stack or ((str(real),) if real is not None else ())
    if "use" in data:
        doc = _with_imports(doc, real, shared)
    if "extends" in data:
        doc = extend(doc, lambda ref, site: _base(ref, site, real, builtins, stack, shared))
    return doc


def _base(
    ref: Any,
    site: SourceSpan | None,
    importer: Path | None,
    builtins: Builtins | None,
    stack: tuple[str, ...],
    shared: Shared,
) -> LoadedDoc:
    """The composed spec an `extends:` names: a file in the tree, or a built-in spec; the
    mapping form `{from: family.yaml, variant: small}` names one variant of a family."""
    hint = "name a built-in spec (`resnet50`) or a .yaml file next to this one"
    ref, variant = _base_ref(ref, site)
    reader = Reader(root=importer.parent if importer is not None else None, shared=shared)
    member = None
    if is_file_ref(ref) or ":" in ref:
        path = reader.locate(ref, importer, site)
    else:
        found = builtins(ref) if builtins is not None else None
        if found is None:
            known = builtins.names() if builtins is not None else []
            # `ResNet18` for resnet18; `resnet`, a family file's name, for its variants
            close = [n for n in known if n.lower() == ref.lower()] or close_names_to(ref, known)
            lead = f"did you mean `{close[0]}`? " if close else ""
            raise refused(
                f"no built-in spec named `{ref}` to extend", site, lead + hint, code="E114"
            )
        path, member = found
        path = Path(os.path.realpath(path))
    if variant is not None and member is not None and variant != member:
        raise refused(
            f"`{ref}` is already a variant of a family: it has no variant `{clipped(variant)}`",
            site,
            f"extend `{variant}` by its own name (`extends: {variant}`)",
            code="E114",
        )
    if str(path) in stack:
        chain = " -> ".join(Path(k).name for k in (*stack, str(path)))
        raise refused(f"`extends` cycle: {chain}", site, "a spec cannot extend itself", "E111")
    if len(stack) >= MAX_IMPORT_DEPTH:
        raise refused(
            f"`extends` is nested deeper than {MAX_IMPORT_DEPTH} specs",
            site,
            "extend the spec nearer the root of the chain, or copy what the chain sets into "
            "fewer files",
            "E111",
        )
    base = reader.read(path, site, how="extended")
    if (
        isinstance(base.data, dict)
        and not {"layers", "extends", "name", "input", "inputs"} & base.data.keys()
    ):
        raise refused(
            f"`{ref}` is a file of blocks, not a spec: there is no network to extend",
            site,
            f"import its blocks instead: `use: [{{from: {ref}, blocks: [...]}}]`",
            code="E114",
        )
    if member is None:
        member = _chosen_member(base, ref, variant, site)
    return compose(
        base,
        path,
        variant=member,
        builtins=builtins,
        _stack=(*stack, str(path)),
        _shared=shared,
        _resolve=False,
    )


def _base_ref(ref: Any, site: SourceSpan | None) -> tuple[str, str | None]:
    """(what `extends:` names, the variant it picks): `extends: NAME` or
    `extends: {from: NAME, variant: VARIANT}`; anything else is a located E114."""
    hint = (
        "write `extends: resnet50`, `extends: base.yaml`, or `extends: {from: family.yaml, "
        "variant: small}` for one variant of a family file"
    )
    variant = None
    if isinstance(ref, dict):
        unknown = sorted(str(k) for k in ref if k not in ("from", "variant"))
        if unknown or not isinstance(ref.get("variant", ""), str):
            what = f"unknown key `{unknown[0]}`" if unknown else "`variant` is not a name"
            raise refused(f"`extends`: {what}", site, hint, code="E114")
        ref, variant = ref.get("from"), ref.get("variant")
    if not isinstance(ref, str) or not ref or variant == "":
        raise refused("`extends` names one spec", site, hint, code="E114")
    return ref, variant


def _chosen_member(
    base: LoadedDoc, ref: str, variant: str | None, site: SourceSpan | None
) -> str | None:
    """The variant of the file `ref` an `extends:` takes, checked where the choice is written
    (at `extends:`, not as the family's own "choose one"): a family of several variants is
    extended one variant at a time, and only a family has variants to choose."""
    variants = base.data.get("variants") if isinstance(base.data, dict) else None
    names = [str(v) for v in variants] if isinstance(variants, dict) else []
    if variant is None and len(names) <= 1:
        return None
    shown = ", ".join(names[:8]) + (f" (and {len(names) - 8} more)" if len(names) > 8 else "")
    if variant is None:
        raise refused(
            f"`{ref}` is a family of {len(names)} variants: extend one of them",
            site,
            f"write `extends: {{from: {ref}, variant: {names[0]}}}`; variants: {shown}",
            code="E113",
        )
    if variant not in names:
        close = close_names_to(variant, names)
        lead = f"did you mean `{close[0]}`? " if close else ""
        raise refused(
            f"`{ref}` has no variant `{clipped(variant)}`",
            site,
            f"{lead}variants: {shown}" if names else f"`{ref}` is no family: drop `variant`",
            code="E113",
        )
    return variant


def _with_imports(doc: LoadedDoc, real: Path | None, shared: Shared) -> LoadedDoc:
    """`doc` with the blocks it imports copied in (`real`: its file, symlinks followed)."""
    reader = Reader(root=real.parent if real is not None else None, shared=shared)
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


def _check_size(doc: LoadedDoc, family: _Sizes | None = None) -> None:
    """The node limit of one file holds for the composed spec (imports included); `family`:
    the sizes of the family's parts that a variant of it shares."""
    data = doc.data
    if family is not None and type(data) is dict:
        count = 1 + sum(family.nodes(key, value) for key, value in data.items())
    else:
        count = _nodes(data)
    if count > MAX_NODES:
        raise LoadError(
            f"the composed spec has more than {MAX_NODES:,} YAML nodes",
            span=doc.span_of(("use",)) or doc.span_of(()),
            code="E104",
            hint="the size limits of a spec count the blocks it imports too",
            sources=doc.sources,
        )


def _nodes(value: Any) -> int:
    """The YAML nodes of `value` (itself, and every value below it), counted as far as just
    past MAX_NODES."""
    count, stack = 0, [value]
    while stack and count <= MAX_NODES:
        node = stack.pop()
        count += 1
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return count


class _Sizes:
    """The nodes of each top-level value of a family's composed data, counted once for all of
    its variants: a variant's blocks and layers are the family's own objects (its data is
    made from the family's before any copy), so only what the variant sets is counted again.
    The family's data is never edited (`one_reading` keeps it)."""

    def __init__(self, data: Any) -> None:
        self.data: dict[Any, Any] = data if type(data) is dict else {}
        self.counts: dict[Any, int] = {}

    def nodes(self, key: Any, value: Any) -> int:
        if key not in self.data or self.data[key] is not value:  # the variant's own value
            return _nodes(value)
        count = self.counts.get(key)
        if count is None:
            count = self.counts[key] = _nodes(value)
        return count
