"""Reading a spec that opens with `%YAML 1.2` as YAML 1.2 reads it: by its core schema.

Without the directive a spec is YAML 1.1, PyYAML's reading (with exponent floats as 1.2 reads
them: yaml_floats.py). PyYAML and libyaml parse a `%YAML 1.2` document, then resolve its
scalars by 1.1's rules all the same: `on` and `yes` were booleans and `010` the octal 8 (which
archspec refuses, E101), in a file whose first line says they are the text `on` and the decimal
10. Under the directive, the core schema decides: `true`/`false` (any case form YAML lists)
are the booleans, `null`, `~` and nothing are null, `[-+]?[0-9]+` is a decimal integer
(leading zeros kept decimal), `0o17` octal and `0x1F` hexadecimal integers, the usual floats
with `.inf` and `.nan`; anything else (`on`, `yes`, `1:20`, `1_000`, `0b11`) is text. `<<`
stays a merge key, as most YAML 1.2 readers keep it, so a spec gets the loader's own refusal
of merge keys under both versions.
"""

from __future__ import annotations

import re

import yaml

_T = "tag:yaml.org,2002:"
#: The core schema's implicit resolvers (YAML 1.2.2, 10.3.2): (tag, pattern, first chars).
_CORE = (
    (_T + "null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    (_T + "bool", r"^(?:true|True|TRUE|false|False|FALSE)$", list("tTfF")),
    (_T + "int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        _T + "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+0123456789."),
    ),
    (_T + "merge", r"^(?:<<)$", ["<"]),
)
_DIRECTIVE = re.compile(r"%YAML[ \t]+1\.2(?:[ \t]|#|$)")


def declares_12(text: str) -> bool:
    """Whether `text` opens with a `%YAML 1.2` directive: among the directives (lines
    starting with `%`) before anything but comments and blank lines."""
    at = 1 if text.startswith("\ufeff") else 0
    while at < len(text):
        end = text.find("\n", at)
        end = len(text) if end < 0 else end
        line = text[at:end]
        if line.startswith("%"):
            if _DIRECTIVE.match(line.rstrip("\r")):
                return True
        elif line.strip() and not line.lstrip().startswith("#"):
            return False
        at = end + 1
    return False


def core_schema(cls: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """`cls` resolving plain scalars by YAML 1.2's core schema alone (its own table: PyYAML's
    classes keep theirs); `core_schema` tells the builder to read integers as 1.2 writes them."""
    cls.yaml_implicit_resolvers = {}
    for tag, pattern, first in _CORE:
        cls.add_implicit_resolver(tag, re.compile(pattern), first)  # type: ignore[no-untyped-call]
    cls.core_schema = True  # type: ignore[attr-defined]
    return cls


def core_int(text: str, max_chars: int) -> int | None:
    """The integer a core-schema int scalar writes (`010` is 10, `0o17` 15, `0x1F` 31), or
    None when it has more than `max_chars` digits (Python would spend time on it, or refuse)."""
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    if len(body) > max_chars:
        return None
    if body.startswith(("0o", "0x")):
        return sign * int(body[2:], 8 if body[1] == "o" else 16)
    return sign * int(body, 10)
