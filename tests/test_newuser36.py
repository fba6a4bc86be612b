"""Networks of timm written from the docs alone by a new user (session 36's acceptance check:
lcnet_050, mobileone_s0, repghostnet_050, starnet_s1, inception_next_atto, edgenext_xx_small,
fastvit_t8, all exact: tests/test_newuser36_models.py), each case here against a reference
written in plain torch as timm writes it: what broke on the way. EdgeNeXt (as XCiT and DETR)
adds to its tokens a fixed sine encoding of each pixel's place, made in forward from the
map's size: no kind made it, so the spec held at one input size at best
(`sine_position_encoding` now). timm's MobileOneBlock registers `se` first; FastViT's RepMixer
calls it with no conv branch, so `register_order: [se, identity, conv_kxk, conv_scale]` was
E305 in those instances (`conv_kxk`, a repeat of count 0 there, "is no module") and, where
the instance is a plain chain, E305 again though the order it asks is the chain's. One
alternative of a `repeat`'s `layer:` list with a mistake in it (a `name: "0"`, a misspelt
field) added a second error at the list, E205 "this item has no `type`", whose hint said
that "a list is no layer" where a list of alternatives is just what the field takes. A
`name` on a repeated layer, which every copy takes, was E304 "duplicate name" with the hint
"make them unique". EfficientFormerV2 adds to its attention scores a learned bias per head
and distance, `attention_biases[:, attention_bias_idxs]`, the index |dy| * w + |dx| of each
query (2 apart in its downsampling attention) and key: no buffer fill made that index and no
kind picked entries at int64 positions (`fill: distance_index` and `index` now)."""

from __future__ import annotations

import math
import textwrap
import types

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError


def _spec(name: str, body: str) -> str:
    return f"archspec: 1\nname: {name}\n" + textwrap.dedent(body).lstrip("\n")


ALTERNATIVES = _spec(
    "alternatives",
    """
    input: [N, 8, 16, 16]
    layers:
      - name: blocks
        type: repeat
        count: 3
        layer:
          - {type: conv2d, when: i < 2, out_channels: 8, kernel_size: 1}
          - {type: conv2d, when: i == 2, out_channels: 4, kernel_sise: 1}
    """,
)


def test_a_mistake_in_one_alternative_is_one_error_at_that_alternative() -> None:
    report = archspec.check(ALTERNATIVES)
    assert [(d.code, d.message, d.span.line if d.span else 0) for d in report.diagnostics] == [
        ("E201", "unknown field `kernel_sise`", 10)
    ]
    bad_name = ALTERNATIVES.replace("kernel_sise", "kernel_size").replace(
        "when: i == 2", 'name: "0", when: i == 2'
    )
    assert [d.code for d in archspec.check(bad_name).diagnostics] == ["E204"]
    assert archspec.check(ALTERNATIVES.replace("kernel_sise", "kernel_size")).ok


def test_a_list_where_one_layer_goes_still_says_how_to_nest_layers() -> None:
    nested = _spec(
        "nested",
        """
        input: [N, 8, 16, 16]
        layers:
          - [{type: conv2d, out_channels: 8, kernel_size: 1}]
        """,
    )
    (only,) = archspec.check(nested).diagnostics
    assert (only.code, only.message) == ("E205", "this item has no `type`")
    assert only.hint is not None and only.hint.startswith("a list is no layer")


POSITIONS = _spec(
    "positions",
    """
    input: [N, 48, H, W]
    params: {hidden: 32}
    layers:
      - name: pos_embd
        type: sequential
        layers:
          - {type: sine_position_encoding, hidden_dim: hidden}
          - {name: token_projection, type: conv2d, out_channels: 48, kernel_size: 1}
      - {name: flat, type: flatten, start_dim: 2}
      - {name: tokens, type: permute, dims: [0, 2, 1]}
    """,
)


class _PositionalEncodingFourier(nn.Module):
    """timm's PositionalEncodingFourier (XCiT, EdgeNeXt), its forward as timm writes it."""

    def __init__(self, hidden_dim: int = 32, dim: int = 48) -> None:
        super().__init__()
        self.token_projection = nn.Conv2d(hidden_dim * 2, dim, kernel_size=1)
        self.scale = 2 * math.pi
        self.temperature = 10000.0
        self.hidden_dim = hidden_dim

    def forward(self, shape: tuple[int, int, int]) -> torch.Tensor:
        inv_mask = ~torch.zeros(shape).to(dtype=torch.bool)
        y_embed = inv_mask.cumsum(1, dtype=torch.float32)
        x_embed = inv_mask.cumsum(2, dtype=torch.float32)
        eps = 1e-6
        y_embed = y_embed / (y_embed[:, -1:, :] + eps) * self.scale
        x_embed = x_embed / (x_embed[:, :, -1:] + eps) * self.scale
        dim_t = torch.arange(self.hidden_dim, dtype=torch.int64).to(torch.float32)
        dim_t = self.temperature ** (
            2 * torch.div(dim_t, 2, rounding_mode="floor") / self.hidden_dim
        )
        pos_x = x_embed[:, :, :, None] / dim_t
        pos_y = y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack(
            (pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4
        ).flatten(3)
        pos_y = torch.stack(
            (pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4
        ).flatten(3)
        pos = torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)
        return self.token_projection(pos)  # type: ignore[no-any-return]


class _RefPositions(nn.Module):
    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.pos_embd = _PositionalEncodingFourier(hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        return self.pos_embd((b, h, w)).flatten(2).permute(0, 2, 1)


@pytest.mark.parametrize("hidden", [32, 8])
def test_the_sine_position_encoding_is_timms_compiled_and_emitted(hidden: int) -> None:
    torch.manual_seed(0)
    spec = POSITIONS.replace("hidden: 32", f"hidden: {hidden}")
    ref = _RefPositions(hidden).eval()
    ours = archspec.compile(spec).eval()
    module = types.ModuleType("emitted_positions")
    exec(compile(archspec.emit(spec), "<emitted>", "exec"), module.__dict__)
    emitted = module.Positions().eval()
    assert (
        list(ours.state_dict())
        == list(ref.state_dict())
        == [
            "pos_embd.token_projection.weight",
            "pos_embd.token_projection.bias",
        ]
    )
    for net in (ours, emitted):
        net.load_state_dict(ref.state_dict(), strict=True)
    checked = 0
    for h, w in ((7, 9), (16, 16), (1, 3)):
        x = torch.randn(2, 48, h, w)
        with torch.no_grad():
            want = ref(x)
            assert torch.equal(ours(x), want) and torch.equal(emitted(x), want)
        checked += 1
    assert checked == 3
    report = archspec.check(spec)
    assert report.ok and report.domain_text.endswith("with H, W >= 1")


def test_an_odd_hidden_dim_and_tokens_are_refused_where_they_are_written() -> None:
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(POSITIONS.replace("hidden: 32", "hidden: 33"))
    (odd,) = err.value.diagnostics
    assert odd.code == "E409" and "hidden_dim 33 is odd" in odd.message
    assert odd.span is not None and (odd.span.line, odd.span.col) == (9, 52)  # `hidden`
    tokens = POSITIONS.replace("input: [N, 48, H, W]", "input: [N, L, 48]")
    (flat,) = archspec.check(tokens).diagnostics
    assert flat.code == "E401" and "(N, C, H, W) map" in flat.message


BRANCHES = _spec(
    "branches",
    """
    input: [N, 8, 16, 16]
    blocks:
      Branches:
        params: {branches: int, use_se: bool}
        register_order: [se, identity, conv_kxk]
        layers:
          - {name: identity, type: batchnorm2d}
          - type: repeat
            count: branches
            flat: true
            layer: {type: conv2d, key: "conv_kxk.{i}", from: input, out_channels: 8,
                    kernel_size: 3, padding: 1}
          - {name: sum, type: add, when: branches > 0,
             from: [identity, {each: "conv_kxk.{j}", for: j, in: branches}]}
          - {name: se, type: conv2d, out_channels: 8, kernel_size: 1, when: use_se,
             from: "{'sum' if branches > 0 else 'identity'}"}
    layers:
      - {name: norm, type: Branches, branches: 0, use_se: false}
      - {name: mixer, type: Branches, branches: 2, use_se: true, from: input}
      - {name: out, type: sub, from: [mixer, norm]}
    """,
)


class _Branches(nn.Module):
    """timm's MobileOneBlock in brief: `se` registered first, applied last; `conv_kxk` a
    ModuleList of `branches` convs (none in FastViT's RepMixer `norm`)."""

    def __init__(self, branches: int, use_se: bool) -> None:
        super().__init__()
        self.se = nn.Conv2d(8, 8, 1) if use_se else None
        self.identity = nn.BatchNorm2d(8)
        self.conv_kxk = nn.ModuleList([nn.Conv2d(8, 8, 3, padding=1) for _ in range(branches)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.identity(x)
        for conv in self.conv_kxk:
            out = out + conv(x)
        return out if self.se is None else self.se(out)


class _RefBranches(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.norm = _Branches(0, False)
        self.mixer = _Branches(2, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixer(x) - self.norm(x)


def test_register_order_names_a_list_that_another_instance_of_the_block_holds() -> None:
    report = archspec.check(BRANCHES)
    assert report.ok and [d.code for d in report.diagnostics] == []
    torch.manual_seed(0)
    ref = _RefBranches().eval()
    with torch.no_grad():
        for value in ref.state_dict().values():
            if value.is_floating_point():
                value.uniform_(0.5, 1.5)
    module = types.ModuleType("emitted_branches")
    exec(compile(archspec.emit(BRANCHES), "<emitted>", "exec"), module.__dict__)
    x = torch.randn(2, 8, 16, 16)
    for ours in (archspec.compile(BRANCHES).eval(), module.Branches().eval()):
        assert list(ours.state_dict()) == list(ref.state_dict())
        assert list(ours.mixer._modules)[:2] == ["se", "identity"]
        ours.load_state_dict(ref.state_dict(), strict=True)
        with torch.no_grad():
            assert torch.equal(ours(x), ref(x))


def test_a_name_no_instance_holds_is_still_e305_and_a_reordered_chain_is_a_class() -> None:
    nope = BRANCHES.replace("[se, identity, conv_kxk]", "[se, identity, conv_kxk, nope]")
    errors = archspec.check(nope).errors
    assert [e.code for e in errors] == ["E305"]
    assert errors[0].message.startswith("register_order names `nope`, which is no module")
    assert errors[0].span is not None and (errors[0].span.line, errors[0].span.col) == (7, 46)
    # `norm` is a plain chain (identity, then se): an order that swaps them makes it a class
    # of its own, registering se first (it was E305 before h42c)
    chain = BRANCHES.replace("branches: 0, use_se: false", "branches: 0, use_se: true")
    assert archspec.check(chain).ok


def test_a_named_repeated_layer_says_every_copy_takes_its_name() -> None:
    named = _spec(
        "named",
        """
        input: [N, 8, 16, 16]
        layers:
          - name: stage
            type: repeat
            count: 2
            layer: {type: conv2d, name: conv, out_channels: 8, kernel_size: 1}
        """,
    )
    (dup,) = archspec.check(named).errors
    assert (dup.code, dup.message) == ("E304", "duplicate name `conv` in this module")
    assert dup.hint is not None and dup.hint.startswith("every copy of a repeated layer takes")
    assert dup.hint.endswith('or name them by the repeat\'s `names: "conv{i}"`')
    fixed = named.replace("name: conv, ", "").replace("count: 2", 'count: 2\n    names: "conv{i}"')
    assert archspec.check(fixed).ok


def test_an_encoding_not_normalized_counts_rows_and_columns_from_one() -> None:
    spec = _spec(
        "raw_positions",
        """
        input: [N, 3, 5, 7]
        layers:
          - {name: pos, type: sine_position_encoding, hidden_dim: 4, temperature: 100.0,
             normalize: false}
        """,
    )
    out = archspec.compile(spec)(torch.zeros(2, 3, 5, 7))
    assert out.shape == (2, 8, 5, 7)
    rows = torch.arange(1, 6, dtype=torch.float32)[:, None].expand(5, 7)
    cols = torch.arange(1, 8, dtype=torch.float32)[None, :].expand(5, 7)
    # per axis: sin(p / 1), cos(p / 1), sin(p / 10), cos(p / 10) (t_j = 100 ** (2 (j // 2) / 4))
    want = [f(p / t) for p in (rows, cols) for t in (1.0, 10.0) for f in (torch.sin, torch.cos)]
    checked = 0
    for channel, expected in enumerate(want):
        assert torch.allclose(out[1, channel], expected, atol=1e-6)
        checked += 1
    assert checked == 8


BIASES = _spec(
    "biases",
    """
    input: [N, 8, 14, 14]
    params: {stride: 2}
    layers:
      - {name: attention_biases, type: parameter, shape: [8, 196], init: normal}
      - {name: attention_bias_idxs, type: buffer, fill: distance_index, window: [14, 14],
         stride: stride, dtype: int64, persistent: false}
      - {name: bias, type: index, dim: 1, from: [attention_biases, attention_bias_idxs]}
      - {name: pooled, type: mean, dim: [1], keepdim: true, from: input}   # (N, 1, 14, 14)
      - {name: flat, type: flatten, start_dim: 2}                          # (N, 1, 196)
      - {name: keys, type: unsqueeze, dim: 1}                              # (N, 1, 1, 196)
      - {name: out, type: mul, from: [bias, keys]}                         # (N, 8, 49, 196)
    """,
)


def _timm_bias_idxs(res: int, stride: int) -> torch.Tensor:
    """timm's Attention2dDownsample._compute_attention_bias_idxs (ndgrid is meshgrid "ij")."""
    k_pos = torch.stack(
        torch.meshgrid(torch.arange(res), torch.arange(res), indexing="ij")
    ).flatten(1)
    q_pos = torch.stack(
        torch.meshgrid(
            torch.arange(0, res, step=stride), torch.arange(0, res, step=stride), indexing="ij"
        )
    ).flatten(1)
    rel_pos = (q_pos[..., :, None] - k_pos[..., None, :]).abs()
    return (rel_pos[0] * res) + rel_pos[1]


@pytest.mark.parametrize("stride", [2, 1])
def test_attention_biases_looked_up_at_timms_distance_index(stride: int) -> None:
    spec = BIASES.replace("stride: 2}", f"stride: {stride}}}")
    module = types.ModuleType("emitted_biases")
    exec(compile(archspec.emit(spec), "<emitted>", "exec"), module.__dict__)
    want_idxs = _timm_bias_idxs(14, stride)
    x = torch.randn(2, 8, 14, 14)
    for ours in (archspec.compile(spec).eval(), module.Biases().eval()):
        assert list(ours.state_dict()) == ["attention_biases"]
        assert torch.equal(ours.attention_bias_idxs, want_idxs)
        biases = ours.attention_biases.detach()
        with torch.no_grad():
            keys = x.mean(1, keepdim=True).flatten(2).unsqueeze(1)
            assert torch.equal(ours(x), biases[:, want_idxs] * keys)
    assert "self.attention_biases[:, self.attention_bias_idxs]" in archspec.emit(spec)
    assert not archspec.check(spec).diagnostics


@pytest.mark.parametrize(
    ("change", "code", "words"),
    [
        (("shape: [8, 196]", "shape: [8, 100]"), "E409", "has 100 entries along dim 1"),
        (("dtype: int64, persistent", "dtype: float32, persistent"), "E401", "a float tensor"),
        (
            ("fill: distance_index, window: [14, 14],", "fill: arange, shape: [4],"),
            "E409",
            "only `fill: distance_index` takes a stride",
        ),
        (("window: [14, 14],", "shape: [49, 196],"), "E204", "needs `window: [h, w]`"),
        (
            ("stride: stride, dtype", "shape: [196, 196], stride: stride, dtype"),
            "E409",
            "has shape [49, 196], not [196, 196]",
        ),
        (("index, dim: 1", "index, dim: 2"), "E401", "index picks along dim 2"),
    ],
)
def test_index_and_distance_index_refuse_what_torch_would(
    change: tuple[str, str], code: str, words: str
) -> None:
    errors = archspec.check(BIASES.replace(*change)).errors
    assert [e.code for e in errors] == [code], errors
    assert words in errors[0].message
