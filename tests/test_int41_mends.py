"""Integration mends of session 41: where two helpers' changes met."""

import pytest

import archspec

HEADS = """\
archspec: 1
name: heads_differ
input: [N, 4, 10, 8]
layers:
  - {name: k, type: reshape, shape: [0, 2, 20, 8]}
  - {name: a, type: %s, from: [input, k%s]%s}
"""


@pytest.mark.parametrize(
    ("kind", "more", "fields", "hint"),
    [
        ("scaled_dot_product_attention", ", k", "", "give q, k and v the same batch dims"),
        ("matmul", "", ", transpose: true", "give both operands the same batch dims"),
    ],
)
def test_a_products_batch_dims_that_do_not_broadcast_get_its_own_hint(
    kind: str, more: str, fields: str, hint: str
) -> None:
    report = archspec.check(HEADS % (kind, more, fields))
    (d,) = report.errors
    assert d.code == "E402"
    assert "dim 1 differ: 4 vs 2 ((N, 4), (N, 2)" in d.message
    assert " , " not in d.message and "channels" not in d.message
    assert d.hint.startswith(hint) and "out_features" not in d.hint
