"""A size a spec states that archspec infers (in_channels, num_features, embed_dim ...) and
that the input does not have is one E402 with one wording, whatever the kind."""

from __future__ import annotations

import pytest

from archspec import check

CASES = [
    ([1, 3, 8, 8], {"type": "conv2d", "out_channels": 4, "kernel_size": 3, "in_channels": 5}),
    (
        [1, 3, 8, 8],
        {"type": "conv_transpose2d", "out_channels": 4, "kernel_size": 2, "in_channels": 5},
    ),
    ([1, 3, 8, 8], {"type": "batchnorm2d", "num_features": 5}),
    ([1, 4, 8, 8], {"type": "group_norm", "num_groups": 2, "num_channels": 6}),
    ([1, 3, 8, 8], {"type": "layer_norm2d", "num_channels": 5}),
    ([1, 3, 8, 8], {"type": "blur_pool2d", "channels": 5}),
    ([1, 5, 8], {"type": "multihead_attention", "num_heads": 1, "embed_dim": 6}),
]


@pytest.mark.parametrize(("shape", "layer"), CASES, ids=[c[1]["type"] for c in CASES])
def test_a_stated_size_the_input_lacks_is_e402(shape: list[int], layer: dict) -> None:
    field = next(k for k in layer if k.startswith(("in_", "num_f", "num_c", "chan", "embed")))
    spec = {"archspec": 1, "name": "stated", "input": shape, "layers": [layer]}
    errors = [d for d in check(spec).diagnostics if d.code == "E402"]
    assert len(errors) == 1, check(spec).diagnostics
    assert f"{layer['type']} declares {field}={layer[field]} but receives" in errors[0].message
    assert errors[0].hint == f"drop {field}: archspec infers it"
