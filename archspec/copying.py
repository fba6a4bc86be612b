"""A spec's text under another name, for `archspec new --from`: its comments and layout kept.

`name` and `class_name` are edited where the loader found them (their spans), so a copy is
the spec renamed however it is written: a flow mapping, a quoted key, a value on the next
line. Editing lines that start with `name:` missed all of these: the copy kept the old name,
or lost half of a value written on two lines and did not load. The edited text is read back
and compared with the spec's data renamed; where no edit gives that (an anchor on the name
that an alias repeats), the renamed data is written out as YAML, its comments lost: never a
copy under another name, nor one that does not load.
"""

from __future__ import annotations

import contextlib
from typing import Any

from .errors import ArchSpecError
from .linebreaks import newline_of
from .loader import LoadedDoc, load_yaml

#: A line of these is the editor's schema line, which the copy writes afresh.
MODELINE_START = "# yaml-language-server:"


def renamed_text(text: str, name: str, scalar: str, classes: tuple[str, str]) -> str:
    """`text` (a spec's YAML, which loads) named `name`, written as `scalar`, without its
    schema line; `classes` are the class made from `name` and the class the copy builds (a
    `class_name` is written only where they differ: `f` makes `F`, taken in emitted code).
    Every other byte is kept where the result reads as the data renamed."""
    data = load_yaml(text, "<copy>").data
    if not isinstance(data, dict):
        return text
    made, target = classes
    want = {k: v for k, v in data.items() if k != "class_name"}
    want["name"] = name
    lines = text.splitlines(keepends=True)
    kept = "".join(ln for ln in lines if not ln.startswith(MODELINE_START))
    got: Any = None
    edited = None
    with contextlib.suppress(ArchSpecError):
        edited = _edited(load_yaml(kept, "<copy>"), scalar, classes)
        got = load_yaml(edited, "<copy>").data if edited is not None else None
    rest = {k: v for k, v in got.items() if k != "class_name"} if isinstance(got, dict) else None
    if rest == want and got.get("class_name", made) == target:
        return str(edited)
    if target != made:
        want["class_name"] = target
    return _dumped(want)


def _edited(doc: LoadedDoc, scalar: str, classes: tuple[str, str]) -> str | None:
    """The text of `doc` with the name and class name edited at their spans, or None where
    no edit fits (no `name`, or a class name to add to a mapping that is not a block)."""
    text = doc.text
    starts = [0, *(i + 1 for i, ch in enumerate(text) if ch == "\n"), len(text) + 1]

    def at(line: int, col: int | None) -> int:
        return starts[line - 1] + (col or 1) - 1

    def line_end(line: int) -> int:
        return min(starts[line], len(text))

    value, key = doc.spans.get(("name",)), doc.key_spans.get(("name",))
    if value is None or key is None or value.end_line is None:
        return None
    block = key.col == 1  # a top-level block mapping: each key starts a line
    edits = [(at(value.line, value.col), at(value.end_line, value.end_col), scalar)]
    after_name = line_end(value.end_line)
    made, target = classes
    value, key = doc.spans.get(("class_name",)), doc.key_spans.get(("class_name",))
    if value is not None and key is not None and value.end_line is not None:
        end = at(value.end_line, value.end_col)
        rest = text[end : line_end(value.end_line)].strip()
        if target == made and block and (not rest or rest.startswith("#")):
            edits.append((at(key.line, 1), line_end(value.end_line), ""))  # its lines go
        else:
            edits.append((at(value.line, value.col), end, target))
    elif target != made:
        if not block:
            return None
        line = f"class_name: {target}        # `{made}` is taken in emitted code{newline_of(text)}"
        edits.append((after_name, after_name, line))
    for start, end, new in sorted(edits, reverse=True):
        text = text[:start] + new + text[end:]
    return text


def _dumped(data: dict[str, Any]) -> str:
    """The spec's data as YAML, its top-level keys in the order specs write them."""
    from .yaml_floats import dump

    order = ("archspec", "name", "class_name", "description", "input", "params", "blocks")
    data = {k: data[k] for k in (*order, *data) if k in data}
    return str(dump(data, sort_keys=False, allow_unicode=False, width=100, default_flow_style=None))
