"""A declared input that passes every layer's decided checks can still be outside the
domain, through a requirement left free on the batch size N (`4 == 256*N` holds for no N):
check names that layer, not "an archspec bug" at the input line."""

from __future__ import annotations

import archspec
from archspec.dims import format_shape

SPEC = """\
archspec: 1
name: bad
input: [N, 3, 8, 8]
layers:
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}
  - {name: flat, type: reshape, shape: [1, -1, 1, 1]}
  - {name: gate, type: mul, from: [conv, flat]}
"""


def test_a_requirement_free_in_n_is_named_at_its_layer() -> None:
    result = archspec.check(SPEC)
    assert not result.ok
    (error,) = result.errors
    assert error.code == "E402"
    assert error.span is not None and error.span.line == 7
    assert "the input (N, 3, 8, 8) fails at gate" in error.message
    assert "archspec bug" not in (error.hint or "")
    assert error.hint.startswith("bad accepts (N, 3, H, W) with N = 1 and H = 1 and W = 1")


def test_the_same_spec_at_its_only_size_is_fine() -> None:
    result = archspec.check(SPEC.replace("[N, 3, 8, 8]", "[1, 3, 1, 1]"))
    assert result.ok, [d.message for d in result.errors]
    assert [format_shape(s) for s in result.outputs] == ["(1, 4, 1, 1)"]
