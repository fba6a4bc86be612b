"""Small walls the last session left, each with its reproduction."""

from __future__ import annotations

import pytest

import archspec
from archspec.constructs.registry import unregister as unregister_construct


def test_unregister_of_an_unknown_kind_names_the_near_one() -> None:
    """`archspec.unregister("Conv2d")` raised KeyError("layer kind 'Conv2d' is not
    registered"), printed quoted, with no guess and no word of what is registered."""
    with pytest.raises(KeyError) as info:
        archspec.unregister("Conv2d")
    text = str(info.value)
    assert text.startswith("layer kind 'Conv2d' is not registered: did you mean 'conv2d'? ")
    assert "`archspec list --layers`" in text
    with pytest.raises(KeyError, match="did you mean 'repeat'"):
        unregister_construct("repaet")
    with pytest.raises(KeyError, match=r"layer kind \['x'\] is not registered"):
        archspec.unregister(["x"])  # type: ignore[arg-type]


def test_the_non_specific_tag_keeps_a_scalar_text() -> None:
    """`name: ! 12` was read as the int 12 (E202 'expected a string, got integer 12'): PyYAML
    and libyaml resolve a scalar tagged `!` as if it were plain, where YAML (1.1 and 1.2)
    makes it text."""
    from archspec.loader import load_yaml

    text = "a: ! 12\nb: &x ! 13\nc: ! on\nd: 12\ne: !<!> 5\nf: [! 1, 2]\ng: ! 010\nh: *x\n"
    assert load_yaml(text).data == {
        "a": "12",
        "b": "13",
        "c": "on",
        "d": 12,
        "e": "5",
        "f": ["1", 2],
        "g": "010",
        "h": "13",
    }
    spec = "archspec: 1\nname: net\ninput: [N, 4]\nlayers:\n"
    spec += "  - {name: ! on, type: linear, out_features: 3}\n"
    report = archspec.check(spec)
    assert report.ok, report.diagnostics
    (d,) = archspec.check(spec.replace("! on", "! 12")).diagnostics
    assert d.code == "E204" and "'12' is not a valid name" in d.message
