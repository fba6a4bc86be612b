"""`scaled_dot_product_attention` broadcasts its inputs' leading dims as torch's does:
multi-query attention (MobileNet-v4's MultiQueryAttention2d) gives one key and value head,
(N, 1, L, E), to all of q's (N, heads, L, E). The kind required the same leading dims and
one rank, so the spec imported from such a model refused its own example input, E404
'scaled_dot_product_attention batch dims (1) differ: 4 vs 1'; heads that neither match nor
are 1 are refused, E402 as matmul's batch dims, as torch refuses them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

import archspec

SPEC = """
archspec: 1
name: mqa
input: [N, 4, 10, 8]
layers:
  - {{name: q, type: identity, from: input}}
  - {{name: kv, type: slice, from: input, dim: 1, start: 0, end: {heads}}}
  - {{name: out, type: scaled_dot_product_attention, from: [q, kv, kv]}}
"""


def test_one_key_head_serves_every_query_head() -> None:
    result = archspec.check(SPEC.format(heads=1))
    assert result.ok, result
    net = archspec.compile(SPEC.format(heads=1)).eval()
    x = torch.randn(2, 4, 10, 8)
    want = F.scaled_dot_product_attention(x, x[:, :1], x[:, :1])
    assert torch.equal(net(x), want)


def test_heads_that_neither_match_nor_are_one_are_refused() -> None:
    result = archspec.check(SPEC.format(heads=3))
    assert not result.ok
    assert [d.code for d in result.diagnostics] == ["E402"]
    assert "differ: 4 vs 3" in result.diagnostics[0].message
