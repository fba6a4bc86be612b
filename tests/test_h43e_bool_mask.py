"""A causal attention holding its mask as a bool buffer (`torch.tril(torch.ones(16, 16,
dtype=torch.bool))` given to `F.scaled_dot_product_attention` as `attn_mask`) was refused
with the hint to register the buffer as float32 (`.float()`): a float mask is added to the
scores, so a model changed so computes another attention and imports as that. The hint
says how a boolean mask keeps its meaning, and the model written so imports and computes
what the boolean one does."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from archspec.errors import ImportFailure


class Causal(nn.Module):
    def __init__(self, additive: bool) -> None:
        super().__init__()
        self.qkv = nn.Linear(16, 48)
        keep = torch.tril(torch.ones(8, 8, dtype=torch.bool)).view(1, 1, 8, 8)
        if additive:  # what the hint says: 0 where attended, -inf elsewhere
            keep = torch.zeros(keep.shape).masked_fill(~keep, float("-inf"))
        self.register_buffer("mask", keep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(x).view(b, t, 3, 2, 8).permute(2, 0, 3, 1, 4).unbind(0)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=self.mask[:, :, :t, :t])
        return y.transpose(1, 2).reshape(b, t, c)


def test_a_bool_mask_is_refused_with_a_hint_that_keeps_its_meaning() -> None:
    x = torch.rand(2, 8, 16)
    with pytest.raises(ImportFailure) as caught:
        archspec.from_module(Causal(additive=False).eval(), x)
    (diag,) = caught.value.diagnostics
    assert diag.code == "E904" and "of dtype bool" in diag.message
    assert "-inf" in diag.hint and "is_causal=True" in diag.hint and "== 0" in diag.hint
    boolean, additive = Causal(additive=False).eval(), Causal(additive=True).eval()
    additive.qkv.load_state_dict(boolean.qkv.state_dict())
    twin = archspec.compile(archspec.from_module(additive, x)).eval()
    twin.load_state_dict(additive.state_dict())
    torch.testing.assert_close(twin(x), boolean(x))
