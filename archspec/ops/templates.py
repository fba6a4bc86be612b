"""Templates: text with `{expression}` parts evaluated where a node is. Three fields take
them (a `key:`, a repeat's `names:`, a `from` entry): the schema checks all three alike here
(the length, balanced braces, and every part an expression), and lowering fills them here."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ..errors import shown_value
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


def filled(
    template: str, env: Mapping[str, Any], check: Callable[[str, Any], None] | None = None
) -> str:
    """The text `template` gives in `env`: each part evaluated, an int or text (ValueError
    otherwise, or whatever `check(part, value)` raises for the field's own bounds; an
    expression's ExprError as it is)."""

    def part(m: re.Match[str]) -> str:
        value = parse_kept(m.group(1)).evaluate(env)
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValueError(
                f"`{{{m.group(1)}}}` gives {shown_value(value, 60)}, not an int or text"
            )
        if check is not None:
            check(m.group(1), value)
        return str(value)

    return TEMPLATE_PART.sub(part, template)
