"""A spec given as Python data (`archspec.compile({...})`): copied into a LoadedDoc under the
limits a YAML file is held to (loader.py), so later stages cannot tell it from a parsed one."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import LoadError
from .loader import (
    MAX_DEPTH,
    MAX_INT,
    MAX_LIST,
    MAX_NODES,
    MAX_TEXT,
    LoadedDoc,
    PathKey,
    path_text,
)


def load_data(data: Mapping[str, Any], file: str = "<mapping>") -> LoadedDoc:
    """A spec given as Python data, held to the limits a YAML file is held to.

    Keys must be strings and leaves plain str, int, float, bool or None (tuples become
    lists); integers, finite floats, depth, size and list lengths are bounded as in
    `load_yaml`, and a container that contains itself is refused. There is no text, so
    errors name the path of the bad value instead of a line.
    """
    nodes = 0
    text = 0
    on_path: set[int] = set()

    def fail(path: PathKey, message: str, code: str = "E104") -> LoadError:
        where = path_text(path)
        return LoadError(f"{where}: {message}" if where else message, code=code)

    def count_text(value: str, path: PathKey) -> None:
        nonlocal text
        text += len(value)
        fault = _text_fault(value, text)
        if fault is not None:
            raise fail(path, *fault)

    def copy(value: Any, path: PathKey) -> Any:
        nonlocal nodes
        nodes += 1
        if nodes > MAX_NODES:
            raise fail(path, f"the spec has more than {MAX_NODES:,} values")
        if len(path) > MAX_DEPTH:
            raise fail(path, f"the spec is nested deeper than {MAX_DEPTH} levels")
        if isinstance(value, (Mapping, list, tuple)):
            if id(value) in on_path:
                raise fail(path, "this value contains itself")
            on_path.add(id(value))
            try:
                if isinstance(value, Mapping):
                    out = {}
                    for key, item in value.items():
                        if not isinstance(key, str):
                            shown = _shown_int(key) if isinstance(key, int) else _shown(key)
                            raise fail(path, f"mapping key {shown} is not a string", "E101")
                        key = str.__str__(key)  # a StrEnum's or other subclass's text
                        count_text(key, path)
                        out[key] = copy(item, (*path, key))
                    return out
                if len(value) > MAX_LIST:
                    raise fail(path, f"a list longer than {MAX_LIST} items")
                return [copy(item, (*path, i)) for i, item in enumerate(value)]
            finally:
                on_path.discard(id(value))
        # a subclass (StrEnum, IntEnum) becomes the plain value it holds: its own __eq__,
        # __hash__ or __repr__ never reach a lookup, a message, emitted code or `show`'s YAML
        if isinstance(value, str):
            value = str.__str__(value)
            count_text(value, path)
            return value
        if isinstance(value, bool) or value is None:
            return value
        if isinstance(value, int):
            value = int.__int__(value)
            if abs(value) > MAX_INT:
                raise fail(path, f"integer {_shown_int(value)} is out of range (|n| <= 10^15)")
            return value
        if isinstance(value, float):
            value = float.__float__(value)
            if not math.isfinite(value):
                raise fail(path, f"{value} is not a finite number")
            return value
        kind = type(value).__qualname__
        if type(value).__module__ != "builtins":  # numpy's `bool` is no Python bool
            kind = f"{type(value).__module__}.{kind}"
        article = "an" if kind[:1].lower() in "aeiou" else "a"
        raise fail(
            path,
            f"{article} {kind} cannot appear in a spec (convert it to int, float, "
            "bool, str, list or dict)",
            "E103",
        )

    return LoadedDoc(data=copy(data, ()), file=file, text="")


#: A code point of UTF-16's surrogate range: in a Python str, half a character.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_fault(value: str, total: int) -> tuple[str, str] | None:
    """What is wrong with a text of the data (the message and its code), after `total`
    characters of text so far: too much text, or a lone surrogate, which no file can hold
    (UTF-8 has none; YAML refuses `"\\ud800"`)."""
    if total > MAX_TEXT:
        return f"the spec holds more than {MAX_TEXT:,} characters of text", "E104"
    lone = _SURROGATE.search(value)
    if lone is None:
        return None
    return (
        f"the text holds U+{ord(lone.group()):04X}, a lone surrogate, which YAML does not "
        "allow (half of a character, from text decoded with errors='surrogateescape' or a "
        "broken UTF-16)",
        "E105",
    )


def _shown(key: object) -> str:
    """A key that is not text, as a message shows it: its repr cut short, or its type when
    its repr fails (an object of the caller's own)."""
    try:
        text = repr(key)
    except Exception:
        return f"of type {type(key).__name__}"
    return text if len(text) <= 60 else text[:57] + "..."


def _shown_int(n: int) -> str:
    """An integer as a message shows it: its digits, or its size when it is too long to read
    (Python refuses to write an int of more than 4,300 digits: a ValueError, not an E104)."""
    bits = n.bit_length()
    return str(n) if bits < 128 else f"(an integer of {bits} bits)"
