"""Hand-written PyTorch models for tests/test_importer.py (not torchvision): a small U-Net
with skip concatenations across scales, a ResNet-like and a MobileNet-like network, and a
forward that branches on tensor values."""

from __future__ import annotations

from collections import namedtuple

import torch
import torch.nn.functional as F
from torch import nn


class DoubleConv(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(x)))


class UNet(nn.Module):
    """Three scales; each decoder stage upsamples and concatenates the encoder's map."""

    def __init__(self, in_channels: int = 3, classes: int = 2, width: int = 8) -> None:
        super().__init__()
        w = width
        self.inc = DoubleConv(in_channels, w)
        self.pool = nn.MaxPool2d(2)
        self.down1 = DoubleConv(w, 2 * w)
        self.down2 = DoubleConv(2 * w, 4 * w)
        self.up2 = nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2)
        self.dec2 = DoubleConv(4 * w, 2 * w)
        self.up1 = nn.ConvTranspose2d(2 * w, w, 2, stride=2)
        self.dec1 = DoubleConv(2 * w, w)
        self.head = nn.Conv2d(w, classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(self.pool(x1))
        x3 = self.down2(self.pool(x2))
        y = self.dec2(torch.cat([self.up2(x3), x2], dim=1))
        y = self.dec1(torch.cat([self.up1(y), x1], dim=1))
        return self.head(y)


class BasicBlock(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(
                nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout)
            )
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNetLike(nn.Module):
    def __init__(self, layers: tuple[int, ...] = (2, 2, 2), classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        stages, cin = [], 16
        for i, n in enumerate(layers):
            cout = 16 * 2**i
            blocks = [BasicBlock(cin, cout, 2 if i else 1)]
            blocks += [BasicBlock(cout, cout) for _ in range(n - 1)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        self.use_res_connect = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU(cin, hidden, kernel=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetLike(nn.Module):
    def __init__(self, classes: int = 10) -> None:
        super().__init__()
        cfg = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2)]
        features: list[nn.Module] = [ConvBNReLU(3, 16, stride=2)]
        cin = 16
        for t, c, n, s in cfg:
            for i in range(n):
                features.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        features.append(ConvBNReLU(cin, 64, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(64, classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = F.adaptive_avg_pool2d(x, (1, 1))
        return self.classifier(torch.flatten(x, 1))


class Branchy(nn.Module):
    """Its forward reads a tensor's value to choose a path: no fixed graph."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if y.sum() > 0:  # data-dependent
            y = y * 2
        return y


class NoKind(nn.Module):
    """A leaf module of its own making: no layer kind reads it."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class UsesNoKind(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.odd = nn.Softshrink(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sort(self.odd(self.conv(x)), dim=1)[0]


class AuxNet(nn.Module):
    """GoogLeNet's shape: an auxiliary head registered last, called mid-way in training only,
    and a namedtuple of outputs in training."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(8, 4)
        self.aux = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        x = self.conv1(x)
        aux = self.aux(x) if self.training else None
        x = self.fc(torch.flatten(self.pool(self.conv2(x)), 1))
        if self.training:
            return _Outputs(x, aux)
        return x


_Outputs = namedtuple("_Outputs", ["logits", "aux"])  # as torchvision's GoogLeNetOutputs


class TinyViT(nn.Module):
    """ViT's forward as torchvision writes it: sizes read from `x.shape`, an asserted image
    size, a reshape to tokens, a class token expanded over the batch, `x[:, 0]`."""

    def __init__(self, image_size: int = 16, patch: int = 4, dim: int = 32) -> None:
        super().__init__()
        self.image_size, self.patch, self.dim = image_size, patch, dim
        self.conv_proj = nn.Conv2d(3, dim, patch, stride=patch)
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.ln = nn.LayerNorm(dim)
        self.attention = nn.MultiheadAttention(dim, 4, batch_first=True)
        self.head = nn.Linear(dim, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, _, h, w = x.shape
        torch._assert(h == self.image_size, "wrong height")
        torch._assert(w == self.image_size, "wrong width")
        x = self.conv_proj(x)
        x = x.reshape(n, self.dim, (h // self.patch) * (w // self.patch)).permute(0, 2, 1)
        x = torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)
        y = self.ln(x)
        y, _ = self.attention(y, y, y, need_weights=False)
        x = x + y
        return self.head(x[:, 0])


class PostNorm(nn.Module):
    """Swin V2's block shape: `norm1` registered before `attn`, called after it."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 2 * dim), nn.GELU(), nn.Linear(2 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.norm1(self.attn(x))
        return x + self.norm2(self.mlp(x))


class PostNormNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.blocks = nn.Sequential(PostNorm(8), PostNorm(8))
        self.head = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(x))


class Reordered(nn.Module):
    """A network calling its own children against their registration order (refused)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(4, 4)
        self.b = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(self.b(x))


class ListNet(nn.Module):
    """MaxViT's stages: an nn.ModuleList whose items forward calls one by one."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.blocks = nn.ModuleList([BasicBlock(8, 8, 1), BasicBlock(8, 16, 2)])
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(16, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class SwapAxes(nn.Module):
    """As torchvision.models.maxvit's: read with the partition next to it."""

    def __init__(self, a: int, b: int) -> None:
        super().__init__()
        self.a, self.b = a, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.swapaxes(x, self.a, self.b)


class WindowPartition(nn.Module):
    """As torchvision.models.maxvit's: the partition count is an argument of forward."""

    def forward(self, x: torch.Tensor, p: int) -> torch.Tensor:
        b, c, h, w = x.shape
        x = x.reshape(b, c, h // p, p, w // p, p).permute(0, 2, 4, 3, 5, 1)
        return x.reshape(b, (h // p) * (w // p), p * p, c)


class WindowDepartition(nn.Module):
    def forward(self, x: torch.Tensor, p: int, hp: int, wp: int) -> torch.Tensor:
        b, _, _, c = x.shape
        x = x.reshape(b, hp, wp, p, p, c).permute(0, 5, 1, 3, 2, 4)
        return x.reshape(b, c, hp * p, wp * p)


class PartitionLayer(nn.Module):
    """MaxViT's PartitionAttentionLayer, cut down: windows, or a grid (partition, swap)."""

    def __init__(self, dim: int, size: int, grid: bool, side: int) -> None:
        super().__init__()
        self.p = side // size if grid else size
        self.g = size if grid else side // size
        self.partition_op = WindowPartition()
        self.partition_swap = SwapAxes(-2, -3) if grid else nn.Identity()
        self.mlp = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, dim))
        self.departition_swap = SwapAxes(-2, -3) if grid else nn.Identity()
        self.departition_op = WindowDepartition()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.partition_swap(self.partition_op(x, self.p))
        x = x + self.mlp(x)
        return self.departition_op(self.departition_swap(x), self.p, self.g, self.g)


class PartitionNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.window = PartitionLayer(8, 2, False, 8)
        self.grid = PartitionLayer(8, 2, True, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.grid(self.window(x))


class TwoResolutions(nn.Module):
    """HRNet's exchange: a map plus its half-size neighbour upsampled."""

    def __init__(self) -> None:
        super().__init__()
        self.down = nn.Conv2d(3, 3, 3, stride=2, padding=1)
        self.up = nn.Upsample(scale_factor=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.up(self.down(x))


class BothMayBeOne(nn.Module):
    """A map pooled two ways, ceil(H/2) and H//2, and added: both may be 1 (at H = 2), so
    the sum's size depends on which is."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.MaxPool2d(2, ceil_mode=True)
        self.b = nn.MaxPool2d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.a(x) + self.b(x)


class CausalMask(nn.Module):
    """A GPT attention's mask made from the token count read off the input."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, T, C = x.shape  # the GPT source's names
        k = self.proj(x)
        k = k.reshape(-1, k.size(-1))  # a later size read, not the one that fails
        mask = torch.ones(T, T)
        return k.reshape(B, T, C) + mask[-1]
