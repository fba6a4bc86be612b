"""The loader's plain data is what PyYAML's safe loader makes of the same text: strings
(taken from the node without the constructor's dispatch), numbers, booleans, null; but for
a number with an exponent, a float as YAML 1.2 reads it (`1e-5`, which YAML 1.1 reads as
text), as `safe_load` with `yaml_floats.PyLoader` makes it."""

from __future__ import annotations

import pytest
import yaml

from archspec import yaml_floats
from archspec.errors import LoadError
from archspec.loader import load_yaml


def safe_load(text: str) -> object:
    """PyYAML's safe loading, with YAML 1.2's numbers with an exponent."""
    return yaml.load(text, Loader=yaml_floats.PyLoader)  # a SafeLoader subclass


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
    assert mine == safe_load(TEXT)
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


#: Every form of YAML 1.1 integer SafeConstructor reads (sign, base, `_`), and the words and
#: numbers next to them: the loader reads plain decimals itself, the rest through PyYAML
#: (an octal whose value is not its decimal's, `010`, is refused: see test_hostile_sweep40).
NUMBERS = (
    "[0, -0, +0, 7, +7, -7, 01, -0_7, 0o7, 0b101, 0x1F, -0x1F, 1_000, 999999999999999, "
    "1000000000000000, -1000000000000000, 0.5, -0.0, 1e3, 1.5e+3, .5, +.5, 1_0.5, .nan_not, "
    "true, False, ON, off, Yes, no, ~, Null, 12abc, 00, 08]"
)


def test_numbers_and_words_are_what_the_safe_loader_makes() -> None:
    mine = load_yaml(f"x: {NUMBERS}\n").data["x"]
    theirs = safe_load(f"x: {NUMBERS}\n")["x"]
    assert [(type(v), repr(v)) for v in mine] == [(type(v), repr(v)) for v in theirs]


def test_each_parse_resolves_tags_as_pyyaml_does() -> None:
    """The loader remembers the tag of each (kind, value) it resolved: the same text read
    twice, and texts whose values repeat in other positions, read as PyYAML reads them."""
    text = "a: [1, '1', 1.0, yes, 'yes', x, null, '']\nb: {x: yes, '1': 1}\nc: [[1, yes], x]\n"
    for _ in range(2):
        assert load_yaml(text).data == safe_load(text)


def test_an_integer_past_the_bound_is_refused_in_any_form() -> None:
    for text in ("1000000000000001", "-1000000000000001", "1_000_000_000_000_001"):
        with pytest.raises(LoadError) as info:
            load_yaml(f"x: {text}\n", "f.yaml")
        assert info.value.codes == ["E104"] and str(info.value.span) == "f.yaml:1:4", text


def test_a_bool_tag_on_a_word_that_is_no_boolean_is_a_located_error() -> None:
    """`!!bool maybe`: SafeConstructor raises KeyError, which was an internal error (exit 3)."""
    with pytest.raises(LoadError) as info:
        load_yaml("archspec: 1\nflag: !!bool maybe\n", "f.yaml")
    assert info.value.codes == ["E101"] and str(info.value.span) == "f.yaml:2:7"
    assert "not a YAML boolean" in str(info.value)


@pytest.mark.parametrize("text", ["1e-5", "1E5", "1.5e10", "-2e+3", ".5e1", "1_0e2", "1.e3"])
def test_a_number_with_an_exponent_is_a_float_as_yaml_1_2_reads_it(text: str) -> None:
    """PyYAML (YAML 1.1) reads these as text: a float param declared `default: 1e-5` was
    refused with "expected a number, got '1e-5'", though `--set`, JSON and editors read
    the number. Quoted, it stays text; `show` and `import` write such text quoted."""
    assert yaml.safe_load(f"x: {text}\n")["x"] == text  # what YAML 1.1 makes of it
    assert load_yaml(f"x: {text}\n").data["x"] == float(text.replace("_", ""))
    assert load_yaml(f"x: '{text}'\n").data["x"] == text
    assert load_yaml(yaml_floats.dump({"x": text})).data["x"] == text


def test_a_float_param_defaults_to_a_number_with_an_exponent() -> None:
    """The declared and the shorthand form, read by a layer; a str param's quoted '1e3' is
    text, and stays text through `show`."""
    from archspec import api

    text = (
        "archspec: 1\nname: t\ninput: [N, 3, 8, 8]\n"
        "params: {eps: {type: float, default: 1e-5}, tag: {type: str, default: '1e3'}}\n"
        "blocks:\n  B:\n    params: {eps: 1E-3}\n"
        "    layers: [{name: bn, type: batchnorm2d, eps: eps}]\n"
        "layers:\n  - {name: bn, type: batchnorm2d, eps: eps}\n  - {name: b, type: B}\n"
    )
    assert api.check(text).ok
    model = api.compile(text, device="meta")
    assert model.bn.eps == 1e-5 and model.b.bn.eps == 1e-3
    shown = api.resolved_text(text)
    assert "default: '1e3'" in shown and api.resolve(shown)["params"]["tag"]["default"] == "1e3"


@pytest.mark.parametrize("key", ["1e3", "2E5", "yes", "null"])
def test_an_imported_child_named_like_a_number_or_word_keeps_its_key(key: str) -> None:
    """The importer's YAML quotes a key that YAML would read as other than text: `1e3` is a
    float to archspec's loader (YAML 1.2's numbers), so it is written `'1e3'`, as `yes` is."""
    import torch
    from torch import nn

    import archspec

    model = nn.Sequential()
    model.add_module(key, nn.Linear(4, 4))
    model.add_module("relu", nn.ReLU())
    text = archspec.from_module(model, torch.zeros(1, 4))
    assert list(archspec.compile(text, device="meta").state_dict()) == list(model.state_dict())
