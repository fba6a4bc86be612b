"""Torch modules of built-in kinds that torch itself lacks; their source is emitted verbatim.

This file depends on torch alone and is imported only when a model is built. `archspec emit`
copies a class's definition from this file's text (`support_source`), without importing it,
so the emitted file and `compile` run the same code.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class StochasticDepth(nn.Module):
    """Drops whole residual branches in training (torchvision.ops.StochasticDepth)."""

    def __init__(self, p: float, mode: str) -> None:
        super().__init__()
        self.p = p
        self.mode = mode

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        survival_rate = 1.0 - self.p
        if self.mode == "row":
            size = [x.shape[0]] + [1] * (x.ndim - 1)
        else:
            size = [1] * x.ndim
        noise = torch.empty(size, dtype=x.dtype, device=x.device)
        noise = noise.bernoulli_(survival_rate)
        if survival_rate > 0.0:
            noise.div_(survival_rate)
        return x * noise

    def extra_repr(self) -> str:
        return f"p={self.p}, mode={self.mode}"


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of an NCHW tensor (torchvision's ConvNeXt LayerNorm2d)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.permute(0, 2, 3, 1)
        x = F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)
        x = x.permute(0, 3, 1, 2)
        return x


class FrozenBatchNorm2d(nn.Module):
    """BatchNorm2d whose statistics and affine parameters are fixed buffers, none trained
    (torchvision.ops.misc.FrozenBatchNorm2d, the norm of its detection backbones)."""

    def __init__(self, num_features: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.register_buffer("weight", torch.ones(num_features))
        self.register_buffer("bias", torch.zeros(num_features))
        self.register_buffer("running_mean", torch.zeros(num_features))
        self.register_buffer("running_var", torch.ones(num_features))

    def _load_from_state_dict(
        self,
        state_dict: dict,
        prefix: str,
        local_metadata: dict,
        strict: bool,
        missing_keys: list[str],
        unexpected_keys: list[str],
        error_msgs: list[str],
    ) -> None:
        # a BatchNorm2d's checkpoint loads: its step count has no place here
        state_dict.pop(prefix + "num_batches_tracked", None)
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.reshape(1, -1, 1, 1)
        b = self.bias.reshape(1, -1, 1, 1)
        rv = self.running_var.reshape(1, -1, 1, 1)
        rm = self.running_mean.reshape(1, -1, 1, 1)
        scale = w * (rv + self.eps).rsqrt()
        bias = b - rm * scale
        return x * scale + bias

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({self.weight.shape[0]}, eps={self.eps})"


class StdConv2d(nn.Conv2d):
    """A Conv2d whose weight is standardised per output channel in forward (timm's StdConv2d);
    `scaled`: times a learned per-filter gain and gamma / sqrt(fan_in) (ScaledStdConv2d)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | str | tuple[int, ...] = 0,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        eps: float = 1e-6,
        scaled: bool = False,
        gamma: float = 1.0,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias
        )
        self.eps = eps
        self.scaled = scaled
        self.gamma = gamma
        self.scale = gamma * self.weight[0].numel() ** -0.5
        self.gain = nn.Parameter(torch.ones(out_channels, 1, 1, 1)) if scaled else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = F.batch_norm(  # the weight read before the gain, as timm's forward reads
            self.weight.reshape(1, self.out_channels, -1),
            None,
            None,
            weight=None if self.gain is None else (self.gain * self.scale).view(-1),
            training=True,
            momentum=0.0,
            eps=self.eps,
        ).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, eps={self.eps}, scaled={self.scaled}, gamma={self.gamma}"


def split_exactly(
    x: torch.Tensor, split_size_or_sections: int | list[int], dim: int, pieces: int
) -> tuple[torch.Tensor, ...]:
    """torch.split into exactly the `pieces` a spec's `names` names: torch returns however
    many pieces the size makes, and the emitted `a, b = x.split(3, dim=2)` refuses another
    count when it unpacks them, so the compiled forward refuses it the same way (and
    `check`'s domain holds for both)."""
    out = torch.split(x, split_size_or_sections, dim)
    if len(out) > pieces:
        raise ValueError(f"too many values to unpack (expected {pieces})")
    if len(out) < pieces:
        raise ValueError(f"not enough values to unpack (expected {pieces}, got {len(out)})")
    return out


def tf_same_padding(
    x: torch.Tensor,
    kernel_size: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
) -> list[int]:
    """F.pad's padding of the last two dims for TensorFlow's SAME (timm's pad_same): the
    output is ceil(size / stride), the odd element on the right. The `*Same` classes below
    work it out in forward from the input's sizes."""
    pad: list[int] = []
    for i in (1, 0):  # F.pad takes the last dim first
        size, s = x.shape[-2 + i], stride[i]
        span = dilation[i] * (kernel_size[i] - 1) + 1
        total = max(((size + s - 1) // s - 1) * s + span - size, 0)
        pad += [total // 2, total - total // 2]
    return pad


class Conv2dSame(nn.Conv2d):
    """A strided Conv2d padded as TensorFlow's SAME (timm's Conv2dSame): its output is
    ceil(size / stride) along each dim, the padding worked out from the input's size in
    forward, the odd element on the right."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = tf_same_padding(x, self.kernel_size, self.stride, self.dilation)
        return self._conv_forward(F.pad(x, pad), self.weight, self.bias)


class StdConv2dSame(nn.Conv2d):
    """A strided StdConv2d padded as TensorFlow's SAME (timm's StdConv2dSame): the input
    padded as Conv2dSame pads it, the weight standardised as StdConv2d's."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        eps: float = 1e-6,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = tf_same_padding(x, self.kernel_size, self.stride, self.dilation)
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1),
            None,
            None,
            training=True,
            momentum=0.0,
            eps=self.eps,
        ).reshape_as(self.weight)
        return F.conv2d(
            F.pad(x, pad), weight, self.bias, self.stride, 0, self.dilation, self.groups
        )


class ScaledStdConv2dSame(nn.Conv2d):
    """A strided scaled StdConv2d padded as TensorFlow's SAME (timm's ScaledStdConv2dSame,
    NFNets'): the weight standardised, times a learned per-filter gain and gamma / sqrt(fan_in)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        dilation: int | tuple[int, ...] = 1,
        groups: int = 1,
        bias: bool = True,
        eps: float = 1e-6,
        gamma: float = 1.0,
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, dilation, groups, bias)
        self.eps = eps
        self.gamma = gamma
        self.scale = gamma * self.weight[0].numel() ** -0.5
        self.gain = nn.Parameter(torch.ones(out_channels, 1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = tf_same_padding(x, self.kernel_size, self.stride, self.dilation)
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1),
            None,
            None,
            weight=(self.gain * self.scale).view(-1),
            training=True,
            momentum=0.0,
            eps=self.eps,
        ).reshape_as(self.weight)
        return F.conv2d(
            F.pad(x, pad), weight, self.bias, self.stride, 0, self.dilation, self.groups
        )


class MaxPool2dSame(nn.MaxPool2d):
    """A MaxPool2d padded as TensorFlow's SAME (timm's MaxPool2dSame): -inf added around the
    last two dims, worked out from their sizes in forward, the odd element on the right;
    the output is ceil(size / stride)."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        dilation: int | tuple[int, int] = 1,
        ceil_mode: bool = False,
    ) -> None:
        k = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
        s = k if stride is None else (stride,) * 2 if isinstance(stride, int) else tuple(stride)
        d = (dilation,) * 2 if isinstance(dilation, int) else tuple(dilation)
        super().__init__(k, s, (0, 0), d, ceil_mode=ceil_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = tf_same_padding(x, self.kernel_size, self.stride, self.dilation)
        x = F.pad(x, pad, value=-float("inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride, 0, self.dilation, self.ceil_mode)


class AvgPool2dSame(nn.AvgPool2d):
    """An AvgPool2d padded as TensorFlow's SAME (timm's AvgPool2dSame): zeros added around
    the last two dims, worked out from their sizes in forward, the odd element on the right,
    and counted in each average; the output is ceil(size / stride)."""

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        ceil_mode: bool = False,
        count_include_pad: bool = True,
    ) -> None:
        k = (kernel_size,) * 2 if isinstance(kernel_size, int) else tuple(kernel_size)
        s = k if stride is None else (stride,) * 2 if isinstance(stride, int) else tuple(stride)
        super().__init__(k, s, (0, 0), ceil_mode, count_include_pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = tf_same_padding(x, self.kernel_size, self.stride, (1, 1))
        x = F.pad(x, pad)
        return F.avg_pool2d(
            x, self.kernel_size, self.stride, 0, self.ceil_mode, self.count_include_pad
        )


class BlurPool2d(nn.Module):
    """Anti-aliased downsampling (timm's BlurPool2d): each channel padded with `pad_mode`,
    then convolved with a fixed binomial filter (a non-persistent buffer) with a stride."""

    def __init__(
        self, channels: int, filt_size: int = 3, stride: int = 2, pad_mode: str = "reflect"
    ) -> None:
        super().__init__()
        self.channels = channels
        self.filt_size = filt_size
        self.stride = stride
        self.pad_mode = pad_mode
        self.padding = [(stride - 1 + filt_size - 1) // 2] * 4
        row = [1]  # the binomial coefficients C(n, k), n = filt_size - 1, in O(filt_size) steps
        for k in range(filt_size - 1):
            row.append(row[-1] * (filt_size - 1 - k) // (k + 1))
        scale = 2 ** (filt_size - 1)  # exact int / int: no float overflow at any filt_size
        coeffs = torch.tensor([c / scale for c in row], dtype=torch.float32)
        filt = (coeffs[:, None] * coeffs[None, :])[None, None].repeat(channels, 1, 1, 1)
        self.register_buffer("filt", filt, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.pad(x, self.padding, mode=self.pad_mode)
        return F.conv2d(x, self.filt, stride=self.stride, groups=self.channels)


def attention_distance_index(height: int, width: int, stride: int = 1) -> torch.Tensor:
    """For each query on a grid `stride` apart and each key of a height x width map, the
    column of their distance |dy| * width + |dx| in a (heads, height * width) bias table
    (timm's EfficientFormer and LeViT `attention_bias_idxs`)."""
    keys = torch.stack(
        torch.meshgrid(torch.arange(height), torch.arange(width), indexing="ij")
    ).flatten(1)
    queries = torch.stack(
        torch.meshgrid(
            torch.arange(0, height, stride), torch.arange(0, width, stride), indexing="ij"
        )
    ).flatten(1)
    distance = (queries[..., :, None] - keys[..., None, :]).abs()
    return distance[0] * width + distance[1]


def sinusoid_table(length: int, channels: int) -> torch.Tensor:
    """The Transformer's fixed position table (Vaswani et al. 2017, as PyTorch's tutorial
    builds its `pe`): sines at the even features, cosines at the odd ones, pair i at the
    frequency 10000 ** (-2i / channels), bit for bit."""
    position = torch.arange(length).unsqueeze(1)
    div_term = torch.exp(torch.arange(0, channels, 2) * (-math.log(10000.0) / channels))
    table = torch.zeros(length, channels)
    table[:, 0::2] = torch.sin(position * div_term)
    table[:, 1::2] = torch.cos(position * div_term)
    return table


def sinusoid_halves_table(length: int, channels: int) -> torch.Tensor:
    """Sines in the first half of the features, cosines in the second, feature i at the
    frequency 10000 ** (-i / (channels / 2 - 1)): tensor2tensor's timing signal, as
    Whisper builds its `positional_embedding`, bit for bit."""
    increment = math.log(10000) / (channels // 2 - 1)
    inv_timescales = torch.exp(-increment * torch.arange(channels // 2))
    scaled_time = torch.arange(length)[:, None] * inv_timescales[None, :]
    return torch.cat([torch.sin(scaled_time), torch.cos(scaled_time)], dim=1)


def sine_position_encoding(
    x: torch.Tensor, hidden_dim: int, temperature: float, normalize: bool
) -> torch.Tensor:
    """The fixed sine and cosine encoding of each place of an (N, C, H, W) map, as timm's
    `PositionalEncodingFourier` (DETR's without a mask) computes it, bit for bit."""
    ones = torch.ones(x.shape[0], x.shape[2], x.shape[3], device=x.device)
    y_embed = ones.cumsum(1)
    x_embed = ones.cumsum(2)
    if normalize:
        y_embed = y_embed / (y_embed[:, -1:, :] + 1e-06) * 6.283185307179586
        x_embed = x_embed / (x_embed[:, :, -1:] + 1e-06) * 6.283185307179586
    dim_t = torch.arange(hidden_dim, device=x.device).to(torch.float32)
    dim_t = temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / hidden_dim)
    pos_x = x_embed[:, :, :, None] / dim_t
    pos_y = y_embed[:, :, :, None] / dim_t
    pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4)
    pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4)
    pos = torch.cat((pos_y.flatten(3), pos_x.flatten(3)), dim=3).permute(0, 3, 1, 2)
    return pos.to(x.dtype)
