"""Session 41's acceptance round (helper h41e): what writing ConvNeXt V2, MobileViT, DeiT,
BiFPN, UNet++ and other networks from the docs alone found wrong in the general mechanisms,
each case reduced to the spec that shows it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import archspec
from tests.ops_cases import same_as_emitted

# a join whose first input broadcasts from a lower rank: BiFPN's `weight[0] * p4_in`, a 0-d
# fusion weight times a map; ConvNeXt's `layer_scale * x`, (C, 1, 1) times (N, C, H, W)
FIRST_BROADCAST = {
    "selected_weight": "  - {name: w, type: parameter, shape: [2], value: 1.0}\n"
    "  - {name: a, type: select, dim: 0, index: 0, from: w}\n"
    "  - {name: x, type: mul, from: [a, input]}\n",
    "layer_scale": "  - {name: w, type: parameter, shape: [16, 1, 1], value: 1.0}\n"
    "  - {name: x, type: mul, from: [w, input]}\n",
    "zero_d_gain": "  - {name: w, type: parameter, shape: []}\n"
    "  - {name: x, type: add, from: [w, input]}\n",
    "maximum": "  - {name: w, type: parameter, shape: [16, 1, 1]}\n"
    "  - {name: x, type: maximum, from: [w, input]}\n",
}


@pytest.mark.parametrize("name", sorted(FIRST_BROADCAST))
def test_in_channels_after_a_join_whose_first_input_broadcasts(name: str) -> None:
    # it was E302 'the channels are at dim 5 here' (or 'a permute and a change of rank left
    # no dim known to hold the channels') at the conv: the join took the first input's axis
    # as moved by a change of rank, though the output's channels are the map's
    text = (
        f"archspec: 1\nname: {name}\ninput: [N, 16, H, W]\nlayers:\n{FIRST_BROADCAST[name]}"
        "  - {name: conv, type: conv2d, out_channels: in_channels * 2, kernel_size: 1}\n"
    )
    report = archspec.check(text)
    assert report.ok and not report.diagnostics, report.diagnostics
    model = archspec.compile(text)
    assert model.conv.in_channels == 16 and model.conv.out_channels == 32
    same_as_emitted(text, torch.rand(2, 16, 5, 3))


def test_a_block_reads_in_channels_after_its_layer_scale() -> None:
    # the block's class, emitted once for two widths, keeps reading its own input's width
    text = """\
archspec: 1
name: scaled_blocks
input: [N, 8, H, W]
blocks:
  Scaled:
    params: {dim: int}
    layers:
      - {name: gamma, type: parameter, shape: [dim, 1, 1], value: 0.5}
      - {name: scaled, type: mul, from: [gamma, input]}
      - {name: proj, type: conv2d, out_channels: in_channels + 8, kernel_size: 1}
layers:
  - {name: a, type: Scaled, dim: 8}
  - {name: b, type: Scaled, dim: 16}
"""
    model = archspec.compile(text)
    assert [model.a.proj.in_channels, model.b.proj.in_channels] == [8, 16]
    same_as_emitted(text, torch.rand(2, 8, 4, 4))


def test_requirements_with_or_are_bracketed_where_and_joins_them() -> None:
    # BiFPN's levels: each sum holds where the upsampled map's size is the other's or 1; the
    # words were 'where also H2 == 2*H3 or H2 == 1 and W2 == 2*W3 or W2 == 1', which read
    # with Python's precedence as another condition
    text = """\
archspec: 1
name: two_levels
inputs:
  hi: [N, 8, H, W]
  lo: [N, 8, H2, W2]
layers:
  - {name: up, type: upsample, scale_factor: 2, mode: nearest, from: lo}
  - {name: fused, type: add, from: [hi, up]}
"""
    words = archspec.check(text).domain_text
    assert words.endswith("where also (H == 2*H2 or H == 1) and (W == 2*W2 or W == 1)"), words


REL_BIAS = """\
archspec: 1
name: rel_bias_attention
input: [N, 16, 4, 4]
layers:
  - {name: relative_position_bias_table, type: parameter, shape: [49, 2], init: normal, std: 0.02}
  - {name: relative_position_index, type: buffer, fill: relative_position_index, window: [4, 4],
     dtype: int64, persistent: false}
  - {name: qkv, type: conv2d, out_channels: 48, kernel_size: 1, from: input}
  - {name: heads, type: reshape, shape: [0, 2, 24, -1]}
  - {type: chunk, chunks: 3, dim: 2, names: [q, k, v]}
  - {name: qt, type: permute, dims: [0, 1, 3, 2], from: q}
  - {name: kt, type: permute, dims: [0, 1, 3, 2], from: k}
  - {name: vt, type: permute, dims: [0, 1, 3, 2], from: v}
  - {name: bias, type: index, from: [relative_position_bias_table, relative_position_index]}
  - {name: bias_heads, type: permute, dims: [2, 0, 1]}
  - {name: attended, type: scaled_dot_product_attention, from: [qt, kt, vt, BIAS]}
"""


class RelBiasAttention(torch.nn.Module):
    """timm's Attention2d with a RelPosBias on its fused path (CoAtNet's, MaxViT's
    transformer stages): the bias is F.scaled_dot_product_attention's `attn_mask`."""

    def __init__(self) -> None:
        super().__init__()
        self.relative_position_bias_table = torch.nn.Parameter(torch.randn(49, 2))
        coords = torch.stack(torch.meshgrid(torch.arange(4), torch.arange(4), indexing="ij"))
        rel = (coords.flatten(1)[:, :, None] - coords.flatten(1)[:, None, :]).permute(1, 2, 0)
        index = (rel[..., 0] + 3) * 7 + rel[..., 1] + 3
        self.register_buffer("relative_position_index", index, persistent=False)
        self.qkv = torch.nn.Conv2d(16, 48, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).view(x.shape[0], 2, 24, -1).chunk(3, dim=2)
        bias = self.relative_position_bias_table[self.relative_position_index].permute(2, 0, 1)
        return F.scaled_dot_product_attention(
            q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2), attn_mask=bias
        )


def test_a_bias_of_the_scores_is_sdpas_attn_mask() -> None:
    # a relative position bias on timm's fused path: the kind took q, k and v only (E305
    # 'takes 3 inputs, `from` names 4'), and import refused `attn_mask=` (E903)
    text = REL_BIAS.replace("BIAS", "bias_heads")
    assert archspec.check(text).ok
    reference = RelBiasAttention()
    model = archspec.compile(text)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.rand(2, 16, 4, 4)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))
    assert "F.scaled_dot_product_attention(qt, kt, vt, bias_heads)" in archspec.emit(text)
    same_as_emitted(text, x)


class BiasedAttention(torch.nn.Module):
    """Attention over tokens with a learned bias of its scores given as `attn_mask`."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = torch.nn.Linear(8, 24)
        self.bias = torch.nn.Parameter(torch.randn(2, 5, 5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).reshape(x.shape[0], 5, 3, 2, 4).permute(2, 0, 3, 1, 4).unbind(0)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=self.bias, scale=0.25)


def test_import_reads_a_tensor_attn_mask_as_the_fourth_input() -> None:
    # it was E903 '`F.scaled_dot_product_attention` is called with `attn_mask=...`'
    reference, x = BiasedAttention(), torch.rand(3, 5, 8)
    text = archspec.from_module(reference, x)
    assert "type: scaled_dot_product_attention" in text
    imported = archspec.compile(text)
    imported.load_state_dict(reference.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(imported(x), reference(x))


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        ("bias_heads, bias_heads", "E305", "takes 3 to 4 inputs, `from` names 5"),
        ("bias_heads], is_causal: true, x: [", "E409", "takes a bias or `is_causal`, not both"),
        ("bias", "E404", "bias and scores at dim -1 differ: 2 vs 16"),  # heads last
    ],
)
def test_a_bias_that_does_not_fit_the_scores_is_refused_where_it_is_given(
    change: str, code: str, words: str
) -> None:
    text = REL_BIAS.replace("BIAS", change).replace(", x: []", "")
    (diag,) = [d for d in archspec.check(text).diagnostics if d.severity == "error"]
    assert diag.code == code and words in diag.message, diag.message
    assert diag.span is not None and diag.span.line == 16


LAID_OUT = """\
archspec: 1
name: laid_out
input: [N, 2, 24, 16]
layers:
  - {type: chunk, chunks: 3, dim: 2, names: [q, k, v]}
  - {name: q_t, type: permute, dims: [0, 1, 3, 2], from: q}
  - {name: qt, type: contiguous}
  - {name: k_t, type: permute, dims: [0, 1, 3, 2], from: k}
  - {name: kt, type: contiguous}
  - {name: v_t, type: permute, dims: [0, 1, 3, 2], from: v}
  - {name: vt, type: contiguous}
  - {name: attended, type: scaled_dot_product_attention, from: [qt, kt, vt]}
"""


def test_contiguous_lays_the_input_out_as_the_original_does() -> None:
    # timm's Attention2d passes `q.transpose(-1, -2).contiguous()` to the fused kernel,
    # whose sums follow the strides: no kind said `.contiguous()`, so a port was within
    # float rounding of timm's, never its bits
    report = archspec.check(LAID_OUT)
    assert report.ok and not report.diagnostics, report.diagnostics
    x = torch.randn(3, 2, 24, 16)
    q, k, v = x.chunk(3, dim=2)
    laid = [t.transpose(-1, -2).contiguous() for t in (q, k, v)]
    with torch.no_grad():
        assert torch.equal(archspec.compile(LAID_OUT)(x), F.scaled_dot_product_attention(*laid))
    assert archspec.emit(LAID_OUT).count(".contiguous()  # (N, 2, W, ") == 3
    same_as_emitted(LAID_OUT, x)


ZERO_STATE = """\
archspec: 1
name: zero_state
input: [N, 3, H, W]
params: {hidden: 8}
layers:
  - {name: zero, type: buffer, shape: [1, hidden, 1, 1], persistent: false}
  - {name: zero_map, type: interpolate_as, mode: nearest, from: [zero, input]}
  - {name: h0, type: expand, from: [zero_map, input]}
  - {name: combined, type: concat, from: [input, h0]}
  - {name: conv, type: conv2d, out_channels: 4 * hidden, kernel_size: 3, padding: 1}
"""


def test_a_first_state_of_zeros_of_the_inputs_size_as_porting_md_writes_it() -> None:
    # ConvLSTM's `torch.zeros(b, hidden, h, w)` beside its input: no kind makes zeros of a
    # size read in forward, so porting.md's idiom builds them from a buffer
    assert "accepts (N, 3, H, W) with H, W >= 1" in archspec.check(ZERO_STATE).domain_text
    model = archspec.compile(ZERO_STATE)
    conv = torch.nn.Conv2d(11, 32, 3, padding=1)
    conv.load_state_dict({k.removeprefix("conv."): v for k, v in model.state_dict().items()})
    for shape in [(2, 3, 5, 7), (1, 3, 1, 1)]:
        x = torch.rand(shape)
        zeros = torch.zeros(shape[0], 8, *shape[2:])
        with torch.no_grad():
            assert torch.equal(model(x), conv(torch.cat([x, zeros], 1)))
    same_as_emitted(ZERO_STATE, torch.rand(2, 3, 5, 7))
