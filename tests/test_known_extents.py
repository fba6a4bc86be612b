"""Shortcuts of the shape rules every layer runs twice (lowering at the declared input, the
shape pass at the symbolic one): a conv's or pool's extents of a concrete input worked out in
one call (ops/extents.py `known_extents`), a join of inputs all alike without the broadcast
(ops/broadcasting.py `broadcast_all`), and `Dim.is_const` set where a Dim is made. Each gives what
the general path gives, and leaves to it whatever it does not cover."""

from __future__ import annotations

import copy
import itertools
import pickle

import pytest

from archspec.dims import Dim, const_values
from archspec.lowering.memo import MemoContext
from archspec.ops import REGISTRY, ShapeFailure, broadcasting, conv
from archspec.ops.extents import conv_extent, known_extents

N, H = Dim.of("N"), Dim.of("H")


def _conv_attrs(**fields: object) -> dict[str, object]:
    attrs: dict[str, object] = dict(
        out_channels=8, kernel_size=3, stride=1, padding=1, dilation=1, groups=1, bias=True
    )
    attrs.update(padding_mode="zeros", in_channels=None, **fields)
    return attrs


def test_known_extents_are_conv_extent_where_each_is_at_least_one() -> None:
    for x, k, s, p, d, ceil_mode in itertools.product(
        (1, 2, 5, 7, 56), (1, 3, 7), (1, 2, 3), (0, 1, 3), (1, 2), (False, True)
    ):
        shape = (N, Dim.of(4), Dim.of(x), Dim.of(x + 1))
        ks, ss, ps, ds = (k, k), (s, s), (p, p), (d, d)
        known = known_extents(shape, 2, ks, ss, ps, ds, ceil_mode)
        general = [conv_extent(shape[2 + i], k, s, p, d, ceil_mode) for i in range(2)]
        if all(e.is_const and e.value >= 1 for e in general):
            assert known == general
        else:  # the general path reports it (E405)
            assert known is None


class _Recording(int):
    """An int that is no plain one (the emitter's record their arithmetic)."""


def test_known_extents_leave_symbols_and_recording_ints_to_the_general_path() -> None:
    assert known_extents((N, Dim.of(4), H, Dim.of(8)), 2, (3, 3), (1, 1), (1, 1), (1, 1)) is None
    shape = (N, Dim.of(4), Dim.of(8), Dim.of(8))
    assert known_extents(shape, 2, (3, _Recording(3)), (1, 1), (1, 1), (1, 1)) is None
    assert known_extents(shape, 2, (3, 3), (1, 1), (1, 1), (1, 1)) == [Dim.of(8)] * 2
    assert const_values((Dim.of(3), Dim.of(_Recording(4)))) is None
    assert const_values((Dim.of(3), Dim.of(4))) == [3, 4]


def test_a_concrete_conv_and_pool_take_the_shortcut(monkeypatch: pytest.MonkeyPatch) -> None:
    x = (N, Dim.of(4), Dim.of(32), Dim.of(30))
    want_conv = REGISTRY["conv2d"].infer(_conv_attrs(stride=2), [x], MemoContext())
    pool_attrs = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, dilation=1)
    want_pool = REGISTRY["maxpool2d"].infer(dict(pool_attrs), [x], MemoContext())

    def refused(*args: object, **kwargs: object) -> Dim:
        raise AssertionError("conv_extent called for a concrete input")

    monkeypatch.setattr(conv, "conv_extent", refused)
    got = REGISTRY["conv2d"].infer(_conv_attrs(stride=2), [x], MemoContext())
    assert got == want_conv and got.shape == (N, Dim.of(8), Dim.of(16), Dim.of(15))
    assert REGISTRY["maxpool2d"].infer(dict(pool_attrs), [x], MemoContext()) == want_pool
    with pytest.raises(AssertionError):  # a symbolic extent still takes the general path
        REGISTRY["conv2d"].infer(_conv_attrs(), [(N, Dim.of(4), H, H)], MemoContext())


def test_a_conv_too_large_for_its_input_is_still_refused() -> None:
    x = (N, Dim.of(4), Dim.of(2), Dim.of(9))
    with pytest.raises(ShapeFailure) as failure:
        REGISTRY["conv2d"].infer(_conv_attrs(kernel_size=5, padding=0), [x], MemoContext())
    assert failure.value.code == "E405"
    assert "H extent -2" in failure.value.message


def test_a_join_of_inputs_alike_skips_the_broadcast(monkeypatch: pytest.MonkeyPatch) -> None:
    x = (N, Dim.of(8), H.floordiv(2), Dim.of(5))
    y = (N, Dim.of(8), Dim.of(1), Dim.of(1))
    want_same = REGISTRY["add"].infer({}, [x, x], MemoContext()).shape
    want_gate = REGISTRY["mul"].infer({}, [x, y], MemoContext()).shape
    calls = []
    broadcast = broadcasting._broadcast

    def counted(*args: object) -> object:
        calls.append(args)
        return broadcast(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(broadcasting, "_broadcast", counted)
    assert REGISTRY["add"].infer({}, [x, tuple(x), x], MemoContext()).shape == want_same == x
    assert not calls
    assert REGISTRY["mul"].infer({}, [x, y], MemoContext()).shape == want_gate == x
    assert calls  # inputs that differ are broadcast


def test_is_const_is_set_however_a_dim_is_made() -> None:
    made = [
        Dim.of(3),
        Dim.of(_Recording(3)),
        Dim.of("H"),
        Dim(None, 4),
        Dim({}),
        H + 1,
        H - H,
        2 * H,
        (H + 3).floordiv(2),
        Dim.of(9).floordiv(2),
        H.floordiv(4) * 4 - H.floordiv(4) * 4,
    ]
    for d in made:
        assert d.is_const == (not d.terms), d
        assert d.is_const == (not d.symbols), d
        for again in (pickle.loads(pickle.dumps(d)), copy.copy(d), copy.deepcopy(d)):
            assert again == d and again.is_const == d.is_const
