"""The values the int64 check follows through moves and joins (passes/dtypes.py) are
torch's, for any strides; and listing them costs work in proportion to the elements (a
ConViT spec, ten blocks each broadcasting its 38,416-element position index seven times,
took two seconds of `check`: a sum of products per element)."""

from __future__ import annotations

import itertools
import random

import torch

from archspec.passes import dtypes


def _by_sum(shape: tuple[int, ...], strides: list[int], offset: int, flat: list[int]) -> list[int]:
    """The per-element definition the listing must equal."""
    return [
        flat[offset + sum(c * s for c, s in zip(at, strides))]
        for at in itertools.product(*map(range, shape))
    ]


def test_a_strided_view_lists_what_the_per_element_sum_lists() -> None:
    rng = random.Random(37)
    checked = 0
    for _ in range(300):
        rank = rng.randint(0, 4)
        shape = tuple(rng.randint(0, 4) for _ in range(rank))
        strides = [rng.choice([0, 1, 2, 3, 5]) for _ in range(rank)]
        offset = rng.randint(0, 3)
        size = offset + sum((n - 1) * s for n, s in zip(shape, strides) if n) + 1
        flat = [rng.randint(-9, 9) for _ in range(size)]
        assert dtypes._strided(shape, strides, offset, flat) == _by_sum(
            shape, strides, offset, flat
        )
        checked += 1
    assert checked == 300


def test_broadcast_and_permute_equal_torch() -> None:
    base = torch.arange(2 * 1 * 3).reshape(2, 1, 3)
    out = dtypes._broadcast(((2, 1, 3), base.flatten().tolist()), (4, 2, 5, 3))
    assert out == base.expand(4, 2, 5, 3).flatten().tolist()
    strides = dtypes._row_major((2, 1, 3))
    permuted = dtypes._strided(
        (3, 2, 1), [strides[2], strides[0], strides[1]], 0, base.flatten().tolist()
    )
    assert permuted == base.permute(2, 0, 1).flatten().tolist()


def test_a_large_broadcast_is_listed_in_linear_time() -> None:
    flat = list(range(196))
    shape = (196, 196)
    out = dtypes._strided(shape, [0, 1], 0, flat)  # a row broadcast down 196 rows
    assert len(out) == 196 * 196 and out[:3] == [0, 1, 2] and out[196:199] == [0, 1, 2]


def test_a_float_buffer_of_indices_is_told_to_say_int64() -> None:
    import archspec

    spec = """archspec: 1
name: fi
input: [N, 4, 7, 7]
layers:
  - {name: idx, type: buffer, shape: [49, 49], fill: distance_index, window: [7, 7]DTYPE}
  - {name: bias, type: parameter, shape: [4, 49], init: constant}
  - {name: picked, type: index, from: [bias, idx], dim: 1}
"""
    bad = archspec.check(spec.replace("DTYPE", ""))
    (error,) = [d for d in bad.diagnostics if d.code == "E401"]
    assert "`idx` is a float tensor" in error.message
    assert error.hint is not None and "give the buffer `idx` `dtype: int64`" in error.hint
    assert archspec.check(spec.replace("DTYPE", ", dtype: int64")).ok
    # token ids from the input are told about input_dtype, as before
    ids = archspec.check(
        """archspec: 1
name: ids
input: [N, 12]
layers:
  - {type: embedding, num_embeddings: 100, embedding_dim: 8}
"""
    )
    (error,) = [d for d in ids.diagnostics if d.code == "E401"]
    assert error.hint is not None and "input_dtype: int64" in error.hint


def test_maximum_and_minimum_of_int64_tensors_stay_int64_with_known_values() -> None:
    import archspec

    spec = """archspec: 1
name: imax
input: [N, 4]
layers:
  - {name: a, type: buffer, shape: [4], fill: arange, dtype: int64}
  - {name: b, type: buffer, shape: [4], fill: constant, dtype: int64}
  - {name: hi, type: KIND, from: [a, b]}
  - {name: emb, type: embedding, num_embeddings: ROWS, embedding_dim: 2, from: hi}
"""
    # max(arange(4), 0) holds 0..3: 3 rows are too few; min(arange(4), 0) holds 0 only
    text = spec.replace("KIND", "maximum")
    bad = archspec.check(text.replace("ROWS", "3"))
    (error,) = [d for d in bad.diagnostics if d.code == "E409"]
    assert "`hi` holds the index 3" in error.message
    assert archspec.check(text.replace("ROWS", "4")).ok  # torch computes it in int64
    assert archspec.check(spec.replace("KIND", "minimum").replace("ROWS", "1")).ok
