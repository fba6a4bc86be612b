"""Attention written as timm writes it, through `archspec import` (importer/unbinds.py,
importer/provenance.py): q, k and v cut from one projection by a permute that puts the piece
index in front of the batch and an `unbind(0)` (or `qkv[0]`), `F.scaled_dot_product_attention`
or the scores written out with `@`, and heads merged back by a reshape that reads sizes off
the block's input. Each model is plain torch, as timm (no dependency) writes it."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer_timm25 import round_trip_and_emit


class FusedAttention(nn.Module):
    """timm 1.0's `Attention` (vision_transformer.py): head_dim a number, `unbind(0)`, SDPA."""

    def __init__(self, dim: int = 64, num_heads: int = 4) -> None:
        super().__init__()
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.q_norm, self.k_norm = nn.LayerNorm(self.head_dim), nn.LayerNorm(self.head_dim)
        self.attn_drop = nn.Dropout(0.0)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        p = self.attn_drop.p if self.training else 0.0
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=p)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class ExplicitAttention(nn.Module):
    """timm 0.6's (and DeiT's repository's) `Attention`: `qkv[0]`, `C // heads`, the scores
    written out, the heads merged by `reshape(B, N, C)`."""

    def __init__(self, dim: int = 64, num_heads: int = 4) -> None:
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads)
        qkv = qkv.permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(B, N, C))


class TokenNet(nn.Module):
    """Patches of an image as tokens (their count follows the image's size), a pre-norm
    attention block with a residual, the tokens averaged, a head."""

    def __init__(self, attention: type[nn.Module]) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, 64, 4, stride=4)
        self.norm = nn.LayerNorm(64)
        self.attn = attention()
        self.head = nn.Linear(64, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = x + self.attn(self.norm(x))
        return self.head(x.mean(dim=1))


def _layers(text: str, block: str) -> list[dict]:
    return yaml.safe_load(text)["blocks"][block]["layers"]


@pytest.mark.parametrize("attention", [FusedAttention, ExplicitAttention])
def test_timm_attention_imports_exactly_with_the_batch_in_front(attention: type) -> None:
    model = TokenNet(attention).eval()
    text = round_trip_and_emit(model, (2, 3, 32, 32))
    layers = _layers(text, attention.__name__)
    kinds = [layer["type"] for layer in layers]
    assert kinds.count("select") == 3 and "unbind" not in text
    # every permute keeps the batch in front: the pieces are selected where they are
    assert all(layer["dims"][0] == 0 for layer in layers if layer["type"] == "permute")
    reshapes = [layer["shape"] for layer in layers if layer["type"] == "reshape"]
    assert reshapes[-1] == [0, 0, -1]  # (B, N, C): N kept for every token count
    if attention is FusedAttention:
        assert "scaled_dot_product_attention" in kinds and "matmul" not in kinds
    else:
        assert kinds.count("matmul") == 2 and reshapes[0] == [0, 0, 3, 4, -1]


@pytest.mark.parametrize("attention", [FusedAttention, ExplicitAttention])
def test_the_imported_attention_follows_the_token_count(attention: type) -> None:
    """The reshapes keep N with a 0 only where it is N for every input: the spec computes
    the model's outputs on an image of another size (another token count)."""
    model = TokenNet(attention).eval()
    text = archspec.from_module(model, torch.rand(1, 3, 32, 32))
    twin = archspec.compile(text).eval()
    twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 48, 40, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(twin(x), model(x), rtol=1e-5, atol=1e-6)


class CausalScaled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(32, 96)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).reshape(x.shape[0], x.shape[1], 3, 2, 16).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=0.5)
        return y.transpose(1, 2).flatten(2)


def test_sdpa_keeps_is_causal_and_scale() -> None:
    text = round_trip_and_emit(CausalScaled().eval(), (2, 6, 32))
    (sdpa,) = [v for v in yaml.safe_load(text)["layers"] if v["type"].startswith("scaled")]
    assert sdpa["is_causal"] is True and sdpa["scale"] == 0.5


class Dropped(CausalScaled):
    """Dropout on the attention weights in eval mode too: random, which no spec states."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.qkv(x).reshape(x.shape[0], x.shape[1], 3, 2, 16).permute(2, 0, 3, 1, 4)
        return F.scaled_dot_product_attention(q, k, v, dropout_p=0.1).flatten(1)


class UnbindBatch(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = x.permute(0, 2, 1).unbind(0)  # the batch itself
        return a + b


class ConcatThenKeep(nn.Module):
    """`N` read off x, used on a tensor whose dim 1 is 2N: no 0 may keep it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        y = torch.cat([x, x], dim=1)
        return y.reshape(B, N, C * 2)


@pytest.mark.parametrize(
    ("model", "shape", "line"),
    [
        (Dropped(), (2, 6, 32), "dropout_p=0.1"),
        (UnbindBatch(), (2, 4, 6), "unbind(0)"),
        (ConcatThenKeep(), (2, 4, 6), "reshape(B, N, C * 2)"),
    ],
)
def test_what_a_spec_cannot_state_stays_refused_at_its_line(
    model: nn.Module, shape: tuple[int, ...], line: str
) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model, torch.rand(shape))
    diag = err.value.diagnostics[0]
    assert diag.code == "E903" and diag.span is not None, diag
    if isinstance(model, Dropped):
        assert "called with `dropout_p=0.1`" in diag.message and "no dropout" in str(diag.hint)
    with open(diag.span.file) as f:
        assert line in f.read().splitlines()[diag.span.line - 1]


class UnbindChannels(nn.Module):
    """Pieces of a dim after the batch (`a, b = x.unbind(1)`): each a `select`."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(6, 6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.fc(x).unbind(1)
        c = torch.unbind(x, dim=1)[1]
        return a * b + c


def test_an_unbind_after_the_batch_is_a_select_of_each_piece() -> None:
    text = round_trip_and_emit(UnbindChannels().eval(), (3, 2, 6))
    selects = [v for v in yaml.safe_load(text)["layers"] if v["type"] == "select"]
    assert [(v.get("dim", 1), v.get("index", 0)) for v in selects] == [(1, 0), (1, 1), (1, 1)]


# Reshapes that cut one dim into sizes or join dims, the others kept (provenance.regrouped)


def _channel_shuffle(x: torch.Tensor, groups: int) -> torch.Tensor:
    b, c, h, w = x.size()
    x = x.view(b, groups, c // groups, h, w)
    x = torch.transpose(x, 1, 2).contiguous()
    return x.view(b, -1, h, w)


class Shuffled(nn.Module):
    """ShuffleNet's channel shuffle written out, as most ports of it write it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 12, 3, padding=1, groups=3)
        self.conv2 = nn.Conv2d(12, 12, 1, groups=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(_channel_shuffle(self.conv(x), 3))


class RadixSplit(nn.Module):
    """ResNeSt's split attention: the channels cut into radix groups, summed, re-weighted."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(4, 8, 3, padding=1)
        self.fc = nn.Conv2d(4, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        B, RC, H, W = x.shape
        x = x.reshape((B, 2, RC // 2, H, W))
        gap = x.sum(dim=1).mean((2, 3), keepdim=True)
        attn = torch.sigmoid(self.fc(gap)).view(B, -1, 1, 1)
        return (x.reshape(B, RC, H, W) * attn).sum(dim=1, keepdim=True)


@pytest.mark.parametrize(("model", "reshapes"), [(Shuffled, 0), (RadixSplit, 1)])
def test_a_dim_cut_or_joined_is_unflatten_or_flatten_for_every_size(
    model: type, reshapes: int
) -> None:
    net = model().eval()
    text = round_trip_and_emit(net, (2, net.conv.in_channels, 8, 8))
    got = [v["type"] for v in yaml.safe_load(text)["layers"]]
    assert got.count("unflatten") == 1 and got.count("flatten") == 1
    assert got.count("reshape") == reshapes  # RadixSplit's `.view(B, -1, 1, 1)`
    twin = archspec.compile(text).eval()
    twin.load_state_dict(net.state_dict())
    x = torch.randn(1, net.conv.in_channels, 6, 10, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        torch.testing.assert_close(twin(x), net(x), rtol=1e-5, atol=1e-6)


class TwoUnknowns(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h = x.shape[0], x.shape[2]
        return x.view(b, h // 2, -1)  # two sizes that follow the input's: no kind states both


def test_a_reshape_of_two_unknown_sizes_stays_refused() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(TwoUnknowns(), torch.rand(1, 4, 2, 2))
    assert err.value.diagnostics[0].code == "E903"


class TokensToMap(nn.Module):
    """SwiftFormer's additive attention ends by folding its tokens back into the map with
    sizes read off the block's input: dims the permuted rank-3 tensor does not have."""

    def __init__(self) -> None:
        super().__init__()
        self.final = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        tokens = x.flatten(2).permute(0, 2, 1)
        return self.final(tokens).permute(0, 2, 1).reshape(b, -1, h, w)


def test_sizes_of_dims_a_tensor_lacks_are_no_traceback() -> None:
    """provenance.same_dim was asked for dim 3 of a rank-3 permute and raised IndexError
    (timm's swiftformer_xs: a traceback from `archspec import`); the reshape, then E903, is
    now the tokens folded back into the map whose H and W it reads (importer/regroup.py)."""
    text = round_trip_and_emit(TokensToMap().eval(), (1, 4, 3, 5))
    assert "type: departition" in text
