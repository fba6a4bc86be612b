"""Reshapes whose sizes are products and quotients of the input's dims, through `archspec
import` (importer/regroup.py): a chain of `flatten` and `unflatten` steps that computes the
reshape for every input (tokens folded into the map whose H and W they read, a
`departition`), or E903 where its sizes are not proven. Each model is plain torch, as timm
(no dependency) writes it."""

from __future__ import annotations

import pytest
import torch
import yaml
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.test_importer_timm25 import round_trip_and_emit


class SpaceToDepth(nn.Module):
    """TResNet's stem (timm's space_to_depth.py): each 4x4 block of pixels into channels."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(48, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        N, C, H, W = x.size()
        x = x.view(N, C, H // 4, 4, W // 4, 4)
        x = x.permute(0, 3, 5, 1, 2, 4).contiguous()
        x = x.view(N, C * 4 * 4, H // 4, W // 4)
        return self.conv(x)


class HeadsInBatch(nn.Module):
    """BoTNet's attention (timm's bottleneck_attn.py): the heads moved into the batch,
    `q.reshape(B * heads, head_dim, -1)`, and back out of it."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Conv2d(3, 24, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.qkv(x)
        B = x.shape[0]
        q, k, v = torch.split(x, [8, 8, 8], dim=1)
        q = q.reshape(B * 2, 4, -1).transpose(-1, -2)
        k = k.reshape(B * 2, 4, -1)
        v = v.reshape(B * 2, 4, -1).transpose(-1, -2)
        out = (q @ k).softmax(dim=-1) @ v
        return out.transpose(-1, -2).reshape(B, 8, -1)


class FixedChannels(nn.Module):
    """`c // 2` of channels that no input changes: a number for every input."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c = x.shape[0], x.shape[1]
        return x.view(b, c // 2, -1)


class HeadsIntoMap(nn.Module):
    """Visformer's attention (timm's visformer.py): heads merged and folded back into the
    map whose sizes forward read, `x.permute(0, 1, 3, 2).reshape(B, -1, H, W)`."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Conv2d(8, 24, 1)
        self.proj = nn.Conv2d(8, 8, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        x = self.qkv(x).reshape(B, 3, 2, 4, -1).permute(1, 0, 2, 4, 3)
        q, k, v = x.unbind(0)
        x = (q @ k.transpose(-2, -1)).softmax(-1) @ v
        return self.proj(x.permute(0, 1, 3, 2).reshape(B, -1, H, W))


class TokensIntoMap(nn.Module):
    """Tokens (N, L, C) folded into (N, H, W, C) by the sizes of the map they came from."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        return self.fc(x.flatten(2).transpose(1, 2)).reshape(B, H, W, -1)


@pytest.mark.parametrize("model", [HeadsIntoMap, TokensIntoMap])
def test_tokens_folded_into_the_map_whose_sizes_they_read_are_a_departition(
    model: type,
) -> None:
    net = model().eval()
    text = round_trip_and_emit(net, (2, 8, 6, 10))
    assert "{name: departition, type: departition, from: [unsqueeze, input], size: 1}" in text
    assert archspec.check(text, input=[1, 8, 5, 7]).ok
    x = torch.randn(1, 8, 5, 7, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(_twin(text, net)(x), net(x), rtol=1e-5, atol=1e-6)


class PositionLambda(nn.Module):
    """LambdaNet's position lambdas (timm's lambda_layer.py): tokens (B, M, V) folded into
    (B, 1, H, W, V) for a Conv3d, the size 1 an `unsqueeze` after the fold."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Conv2d(8, 4, 1)
        self.conv = nn.Conv3d(1, 2, (3, 3, 1), padding=(1, 1, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, H, W = x.shape
        v = self.qkv(x).reshape(B, 4, H * W).transpose(-1, -2)  # (B, M, 4)
        return self.conv(v.reshape(B, 1, H, W, 4)).flatten(2, 3)


def test_a_size_one_beside_the_runs_is_an_unsqueeze() -> None:
    net = PositionLambda().eval()
    text = round_trip_and_emit(net, (2, 8, 6, 10))
    kinds = [v["type"] for v in yaml.safe_load(text)["layers"]]
    assert kinds[kinds.index("departition") :][:3] == ["departition", "permute", "unsqueeze"]
    x = torch.randn(1, 8, 5, 7, generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        torch.testing.assert_close(_twin(text, net)(x), net(x), rtol=1e-5, atol=1e-6)


def _twin(text: str, net: nn.Module) -> nn.Module:
    twin = archspec.compile(text).eval()
    twin.load_state_dict(net.state_dict())
    return twin


@pytest.mark.parametrize(
    ("model", "shape", "other", "steps"),
    [
        (SpaceToDepth, (2, 3, 16, 12), (1, 3, 8, 20), ["unflatten", "unflatten", "flatten"]),
        (HeadsInBatch, (2, 3, 6, 10), (1, 3, 5, 7), ["flatten", "unflatten", "flatten"] * 3),
        (FixedChannels, (2, 4, 3, 5), (1, 4, 7, 2), ["flatten", "unflatten"]),
    ],
)
def test_a_reshape_of_sizes_computed_from_dims_is_flatten_and_unflatten(
    model: type, shape: tuple[int, ...], other: tuple[int, ...], steps: list[str]
) -> None:
    net = model().eval()
    text = round_trip_and_emit(net, shape)  # state_dict keys and order, outputs, emitted source
    kinds = [v["type"] for v in yaml.safe_load(text)["layers"]]
    assert "reshape" not in kinds
    assert [k for k in kinds if k in ("flatten", "unflatten")] == steps + (
        ["flatten", "unflatten"] if model is HeadsInBatch else []
    )
    x = torch.randn(other, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():  # another size: the steps hold for every input, not the example's
        torch.testing.assert_close(_twin(text, net)(x), net(x), rtol=1e-5, atol=1e-6)


def test_a_quotient_is_the_unflattens_minus_one_so_the_spec_requires_the_divisor() -> None:
    text = archspec.from_module(SpaceToDepth().eval(), torch.rand(1, 3, 8, 8))
    assert "unflattened_size: [-1, 4]" in text
    assert archspec.check(text, input=[1, 3, 8, 12]).ok
    assert not archspec.check(text, input=[1, 3, 10, 12]).ok  # torch's view refuses 10 too
    with pytest.raises(RuntimeError):
        SpaceToDepth()(torch.rand(1, 3, 10, 12))


class QuotientAndRest(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h = x.shape[0], x.shape[1], x.shape[2]
        return x.view(b, c, h // 2, -1)  # h=5, w=4: torch's -1 is 10, no unflatten of h


class TokensByTwoMaps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        H, W = x.shape[2], y.shape[3]  # H and W of two maps: no one map to fold into
        return y.flatten(2).reshape(x.shape[0], 8, H, W)


@pytest.mark.parametrize("model", [QuotientAndRest, TokensByTwoMaps])
def test_a_reshape_whose_groups_are_not_proven_stays_refused(model: type) -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(model().eval(), torch.rand(1, 3, 6, 6))
    assert [d.code for d in err.value.diagnostics] == ["E903"]


# Sizes no input changes, computed with in forward: the numbers they are (fixed_value)


class ScaledScores(nn.Module):
    """Attention scaled by its width read in forward, `q.size(-1) ** -0.5`: a Linear's
    out_features, the same number for every input."""

    def __init__(self) -> None:
        super().__init__()
        self.q, self.k = nn.Linear(8, 8), nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k = self.q(x), self.k(x)
        return ((q @ k.transpose(-2, -1)) * q.size(-1) ** -0.5).softmax(-1) @ x


class ScaledByTokens(ScaledScores):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k = self.q(x), self.k(x)
        return ((q @ k.transpose(-2, -1)) * q.size(1) ** -0.5).softmax(-1) @ x  # L: any


def test_a_size_no_input_changes_is_a_number_in_a_tensor_step() -> None:
    """`mul` of the size was E903 'no layer kind computes the operator `pow`'."""
    net = ScaledScores().eval()
    text = round_trip_and_emit(net, (2, 5, 8))
    assert f"type: scale, factor: {8**-0.5}" in text
    x = torch.randn(1, 9, 8, generator=torch.Generator().manual_seed(8))
    with torch.no_grad():
        torch.testing.assert_close(_twin(text, net)(x), net(x), rtol=0, atol=0)


def test_a_size_that_follows_the_input_stays_refused_as_an_operand() -> None:
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(ScaledByTokens().eval(), torch.rand(2, 5, 8))
    (diag,) = err.value.diagnostics
    assert (
        diag.code == "E903" and "computed from sizes read in forward, as a tensor" in diag.message
    )


class BatchMoved(nn.Module):
    """The batch moved off dim 0 by a step no walk follows back (a stack, then a permute):
    the same on the example input and on one of doubled H and W, it is still no number."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p = torch.stack([x, x * 2]).permute(1, 0, 2, 3, 4)  # (B, 2, C, H, W)
        return p.reshape(2, -1, p.shape[3], p.shape[4])  # 2 is the batch of the example only


def test_a_batch_off_dim_0_is_no_number_though_doubled_sizes_keep_it() -> None:
    """Read as the number 2 (the example's batch), the spec kept dim 0 as the batch: at a
    batch of 3 it computed (3, 2 * C, H, W) where torch computes (2, 3 * C, H, W)."""
    net = BatchMoved()
    assert net(torch.rand(3, 4, 5, 6)).shape == (2, 12, 5, 6)
    with pytest.raises(ImportFailure) as err:
        archspec.from_module(net, torch.rand(2, 4, 5, 6))
    assert [d.code for d in err.value.diagnostics] == ["E903"]


class WindowsOfTokens(nn.Module):
    """Hiera's mask-unit attention (timm's hiera.py): the tokens cut into `N // 4` windows
    and the -1 beside them, `reshape(B, -1, num_windows, 3, heads, head_dim)`."""

    def __init__(self) -> None:
        super().__init__()
        self.qkv = nn.Linear(8, 24)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, _ = x.shape
        return self.qkv(x).reshape(B, -1, N // 4, 3, 2, 4)


def test_a_quotient_beside_the_minus_one_is_the_divisor_and_the_rest() -> None:
    net = WindowsOfTokens().eval()
    text = round_trip_and_emit(net, (2, 12, 8))
    assert "{name: unflatten, type: unflatten, dim: 1, unflattened_size: [4, -1]}" in text
    x = torch.randn(1, 20, 8, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        torch.testing.assert_close(_twin(text, net)(x), net(x), rtol=1e-5, atol=1e-6)
    # 4 does not divide 10: the spec refuses it; torch's view takes it, as (5, 2) windows
    assert not archspec.check(text, input=[1, 10, 8]).ok
    assert net(torch.rand(1, 10, 8)).shape == (1, 5, 2, 3, 2, 4)


class Unrolled(nn.Module):
    """Hiera's unroll: a 4x4 map's 2x2 strides moved into the batch by a flatten, then the
    batch read as `B * 4` (flatten's dim 0 is the dims it joined)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, _, C = x.shape  # (B, 16, C)
        x = x.view(B, 2, 2, 2, 2, C).permute(0, 2, 4, 1, 3, 5).flatten(0, 2)  # (4B, 2, 2, C)
        return x.view(B * 4, -1)


def test_a_flattens_joined_dim_is_the_product_of_the_dims_it_joined() -> None:
    text = round_trip_and_emit(Unrolled().eval(), (2, 16, 3))
    assert "{name: flatten_1, type: flatten, end_dim: 3}" in text  # (4B, 2, 2, C) to (4B, 4C)
    assert archspec.check(text, input=[5, 16, 3]).ok
