"""`conv_extent` keeps the symbolic extents it made (ops/extents.py `_EXTENTS`): the convs of a
stage read one extent with the same few windows. A kept extent is the one computing it
gives, and an argument that is no plain int (the emitter's recording ints) is computed."""

from __future__ import annotations

import itertools

from archspec.dims import Dim
from archspec.ops import extents
from archspec.ops.conv import conv_extent

H = Dim.of("H")


def _torch_extent(x: int, k: int, s: int, p: int, d: int, ceil_mode: bool) -> int:
    """torch's output size of a conv or pool (a ceil-mode window starts inside the input)."""
    span = d * (k - 1) + 1
    if not ceil_mode:
        return (x + 2 * p - span) // s + 1
    out = -(-(x + 2 * p - span) // s) + 1
    return out - 1 if (out - 1) * s >= x + p else out


def test_a_kept_extent_is_the_computed_one() -> None:
    for x, k, s, p, d, ceil_mode in itertools.product(
        (H, H.floordiv(4), 2 * H + 1), (1, 3, 7), (1, 2, 3), (0, 1, 3), (1, 2), (False, True)
    ):
        if ceil_mode and p > (d * (k - 1) + 1) // 2:
            continue  # torch refuses padding past half the window
        extents._EXTENTS.clear()
        fresh = conv_extent(x, k, s, p, d, ceil_mode)
        kept = conv_extent(x, k, s, p, d, ceil_mode)
        assert kept is fresh  # the second call took the kept one
        for h in range(1, 40):
            size = x.evaluate({"H": h})
            if size + 2 * p >= d * (k - 1) + 1:
                assert fresh.evaluate({"H": h}) == _torch_extent(size, k, s, p, d, ceil_mode)


class _Recording(int):
    """An int that is not one to the cache (the emitter's records its arithmetic)."""


def test_an_argument_that_is_no_plain_int_is_computed() -> None:
    extents._EXTENTS.clear()
    made = conv_extent(H, 3, 2, 1, 1)
    assert extents._EXTENTS  # kept
    wrong = Dim.of(7)
    for key in extents._EXTENTS:
        extents._EXTENTS[key] = wrong
    assert conv_extent(H, 3, 2, 1, 1) is wrong  # the kept one is given back ...
    again = conv_extent(H, 3, _Recording(2), 1, 1)  # ... but not for a recording int
    assert again == made and again is not wrong
    extents._EXTENTS.clear()
