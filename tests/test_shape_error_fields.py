"""A size that a layer's own field gets wrong, for every input, is reported at that field:
the caret on `in_features: 5`, not on the start of the node (`ShapeContext.require_equal`'s
`field`). Each case is a constant mismatch the kind's shape rule finds, with the text the
caret must point at."""

from __future__ import annotations

from typing import Any

import pytest

from .ops_cases import assert_located, spec

N4 = ("N", 4, 6, 6)

CASES: list[tuple[str, list[dict[str, Any]], tuple[Any, ...], str, str]] = [
    ("linear", [{"type": "linear", "in_features": 5, "out_features": 3}], ("N", 8), "E404", "5"),
    (
        "unflatten",
        [{"type": "unflatten", "dim": 1, "unflattened_size": [5, 2]}],
        ("N", 12),
        "E404",
        "[5, 2]",
    ),
    ("reshape", [{"type": "reshape", "shape": [0, 5]}], ("N", 12), "E404", "[0, 5]"),
    ("partition", [{"type": "partition", "size": 4}], N4, "E412", "4"),
    (
        "departition",
        [
            {"name": "p", "type": "partition", "size": 2},
            {"type": "departition", "from": ["p", "input"], "size": 3},
        ],
        N4,
        "E412",
        "3",
    ),
    (
        "relative_attention",
        [
            {"name": "p", "type": "partition", "size": 2},
            {"type": "relative_attention", "size": 3, "head_dim": 2},
        ],
        N4,
        "E412",
        "3",
    ),
    (
        "split",
        [{"type": "split", "split_size": [1, 2], "dim": 1, "names": ["a", "b"]}],
        N4,
        "E404",
        "[1, 2]",
    ),
    ("channel_shuffle", [{"type": "channel_shuffle", "groups": 3}], N4, "E409", "3"),
    ("pixel_shuffle", [{"type": "pixel_shuffle", "upscale_factor": 3}], N4, "E409", "3"),
    ("pixel_unshuffle", [{"type": "pixel_unshuffle", "downscale_factor": 4}], N4, "E412", "4"),
    ("glu", [{"type": "glu", "dim": 1}], ("N", 5, 6, 6), "E404", "1"),
    ("prelu", [{"type": "prelu", "num_parameters": 3}], N4, "E402", "3"),
    ("check_size", [{"type": "check_size", "size": [5, 5]}], N4, "E413", "[5, 5]"),
    (
        "channel_affine",
        [{"type": "channel_affine", "scale": [1.0, 2.0], "shift": [0.0, 0.0]}],
        N4,
        "E404",
        "[1.0, 2.0]",
    ),
    (
        "layer_norm",
        [{"type": "layer_norm", "normalized_shape": [5]}],
        ("N", 3, 4),
        "E402",
        "[5]",
    ),
]


@pytest.mark.parametrize(
    ("layers", "shape", "code", "at"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_a_constant_mismatch_is_reported_at_the_field_that_asked(
    layers: list[dict[str, Any]], shape: tuple[Any, ...], code: str, at: str
) -> None:
    text = spec(layers, shape)
    assert_located(text, code, at=at)
