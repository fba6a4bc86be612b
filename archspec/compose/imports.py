"""`use:`: blocks imported from other spec files and from the built-in library.

    use:
      - {from: archspec:blocks/resnet, blocks: [BasicBlock, {Bottleneck: Bneck}]}
      - {from: lib/blocks.yaml, blocks: [MyStem]}

Each file is a module: the blocks it defines and the blocks it imports make its scope. An
imported block keeps its own scope: the blocks it calls are the ones its own file sees, even
where the importing spec has blocks of the same names. So the composed spec holds the
imported blocks under their (aliased) names and the blocks they call under their own names,
renamed (`ConvBNAct_2`) only where a name is taken. Every copied piece keeps the span of the
file it came from, with the import site recorded on it (`SourceSpan.via`).
"""

from __future__ import annotations

from collections import deque
from dataclasses import field, replace
from pathlib import Path
from typing import Any

from ..errors import LoadError, SourceSpan
from ..lazymethods import dataclass
from ..loader import LoadedDoc, PathKey, copy_data, is_kept
from .sources import MAX_IMPORT_DEPTH, Reader, refused

#: The most `use:` entries, and block names per entry, one file may have.
MAX_USES = 64
MAX_USE_NAMES = 256
#: The keys a file that is only a block library (it has no `layers`) may have.
MODULE_KEYS = frozenset({"archspec", "description", "use", "blocks"})


@dataclass(frozen=True)
class Entry:
    """A block visible in a module's scope: where it is defined, and the import sites that
    brought it into this scope (nearest first; none for the module's own blocks)."""

    module: Module
    name: str
    sites: tuple[SourceSpan, ...] = ()

    @property
    def key(self) -> tuple[str, str]:
        return (self.module.key, self.name)


@dataclass(eq=False)
class Module:
    """One file's blocks as its `blocks:` and `use:` make them visible."""

    key: str
    doc: LoadedDoc
    path: Path | None
    scope: dict[str, Entry] = field(default_factory=dict)
    #: How an import named it (`archspec:blocks/resnet`, `lib/blocks.yaml`), for messages.
    ref: str = ""

    def blocks(self) -> dict[str, Any]:
        data = self.doc.data
        found = data.get("blocks") if isinstance(data, dict) else None
        return found if isinstance(found, dict) else {}

    def block_spans(self, name: str, key: bool = False) -> list[tuple[PathKey, SourceSpan]]:
        """(path below `blocks.NAME`, span) for every span recorded under the block `name`
        (or every key span), from an index of the file's spans by block (`_spans_by_block`)."""
        return _spans_by_block(self.doc)[key].get(name, [])


#: The spans of a file by block, for the parsed documents imported files share (loader's
#: kept documents, which no one edits): id of the document -> (it, its index). Holding the
#: document keeps its id from being reused while the entry lives; the index depends on the
#: document alone.
_INDEXES: dict[int, tuple[LoadedDoc, dict[bool, dict[str, list[Any]]]]] = {}
INDEXES_KEPT = 64


def _spans_by_block(doc: LoadedDoc) -> dict[bool, dict[str, list[tuple[PathKey, SourceSpan]]]]:
    """`doc`'s spans and key spans grouped by the block they lie under (made once for a file
    that many compositions import: each copied block would scan all of its file's spans)."""
    kept = _INDEXES.get(id(doc))
    if kept is not None and kept[0] is doc:
        return kept[1]
    index: dict[bool, dict[str, list[tuple[PathKey, SourceSpan]]]] = {False: {}, True: {}}
    for key, table in ((False, doc.spans), (True, doc.key_spans)):
        for path, span in table.items():
            if len(path) >= 2 and path[0] == "blocks":
                index[key].setdefault(path[1], []).append((path[2:], span))
    if is_kept(doc):  # a document a caller may still edit is indexed afresh each time
        if len(_INDEXES) >= INDEXES_KEPT:
            del _INDEXES[next(iter(_INDEXES))]
        _INDEXES[id(doc)] = (doc, index)
    return index


def via_of(parent: SourceSpan | None, sites: tuple[SourceSpan, ...]) -> SourceSpan | None:
    """The import chain of a block reached from `parent`'s file through `sites`."""
    via = parent
    for site in sites:
        via = replace(site, via=via)
    return via


class Importer:
    """Builds the modules of one composition; each file once, cycles refused where closed."""

    def __init__(self, reader: Reader) -> None:
        self.reader = reader
        self.modules: dict[str, Module] = {}
        self.stack: list[str] = []

    def module(self, doc: LoadedDoc, path: Path | None, key: str) -> Module:
        """The module of an already parsed file (the root spec, or an imported file)."""
        mod = Module(key, doc, path)
        data = doc.data if isinstance(doc.data, dict) else {}
        blocks = data.get("blocks")
        if isinstance(blocks, dict):
            mod.scope = {name: Entry(mod, name) for name in blocks}
        uses = data.get("use")
        if uses is None:
            return mod
        if not isinstance(uses, list) or len(uses) > MAX_USES:
            raise refused(
                f"`use` is a list of at most {MAX_USES} imports",
                doc.span_of(("use",)),
                _USE_HINT,
            )
        self.stack.append(key)
        try:
            for i, entry in enumerate(uses):
                self._use(mod, entry, ("use", i))
        finally:
            self.stack.pop()
        return mod

    def _use(self, mod: Module, entry: Any, ypath: PathKey) -> None:
        doc = mod.doc
        site = doc.span_of(ypath)
        if not isinstance(entry, dict) or set(entry) != {"from", "blocks"}:
            raise refused("each import is a mapping with `from` and `blocks`", site, _USE_HINT)
        names = entry["blocks"]
        if not isinstance(names, list) or not 1 <= len(names) <= MAX_USE_NAMES:
            raise refused(
                "`blocks` lists the names of the blocks to import",
                doc.span_of((*ypath, "blocks")),
                _USE_HINT,
            )
        source = self._imported(mod, entry["from"], doc.span_of((*ypath, "from")))
        for j, item in enumerate(names):
            self._bind(mod, source, item, (*ypath, "blocks", j))

    def _imported(self, mod: Module, ref: Any, site: SourceSpan | None) -> Module:
        path = self.reader.locate(ref, mod.path, site)
        key = str(path)
        if key in self.stack:
            chain = " -> ".join(Path(k).name for k in self.stack[self.stack.index(key) :])
            raise refused(
                f"import cycle: {chain} -> {Path(key).name}",
                site,
                "a file cannot import itself, directly or through other files; move the "
                "shared blocks into a file that imports neither",
                code="E111",
            )
        if key in self.modules:
            return self.modules[key]
        if len(self.stack) >= MAX_IMPORT_DEPTH:
            raise refused(
                f"imports are nested deeper than {MAX_IMPORT_DEPTH} files",
                site,
                "import blocks from fewer levels of files",
                code="E111",
            )
        doc = self.reader.read(path, site, copy=False)  # read only: blocks are copied out
        _check_module_file(doc, site)
        found = self.module(doc, path, key)
        found.ref = ref if isinstance(ref, str) else doc.file
        self.modules[key] = found
        return found

    def _bind(self, mod: Module, source: Module, item: Any, ypath: PathKey) -> None:
        site = mod.doc.span_of(ypath)
        if isinstance(item, str):
            name = alias = item
        elif isinstance(item, dict) and len(item) == 1:
            ((name, alias),) = item.items()
        else:
            raise refused("an imported block is written `Name` or `{Name: Alias}`", site, _USE_HINT)
        if not isinstance(alias, str) or not alias.isidentifier():
            raise refused(f"{alias!r} is not a block name", site, _USE_HINT)
        from ..ops.names import check_name

        try:  # the name written here (`{Net: class}`): refused here, not at the block's file
            check_name(alias)
        except ValueError as exc:
            hint = "import it under another name: `{Name: MyName}`"
            raise refused(f"imported block name: {exc}", site, hint, code="E204") from None
        if alias != name:  # a rename to a kind's name is wrong here, not in the library
            _refuse_kind_alias(alias, site)
        _refuse_param_alias(mod, alias, site)
        found = source.scope.get(name)
        if found is None:
            listed = ", ".join(sorted(source.scope)) or "none"
            raise refused(
                f"`{source.ref or source.doc.file}` has no block `{name}`",
                site,
                f"blocks there: {listed}",
                code="E112",
            )
        bound = Entry(found.module, found.name, (site, *found.sites) if site else found.sites)
        old = mod.scope.get(alias)
        if old is not None and old.key != bound.key:
            where = "defined in this file" if not old.sites else f"imported at {old.sites[0]}"
            raise refused(
                f"block `{alias}` is already {where}",
                site,
                f"import it under another name: `{{{name}: Other{name}}}`",
                code="E112",
            )
        mod.scope[alias] = bound


def _refuse_param_alias(mod: Module, alias: str, site: SourceSpan | None) -> None:
    """E304 at the name in `use:` of a block imported under the name of a `block` param of
    the importing spec: every `type:` of that name calls the param's chosen block, so the
    imported block would silently never be called."""
    params = mod.doc.data.get("params") if isinstance(mod.doc.data, dict) else None
    entry = params.get(alias) if isinstance(params, dict) else None
    if isinstance(entry, dict) and entry.get("type") == "block":
        raise refused(
            f"imported block `{alias}` has the name of a block param of this spec: "
            f"`type: {alias}` calls the block the param chooses, never this one",
            site,
            "import it under another name: `{Name: MyName}`",
            code="E304",
        )


def _refuse_kind_alias(alias: str, site: SourceSpan | None) -> None:
    """E304 at the alias in `use:` for a block renamed to a layer kind's or construct's name
    (`{Wide: relu}`): `type: relu` would call the kind, never the block."""
    from ..constructs import shadowed_block

    shadowed = shadowed_block(alias)
    if shadowed is not None:
        hint = "import it under another name: `{Name: MyName}`"
        raise refused(shadowed[0], site, hint, code="E304")


_USE_HINT = (
    "write `use: [{from: archspec:blocks/resnet, blocks: [BasicBlock, {Bottleneck: Bneck}]}]`"
)


def _check_module_file(doc: LoadedDoc, site: SourceSpan | None) -> None:
    """An imported file is a mapping; one without `layers` is a block library and may hold
    only library keys (a typo such as `blcoks:` would otherwise hide every block). Errors
    are located in the file, with a note naming the import `site`."""

    def at(span: SourceSpan | None) -> SourceSpan | None:
        return span.with_via(site) if span is not None and span.via is None else span

    if not isinstance(doc.data, dict):
        raise LoadError(
            f"{doc.file} holds no mapping of blocks",
            span=at(doc.span_of(())),
            code="E110",
            hint="a block library is a mapping with `archspec: 1` and `blocks:`",
            sources=doc.sources,
        )
    if "extends" in doc.data:  # its blocks would be its base's and its own, composed
        raise LoadError(
            f"{doc.file} extends another spec, so blocks cannot be imported from it",
            span=at(doc.span_of(("extends",), key=True)),
            code="E110",
            hint="import the blocks from the file that defines them (the base, or a file of "
            "blocks both import)",
            sources=doc.sources,
        )
    if "layers" in doc.data:
        return
    for key in doc.data:
        if key not in MODULE_KEYS:
            raise LoadError(
                f"unknown key `{key}` in a block library",
                span=at(doc.span_of((key,), key=True)),
                code="E110",
                hint="a block library holds " + ", ".join(f"`{k}`" for k in sorted(MODULE_KEYS)),
                sources=doc.sources,
            )


@dataclass
class Imported:
    """The blocks a spec imports, ready to merge into its `blocks:`."""

    blocks: dict[str, Any] = field(default_factory=dict)
    spans: dict[PathKey, SourceSpan] = field(default_factory=dict)
    key_spans: dict[PathKey, SourceSpan] = field(default_factory=dict)


def materialise(root: Module, reserved: frozenset[str]) -> Imported:
    """Copy every block the root imports, and every block those call, into one namespace."""
    from ..constructs import CONSTRUCTS
    from ..ops import REGISTRY

    out = Imported()
    taken = set(root.scope) | set(reserved)
    named: dict[tuple[str, str], str] = {}
    work: deque[tuple[str, Entry, SourceSpan | None]] = deque()
    for alias, entry in root.scope.items():
        if entry.sites:
            named.setdefault(entry.key, alias)
            work.append((alias, entry, via_of(None, entry.sites)))
    listed = set(named.values())  # the names `use:` writes

    def name_for(entry: Entry, via: SourceSpan | None) -> str:
        if entry.key not in named:
            final, n = entry.name, 1
            while final in taken:
                n += 1
                final = f"{entry.name[:58]}_{n}"
            taken.add(final)
            named[entry.key] = final
            work.append((final, entry, via_of(via, entry.sites)))
        return named[entry.key]

    def rewrite(node: Any, entry: Entry, via: SourceSpan | None) -> Any:
        if isinstance(node, list):
            return [rewrite(item, entry, via) for item in node]
        if not isinstance(node, dict):
            return node
        out_node = {k: rewrite(v, entry, via) for k, v in node.items()}
        kind = node.get("type")
        if isinstance(kind, str) and kind not in REGISTRY and kind not in CONSTRUCTS:
            target = entry.module.scope.get(kind)
            if target is not None:
                out_node["type"] = name_for(target, via)
        return out_node

    while work:
        final, entry, via = work.popleft()
        body = entry.module.blocks().get(entry.name)
        copied = (
            {k: rewrite(v, entry, via) if k == "layers" else copy_data(v) for k, v in body.items()}
            if isinstance(body, dict)
            else body
        )
        out.blocks[final] = copied
        for sub, span in entry.module.block_spans(entry.name):
            out.spans[("blocks", final, *sub)] = span.with_via(via)
        for sub, span in entry.module.block_spans(entry.name, key=True):
            out.key_spans[("blocks", final, *sub)] = span = span.with_via(via)
            if not sub and final in listed:  # a spec extending this one cannot take its name
                span.__dict__["named_import"] = True
    return out
