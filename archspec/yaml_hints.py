"""The hints of the loader's E101 errors: what a YAML syntax error most likely means, read
from the text around it (kept apart from the loader, which reads every spec)."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import yaml

_YAML_HINT = "check indentation, colons and brackets near this point"
_COLON_HINT = 'text holding `: ` is quoted (`description: "A: b"`); else check the indentation'


_TAB_HINT = (
    "YAML indents with spaces, never tabs: replace the tab (quoted above as a space) with "
    "spaces, and set your editor to insert spaces in .yaml files"
)


def at_tab(text: str, mark: Any) -> bool:
    """Whether a YAML error's mark is at a tab: a tab in a line's indentation, or where a
    value should start, which the quoted line shows as a space (libyaml's message names
    no character)."""
    if mark is None:
        return False
    lines = text.splitlines()
    line = lines[mark.line] if 0 <= mark.line < len(lines) else ""
    return 0 <= mark.column < len(line) and line[mark.column] == "\t"


def yaml_problem(problem: str, text: str, mark: Any) -> str:
    """E101's message: YAML's own words, or what they mean at a tab."""
    if at_tab(text, mark) and ("cannot start any token" in problem or "tab" in problem):
        return "a tab character where YAML expects spaces or a value"
    return problem


def yaml_hint(problem: str, text: str, mark: Any) -> str:
    """E101's hint: a tab where YAML allows none, a `: ` in plain text, a value with brackets
    or commas inside a flow collection (`{out: widths[0]}`: the `[` starts a list there),
    else the general one."""
    if at_tab(text, mark):
        return _TAB_HINT
    lookalike = _lookalike_space(text, mark)
    if lookalike:
        return lookalike
    if "mapping values are not" in problem:
        return _COLON_HINT
    if "incompatible YAML document" in problem:  # `%YAML 2.0`, `%YAML 1.3`
        return (
            "archspec reads YAML 1.1, or YAML 1.2 under `%YAML 1.2`: write one of those "
            "versions, or drop the directive (a spec without one is read as YAML 1.1)"
        )
    if "did not find expected ','" not in problem or mark is None:
        return _YAML_HINT
    lines = text.splitlines()
    line = lines[mark.line] if 0 <= mark.line < len(lines) else ""
    col = mark.column
    if not (0 < col < len(line) and line[col] in "[{" and line[col - 1] not in " ,:[{"):
        return _YAML_HINT  # not a bracket glued to a word, as in `widths[0]`
    start = line.rfind(": ", 0, col)
    value = _flow_value(line, start + 2) if start >= 0 else ""
    key = line[:start].rstrip().rsplit("{", 1)[-1].rsplit(",", 1)[-1].strip() if value else ""
    quoted = f'`{key}: "{value}"`' if key and value and '"' not in value else '`out: "widths[0]"`'
    return (
        "inside `{...}` or `[...]`, a value holding brackets, braces or commas is quoted: " + quoted
    )


#: Characters that look like a space (or like nothing) where YAML wants one: a no-break
#: space, the typographic and ideographic spaces, zero-width ones, a BOM inside the file.
#: YAML reads each as text, not as indentation or a separator.
_LOOKALIKE = re.compile("[\u00a0\u1680\u2000-\u200b\u202f\u205f\u2060\u3000\ufeff]")


def _lookalike_space(text: str, mark: Any) -> str | None:
    """The hint for a syntax error on a line (or just after one) that holds a character
    looking like a space: YAML's own message ("mapping values are not allowed", "could
    not find expected ':'") spoke of the colons and indentation the user sees as right."""
    if mark is None:
        return None
    lines = text.splitlines()
    for n in (mark.line, mark.line - 1):
        found = _LOOKALIKE.search(lines[n]) if 0 <= n < len(lines) else None
        if found is not None:
            ch = found.group()
            name = unicodedata.name(ch, "a space").lower()
            return (
                f"line {n + 1} holds U+{ord(ch):04X} ({name}) at column {found.start() + 1}, "
                "which looks like a space (or nothing) but YAML reads as text, not as "
                "indentation or a separator: replace it with a plain space, or remove it "
                "(text pasted from a web page or a word processor often holds one)"
            )
    return None


def _flow_value(line: str, start: int) -> str:
    """The value of a flow mapping's entry from `start`: up to a `,` or `}` outside brackets."""
    depth = 0
    for end, ch in enumerate(line[start:], start):
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
        elif ch in ",}" and depth <= 0:
            return line[start:end].strip()
    return line[start:].strip()


def key_hint(node: yaml.MappingNode, path: tuple[str | int, ...], key: str) -> str:
    """How to fix a key that is not a string. `p: {0.5}` is a mapping whose key is 0.5 (YAML
    braces make a mapping, `{x}` one key with no value): the value was meant, so quoting
    the key would be the wrong fix."""
    braced = node.flow_style and all(
        isinstance(v, yaml.ScalarNode) and v.tag.endswith(":null") and not v.value
        for _, v in node.value
    )
    if braced and path and isinstance(path[-1], str):
        return (
            f"braces make a YAML mapping: write `{path[-1]}: {key}` without them, or quote "
            f'the whole value (`{path[-1]}: "{{{key}}}"`) if the braces are meant as text'
        )
    word = _READ_AS.get(key.lower()) if key.isalpha() or key == "~" else None
    if word is not None:  # `no: num_classes + 5` in a `let:` is no name to YAML 1.1
        return f"YAML 1.1 reads `{key}` as {word}: quote the key (`'{key}':`) or rename it"
    return "quote the key"


#: the words YAML 1.1 reads as a boolean or null, and what it reads them as
_READ_AS = {
    **dict.fromkeys(("yes", "true", "on"), "the boolean true"),
    **dict.fromkeys(("no", "false", "off"), "the boolean false"),
    **dict.fromkeys(("null", "~"), "null"),
}


def duplicate_hint(node: yaml.MappingNode, key_node: yaml.ScalarNode, key: str) -> str:
    """E102's hint. In a `{...}` mapping, two expressions cut at their commas alike
    (`{mid: make_divisible(t, 4), out: make_divisible(c, 4)}` gives the key `4)` twice) are
    a duplicate before they are anything else: say what cut them. A quoted key was written
    whole, never cut."""
    if node.flow_style and key_node.style not in ("'", '"'):
        from .expr import cut_tail_hint

        cut = cut_tail_hint(key)
        if cut is not None:
            return cut
    return "YAML would silently keep only the last value; remove one of them"
