"""The loader's one pass over a plain document: its plain data and spans built straight from
the parser's events.

`loader._parse_yaml` reads a document in three passes: the events counted for depth and
size (`_check_structure`), the node tree composed, and the tree turned into plain data with
a span per key and value (`_Builder`); for the spec files and block libraries a check reads,
that was a third of the front end. A document without anchors, aliases or explicit tags (a
spec as people write it) is read here in one pass over the same events, with the same
resolver and the same scalar reading, into the same data and span maps, in the same order.
Anything else, and any problem at all (a YAML error, a limit, a duplicate key, a scalar the
builder refuses), returns None: the three passes then read the document and report the
problem exactly as before (tests/test_loader_events.py compares the two readings).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import yaml
from yaml.events import (
    AliasEvent,
    DocumentEndEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
    StreamEndEvent,
    StreamStartEvent,
)

from .errors import LoadError, SourceSpan

_STR = "tag:yaml.org,2002:str"
_INT = "tag:yaml.org,2002:int"
_new_span = object.__new__
#: (max depth, nodes, list length, text, |int|, aliases): loader.py's limits
Limits = tuple[int, int, int, int, int, int]


class _Refused(Exception):
    """The document needs the full reading."""


def read_events(
    make_parser: Callable[[], Any],
    file: str,
    limits: Limits,
    decimal: Callable[[str], Any],
    scalar_reader: Callable[[Any], Callable[[yaml.ScalarNode], Any]],
) -> tuple[Any, dict[Any, SourceSpan], dict[Any, SourceSpan]] | None:
    """(data, spans, key spans) of the document the parser `make_parser` makes reads, or
    None when it needs the full reading. `decimal` matches a plain decimal int;
    `scalar_reader(parser)` reads any other scalar as the builder does (raising LoadError
    where the builder does)."""
    try:
        parser = make_parser()
    except yaml.YAMLError:  # the reader's refusal, which the full reading reports
        return None
    try:
        return _Reader(parser, file, limits, decimal, scalar_reader(parser)).read()
    except (_Refused, LoadError, yaml.YAMLError):
        return None
    finally:
        parser.dispose()


def mark_span(file: str, start: Any, end: Any) -> SourceSpan:
    """The span from mark `start` to mark `end`, made without SourceSpan.__init__ (a frozen
    dataclass's sets each field through object.__setattr__): a spec has a span per key and
    per value, and making them was a fifth of reading it (loader.py's builder makes its own
    with this; a scalar's, the most common, is made inline below, without the call)."""
    span = _new_span(SourceSpan)
    fields = span.__dict__
    fields["file"] = file
    fields["line"] = start.line + 1
    fields["col"] = start.column + 1
    fields["end_line"] = end.line + 1
    fields["end_col"] = end.column + 1
    fields["via"] = None
    return span


class _Reader:
    """One document's events turned into plain data and spans, counted as the structure
    scan and the builder count them."""

    def __init__(
        self,
        parser: Any,
        file: str,
        limits: Limits,
        decimal: Callable[[str], Any],
        scalar: Callable[[yaml.ScalarNode], Any],
    ) -> None:
        if parser.yaml_path_resolvers:  # a tag could then depend on where a value stands
            raise _Refused
        self.parser, self.file, self.limits = parser, file, limits
        self.decimal, self.scalar = decimal, scalar
        self.spans: dict[Any, SourceSpan] = {}
        self.keys: dict[Any, SourceSpan] = {}
        #: the open collections, innermost last: [container, its path, its start mark, the
        #: key read and waiting for its value (_NO_KEY when none), its anchor, and the
        #: counts and the lengths of the logs where it began]
        self.stack: list[list[Any]] = []
        #: what an alias repeats: (data, spans and key spans below it, values built, text)
        self.anchors: dict[str, tuple[Any, list[Any], list[Any], int, int]] = {}
        #: tags of plain scalars by value (the resolver's answer depends on the value alone)
        self.plain = plain_tags(parser)
        self.root: Any = _NO_KEY
        #: the paths given spans and key spans while an anchored collection is open (what an
        #: alias to it repeats is read from here: the span maps hold the whole document)
        self.anchored = 0
        self.span_log: list[Any] = []
        self.key_log: list[Any] = []
        # the scan's count of nodes, the builder's of values built, text and aliases
        self.events = self.built = self.text = self.aliases = 0

    def read(self) -> tuple[Any, dict[Any, SourceSpan], dict[Any, SourceSpan]]:
        get = self.parser.get_event
        if type(get()) is not StreamStartEvent or type(get()) is not DocumentStartEvent:
            raise _Refused
        scalar, start, end, alias = self.scalar_event, self.start, self.end, self.alias
        while True:
            event = get()
            kind = type(event)
            if kind is ScalarEvent:
                scalar(event)
            elif kind is MappingStartEvent or kind is SequenceStartEvent:
                start(event, {} if kind is MappingStartEvent else [])
            elif kind is MappingEndEvent or kind is SequenceEndEvent:
                end(event)
            elif kind is AliasEvent:
                alias(event)
            elif kind is DocumentEndEvent:
                break
            else:
                raise _Refused
        if type(get()) is not StreamEndEvent or self.root is _NO_KEY:
            raise _Refused  # another document follows (or none was read)
        return self.root, self.spans, self.keys

    def scalar_event(self, event: Any) -> None:
        if event.tag is not None:
            raise _Refused
        value, limits = event.value, self.limits
        self.events += 1
        self.text += len(value)
        if self.events > limits[1] or self.text > limits[3]:
            raise _Refused
        implicit = event.implicit
        if not implicit[0]:  # quoted: what the resolver answers, with no path resolvers
            tag = self.parser.DEFAULT_SCALAR_TAG
        else:
            tag = self.plain.get(value)
            if tag is None:
                tag = self.parser.resolve(yaml.ScalarNode, value, implicit)
                if len(value) <= _TAG_KEPT_LEN and len(self.plain) < _TAGS_KEPT:
                    self.plain[value] = tag
        start, end = event.start_mark, event.end_mark
        if tag == _STR:
            read: Any = value
        elif tag == _INT and self.decimal(value) and abs(int(value)) <= limits[4]:
            read = int(value)
        else:  # as the builder reads it
            read = self.scalar(yaml.ScalarNode(tag, value, start, end, event.style))
        span = _new_span(SourceSpan)  # mark_span(self.file, start, end), without its call
        fields = span.__dict__
        fields["file"] = self.file
        fields["line"] = start.line + 1
        fields["col"] = start.column + 1
        fields["end_line"] = end.line + 1
        fields["end_col"] = end.column + 1
        fields["via"] = None
        stack = self.stack
        if not stack:
            path = self.place(read)
        else:  # `place`, inline: most scalars stand in a collection
            top = stack[-1]
            into = top[0]
            if type(into) is list:
                path = (*top[1], len(into))
                into.append(read)
            elif top[3] is not _NO_KEY:
                path = (*top[1], top[3])
                into[top[3]] = read
                top[3] = _NO_KEY
            else:  # a key
                if type(read) is not str:
                    if type(read) is not int:  # None, a bool or a float
                        raise _Refused
                    read = str(read)
                if event.anchor is not None or read in into:
                    raise _Refused
                top[3] = read
                path = (*top[1], read)
                self.keys[path] = span
                if self.anchored:
                    self.key_log.append(path)
                return
        self.built += 1
        self.spans[path] = span
        if self.anchored:
            self.span_log.append(path)
        if event.anchor is not None:
            self.anchor(event.anchor, (read, [((), span)], [], 1, len(value)))

    def place(self, value: Any) -> tuple[Any, ...]:
        """Put a value where the document is (never a key), and return its path."""
        if not self.stack:
            self.root = value
            return ()
        top = self.stack[-1]
        into = top[0]
        if type(into) is list:
            path = (*top[1], len(into))
            into.append(value)
            return path
        key = top[3]
        if key is _NO_KEY:  # a key that is a collection or an alias
            raise _Refused
        into[key] = value
        top[3] = _NO_KEY
        return (*top[1], key)

    def start(self, event: Any, made: Any) -> None:
        if event.tag is not None:
            raise _Refused
        self.events += 1
        self.built += 1
        if self.events > self.limits[1] or len(self.stack) >= self.limits[0]:
            raise _Refused
        path = self.place(made)
        self.spans[path] = None  # type: ignore[assignment]  # its place, in the builder's order
        if event.anchor is not None:
            self.anchored += 1
        if self.anchored:
            self.span_log.append(path)
        counts = (self.built - 1, self.text, len(self.span_log) - 1, len(self.key_log))
        self.stack.append([made, path, event.start_mark, _NO_KEY, event.anchor, counts])

    def end(self, event: Any) -> None:
        made, path, start, _, anchor, counts = self.stack.pop()
        if type(made) is list and len(made) > self.limits[2]:
            raise _Refused
        self.spans[path] = mark_span(self.file, start, event.end_mark)
        if anchor is not None:
            cut, spans, keys = len(path), self.spans, self.keys
            below = [(p[cut:], spans[p]) for p in self.span_log[counts[2] :]]
            below_keys = [(p[cut:], keys[p]) for p in self.key_log[counts[3] :]]
            self.anchored -= 1
            if not self.anchored:  # no open collection reads the logs any more
                self.span_log.clear()
                self.key_log.clear()
            self.anchor(
                anchor, (made, below, below_keys, self.built - counts[0], self.text - counts[1])
            )

    def alias(self, event: Any) -> None:
        repeated = self.anchors.get(event.anchor)
        if repeated is None:  # unknown, or a collection it stands inside
            raise _Refused
        data, below, below_keys, values, length = repeated
        self.events += 1
        self.built += values
        self.aliases += values  # the builder counts each value it builds again
        self.text += length
        max_nodes, max_text, max_aliases = self.limits[1], self.limits[3], self.limits[5]
        if self.events > max_nodes or self.built > max_nodes or self.text > max_text:
            raise _Refused
        if self.aliases > max_aliases:
            raise _Refused
        path = self.place(copy_data(data))
        for rel, span in below:
            self.spans[(*path, *rel)] = span
        for rel, span in below_keys:
            self.keys[(*path, *rel)] = span
        if self.anchored:  # repeated inside an anchored collection: part of what it repeats
            self.span_log += [(*path, *rel) for rel, _ in below]
            self.key_log += [(*path, *rel) for rel, _ in below_keys]

    def anchor(self, name: str, found: tuple[Any, ...]) -> None:
        if name in self.anchors:  # named twice: the composer's to judge
            raise _Refused
        self.anchors[name] = found


#: The plain scalars whose tags are kept: the shortest (keys, kinds, numbers, expressions),
#: and no more than so many of them.
_TAG_KEPT_LEN = 100
_TAGS_KEPT = 20_000
#: (what the tags depend on, the tags of plain scalars by value) for the documents read
_KEPT_TAGS: list[Any] = [None, {}]


def plain_tags(parser: Any) -> dict[str, str]:
    """The tags of plain scalars by value, kept for every document read: the resolver's
    answer for a plain scalar depends only on its value, the parser's class (its implicit
    resolvers and default tag) and path resolvers (a document with any is refused). Specs
    repeat their keys and values across files (`type`, `out_channels`, `3`), and asking the
    resolver (a regex per candidate) was a tenth of reading them. Kept afresh when the
    resolvers change (`yaml.add_implicit_resolver`)."""
    cls = type(parser)
    table = cls.yaml_implicit_resolvers
    made_of = (cls, cls.DEFAULT_SCALAR_TAG, [(key, tuple(found)) for key, found in table.items()])
    if _KEPT_TAGS[0] != made_of:
        _KEPT_TAGS[:] = [made_of, {}]
    return _KEPT_TAGS[1]  # type: ignore[no-any-return]


def copy_data(value: Any) -> Any:
    """A copy of plain spec data: its lists and mappings new, its leaves (immutable) shared
    (each alias read is its own value; loader.py re-exports it)."""
    if type(value) is dict:
        return {k: copy_data(v) for k, v in value.items()}
    if type(value) is list:
        return [copy_data(v) for v in value]
    return value


class _NoKey:
    """No key read yet (a key may be any str, so a sentinel object marks its absence)."""


_NO_KEY: Any = _NoKey()
