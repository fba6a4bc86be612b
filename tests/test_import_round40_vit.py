"""lucidrains' ViT, written by hand in its style (no einops): its attention iterates the
pieces of a chunk (`q, k, v = [t.reshape(...) for t in qkv]` of `qkv = ....chunk(3,
dim=-1)`), and it adds its positional table cut to a length worked out from sizes, `x +=
self.pos_embedding[:, :(n + 1)]`, n read off the tokens before the class token joined them.
The first was E902 (torch.fx cannot iterate a traced value), the second E903 ("slices with a
bound worked out from a size of a tensor"). The chunk now iterates as many pieces as it gives
on the example input, and the cut is a `slice_as` of the table to the concatenation it is
added to, whose length is proven to be n + 1 for every input (catsizes.py)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int = 2, dim_head: int = 8) -> None:
        super().__init__()
        self.heads, self.scale = heads, dim_head**-0.5
        self.norm = nn.LayerNorm(dim)
        self.attend = nn.Softmax(dim=-1)
        self.to_qkv = nn.Linear(dim, heads * dim_head * 3, bias=False)
        self.to_out = nn.Sequential(nn.Linear(heads * dim_head, dim), nn.Dropout(0.0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(x)
        qkv = self.to_qkv(x).chunk(3, dim=-1)
        b, n, _ = x.shape
        q, k, v = [t.reshape(b, n, self.heads, -1).transpose(1, 2) for t in qkv]
        attn = self.attend(torch.matmul(q, k.transpose(-1, -2)) * self.scale)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(b, n, -1)
        return self.to_out(out)


class ViT(nn.Module):
    def __init__(self, tokens: int = 1, form: str = "cat") -> None:
        super().__init__()
        self.tokens, self.form = tokens, form
        self.to_patch_embedding = nn.Sequential(nn.LayerNorm(48), nn.Linear(48, 16))
        self.pos_embedding = nn.Parameter(torch.randn(1, 16 + tokens, 16))
        self.cls_token = nn.Parameter(torch.randn(1, tokens, 16)) if form == "cat" else None
        self.layers = nn.ModuleList([Attention(16) for _ in range(2)])
        self.mlp_head = nn.Linear(16, 10)

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        b, c, h, w = img.shape
        x = img.reshape(b, c, h // 4, 4, w // 4, 4).permute(0, 2, 4, 3, 5, 1)
        x = self.to_patch_embedding(x.reshape(b, (h // 4) * (w // 4), 48))
        b, n, _ = x.shape
        if self.form == "cat":
            x = torch.cat((self.cls_token.expand(b, -1, -1), x), dim=1)
        else:  # the same length, made otherwise: nothing proves it n + 1
            x = F.pad(x, (0, 0, self.tokens, 0))
        x += self.pos_embedding[:, : (n + self.tokens)]
        for attn in self.layers:
            x = attn(x) + x
        return self.mlp_head(x[:, 0])


@pytest.mark.parametrize("tokens", [1, 2])
def test_a_table_cut_to_the_tokens_and_class_tokens_is_a_slice_as(tokens: int) -> None:
    model = ViT(tokens).eval()
    text = archspec.from_module(model, torch.zeros(1, 3, 16, 16))
    assert "type: slice_as, from: [pos_embedding, cat]" in text
    assert "type: chunk, dim: -1, names: [chunk_0, chunk_1, chunk_2]" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    assert list(twin.state_dict()) == list(model.state_dict())
    for size in ((16, 16), (8, 12)):  # fewer patches: a shorter cut of the table
        x = torch.randn(2, 3, *size)
        with torch.no_grad():
            assert torch.allclose(twin(x), model(x), atol=1e-5)
    assert not archspec.check(text, input=(1, 3, 20, 20)).ok  # 25 patches: the table has 16


def test_a_length_nothing_proves_stays_refused_at_the_cut() -> None:
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.from_module(ViT(1, "pad").eval(), torch.zeros(1, 3, 16, 16))
    (diag,) = info.value.diagnostics
    assert diag.code == "E903" and "bound worked out from a size" in diag.message
