"""The line breaks YAML reads: where a character sits (line and column as YAML's marks count
them), and the breaks YAML reads where an editor shows none, which the loader refuses (E105)."""

from __future__ import annotations

import re

#: The three YAML 1.1 reads as line breaks where editors show none (YAML 1.2 dropped them),
#: and a carriage return without a line feed, which a terminal shows as a return to the
#: line's start and an editor of LF lines inside the line (vim's `^M`): a layer written after
#: one in a comment was built while `cat` and the editor showed the comment.
_HIDDEN = re.compile("[\x85\u2028\u2029]|\r(?!\n)")
HIDDEN_NAMES = {
    "\x85": "NEXT LINE",
    "\u2028": "LINE SEPARATOR",
    "\u2029": "PARAGRAPH SEPARATOR",
    "\r": "CARRIAGE RETURN",
}
_LINE_BREAK = re.compile("\r\n|[\r\n\x85\u2028\u2029]")


def hidden_break(text: str, end: int | None = None) -> re.Match[str] | None:
    """The first hidden line break of `text` before `end`. A lone CR is one only in a file
    that has LF breaks: a file whose every break is a CR (an old Mac's) shows them all."""
    lf = "\n" in text
    for found in _HIDDEN.finditer(text, 0, len(text) if end is None else end):
        if lf or found.group() != "\r":
            return found
    return None


def line_col(text: str, pos: int) -> tuple[int, int]:
    """1-based line and column of character `pos`, counting line breaks as YAML marks do."""
    line, start = 1, 0
    for brk in _LINE_BREAK.finditer(text, 0, pos):
        line, start = line + 1, brk.end()
    return line, pos - start + 1


def newline_of(text: str) -> str:
    """The line break `text` ends its first line with (LF where it has none): lines added to a
    user's file (a copy's header) take it, so a CRLF file is not left with mixed breaks."""
    end = text.find("\n")
    return "\r\n" if end > 0 and text[end - 1] == "\r" else "\n"
