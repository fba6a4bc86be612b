"""Hostile inputs found by the session-30 sweep, beyond the corpus of tests/hostile/.

Each test names what the input did before it was fixed.
"""

from __future__ import annotations

from typing import Any

import pytest

import archspec


class _Unprintable:
    """A key whose repr raises: a message must not need it."""

    def __repr__(self) -> str:
        raise RuntimeError("repr")


@pytest.mark.parametrize("key", [1, None, ("num_classes",), _Unprintable()])
@pytest.mark.parametrize("call", ["compile", "check", "emit", "summary"])
def test_params_keyed_by_other_than_text_is_a_typeerror_that_says_so(key: Any, call: str) -> None:
    """`archspec.compile("lenet5", params={1: 2})` raised TypeError "'int' object is not
    iterable" from deep in the param binding, which names neither params= nor its key."""
    with pytest.raises(TypeError, match=r"params must be keyed by param names \(str\)"):
        getattr(archspec, call)("lenet5", params={key: 2})
