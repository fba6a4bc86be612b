"""matmul, scaled_dot_product_attention and scale (archspec/ops/products.py): attention written
out of a spec's own linear layers, with timm's keys (`attn.qkv`, `attn.proj`), against the same
attention written in torch here: keys, outputs, MACs, emitted code, located errors; and the
domain of a ViT without an image-size check (its token count is never 1, so the position
embedding's sum is a relation of the input domain, not an unknown)."""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import archspec
from tests.ops_cases import assert_located, same_as_emitted

HEADS = """\
  Heads:
    params: {dim: int, num_heads: int}
    layers:
      - {name: qkv, type: linear, out_features: 3 * dim}
      - {type: chunk, chunks: 3, dim: 2, names: [q_flat, k_flat, v_flat]}
      - {name: q_heads, type: reshape, shape: [0, 0, num_heads, -1], from: q_flat}
      - {name: q, type: permute, dims: [0, 2, 1, 3]}
      - {name: k_heads, type: reshape, shape: [0, 0, num_heads, -1], from: k_flat}
      - {name: k, type: permute, dims: [0, 2, 1, 3]}
      - {name: v_heads, type: reshape, shape: [0, 0, num_heads, -1], from: v_flat}
      - {name: v, type: permute, dims: [0, 2, 1, 3]}
"""
TAIL = """\
      - {name: merged, type: permute, dims: [0, 2, 1, 3]}
      - {name: tokens, type: reshape, shape: [0, 0, -1]}
      - {name: proj, type: linear, out_features: dim}
"""


def _net(block: str, input_shape: str = "N, 10, 12") -> str:
    return (
        f"archspec: 1\nname: attn_net\ninput: [{input_shape}]\nblocks:\n{block}"
        "layers:\n  - {name: norm, type: layer_norm}\n"
        "  - {name: attn, type: Heads, dim: 12, num_heads: 3}\n"
    )


FUSED = _net(
    HEADS + "      - {name: attended, type: scaled_dot_product_attention, from: [q, k, v]}\n" + TAIL
)
EXPLICIT = _net(
    HEADS.replace(
        "      - {name: q, type: permute, dims: [0, 2, 1, 3]}\n",
        "      - {name: q_perm, type: permute, dims: [0, 2, 1, 3]}\n"
        "      - {name: q, type: scale, factor: (dim // num_heads) ** -0.5}\n",
    )
    + "      - {name: scores, type: matmul, transpose: true, from: [q, k]}\n"
    + "      - {name: softmax, type: softmax, dim: -1}\n"
    + "      - {name: attended, type: matmul, from: [softmax, v]}\n"
    + TAIL
)


class Attention(nn.Module):
    """timm's Attention (vision_transformer.py), fused or explicit."""

    def __init__(self, dim: int, num_heads: int, fused: bool) -> None:
        super().__init__()
        self.num_heads, self.fused = num_heads, fused
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        if self.fused:
            x = F.scaled_dot_product_attention(q, k, v)
        else:
            attn = (q * self.scale) @ k.transpose(-2, -1)
            x = attn.softmax(dim=-1) @ v
        return self.proj(x.transpose(1, 2).reshape(b, n, c))


class Reference(nn.Module):
    def __init__(self, fused: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(12)
        self.attn = Attention(12, 3, fused)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.attn(self.norm(x))


@pytest.mark.parametrize(
    ("text", "fused"), [(FUSED, True), (EXPLICIT, False)], ids=["sdpa", "matmul"]
)
def test_attention_of_linear_layers_is_timms(text: str, fused: bool) -> None:
    ours, reference = archspec.compile(text).eval(), Reference(fused).eval()
    theirs = reference.state_dict()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.items()
    ]
    ours.load_state_dict(theirs, strict=True)
    x = torch.randn(2, 10, 12)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))
    same_as_emitted(text, x)
    # the two products of attention: (N, heads, L, L) scores from head_dim 4, then times v
    macs = int(archspec.summary(text, input=(2, 10, 12)).macs)
    products = 2 * (2 * 3 * 10 * 10 * 4)
    projections = 2 * 10 * 12 * 36 + 2 * 10 * 12 * 12
    assert macs == projections + products


def test_emitted_products_read_like_timm() -> None:
    fused, explicit = archspec.emit(FUSED), archspec.emit(EXPLICIT)
    assert "F.scaled_dot_product_attention(q, k, v)" in fused
    assert "q = x * 0.5" in explicit
    assert "q @ k.transpose(-2, -1)" in explicit
    assert "@ v" in explicit


def test_sdpa_scale_and_causal_are_torchs() -> None:
    text = FUSED.replace("from: [q, k, v]}", "from: [q, k, v], scale: 0.25, is_causal: true}")
    model = archspec.compile(text).eval()
    x = torch.randn(2, 10, 12)
    attn = model.attn
    b = 2
    qkv = attn.qkv(model.norm(x)).reshape(b, 10, 3, 3, 4).permute(2, 0, 3, 1, 4)
    want = F.scaled_dot_product_attention(*qkv.unbind(0), scale=0.25, is_causal=True)
    want = attn.proj(want.transpose(1, 2).reshape(b, 10, 12))
    with torch.no_grad():
        assert torch.equal(model(x), want)
    assert "scale=0.25, is_causal=True" in archspec.emit(text)
    same_as_emitted(text, x)


@pytest.mark.parametrize(
    ("layers", "code"),
    [
        # k's features are not q's
        (
            "  - {name: a, type: linear, out_features: 8, from: input}\n"
            "  - {name: o, type: scaled_dot_product_attention, from: [input, a, a]}\n",
            "E404",
        ),
        # a's columns are not b's rows
        (
            "  - {name: a, type: linear, out_features: 8, from: input}\n"
            "  - {name: o, type: matmul, from: [a, input]}\n",
            "E404",
        ),
        (
            "  - {name: a, type: mean, dim: [1, 2]}\n"
            "  - {name: o, type: matmul, from: [a, input]}\n",
            "E401",
        ),
    ],
)
def test_product_errors_are_located(layers: str, code: str) -> None:
    assert_located(f"archspec: 1\nname: bad\ninput: [N, 10, 12]\nlayers:\n{layers}", code)


def test_matmul_broadcasts_batch_dims_as_torch() -> None:
    text = (
        "archspec: 1\nname: bcast\ninput: [N, 3, 5, 4]\nlayers:\n"
        "  - {name: w, type: parameter, shape: [1, 1, 4, 6], init: normal}\n"
        "  - {name: o, type: matmul, from: [input, w]}\n"
    )
    model = archspec.compile(text).eval()
    x = torch.randn(2, 3, 5, 4)
    with torch.no_grad():
        assert torch.equal(model(x), x @ model.w)
    assert archspec.summary(text, input=(2, 3, 5, 4)).rows[-1].macs.value == 2 * 3 * 5 * 4 * 6


VIT_NO_CHECK = """\
archspec: 1
name: vit_no_check
input: [N, 3, H, W]
layers:
  - {name: cls_token, type: parameter, shape: [1, 1, 8]}
  - {name: pos_embed, type: parameter, shape: [1, 17, 8]}
  - {name: proj, type: conv2d, out_channels: 8, kernel_size: 8, stride: 8}
  - {name: flat, type: flatten, start_dim: 2}
  - {name: tokens, type: permute, dims: [0, 2, 1]}
  - {name: cls, type: expand, from: [cls_token, tokens]}
  - {name: joined, type: concat, dim: 1, from: [cls, tokens]}
  - {name: embedded, type: add, from: [joined, pos_embed]}
"""


def test_position_embedding_without_size_check_gives_a_domain() -> None:
    """(H // 8) * (W // 8) + 1 tokens are never 1, so adding a (1, 17, 8) embedding needs
    them equal to 17: a relation of the domain (which a forward pass confirms), where archspec
    used to give up (W403, 'the accepted inputs are unknown'), and then to leave it unsolved
    ('where also (H//8)*(W//8) + 1 == 17'): it is the size ranges of 16 = (H//8)*(W//8)."""
    result = archspec.check(VIT_NO_CHECK)
    assert result.ok and not result.warnings
    assert "where also" not in result.domain_text
    assert "32 <= H <= 39 and 32 <= W <= 39" in result.domain_text
    assert "8 <= H <= 15 and 128 <= W <= 135" in result.domain_text
    model = archspec.compile(VIT_NO_CHECK)
    for h, w, fits in [(32, 39, True), (8, 135, True), (40, 32, False), (31, 32, False)]:
        assert archspec.check(VIT_NO_CHECK, input=(1, 3, h, w)).ok is fits
        if fits:
            model(torch.randn(1, 3, h, w))
        else:
            with pytest.raises(RuntimeError):
                model(torch.randn(1, 3, h, w))


GRN = """\
archspec: 1
name: grn_net
input: [N, 8, H, W]
blocks:
  GlobalResponseNorm:
    params: {dim: int, eps: 1.0e-6}
    layers:
      - {name: weight, type: parameter, shape: [dim], init: normal}
      - {name: bias, type: parameter, shape: [dim], init: normal}
      - {name: x_g, type: vector_norm, dim: [2, 3], keepdim: true, from: input}
      - {name: g_mean, type: mean, dim: [1], keepdim: true}
      - {name: denom, type: scale, offset: eps}
      - {name: x_n, type: div, from: [x_g, denom]}
      - {name: normed, type: mul, from: [input, x_n]}
      - {name: w, type: reshape, shape: [-1, 1, 1], from: weight}
      - {name: b, type: reshape, shape: [-1, 1, 1], from: bias}
      - {name: shifted, type: addcmul, from: [b, w, normed]}
      - {name: out, type: add, from: [input, shifted]}
layers:
  - {name: fc1, type: conv2d, out_channels: 16, kernel_size: 1}
  - {name: grn, type: GlobalResponseNorm, dim: 16}
"""


class GlobalResponseNorm(nn.Module):
    """timm's GlobalResponseNorm (layers/grn.py) over NCHW."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_g = x.norm(p=2, dim=(2, 3), keepdim=True)
        x_n = x_g / (x_g.mean(dim=1, keepdim=True) + self.eps)
        shape = (1, -1, 1, 1)
        return x + torch.addcmul(self.bias.view(shape), self.weight.view(shape), x * x_n)


def test_global_response_norm_is_timms_bit_for_bit() -> None:
    reference = nn.Sequential()
    reference.add_module("fc1", nn.Conv2d(8, 16, 1))
    reference.add_module("grn", GlobalResponseNorm(16))
    ours = archspec.compile(GRN).eval()
    assert list(ours.state_dict()) == list(reference.state_dict())
    reference.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 8, 5, 7)
    with torch.no_grad():
        assert torch.equal(ours(x), reference(x))
    source = archspec.emit(GRN)
    for text in (".mean([1], keepdim=True)", " + self.eps", "x_g / ", ".norm(p=2.0, dim=[2, 3]"):
        assert text in source, text
    assert "torch.addcmul(" in source
    assert "        self.eps = eps\n" in source  # as timm stores it for forward
    same_as_emitted(GRN, x)
    assert archspec.check(GRN).ok


def test_scale_writes_only_what_changes_x() -> None:
    def net(fields: str) -> str:
        return f"archspec: 1\nname: s\ninput: [N, 4]\nlayers:\n  - {{type: scale{fields}}}\n"

    x = torch.randn(3, 4)
    for fields, want, text in [
        (", factor: 0.5", x * 0.5, "x * 0.5"),
        (", offset: 2", x + 2.0, "x + 2.0"),
        (", factor: 3, offset: -1", x * 3.0 - 1.0, "x * 3.0 + -1.0"),
    ]:
        with torch.no_grad():
            assert torch.equal(archspec.compile(net(fields))(x), want)
        assert text in archspec.emit(net(fields))


@pytest.mark.parametrize(
    ("layer", "code"),
    [
        ("{type: vector_norm, dim: [4]}", "E401"),
        ("{type: vector_norm, dim: [2, 2]}", "E409"),
        ("{name: d, type: div, from: [input, p]}", "E402"),
    ],
    ids=["norm-range", "norm-repeat", "div-broadcast"],
)
def test_norm_and_div_errors_are_located(layer: str, code: str) -> None:
    text = (
        "archspec: 1\nname: bad\ninput: [N, 4, 6, 6]\nlayers:\n"
        "  - {name: p, type: parameter, shape: [5]}\n"
        f"  - {layer}\n"
    )
    assert_located(text, code)


def test_a_residual_after_heads_keeps_the_token_layout() -> None:
    """`attn + x` joins tensors whose channel dims coincide: the residual knows its features
    are last from `x` even though the attention lost track through its reshapes, so every
    copy of the block is one emitted class with (N, L, in_channels) comments (before: the
    first copy and the rest were two classes, the second commenting its features as `L`)."""
    block = (
        HEADS
        + TAIL
        + (
            "  Block:\n    params: {dim: int}\n    layers:\n"
            "      - {name: norm1, type: layer_norm}\n"
            "      - {name: attn, type: Heads, dim: dim, num_heads: 3}\n"
            "      - {name: res, type: add, from: [attn, input]}\n"
        )
    )
    text = (
        f"archspec: 1\nname: blocks\ninput: [N, 12, 10]\nblocks:\n{block}"
        "layers:\n  - {name: tokens, type: permute, dims: [0, 2, 1]}\n"
        "  - {name: blocks, type: repeat, count: 3, layer: {type: Block, dim: 12}}\n"
    )
    source = archspec.emit(text)
    assert "class Block(" in source and "class Block_2(" not in source
    block_class = source[source.index("class Block(") : source.index("class Blocks(")]
    assert "# x: (N, L, in_channels)" in block_class
    same_as_emitted(text, torch.randn(2, 12, 10))


def test_inner_sizes_that_agree_for_no_batch_are_an_error_of_check_and_compile() -> None:
    """(N, 3, 4, 4) @ its reshape to (12*N, 4): 4 == 12*N holds for no batch. The solver
    keeps the relation unsolved and `contains` leaves N free, so check said ok and compile
    built a model whose forward raised; now both name the matmul, at a batch of one."""
    text = (
        "archspec: 1\nname: rows\ninput: [N, 3, 4, 4]\nlayers:\n"
        "  - {name: b, type: reshape, shape: [-1, 4]}\n"
        "  - {name: a, type: matmul, from: [input, b]}\n"
    )
    result = archspec.check(text)
    assert [d.code for d in result.diagnostics] == ["E404"], result.render()
    (diag,) = result.diagnostics
    assert "the input (N, 3, 4, 4) with N = 1 fails at a: matmul" in diag.message
    # in the sizes of that batch of one, not in the symbols of the general walk
    assert diag.message.endswith("differ: 4 vs 12 ((1, 3, 4, 4), (12, 4))"), diag.message
    assert diag.span is not None and diag.span.line == 6
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.compile(text, device="meta")
    assert err.value.error_code == "E404"


@pytest.mark.parametrize("text", [FUSED, EXPLICIT], ids=["sdpa", "matmul"])
def test_a_summary_of_products_says_they_are_counted(text: str) -> None:
    """The footer's convention named convs and linears alone while the total held the
    attention's two products (a PiT of timm's Attention blocks: 0.70 G, 0.50 G of them
    convs and linears); it says how products count, as it does for attention layers."""
    s = archspec.summary(text, input=(1, 10, 12))
    footer = " ".join(str(s).split())
    assert "linear in*out" in footer and "Products" in footer, footer
    plain = archspec.summary(text.replace("type: Heads", "type: Heads, when: false"))
    assert "Products" not in " ".join(str(plain).split())
