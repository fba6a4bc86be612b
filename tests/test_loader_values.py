"""The loader's plain data is what PyYAML's safe loader makes of the same text: strings
(taken from the node without the constructor's dispatch), numbers, booleans, null."""

from __future__ import annotations

import yaml

from archspec.loader import load_yaml

TEXT = """\
plain: text
quoted: "a \\"b\\" \\u00e9"
single: 'it''s'
tagged: !!str 12
number: 12
float: 1.5e3
yes_word: yes
null_word: ~
empty:
folded: >
  two
  lines
literal: |
  kept
   indent
keys: {"1": one, "2": two, !!str 3: three, "4.5": four}
list: [a, "b", 0x1F, 1_000, .inf_not, -0, null]
"""


def test_scalars_are_what_the_safe_loader_makes() -> None:
    mine = load_yaml(TEXT).data
    assert mine == yaml.safe_load(TEXT)
    assert type(mine["tagged"]) is str and type(mine["number"]) is int


def test_spans_are_what_sourcespan_makes() -> None:
    """The loader makes its spans without SourceSpan.__init__ (there is one per key and per
    value): each must be the span __init__ makes of its fields, field for field."""
    import dataclasses

    from archspec.errors import SourceSpan

    doc = load_yaml(TEXT, "t.yaml")
    names = [f.name for f in dataclasses.fields(SourceSpan)]
    spans = [*doc.spans.values(), *doc.key_spans.values()]
    assert len(spans) > 40
    for span in spans:
        made = SourceSpan(**{n: getattr(span, n) for n in names})
        assert list(vars(span)) == list(vars(made)) and span == made, span
        assert (span.file, span.via, repr(span)) == ("t.yaml", None, repr(made))
