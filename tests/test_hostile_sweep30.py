"""Hostile inputs found by the session-30 sweep, beyond the corpus of tests/hostile/.

Each test names what the input did before it was fixed.
"""

from __future__ import annotations

import enum
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


class _Kind(enum.StrEnum):
    conv = "conv2d"
    mode = "nearest"


class _Width(enum.IntEnum):
    four = 4


class _Liar(str):
    """Text equal to everything: a lookup by it finds whatever comes first."""

    def __eq__(self, other: object) -> bool:
        return True

    def __hash__(self) -> int:
        return 0


def _mapping_spec(kind: str, width: int, mode: str, key: str) -> dict[str, Any]:
    return {
        "archspec": 1,
        "name": "t",
        "input": ["N", 3, 8, 8],
        "params": {"m": {"type": "str", "default": mode}, "w": {"type": "int", "default": width}},
        "layers": [
            {key: "c", "type": kind, "out_channels": "w", "kernel_size": 3},
            {
                "name": "c2",
                "type": "conv2d",
                "out_channels": "4 if m == 'nearest' else 3",
                "kernel_size": 3,
            },
        ],
    }


def test_a_mapping_spec_holding_enums_or_str_subclasses_reads_as_plain_values() -> None:
    """A spec given as Python data holding a StrEnum and an IntEnum compiled, but
    `archspec.api.resolved_text` (what `show` prints) raised yaml's RepresenterError
    ('cannot represent an object'); a str subclass with its own __eq__ as a layer's `type`
    raised KeyError 'groups' from the schema. Such values are copied as the plain str, int
    or float they hold."""
    from archspec import api

    plain = _mapping_spec("conv2d", 4, "nearest", "name")
    for spec in (
        _mapping_spec(_Kind.conv, _Width.four, _Kind.mode, "name"),
        _mapping_spec(_Liar("conv2d"), 4, "nearest", _Liar("name")),
    ):
        assert api.resolved_text(spec) == api.resolved_text(plain)
        assert archspec.emit(spec) == archspec.emit(plain)
        assert archspec.check(spec).ok


def test_a_mapping_key_whose_repr_raises_is_a_load_error() -> None:
    """`archspec.compile({..., key: 1})` with a key whose repr raises raised that exception."""
    spec = {**_mapping_spec("conv2d", 4, "nearest", "name"), _Unprintable(): 1}
    with pytest.raises(archspec.ArchSpecError, match="mapping key of type _Unprintable"):
        archspec.compile(spec, device="meta")
