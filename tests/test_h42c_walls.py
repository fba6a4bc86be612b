"""Session 42's acceptance round (helper h42c): what writing today's networks beyond image
classification (a DDPM UNet, a LLaMA decoder, BERT, Whisper's encoder, CLIP, DETR, ...)
from the docs alone found missing in the general mechanisms, each reduced to the spec that
shows it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import archspec
from tests.ops_cases import emitted, same_as_emitted

# rotary position embeddings: `inv_freq = 1.0 / (base ** (torch.arange(0, d, 2).float() / d))`
# (LLaMA, GPT-NeoX, HF's rotary classes); RMSNorm's `x.pow(2)`
ROTARY = """\
archspec: 1
name: rotary_freqs
input: [N, T, 4]
layers:
  - {name: index, type: buffer, shape: [4], fill: arange, persistent: false}
  - {name: exponent, type: scale, factor: 2, divisor: 8, from: index}
  - {name: powered, type: pow, base: 10000.0}
  - {name: inv_freq, type: elementwise, fn: reciprocal}
  - {name: squared, type: pow, exponent: 2, from: input}
  - {name: out, type: add, from: [squared, inv_freq]}
"""


def test_a_constant_raised_to_a_tensor_and_a_tensor_to_a_constant() -> None:
    # it was E201 'unknown layer type pow': `theta ** t` had no form (exp(t * log(theta)) is
    # another number in the last bits), so a rotary embedding's frequencies could not be made
    report = archspec.check(ROTARY)
    assert report.ok and not report.diagnostics, report.diagnostics
    model = archspec.compile(ROTARY).eval()
    x = torch.randn(2, 5, 4)
    inv_freq = 1.0 / (10000 ** (torch.arange(0, 8, 2, dtype=torch.int64).float() / 8))
    assert torch.equal(model(x), x.pow(2) + inv_freq)
    same_as_emitted(ROTARY, x)
    source = archspec.emit(ROTARY)
    assert "torch.pow(10000.0, out)" in source and "x = x.pow(2.0)" in source


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ("base: 2.0, exponent: 2", "pow takes one of base and exponent"),
        ("", "pow takes one of base and exponent"),
        ("base: -2.0", "base"),
    ],
)
def test_pow_takes_one_of_base_and_exponent(fields: str, message: str) -> None:
    text = (
        "archspec: 1\nname: bad_pow\ninput: [N, 8]\nlayers:\n"
        f"  - {{name: p, type: pow{', ' + fields if fields else ''}}}\n"
    )
    report = archspec.check(text)
    assert not report.ok
    (error,) = report.diagnostics
    assert message in error.message and error.span.line == 5, error


# grouped-query attention: 4 query heads share 2 key/value heads (LLaMA 2/3, Mistral)
GQA = """\
archspec: 1
name: gqa
inputs:
  q: [N, 4, T, 8]
  k: [N, KV, T, 8]
  v: [N, KV, T, 8]
layers:
  - {name: out, type: scaled_dot_product_attention, from: [q, k, v], is_causal: true,
     enable_gqa: true}
"""


def test_grouped_query_attention_is_torchs() -> None:
    # it was E402 'scaled_dot_product_attention joins inputs whose dim 1 differ: 4 vs 2': k's
    # and v's heads had to be 1 or q's, and a 5-d (N, KV, rep, T, d) grouping broadcast against
    # (N, KV, 1, T, d) rounds otherwise than LLaMA's repeat_kv in the last bit
    text = GQA.replace("KV", "2")
    report = archspec.check(text)
    assert report.ok and not report.diagnostics, report.diagnostics
    assert [str(d) for d in report.outputs[0]] == ["N", "4", "T", "8"]
    q, k, v = torch.randn(2, 4, 5, 8), torch.randn(2, 2, 5, 8), torch.randn(2, 2, 5, 8)
    model = archspec.compile(text)
    repeat = [t[:, :, None].expand(2, 2, 2, 5, 8).reshape(2, 4, 5, 8) for t in (k, v)]
    want = F.scaled_dot_product_attention(q, *repeat, is_causal=True)
    assert torch.equal(model(q, k, v), want)
    assert "enable_gqa=True" in archspec.emit(text)


@pytest.mark.parametrize(("kv", "code"), [("3", "E409"), ("KV", "E406")])
def test_grouped_query_attention_needs_heads_that_divide(kv: str, code: str) -> None:
    report = archspec.check(GQA.replace("KV", kv))
    assert [d.code for d in report.diagnostics] == [code], report.diagnostics


# CLIP's text transformer: nn.MultiheadAttention given `attn_mask`, -inf above the diagonal
CAUSAL_MHA = """\
archspec: 1
name: causal_mha
input: [L, N, 16]
layers:
  - {name: attn, type: multihead_attention, num_heads: 4, batch_first: false, is_causal: true}
"""


@pytest.mark.parametrize("length", [1, 5])
def test_multihead_attention_with_a_causal_mask_is_torchs(length: int) -> None:
    # it was E201 'unknown field `is_causal`': nn.MultiheadAttention's keys (in_proj_weight)
    # came only without a mask, so CLIP's text tower and nn.TransformerEncoder over a
    # generate_square_subsequent_mask had no form
    report = archspec.check(CAUSAL_MHA)
    assert report.ok and not report.diagnostics, report.diagnostics
    model = archspec.compile(CAUSAL_MHA).eval()
    torch_mha = torch.nn.MultiheadAttention(16, 4).eval()
    torch_mha.load_state_dict(model.attn.state_dict(), strict=True)
    x = torch.randn(length, 3, 16)
    mask = torch.empty(length, length).fill_(float("-inf")).triu_(1)  # CLIP's
    with torch.no_grad():
        want = torch_mha(x, x, x, need_weights=False, attn_mask=mask)[0]
        assert torch.equal(model(x), want)
    same_as_emitted(CAUSAL_MHA, x)
    assert "is_causal=True" in archspec.emit(CAUSAL_MHA)


# DETR's layers call `self.self_attn(q, k, value=src)[0]`: torch's default need_weights=True
DEFAULT_MHA = """\
archspec: 1
name: default_mha
inputs:
  q: [L, N, 16]
  v: [L, N, 16]
layers:
  - {name: attn, type: multihead_attention, num_heads: 4, batch_first: false, need_weights: true,
     from: [q, q, v]}
"""


def test_multihead_attention_called_as_torchs_default_is_torchs() -> None:
    # it was E201 'unknown field `need_weights`': the module always ran need_weights=False
    # (the fused path), which rounds otherwise than `attn(q, k, v)[0]` (DETR, the many
    # models that take the first of torch's pair) in the last bit
    report = archspec.check(DEFAULT_MHA)
    assert report.ok and not report.diagnostics, report.diagnostics
    model = archspec.compile(DEFAULT_MHA).eval()
    torch_mha = torch.nn.MultiheadAttention(16, 4).eval()
    torch_mha.load_state_dict(model.attn.state_dict(), strict=True)
    torch.manual_seed(0)
    q, v = torch.randn(6, 2, 16), torch.randn(6, 2, 16)
    with torch.no_grad():
        assert torch.equal(model(q, v), torch_mha(q, q, value=v)[0])
        other = emitted(DEFAULT_MHA).eval()
        other.load_state_dict(model.state_dict(), strict=True)
        assert torch.equal(other(q, v), torch_mha(q, q, value=v)[0])
    assert "need_weights=True" in archspec.emit(DEFAULT_MHA)


class _DefaultCall(torch.nn.Module):
    """Self-attention called as DETR calls it, `self.attn(q, k, value=x)[0]`."""

    def __init__(self, need_weights: bool | None) -> None:
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(16, 4)
        self.need_weights = need_weights

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.need_weights is None:
            return self.attn(x, x, value=x)[0]
        return self.attn(x, x, x, need_weights=self.need_weights)[0]


@pytest.mark.parametrize("need_weights", [None, True, False])
def test_the_import_of_an_attention_call_keeps_its_kernel_path(need_weights: bool | None) -> None:
    # it was `multihead_attention` without need_weights for every call, said to give "the
    # same output", which the default call does not in the last bit
    torch.manual_seed(0)
    model = _DefaultCall(need_weights).eval()
    x = torch.randn(6, 2, 16)
    text = archspec.from_module(model, x)
    assert ("need_weights: true" in text) == (need_weights is not False), text
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(twin(x), model(x))


# lucidrains' PreNorm (perceiver-pytorch, vit-pytorch): `self.fn = fn` before `self.norm`,
# forward `self.fn(self.norm(x))`
PRE_NORM = """\
archspec: 1
name: pre_norm
input: [N, L, 16]
blocks:
  PreNorm:
    register_order: [fn, norm]
    layers:
      - {name: norm, type: layer_norm}
      - {name: fn, type: linear, out_features: 16}
layers:
  - {name: block, type: PreNorm}
"""


class _PreNorm(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fn = torch.nn.Linear(16, 16)
        self.norm = torch.nn.LayerNorm(16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fn(self.norm(x))


def test_a_chain_registered_in_another_order_is_a_class_of_its_own() -> None:
    # it was E305 'register_order in a block whose layers are a plain chain': the block had
    # to be an nn.Sequential, so PreNorm's keys could only come norm first
    report = archspec.check(PRE_NORM)
    assert report.ok and not report.diagnostics, report.diagnostics
    reference = torch.nn.Module()
    reference.block = _PreNorm()
    x = torch.randn(2, 5, 16)
    for model in (archspec.compile(PRE_NORM), emitted(PRE_NORM)):
        assert list(model.state_dict()) == list(reference.state_dict())
        assert not isinstance(model.block, torch.nn.Sequential)
        model.load_state_dict(reference.state_dict(), strict=True)
        with torch.no_grad():
            assert torch.equal(model(x), reference.block(x))
