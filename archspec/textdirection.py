"""Bidi controls written raw in a spec's keys and values (Trojan Source, CVE-2021-42574).

An override or isolate (U+202A..U+202E, U+2066..U+2069) makes an editor, a diff or a review
tool show the rest of its line in another order than archspec reads it: a flow mapping
`{doc: "x<RLO>", default: 4}` displays its `default` reversed and hidden inside the text. So
the loader refuses one in a key or a value (E105, at the character). A comment may hold
them: it runs to the end of its line, so they reorder nothing but the comment. Written as
a YAML escape (`"\\u202e"`) one reaches the value while the file shows plain ASCII; emitted
code and messages show it as a space or an escape (errors.escape_text, pycode.plain_words).
Marks (U+200E, U+200F, U+061C) reorder nothing and are let through.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator

from .errors import LoadError, SourceSpan
from .linebreaks import line_col

#: The explicit embeddings, overrides and isolates, and the pop of each.
BIDI_CONTROLS = re.compile("[\u202a-\u202e\u2066-\u2069]")


def check_bidi(text: str, file: str, leaves: Iterator[SourceSpan]) -> None:
    """E105 at the first bidi control of `text` inside a key or a scalar value (`leaves`:
    their spans); one in a comment is let through. Cheap when `text` holds none."""
    first = BIDI_CONTROLS.search(text)
    if first is None:
        return
    spans = [(s.line, s.col, s.end_line, s.end_col) for s in leaves if s.end_line is not None]
    for found in BIDI_CONTROLS.finditer(text, first.start()):
        at = line_col(text, found.start())
        if any((a, b) <= at < (c, d) for a, b, c, d in spans):
            char = found.group()
            raise LoadError(
                f"the text holds U+{ord(char):04X} ({unicodedata.name(char)}), a bidi control: "
                "an editor shows the rest of this line in another order than archspec reads it",
                span=SourceSpan(file, *at),
                code="E105",
                hint="remove it (text in any script shows in its own direction without "
                "controls); a comment may hold one",
                sources={file: text},
            )
