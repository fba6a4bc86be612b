"""The characters the loader refuses in a spec's text before it parses it (E105): those YAML
does not allow, and the line breaks YAML reads where an editor shows none, located by
character, not by byte (libyaml counts positions in bytes). Split from loader.py."""

from __future__ import annotations

import re

from .errors import LoadError, SourceSpan
from .linebreaks import HIDDEN_NAMES, line_col
from .linebreaks import hidden_break as _found_break

#: The characters YAML 1.1 refuses, PyYAML's reader's own pattern (so `re`'s cache compiles
#: it once), found here as libyaml reports a position in bytes and PyYAML in characters.
_NOT_YAML_CHAR = re.compile(
    "[^\x09\x0a\x0d\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def check_characters(text: str, file: str) -> None:
    """Refuse a character YAML does not allow, or one it would read as a line break that an
    editor does not show (E105), located by character, not by byte."""
    bad = _NOT_YAML_CHAR.search(text)
    end = len(text) if bad is None else bad.start()
    bad = hidden_break(text, end) or bad  # refused too: its line is then the editor's
    if bad is None:
        return
    line, col = line_col(text, bad.start())
    char = bad.group()
    hidden = HIDDEN_NAMES.get(char)
    raise LoadError(
        f"the file contains the character U+{ord(char):04X} ({hidden}), which YAML reads as "
        "a line break where an editor shows none"
        if hidden
        else f"the file contains the character U+{ord(char):04X}, which YAML does not allow",
        span=SourceSpan(file, line, col),
        code="E105",
        hint=f"replace it with a plain line break or a space; in a quoted string, write it as "
        f'"\\u{ord(char):04x}"'
        if hidden
        else "remove control characters; a spec is plain UTF-8 text",
        sources={file: text},
    )


def hidden_break(text: str, end: int | None = None) -> re.Match[str] | None:
    """`linebreaks.hidden_break`, found at once to be None for ASCII text without a CR (a
    spec as people write it), which holds none of the breaks it looks for: its pattern (an
    alternation) scanned every file read twice, a tenth of reading it."""
    if text.isascii() and "\r" not in text:
        return None
    return _found_break(text, end)


def shown_scalar(text: str) -> str:
    """`text` quoted for a message, cut short: a scalar (or a `--set` value) may be a whole
    file long."""
    return repr(text) if len(text) <= 40 else repr(text[:37]) + "..."


#: YAML 1.1's octal int (`010` is 8), its sign and `_` removed: YAML 1.2 reads 10 and Python
#: refuses it, so a spec that writes it with a value other than its decimal's meant that.
_OCTAL = re.compile(r"0[0-7]+\Z")


def number_surprise(text: str, is_int: bool, max_chars: int) -> tuple[str, str, str] | None:
    """The code, message and hint for a YAML 1.1 number no spec means, or None: base 60
    (`1:20` is 80), octal other than its decimal (`010` is 8, a silent surprise; `07` is 7), or
    an integer of more than `max_chars` characters, which Python would spend time on or
    refuse with its own words (4,300 digits)."""
    if ":" in text:
        return (
            "E101",
            f"{shown_scalar(text)} is a number in YAML 1.1's base 60 (sexagesimal), "
            "not the text it looks like",
            "write the number in decimal, or quote it (`'1:20'`) for text",
        )
    digits = text.replace("_", "").lstrip("+-")
    if is_int and _OCTAL.match(digits) and int(digits, 8) != int(digits, 10):
        sign, plain = "-" if text.startswith("-") else "", digits.lstrip("0") or "0"
        return (
            "E101",
            f"{shown_scalar(text)} is an octal number in YAML 1.1 ({sign}{int(digits, 8)}), not "
            "the decimal it looks like",
            f"write {sign}{plain} without the leading zero (or {sign}0o{plain} for octal), or "
            "quote it for text",
        )
    if is_int and len(digits) > max_chars:
        return (
            "E104",
            f"integer {shown_scalar(text)} is out of range (|n| <= 10^15)",
            "sizes, counts and seeds fit in 10^15; write a smaller number",
        )
    return None
