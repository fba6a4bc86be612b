"""A BERT encoder written by hand in HuggingFace's style imports, mask and all. Two walls
stood in the way: HuggingFace keeps its attention as `attention.self` (every BERT
checkpoint's keys say `...attention.self.query.weight`), which a spec's `key:` refused as
'an attribute of nn.Module (torch would refuse it)', though torch registers it (`self` is
reserved only for the code archspec writes; the compiled forward, by torch.fx, then wrote
`self = self.self(x)`); and its heads are split with `x.view(x.size()[:-1] + (heads,
head_size))`, a shape plus a tuple, which read as arithmetic on one size: `reshape [-1]`, a
spec refusing its own example input (E904, 'report this'). The sum is now the sizes one by
one (`reshape [0, 0, 4, 8]`)."""

from __future__ import annotations

import math

import torch
from torch import nn

import archspec


class SelfAttention(nn.Module):
    def __init__(self, hidden: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.num_attention_heads, self.attention_head_size = heads, hidden // heads
        self.all_head_size = hidden
        self.query = nn.Linear(hidden, hidden)
        self.key = nn.Linear(hidden, hidden)
        self.value = nn.Linear(hidden, hidden)
        self.dropout = nn.Dropout(0.1)

    def transpose_for_scores(self, x: torch.Tensor) -> torch.Tensor:
        new_x_shape = x.size()[:-1] + (self.num_attention_heads, self.attention_head_size)
        return x.view(new_x_shape).permute(0, 2, 1, 3)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        q = self.transpose_for_scores(self.query(hidden_states))
        k = self.transpose_for_scores(self.key(hidden_states))
        v = self.transpose_for_scores(self.value(hidden_states))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(self.attention_head_size)
        probs = self.dropout(nn.functional.softmax(scores + attention_mask, dim=-1))
        ctx = torch.matmul(probs, v).permute(0, 2, 1, 3).contiguous()
        return ctx.view(ctx.size()[:-2] + (self.all_head_size,))


class SelfOutput(nn.Module):
    def __init__(self, hidden: int = 32) -> None:
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.LayerNorm = nn.LayerNorm(hidden, eps=1e-12)
        self.dropout = nn.Dropout(0.1)

    def forward(self, hidden_states: torch.Tensor, input_tensor: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden_states)) + input_tensor)


class Attention(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.self = SelfAttention()
        self.output = SelfOutput()

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(hidden_states, attention_mask), hidden_states)


class Layer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.attention = Attention()
        self.intermediate = nn.Sequential(nn.Linear(32, 64), nn.GELU())
        self.output = SelfOutput()
        self.output.dense = nn.Linear(64, 32)

    def forward(self, h: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        a = self.attention(h, attention_mask)
        return self.output(self.intermediate(a), a)


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.ModuleList([Layer() for _ in range(2)])

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        extended = (1.0 - attention_mask[:, None, None, :]) * -10000.0
        for layer in self.layer:
            hidden_states = layer(hidden_states, extended)
        return hidden_states


def test_a_huggingface_style_bert_encoder_with_its_mask_imports() -> None:
    model = Encoder().eval()
    text = archspec.from_module(model, (torch.zeros(2, 7, 32), torch.ones(2, 7)))
    assert "{key: self, type: SelfAttention, from: [hidden_states, attention_mask]}" in text
    assert "type: reshape, from: query, shape: [0, 0, 4, 8]}" in text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    assert list(twin.state_dict()) == list(model.state_dict())
    assert "layer.0.attention.self.query.weight" in twin.state_dict()
    x, mask = torch.randn(3, 7, 32), (torch.rand(3, 7) > 0.3).float()
    with torch.no_grad():
        assert torch.allclose(twin(x, mask), model(x, mask), atol=1e-5)
    namespace: dict[str, object] = {}
    exec(compile(archspec.emit(text), "<emitted>", "exec"), namespace)
    emitted = namespace["Encoder"]().eval()  # type: ignore[operator]
    emitted.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.allclose(emitted(x, mask), model(x, mask), atol=1e-5)


SPEC = """\
archspec: 1
name: keyed
input: [N, 8]
blocks:
  Inner:
    layers:
      - {name: fc, type: linear, out_features: 8}
layers:
  - {key: self, type: Inner}
  - {name: output, type: linear, from: self, out_features: 4}
"""


def test_a_spec_may_key_a_module_self_as_torch_registers_it() -> None:
    model = archspec.compile(SPEC)
    assert list(model.state_dict())[:2] == ["self.fc.weight", "self.fc.bias"]
    x = torch.randn(2, 8)
    want = model.output(model.self(x))
    assert torch.equal(model(x), want)
    assert "x = self.self(x)" in archspec.emit(SPEC)
