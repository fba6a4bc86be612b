"""Concrete sizes take int arithmetic (ops/conv.conv_extent, Dim.floordiv of a constant):
the same numbers the exact algebra gives, without making a Dim per step."""

from __future__ import annotations

import itertools

import pytest

from archspec.dims import Dim
from archspec.ops.conv import conv_extent


def test_a_concrete_extent_is_the_symbolic_one_at_that_size(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    grid = itertools.product(
        range(1, 12), (1, 2, 3, 5), (1, 2, 3), (0, 1, 2), (1, 2), (False, True)
    )
    symbolic = {}
    for x, k, s, p, d, ceil in grid:
        h = conv_extent(Dim.of("H"), k, s, p, d, ceil)
        symbolic[(x, k, s, p, d, ceil)] = h.evaluate({"H": x})

    def no_dims(*args: object) -> None:
        raise AssertionError("a concrete extent made a Dim per step")

    monkeypatch.setattr(Dim, "floordiv", no_dims)
    for (x, k, s, p, d, ceil), want in symbolic.items():
        got = conv_extent(Dim.of(x), k, s, p, d, ceil)
        assert got.is_const and got.value == want, (x, k, s, p, d, ceil)


def test_a_constant_floor_division_is_a_constant() -> None:
    for n in (-7, -1, 0, 1, 6, 7, 10**12):
        got = Dim.of(n).floordiv(3)
        assert got == Dim(None, n // 3) and got.is_const and got.value == n // 3
        assert hash(got) == hash(Dim(None, n // 3))
