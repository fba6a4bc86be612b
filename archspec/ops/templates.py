"""Templates: text with `{expression}` parts evaluated where a node is. Three fields take
them (a `key:`, a repeat's `names:`, a `from` entry), and the schema checks all three alike
here: the length, balanced braces, and every part an expression."""

from __future__ import annotations

import re

from ..expr import ExprError, parse_kept

#: `{expression}` parts of a template (no nested braces).
TEMPLATE_PART = re.compile(r"\{([^{}]*)\}")
#: The longest template, its parts included.
MAX_TEMPLATE_LEN = 200


def template_parts(text: str, what: str, shown: str, too_long: str) -> list[str]:
    """The `{expression}` parts of a template, each parsed (a schema validator's check):
    ValueError `too_long` past the limit, else one naming the template (`what`, then
    `shown`, its text as the message quotes it) for braces left open or a part that is no
    expression."""
    if len(text) > MAX_TEMPLATE_LEN:
        raise ValueError(too_long)
    rest = TEMPLATE_PART.sub("", text)
    if "{" in rest or "}" in rest:
        raise ValueError(f"unbalanced braces in {what} {shown!r}")
    parts = TEMPLATE_PART.findall(text)
    for part in parts:
        try:
            parse_kept(part)
        except ExprError as exc:
            raise ValueError(f"in {what} {shown!r}: {exc.message}") from None
    return parts
