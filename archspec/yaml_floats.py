"""The YAML classes archspec reads and writes specs with: PyYAML's safe ones, reading a number
with an exponent as YAML 1.2 does.

PyYAML implements YAML 1.1, whose floats need a dot and a signed exponent: `1e-5`, `1E5`
and `1.5e10` are text to it, and a float param declared `default: 1e-5` was refused with
"expected a number, got '1e-5'" (while `--set`, JSON, editors' YAML 1.2 language servers
and the JSON schema read the number). Every reader of a spec reads them as floats here,
and `show` and `import` write such text quoted (`SpecDumper`), so what they print reads back.
"""

from __future__ import annotations

import re

import yaml

FLOAT_TAG = "tag:yaml.org,2002:float"
#: A number with an exponent that YAML 1.1 leaves as text (no dot, or an unsigned exponent).
EXPONENT_FLOAT = re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$")
_FIRST = list("-+0123456789.")


def with_exponent_floats(cls: type[yaml.SafeLoader]) -> type[yaml.SafeLoader]:
    """`cls` reading (or, for a dumper, quoting as text) EXPONENT_FLOAT as a float; its own
    table of implicit resolvers, so PyYAML's classes are left as they are."""
    cls.add_implicit_resolver(FLOAT_TAG, EXPONENT_FLOAT, _FIRST)  # type: ignore[no-untyped-call]
    return cls


PyLoader = with_exponent_floats(type("PyLoader", (yaml.SafeLoader,), {}))
SpecDumper = with_exponent_floats(type("SpecDumper", (yaml.SafeDumper,), {}))  # type: ignore[arg-type]


def dump(value: object, **options: object) -> str:
    """`yaml.safe_dump(value, **options)` whose text archspec's loader reads back as `value`."""
    return yaml.dump(value, Dumper=SpecDumper, **options)  # type: ignore[call-overload, no-any-return]
