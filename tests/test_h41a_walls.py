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
