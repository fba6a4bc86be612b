"""A model whose input is tokens, (N, L, D), as a GPT block's is: which sizes follow the
input is told by a run on an input of doubled sizes, and the doubled sizes were the dims
after the channels, here L's neighbour D, which no such model takes (its first LayerNorm
refuses it). With that run failed, nothing proved D a number, so minGPT's `att * (1.0 /
math.sqrt(k.size(-1)))`, a scale by the head's width, was E903 ('reads `truediv`, computed
from sizes read in forward, as a tensor'). Where the doubled run fails, the dims between the
batch and the last are doubled instead, as tokens are sized."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

import archspec


class Attention(nn.Module):
    def __init__(self, n_embd: int = 32, n_head: int = 4) -> None:
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head, self.n_embd = n_head, n_embd

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = F.softmax((q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1))), dim=-1)
        return self.c_proj((att @ v).transpose(1, 2).contiguous().view(B, T, C))


class Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(32)
        self.attn = Attention()
        self.ln_2 = nn.LayerNorm(32)
        gelu = nn.GELU(approximate="tanh")
        self.mlp = nn.Sequential(nn.Linear(32, 128), gelu, nn.Linear(128, 32))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


def test_a_gpt_block_on_tokens_scales_by_its_head_width() -> None:
    model = Block().eval()
    text = archspec.from_module(model, torch.zeros(2, 7, 32))
    assert f"type: scale, factor: {1.0 / math.sqrt(8)}" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    for length in (7, 12):  # the compiled module takes other lengths, as the model does
        x = torch.randn(3, length, 32)
        with torch.no_grad():
            assert torch.allclose(twin(x), model(x), atol=1e-6)
