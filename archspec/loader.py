"""YAML text -> plain data, with the source span of every key and value kept.

The safe loader's composer gives us a node tree with marks; we build the plain data ourselves
so that duplicate keys, unsafe tags, alias bombs, depth and size are all caught here, before
any later stage sees the document (dagster's yaml_utils does the position half of this).
"""

from __future__ import annotations

import contextlib
import itertools
import math
import re
from dataclasses import field
from typing import Any

import yaml

from .errors import LoadError, SourceSpan
from .lazymethods import dataclass
from .linebreaks import line_col
from .loader_events import copy_data as copy_data
from .loader_events import mark_span, read_events
from .loader_text import check_characters as _check_characters
from .loader_text import hidden_break as _hidden_break
from .loader_text import number_surprise as _number_surprise
from .loader_text import shown_scalar as shown_scalar
from .specbytes import MAX_BYTES as MAX_BYTES
from .specbytes import read_spec_text as read_spec_text
from .yaml12 import core_int, core_schema, declares_12
from .yaml_floats import PyLoader, with_exponent_floats

#: Limits for untrusted input; generous for real specs, fatal for hostile ones. The shipped
#: specs have 100-600 YAML nodes; reading 20,000 takes about a quarter of a second, and no
#: spec can lower more than `lower.MAX_NODES` (10,000) layers anyway.
MAX_DEPTH = 64
MAX_NODES = 20_000
MAX_ALIASES = 1_000
MAX_LIST = 10_000
MAX_INT = 10**15
#: E101's hint: a key is a plain word; `? ...` or `[...]:` make a YAML complex key.
_KEY_HINT = "write a key as a plain word (`out_channels:`), never `? ...` or `[...]:`"
#: Characters of keys and values after alias expansion: no more than a file can hold.
MAX_TEXT = MAX_BYTES

PathKey = tuple[str | int, ...]
#: Characters of the longest integer within MAX_INT in any base YAML reads (`0b` and 50
#: binary digits), so a longer one is out of range before it is converted.
_MAX_INT_CHARS = 2 + MAX_INT.bit_length()


_ALLOWED_SCALAR_TAGS = {f"tag:yaml.org,2002:{t}" for t in ("str", "int", "float", "bool", "null")}


@dataclass
class LoadedDoc:
    """A parsed spec document: plain data plus where each piece came from."""

    data: Any
    file: str
    text: str
    spans: dict[PathKey, SourceSpan] = field(default_factory=dict)
    key_spans: dict[PathKey, SourceSpan] = field(default_factory=dict)
    #: The text of the other files a composed spec was made from (`use:`, `extends:`).
    other_sources: dict[str, str] = field(default_factory=dict)
    #: The variant of a family this document is (None for a plain spec).
    variant: str | None = None

    @property
    def sources(self) -> dict[str, str]:
        """Every file's text by name, for quoting any span of this document."""
        return {**self.other_sources, self.file: self.text}

    def span_of(self, path: PathKey, key: bool = False) -> SourceSpan | None:
        """The span of `path`, or of its nearest ancestor that has one."""
        table = self.key_spans if key else self.spans
        p = tuple(path)
        while p:
            if p in table:
                return table[p]
            if not key and p in self.key_spans:
                return self.key_spans[p]
            p = p[:-1]
        return self.spans.get((), None)


class _MemoResolver:
    """A loader whose implicit tag resolution is remembered per value: libyaml's composer
    asks PyYAML's resolver (Python, a regex per candidate) for every scalar, and a spec
    repeats its keys and values (`type`, `out_channels`, `3`) hundreds of times. The tag
    depends only on the node kind, the value and `implicit` while the loader has no path
    resolvers (SafeLoader has none), so a remembered answer is the resolver's own."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)  # type: ignore[call-arg]
        self._tags: dict[Any, str] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if self.yaml_path_resolvers:  # type: ignore[attr-defined]
            return super().resolve(kind, value, implicit)  # type: ignore[misc, no-any-return]
        key = (kind, value, implicit)
        tag = self._tags.get(key)
        if tag is None:
            tag = self._tags[key] = super().resolve(kind, value, implicit)  # type: ignore[misc]
        return tag


_CSafe = getattr(yaml, "CSafeLoader", None)
_CLoader = (
    with_exponent_floats(type("_CLoader", (_MemoResolver, _CSafe), {}))
    if _CSafe is not None
    else None
)


_CLoader12 = core_schema(type("_CLoader12", (_MemoResolver, _CSafe), {})) if _CSafe else None
_PyLoader12 = core_schema(type("_PyLoader12", (yaml.SafeLoader,), {}))


def _make_loader(text: str) -> yaml.SafeLoader:
    """The parser and composer of `text`: libyaml's when available (several times faster),
    else PyYAML's; by YAML 1.2's core schema where the text says `%YAML 1.2` (yaml12.py)."""
    if declares_12(text):
        return (_CLoader12 or _PyLoader12)(text)  # type: ignore[no-any-return]
    if _CLoader is not None:
        return _CLoader(text)  # type: ignore[no-any-return]
    return PyLoader(text)


def _check_structure(text: str, file: str) -> None:
    """Refuse a document nested deeper than MAX_DEPTH or holding more than MAX_NODES nodes.

    Counted on the event stream, which is iterative and cheap, before anything is composed:
    a collection start is refused where it would open level MAX_DEPTH + 1. That position must
    not depend on the installed PyYAML or libyaml. libyaml >= 0.2.6 refuses nesting past 1,000
    levels itself, and its scanner looks up to 1,024 characters ahead on a line (for a possible
    `key:`), so `[[[[...` on one line fails inside libyaml before the event at level 65 is
    delivered. So when the stream stops at a YAML error, the text before that error is
    scanned again: the end of the text ends any lookahead, and the parser's own limit cannot
    be reached in it. A depth or size violation before the first YAML error wins, as it would
    with a parser that has no limit; otherwise the composer reports the error itself.
    """
    try:
        _scan_events(text, text, file)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        stop = getattr(mark, "index", None)
        if isinstance(stop, int) and 0 < stop < len(text):
            with contextlib.suppress(yaml.YAMLError):  # the prefix may end inside a collection
                _scan_events(text[:stop], text, file)


#: The events that each open one node: a scalar, an alias, or a collection.
_NODE_EVENTS = (yaml.ScalarEvent, yaml.AliasEvent, yaml.CollectionStartEvent)


def _scan_events(part: str, text: str, file: str) -> None:
    """Count depth and nodes over the events of `part` (a prefix of `text`).

    libyaml's events when available (several times faster), else PyYAML's, asked of the
    parser one at a time (yaml.parse's generator asks twice for each)."""
    depth = nodes = 0
    #: per open collection: [is it a mapping, nodes read in it] (even: the next is a key)
    open_: list[list[int]] = []
    parser = _make_loader(part)
    try:
        event = parser.get_event()
        while event is not None:
            if isinstance(event, _NODE_EVENTS):
                nodes += 1  # bounded before the composer builds (and we convert) them all
                if nodes > MAX_NODES:
                    raise _too_many_nodes(file, event.start_mark, text)
                if open_ and open_[-1][0]:
                    if open_[-1][1] % 2 == 0 and isinstance(event, yaml.AliasEvent):
                        raise _alias_key(file, event, text)
                    open_[-1][1] += 1
                if isinstance(event, yaml.CollectionStartEvent):
                    open_.append([isinstance(event, yaml.MappingStartEvent), 0])
                    depth += 1
                    if depth > MAX_DEPTH:
                        raise LoadError(
                            f"the document is nested deeper than {MAX_DEPTH} levels",
                            span=_mark_span(file, event.start_mark),
                            code="E104",
                            hint="specs are shallow; flatten the structure or use blocks",
                            sources={file: text},
                        )
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
                open_.pop()
            event = parser.get_event()
    finally:
        parser.dispose()


def _alias_key(file: str, event: Any, text: str) -> LoadError:
    """A key written as an alias (`*a : 1`): the composer gives it the anchored node, whose
    place any later error named (the anchor's line), so it is refused here, where it is."""
    return LoadError(
        f"a mapping key is the YAML alias *{event.anchor}",
        span=_mark_span(file, event.start_mark, event.end_mark),
        code="E101",
        hint="write the key itself: an alias repeats a value, it does not name a key",
        sources={file: text},
    )


def _too_many_nodes(file: str, mark: Any, text: str | None = None) -> LoadError:
    return LoadError(
        f"the document has more than {MAX_NODES:,} YAML nodes",
        span=_mark_span(file, mark) if mark is not None else None,
        code="E104",
        hint="a spec this large is refused; use `repeat` and blocks instead of writing layers out",
        sources={file: text} if text is not None else None,
    )


def _mark_span(file: str, mark: Any, end: Any = None) -> SourceSpan:
    if end is not None:
        return SourceSpan(file, mark.line + 1, mark.column + 1, end.line + 1, end.column + 1)
    return SourceSpan(file, mark.line + 1, mark.column + 1)


#: Parsed documents by (text, file name): a process that reads one file many times (each
#: variant of a family file, the block library every spec imports) parses it once. A failed
#: document is not kept, so its error is raised afresh each time.
_PARSED: dict[tuple[str, str], LoadedDoc] = {}
PARSED_KEPT = 64  # documents kept, the oldest dropped first


def load_yaml(text: str, file: str = "<string>", *, copy: bool = True) -> LoadedDoc:
    """Parse one YAML document safely, keeping spans; raise LoadError with a location.

    Each caller gets its own data and span maps (composition edits them); leaves and spans
    (frozen) are shared with the kept document. `copy=False`: the kept document itself, for
    a caller that only reads it (a file `use:` imports blocks from) and never edits it."""
    doc = _PARSED.get((text, file))
    if doc is None:
        if len(_PARSED) >= PARSED_KEPT:
            del _PARSED[next(iter(_PARSED))]
        doc = _PARSED[text, file] = _renamed(text, file) or _directed(_parse_yaml(text, file))
    return fresh_copy(doc) if copy else doc


def _directed(doc: LoadedDoc) -> LoadedDoc:
    """`doc`, once no key or value of it holds a raw bidi control (textdirection.py)."""
    if doc.text.isascii():
        return doc
    from .textdirection import BIDI_CONTROLS, check_bidi  # (a spec that is not ASCII)

    if BIDI_CONTROLS.search(doc.text) is None:
        return doc
    parents = {path[:-1] for path in doc.spans}
    leaves = (span for path, span in doc.spans.items() if path not in parents)
    check_bidi(doc.text, doc.file, itertools.chain(leaves, doc.key_spans.values()))
    return doc


def kept_data(text: str) -> Any:
    """The plain data of `text` (never edited), from a kept parse of it under any file name:
    for a caller that reads the data alone (a built-in file's variant names), which parsing
    `text` again, or renaming a kept parse's spans, would only repeat."""
    for (kept_text, _), doc in _PARSED.items():
        if kept_text == text:
            return doc.data
    return load_yaml(text, copy=False).data


def is_kept(doc: LoadedDoc) -> bool:
    """Whether `doc` is a kept parse that `load_yaml(copy=False)` hands out (never edited)."""
    return _PARSED.get((doc.text, doc.file)) is doc


def fresh_copy(doc: LoadedDoc) -> LoadedDoc:
    """`doc` with its own data and span maps (leaves and spans shared)."""
    spans, keys, others = dict(doc.spans), dict(doc.key_spans), dict(doc.other_sources)
    return LoadedDoc(copy_data(doc.data), doc.file, doc.text, spans, keys, others, doc.variant)


def _renamed(text: str, file: str) -> LoadedDoc | None:
    """A kept parse of the same text under another name (a built-in family file is read by
    its path for the index of built-in names, and by the name the user typed), with its spans
    moved to `file`: what parsing it as `file` gives, without parsing it again."""
    for (kept_text, _), doc in _PARSED.items():
        if kept_text == text:
            spans = {k: _in_file(s, file) for k, s in doc.spans.items()}
            keys = {k: _in_file(s, file) for k, s in doc.key_spans.items()}
            return LoadedDoc(doc.data, file, text, spans, keys)
    return None


def _in_file(span: SourceSpan, file: str) -> SourceSpan:
    """`span` in `file` (a fresh parse makes plain spans: no import site to keep)."""
    new = object.__new__(SourceSpan)
    new.__dict__.update(span.__dict__)
    new.__dict__["file"] = file
    return new


def _parse_yaml(text: str, file: str) -> LoadedDoc:
    """`load_yaml` without the cache."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_BYTES:
        raise LoadError(
            f"the spec is larger than {MAX_BYTES} bytes", span=SourceSpan(file, 1, 1), code="E104"
        )
    _check_characters(text, file)
    plain = _read_plain(text, file)
    if plain is not None:
        return plain
    _check_structure(text, file)
    loader = _make_loader(text)
    try:
        try:
            root = loader.get_single_node()
        except yaml.composer.ComposerError as exc:
            if "single document" in f"{exc.context} {exc.problem}":
                mark = exc.problem_mark
                raise LoadError(
                    "the file holds several YAML documents; a spec is one document",
                    span=_mark_span(file, mark) if mark else SourceSpan(file, 1, 1),
                    code="E106",
                    hint="remove the extra '---' separators or split the file",
                ) from None
            raise
    except LoadError as exc:
        raise _with_file(exc, file, text) from None
    except yaml.MarkedYAMLError as exc:
        from .yaml_hints import yaml_hint, yaml_problem  # (what only a broken file needs)

        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or str(exc)
        raise LoadError(
            f"invalid YAML: {yaml_problem(what, text, mark)}",
            span=_mark_span(file, mark) if mark else SourceSpan(file, 1, 1),
            code="E101",
            hint=yaml_hint(what, text, mark),
            sources={file: text},
        ) from None
    except yaml.reader.ReaderError as exc:
        # Not reached for the characters `_check_characters` knows; kept for anything else
        # the reader refuses (libyaml counts that position in bytes, PyYAML in characters).
        char = (
            exc.character if isinstance(exc.character, int) else ord(str(exc.character)[:1] or "?")
        )
        raise LoadError(
            f"the file contains the character U+{char:04X}, which YAML does not allow",
            span=SourceSpan(file, *line_col(text, max(0, min(exc.position, len(text))))),
            code="E105",
            hint="remove control characters; a spec is plain UTF-8 text",
            sources={file: text},
        ) from None
    except yaml.YAMLError as exc:
        raise LoadError(f"invalid YAML: {exc}", code="E101", span=SourceSpan(file, 1, 1)) from None
    except RecursionError:
        raise LoadError(
            "the document is nested too deeply", code="E104", span=SourceSpan(file, 1, 1)
        ) from None
    finally:
        loader.dispose()
    if root is None:
        raise LoadError(
            "the spec is empty",
            span=SourceSpan(file, 1, 1),
            code="E107",
            hint="start from `archspec new NAME`",
            sources={file: text},
        )
    doc = LoadedDoc(data=None, file=file, text=text)
    builder = _Builder(doc, loader)
    try:
        doc.data = builder.build(root, ())
    except LoadError as exc:
        raise _with_file(exc, file, text) from None
    return doc


def _read_plain(text: str, file: str) -> LoadedDoc | None:
    """`text` read in one pass over its events when it is plain (loader_events), else None."""
    if _hidden_break(text):  # the parsers read them as breaks; refused (E105)
        return None
    doc = LoadedDoc(None, file, text)
    limits = (MAX_DEPTH, MAX_NODES, MAX_LIST, MAX_TEXT, MAX_INT, MAX_ALIASES)
    scalar_reader = lambda loader: _Builder(doc, loader)._scalar  # noqa: E731
    read = read_events(lambda: _make_loader(text), file, limits, _DECIMAL.match, scalar_reader)
    if read is None:
        return None
    doc.data, doc.spans, doc.key_spans = read
    return doc


def path_text(path: PathKey) -> str:
    """A key path as `layers[0].type`, for messages about a value that has no line."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _with_file(exc: LoadError, file: str, text: str) -> LoadError:
    diags = []
    for d in exc.diagnostics:
        span = d.span
        if span is not None and span.file == "":
            span = SourceSpan(file, span.line, span.col, span.end_line, span.end_col)
        diags.append(type(d)(d.code, d.message, span, d.hint, d.severity))
    return type(exc)(diagnostics=diags, sources={file: text})


#: An int SafeConstructor reads as Python does (no `_`, base prefix, leading 0 or `:`).
_DECIMAL = re.compile(r"[-+]?(?:0|[1-9][0-9]{0,17})\Z")
#: A scalar's start written with YAML's non-specific tag (`! 12`, `&a ! 12`, `!<!> 12`), which
#: makes a scalar text (YAML 1.1 and 1.2 alike); PyYAML and libyaml resolve it as if plain.
_NON_SPECIFIC = re.compile(r"(?:&\S+\s+)?(?:!|!<!>)(?=[\s,\]}]|\Z)")
#: The words SafeConstructor reads as booleans (lowercased).
_BOOLS = frozenset(yaml.constructor.SafeConstructor.bool_values)


class _Builder:
    """Turns composed nodes into plain data, enforcing the limits as it goes."""

    def __init__(self, doc: LoadedDoc, loader: yaml.SafeLoader) -> None:
        self.doc = doc
        self.loader = loader
        self.nodes = 0
        self.aliases = 0
        self.text = 0
        self.seen: set[int] = set()
        #: the lists and mappings being built, outermost first (an alias to one is a cycle)
        self.open: set[int] = set()

    def _span(self, node: yaml.Node) -> SourceSpan:
        """The node's span (made as the one pass makes its spans)."""
        return mark_span(self.doc.file, node.start_mark, node.end_mark)

    def _fail(self, node: yaml.Node, code: str, message: str, hint: str | None = None) -> LoadError:
        return LoadError(
            message,
            span=self._span(node),
            code=code,
            hint=hint,
            sources={self.doc.file: self.doc.text},
        )

    def build(self, node: yaml.Node, path: PathKey) -> Any:
        self._expand(node, 1, len(node.value) if isinstance(node, yaml.ScalarNode) else 0)
        if id(node) in self.seen:
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise self._fail(
                    node,
                    "E104",
                    f"more than {MAX_ALIASES} YAML alias expansions",
                    "write the repeated value once: a block's `repeat:` or a param repeats it "
                    "without copying the YAML",
                )
        self.seen.add(id(node))
        self.doc.spans.setdefault(path, self._span(node))
        if isinstance(node, yaml.ScalarNode):
            return self._scalar(node)
        if id(node) in self.open:  # `x: &a [*a]`: PyYAML composes a cycle, unending to build
            raise self._fail(
                node,
                "E104",
                "a YAML alias refers to a list or mapping that contains it (a recursive value)",
                "an alias may repeat an earlier value, never the one it stands inside",
            )
        self.open.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if node.tag != "tag:yaml.org,2002:seq":
                raise self._unsafe_tag(node)
            if len(node.value) > MAX_LIST:
                raise self._fail(
                    node,
                    "E104",
                    f"a list longer than {MAX_LIST} items",
                    "a spec states structure, not data: describe the list with an expression "
                    "or `repeat:`",
                )
            return [self.build(child, path + (i,)) for i, child in enumerate(node.value)]
        finally:
            self.open.discard(id(node))

    def _expand(self, node: yaml.Node, nodes: int, text: int) -> None:
        """Count the nodes and characters the document expands to (aliases repeat them)."""
        self.nodes, self.text = self.nodes + nodes, self.text + text
        if self.nodes > MAX_NODES or self.text > MAX_TEXT:
            what = f"{MAX_NODES} nodes" if self.nodes > MAX_NODES else f"{MAX_TEXT} characters"
            hint = "YAML anchors and aliases are expanded; a spec this large is refused"
            raise self._fail(node, "E104", f"the document expands to more than {what}", hint)

    def _unsafe_tag(self, node: yaml.Node) -> LoadError:
        return self._fail(
            node,
            "E103",
            f"the YAML tag {node.tag!r} is not allowed in a spec",
            "specs hold plain strings, numbers, booleans, lists and mappings only",
        )

    def _mapping(self, node: yaml.MappingNode, path: PathKey) -> dict[str, Any]:
        if node.tag != "tag:yaml.org,2002:map":
            raise self._unsafe_tag(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self._fail(key_node, "E101", "mapping keys must be plain strings", _KEY_HINT)
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise self._fail(
                    key_node,
                    "E103",
                    "YAML merge keys (<<) are not supported in specs",
                    "write the fields out, or define a block and reuse it",
                )
            self._expand(key_node, 0, len(key_node.value))
            key = self._scalar(key_node)
            if isinstance(key, bool) or key is None or isinstance(key, float):
                from .yaml_hints import key_hint as _key_hint

                raise self._fail(
                    key_node,
                    "E101",
                    f"mapping key {key_node.value!r} is not a string",
                    _key_hint(node, path, key_node.value),
                )
            key = str(key)
            if key in out:
                from .yaml_hints import duplicate_hint

                first = self.doc.key_spans.get(path + (key,))
                where = f" (first defined at line {first.line})" if first else ""
                raise self._fail(
                    key_node,
                    "E102",
                    f"duplicate key {key!r}{where}",
                    duplicate_hint(node, key_node, key),
                )
            self.doc.key_spans[path + (key,)] = self._span(key_node)
            out[key] = self.build(value_node, path + (key,))
        return out

    def _plain_number(self, node: yaml.Node) -> None:
        """Refuse, before Python converts it, a number no spec means (see number_surprise)."""
        if node.tag in ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float"):
            problem = _number_surprise(node.value, node.tag.endswith(":int"), _MAX_INT_CHARS)
            if problem is not None:
                raise self._fail(node, *problem)

    def _scalar(self, node: yaml.Node) -> Any:
        tag = node.tag
        if tag == "tag:yaml.org,2002:str":
            return node.value  # what SafeConstructor makes of it, without its dispatch
        at, text = node.start_mark.index, self.doc.text
        if at < len(text) and text[at] in "!&" and _NON_SPECIFIC.match(text, at):
            return node.value  # `! 12`: YAML's non-specific tag keeps a scalar text, `12`
        if tag == "tag:yaml.org,2002:int" and getattr(self.loader, "core_schema", False):
            value = core_int(node.value, _MAX_INT_CHARS)  # `%YAML 1.2`: 010 is 10
            if value is None or abs(value) > MAX_INT:
                raise self._fail(
                    node,
                    "E104",
                    f"integer {shown_scalar(node.value)} is out of range (|n| <= 10^15)",
                    "sizes, counts and seeds fit in 10^15",
                )
            return value
        if tag == "tag:yaml.org,2002:int" and _DECIMAL.match(node.value):
            value = int(node.value)  # SafeConstructor's value for a plain decimal
            if abs(value) <= MAX_INT:
                return value
        if tag not in _ALLOWED_SCALAR_TAGS:
            raise self._unsafe_tag(node)
        self._plain_number(node)
        if tag == "tag:yaml.org,2002:bool" and node.value.lower() not in _BOOLS:
            raise self._fail(  # SafeConstructor's KeyError (`!!bool maybe`)
                node,
                "E101",
                f"cannot read scalar {shown_scalar(node.value)}: not a YAML boolean",
                "write true or false",
            )
        try:
            value = self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, OverflowError) as exc:
            raise self._fail(node, "E101", f"cannot read scalar {node.value!r}: {exc}") from None
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INT:
            raise self._fail(
                node,
                "E104",
                f"integer {node.value} is out of range (|n| <= 10^15)",
                "sizes, counts and seeds fit in 10^15; write a smaller number",
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise self._fail(
                node, "E104", f"{node.value} is not a finite number", "use a finite value"
            )
        return value
