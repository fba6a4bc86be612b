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
