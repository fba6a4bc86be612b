"""Hand-written references for tests/test_newuser39.py: networks that are not image classifiers,
written as their authors write them in plain PyTorch (from memory of the public repos, no
torchvision or timm), which the specs of this folder must match (state_dict keys, shapes and
order, outputs) and which `archspec import` must read back."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


# --- DeepLabV3+ (jfzhang95/pytorch-deeplab-xception: aspp.py, decoder.py) over a small backbone --
class _ASPPModule(nn.Module):
    def __init__(self, inplanes: int, planes: int, kernel_size: int, padding: int, dilation: int):
        super().__init__()
        self.atrous_conv = nn.Conv2d(
            inplanes,
            planes,
            kernel_size=kernel_size,
            stride=1,
            padding=padding,
            dilation=dilation,
            bias=False,
        )
        self.bn = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.atrous_conv(x)
        x = self.bn(x)
        return self.relu(x)


class ASPP(nn.Module):
    def __init__(self, inplanes: int = 64, planes: int = 32, dilations=(1, 6, 12, 18)):
        super().__init__()
        self.aspp1 = _ASPPModule(inplanes, planes, 1, padding=0, dilation=dilations[0])
        self.aspp2 = _ASPPModule(inplanes, planes, 3, padding=dilations[1], dilation=dilations[1])
        self.aspp3 = _ASPPModule(inplanes, planes, 3, padding=dilations[2], dilation=dilations[2])
        self.aspp4 = _ASPPModule(inplanes, planes, 3, padding=dilations[3], dilation=dilations[3])
        self.global_avg_pool = nn.Sequential(
            nn.AdaptiveAvgPool2d((1, 1)),
            nn.Conv2d(inplanes, planes, 1, stride=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
        )
        self.conv1 = nn.Conv2d(planes * 5, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU()
        self.dropout = nn.Dropout(0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.aspp1(x)
        x2 = self.aspp2(x)
        x3 = self.aspp3(x)
        x4 = self.aspp4(x)
        x5 = self.global_avg_pool(x)
        x5 = F.interpolate(x5, size=x4.size()[2:], mode="bilinear", align_corners=True)
        x = torch.cat((x1, x2, x3, x4, x5), dim=1)
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        return self.dropout(x)


class Decoder(nn.Module):
    def __init__(self, num_classes: int, low_level_inplanes: int = 16, planes: int = 32):
        super().__init__()
        self.conv1 = nn.Conv2d(low_level_inplanes, 12, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(12)
        self.relu = nn.ReLU()
        self.last_conv = nn.Sequential(
            nn.Conv2d(planes + 12, planes, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Conv2d(planes, planes, kernel_size=3, stride=1, padding=1, bias=False),
            nn.BatchNorm2d(planes),
            nn.ReLU(),
            nn.Dropout(0.1),
            nn.Conv2d(planes, num_classes, kernel_size=1, stride=1),
        )

    def forward(self, x: torch.Tensor, low_level_feat: torch.Tensor) -> torch.Tensor:
        low_level_feat = self.conv1(low_level_feat)
        low_level_feat = self.bn1(low_level_feat)
        low_level_feat = self.relu(low_level_feat)
        x = F.interpolate(x, size=low_level_feat.size()[2:], mode="bilinear", align_corners=True)
        x = torch.cat((x, low_level_feat), dim=1)
        return self.last_conv(x)


class SmallBackbone(nn.Module):
    """Four stride-2 stages; returns the stride-16 map and the stride-4 low-level one."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(
            nn.Conv2d(3, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        self.layer1 = nn.Sequential(
            nn.Conv2d(16, 16, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU()
        )
        self.layer2 = nn.Sequential(
            nn.Conv2d(16, 32, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(32), nn.ReLU()
        )
        self.layer3 = nn.Sequential(
            nn.Conv2d(32, 64, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(64), nn.ReLU()
        )

    def forward(self, x: torch.Tensor):
        x = self.stem(x)
        low_level_feat = self.layer1(x)
        x = self.layer2(low_level_feat)
        x = self.layer3(x)
        return x, low_level_feat


class DeepLab(nn.Module):
    def __init__(self, num_classes: int = 5):
        super().__init__()
        self.backbone = SmallBackbone()
        self.aspp = ASPP()
        self.decoder = Decoder(num_classes)

    def forward(self, input: torch.Tensor) -> torch.Tensor:  # noqa: A002 (as the repo writes it)
        x, low_level_feat = self.backbone(input)
        x = self.aspp(x)
        x = self.decoder(x, low_level_feat)
        return F.interpolate(x, size=input.size()[2:], mode="bilinear", align_corners=True)


# --- PSPNet's pyramid pooling module (hszhao/semseg: model/pspnet.py) ----------------------------
class PPM(nn.Module):
    def __init__(self, in_dim: int, reduction_dim: int, bins):
        super().__init__()
        self.features = []
        for bin in bins:  # noqa: A001
            self.features.append(
                nn.Sequential(
                    nn.AdaptiveAvgPool2d(bin),
                    nn.Conv2d(in_dim, reduction_dim, kernel_size=1, bias=False),
                    nn.BatchNorm2d(reduction_dim),
                    nn.ReLU(inplace=True),
                )
            )
        self.features = nn.ModuleList(self.features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_size = x.size()
        out = [x]
        for f in self.features:
            out.append(F.interpolate(f(x), x_size[2:], mode="bilinear", align_corners=True))
        return torch.cat(out, 1)


class PSPHead(nn.Module):
    """A PSPNet head over a 64-channel map: the PPM, then the 3x3 and 1x1 classifier."""

    def __init__(self, fea_dim: int = 64, bins=(1, 2, 3, 6), classes: int = 5):
        super().__init__()
        self.ppm = PPM(fea_dim, fea_dim // len(bins), bins)
        self.cls = nn.Sequential(
            nn.Conv2d(fea_dim * 2, 32, kernel_size=3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.Dropout2d(p=0.1),
            nn.Conv2d(32, classes, kernel_size=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.cls(self.ppm(x))


# --- EDSR (sanghyun-son/EDSR-PyTorch: model/common.py, model/edsr.py), a small one ---------------
class MeanShift(nn.Conv2d):
    def __init__(
        self, rgb_range, rgb_mean=(0.4488, 0.4371, 0.4040), rgb_std=(1.0, 1.0, 1.0), sign=-1
    ):
        super().__init__(3, 3, kernel_size=1)
        std = torch.Tensor(rgb_std)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1) / std.view(3, 1, 1, 1)
        self.bias.data = sign * rgb_range * torch.Tensor(rgb_mean) / std
        for p in self.parameters():
            p.requires_grad = False


def default_conv(in_channels, out_channels, kernel_size, bias=True):
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=(kernel_size // 2), bias=bias)


class ResBlock(nn.Module):
    def __init__(self, conv, n_feats, kernel_size, bias=True, act=nn.ReLU(True), res_scale=1):  # noqa: B008
        super().__init__()
        m = []
        for i in range(2):
            m.append(conv(n_feats, n_feats, kernel_size, bias=bias))
            if i == 0:
                m.append(act)
        self.body = nn.Sequential(*m)
        self.res_scale = res_scale

    def forward(self, x):
        res = self.body(x).mul(self.res_scale)
        res += x
        return res


class Upsampler(nn.Sequential):
    def __init__(self, conv, scale, n_feats, bias=True):
        m = []
        if (scale & (scale - 1)) == 0:  # scale = 2^n
            for _ in range(int(torch.log2(torch.tensor(scale)))):
                m.append(conv(n_feats, 4 * n_feats, 3, bias))
                m.append(nn.PixelShuffle(2))
        elif scale == 3:
            m.append(conv(n_feats, 9 * n_feats, 3, bias))
            m.append(nn.PixelShuffle(3))
        else:
            raise NotImplementedError
        super().__init__(*m)


class EDSR(nn.Module):
    def __init__(
        self,
        n_resblocks=4,
        n_feats=16,
        scale=4,
        res_scale=0.1,
        rgb_range=255,
        n_colors=3,
        conv=default_conv,
    ):
        super().__init__()
        kernel_size = 3
        act = nn.ReLU(True)
        self.sub_mean = MeanShift(rgb_range)
        self.add_mean = MeanShift(rgb_range, sign=1)
        m_head = [conv(n_colors, n_feats, kernel_size)]
        m_body = [
            ResBlock(conv, n_feats, kernel_size, act=act, res_scale=res_scale)
            for _ in range(n_resblocks)
        ]
        m_body.append(conv(n_feats, n_feats, kernel_size))
        m_tail = [Upsampler(conv, scale, n_feats), conv(n_feats, n_colors, kernel_size)]
        self.head = nn.Sequential(*m_head)
        self.body = nn.Sequential(*m_body)
        self.tail = nn.Sequential(*m_tail)

    def forward(self, x):
        x = self.sub_mean(x)
        x = self.head(x)
        res = self.body(x)
        res += x
        x = self.tail(res)
        x = self.add_mean(x)
        return x


# --- ESRGAN's RRDBNet (xinntao/ESRGAN: RRDBNet_arch.py), a small one -----------------------------
class ResidualDenseBlock_5C(nn.Module):
    def __init__(self, nf=16, gc=8, bias=True):
        super().__init__()
        self.conv1 = nn.Conv2d(nf, gc, 3, 1, 1, bias=bias)
        self.conv2 = nn.Conv2d(nf + gc, gc, 3, 1, 1, bias=bias)
        self.conv3 = nn.Conv2d(nf + 2 * gc, gc, 3, 1, 1, bias=bias)
        self.conv4 = nn.Conv2d(nf + 3 * gc, gc, 3, 1, 1, bias=bias)
        self.conv5 = nn.Conv2d(nf + 4 * gc, nf, 3, 1, 1, bias=bias)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x):
        x1 = self.lrelu(self.conv1(x))
        x2 = self.lrelu(self.conv2(torch.cat((x, x1), 1)))
        x3 = self.lrelu(self.conv3(torch.cat((x, x1, x2), 1)))
        x4 = self.lrelu(self.conv4(torch.cat((x, x1, x2, x3), 1)))
        x5 = self.conv5(torch.cat((x, x1, x2, x3, x4), 1))
        return x5 * 0.2 + x


class RRDB(nn.Module):
    def __init__(self, nf, gc=8):
        super().__init__()
        self.RDB1 = ResidualDenseBlock_5C(nf, gc)
        self.RDB2 = ResidualDenseBlock_5C(nf, gc)
        self.RDB3 = ResidualDenseBlock_5C(nf, gc)

    def forward(self, x):
        out = self.RDB1(x)
        out = self.RDB2(out)
        out = self.RDB3(out)
        return out * 0.2 + x


class RRDBNet(nn.Module):
    def __init__(self, in_nc=3, out_nc=3, nf=16, nb=2, gc=8):
        super().__init__()
        self.conv_first = nn.Conv2d(in_nc, nf, 3, 1, 1, bias=True)
        self.RRDB_trunk = nn.Sequential(*[RRDB(nf, gc) for _ in range(nb)])
        self.trunk_conv = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.upconv1 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.upconv2 = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.HRconv = nn.Conv2d(nf, nf, 3, 1, 1, bias=True)
        self.conv_last = nn.Conv2d(nf, out_nc, 3, 1, 1, bias=True)
        self.lrelu = nn.LeakyReLU(negative_slope=0.2, inplace=True)

    def forward(self, x):
        fea = self.conv_first(x)
        trunk = self.trunk_conv(self.RRDB_trunk(fea))
        fea = fea + trunk
        fea = self.lrelu(self.upconv1(F.interpolate(fea, scale_factor=2, mode="nearest")))
        fea = self.lrelu(self.upconv2(F.interpolate(fea, scale_factor=2, mode="nearest")))
        out = self.conv_last(self.lrelu(self.HRconv(fea)))
        return out


# --- A Conformer block (sooftware/conformer style) over (N, L, D) audio features ----------------
class FeedForwardModule(nn.Module):
    def __init__(self, encoder_dim: int = 32, expansion_factor: int = 4, dropout_p: float = 0.1):
        super().__init__()
        self.sequential = nn.Sequential(
            nn.LayerNorm(encoder_dim),
            nn.Linear(encoder_dim, encoder_dim * expansion_factor, bias=True),
            nn.SiLU(),
            nn.Dropout(p=dropout_p),
            nn.Linear(encoder_dim * expansion_factor, encoder_dim, bias=True),
            nn.Dropout(p=dropout_p),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.sequential(inputs)


class MultiHeadedSelfAttentionModule(nn.Module):
    def __init__(self, d_model: int, num_heads: int, dropout_p: float = 0.1):
        super().__init__()
        self.layer_norm = nn.LayerNorm(d_model)
        self.attention = nn.MultiheadAttention(d_model, num_heads, batch_first=True)
        self.dropout = nn.Dropout(p=dropout_p)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.layer_norm(inputs)
        x, _ = self.attention(x, x, x, need_weights=False)
        return self.dropout(x)


class ConformerConvModule(nn.Module):
    def __init__(
        self,
        in_channels: int,
        kernel_size: int = 31,
        expansion_factor: int = 2,
        dropout_p: float = 0.1,
    ):
        super().__init__()
        self.layer_norm = nn.LayerNorm(in_channels)
        self.pointwise_conv1 = nn.Conv1d(in_channels, in_channels * expansion_factor, 1)
        self.glu = nn.GLU(dim=1)
        self.depthwise_conv = nn.Conv1d(
            in_channels,
            in_channels,
            kernel_size,
            padding=(kernel_size - 1) // 2,
            groups=in_channels,
            bias=False,
        )
        self.batch_norm = nn.BatchNorm1d(in_channels)
        self.swish = nn.SiLU()
        self.pointwise_conv2 = nn.Conv1d(in_channels, in_channels, 1)
        self.dropout = nn.Dropout(p=dropout_p)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x = self.layer_norm(inputs).transpose(1, 2)
        x = self.pointwise_conv1(x)
        x = self.glu(x)
        x = self.depthwise_conv(x)
        x = self.batch_norm(x)
        x = self.swish(x)
        x = self.pointwise_conv2(x)
        x = self.dropout(x)
        return x.transpose(1, 2)


class ConformerBlock(nn.Module):
    def __init__(
        self, encoder_dim: int = 32, num_attention_heads: int = 4, conv_kernel_size: int = 15
    ):
        super().__init__()
        self.ff1 = FeedForwardModule(encoder_dim)
        self.mhsa = MultiHeadedSelfAttentionModule(encoder_dim, num_attention_heads)
        self.conv = ConformerConvModule(encoder_dim, conv_kernel_size)
        self.ff2 = FeedForwardModule(encoder_dim)
        self.norm = nn.LayerNorm(encoder_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + 0.5 * self.ff1(x)
        x = x + self.mhsa(x)
        x = x + self.conv(x)
        x = x + 0.5 * self.ff2(x)
        return self.norm(x)


# --- The Conformer's conv front-end (ESPnet's Conv2dSubsampling): (N, T, 80) to tokens -----
class Conv2dSubsampling(nn.Module):
    """ESPnet / sooftware's conv front-end: (N, T, 80) features to (N, T/4, d_model) tokens."""

    def __init__(self, idim: int = 80, odim: int = 32):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, odim, 3, 2), nn.ReLU(), nn.Conv2d(odim, odim, 3, 2), nn.ReLU()
        )
        self.out = nn.Linear(odim * (((idim - 1) // 2 - 1) // 2), odim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.unsqueeze(1)  # (b, c, t, f)
        x = self.conv(x)
        b, c, t, f = x.size()
        x = self.out(x.transpose(1, 2).contiguous().view(b, t, c * f))
        return x


# --- Kim (2014)'s text CNN over int64 token ids --------------------------------------------------
class TextCNN(nn.Module):
    def __init__(
        self,
        vocab_size: int = 500,
        embed_dim: int = 32,
        num_filters: int = 16,
        kernel_sizes=(3, 4, 5),
        num_classes: int = 4,
        dropout: float = 0.5,
    ):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=0)
        self.convs = nn.ModuleList([nn.Conv1d(embed_dim, num_filters, k) for k in kernel_sizes])
        self.dropout = nn.Dropout(dropout)
        self.fc = nn.Linear(num_filters * len(kernel_sizes), num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.embedding(x).permute(0, 2, 1)  # (N, D, L)
        x = [F.relu(conv(x)) for conv in self.convs]
        x = [F.max_pool1d(c, c.size(2)).squeeze(2) for c in x]
        x = torch.cat(x, 1)
        return self.fc(self.dropout(x))


# --- A BiLSTM sequence tagger (per-token logits) -------------------------------------------------
class BiLSTMTagger(nn.Module):
    def __init__(
        self,
        vocab_size: int = 500,
        embedding_dim: int = 32,
        hidden_dim: int = 24,
        tagset_size: int = 9,
    ):
        super().__init__()
        self.word_embeds = nn.Embedding(vocab_size, embedding_dim)
        self.lstm = nn.LSTM(
            embedding_dim, hidden_dim, num_layers=1, bidirectional=True, batch_first=True
        )
        self.dropout = nn.Dropout(0.5)
        self.hidden2tag = nn.Linear(hidden_dim * 2, tagset_size)

    def forward(self, sentence: torch.Tensor) -> torch.Tensor:
        embeds = self.word_embeds(sentence)
        lstm_out, _ = self.lstm(embeds)
        return self.hidden2tag(self.dropout(lstm_out))


# --- A small GRU sequence model over float features ---------------------------------------------
class GRUNet(nn.Module):
    def __init__(
        self,
        input_dim: int = 12,
        hidden_dim: int = 32,
        output_dim: int = 3,
        n_layers: int = 2,
        drop_prob: float = 0.2,
    ):
        super().__init__()
        self.hidden_dim = hidden_dim
        self.n_layers = n_layers
        self.gru = nn.GRU(input_dim, hidden_dim, n_layers, batch_first=True, dropout=drop_prob)
        self.fc = nn.Linear(hidden_dim, output_dim)
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, h = self.gru(x)  # noqa: RUF059
        out = self.fc(self.relu(out[:, -1]))
        return out


# --- A 1-d ResNet for ECG signals (12 leads) ----------------------------------------------------
class BasicBlock1d(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv1d(
            inplanes, planes, kernel_size=7, stride=stride, padding=3, bias=False
        )
        self.bn1 = nn.BatchNorm1d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.dropout = nn.Dropout(0.2)
        self.conv2 = nn.Conv1d(planes, planes, kernel_size=7, stride=1, padding=3, bias=False)
        self.bn2 = nn.BatchNorm1d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.dropout(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        out = self.relu(out)
        return out


class ResNet1d(nn.Module):
    def __init__(
        self,
        block=BasicBlock1d,
        layers=(1, 1, 1, 1),
        input_channels: int = 12,
        inplanes: int = 16,
        num_classes: int = 9,
    ):
        super().__init__()
        self.inplanes = inplanes
        self.conv1 = nn.Conv1d(
            input_channels, self.inplanes, kernel_size=15, stride=2, padding=7, bias=False
        )
        self.bn1 = nn.BatchNorm1d(inplanes)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool1d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, 16, layers[0])
        self.layer2 = self._make_layer(block, 32, layers[1], stride=2)
        self.layer3 = self._make_layer(block, 64, layers[2], stride=2)
        self.layer4 = self._make_layer(block, 128, layers[3], stride=2)
        self.adaptiveavgpool = nn.AdaptiveAvgPool1d(1)
        self.adaptivemaxpool = nn.AdaptiveMaxPool1d(1)
        self.fc = nn.Linear(128 * 2, num_classes)

    def _make_layer(self, block, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv1d(
                    self.inplanes,
                    planes * block.expansion,
                    kernel_size=1,
                    stride=stride,
                    bias=False,
                ),
                nn.BatchNorm1d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        for _ in range(1, blocks):
            layers.append(block(self.inplanes, planes))
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        x = self.bn1(x)
        x = self.relu(x)
        x = self.maxpool(x)
        x = self.layer1(x)
        x = self.layer2(x)
        x = self.layer3(x)
        x = self.layer4(x)
        x1 = self.adaptiveavgpool(x)
        x2 = self.adaptivemaxpool(x)
        x = torch.cat((x1, x2), dim=1)
        x = x.view(x.size(0), -1)
        return self.fc(x)


# --- A YOLO-style detection head: 1x1 convs per scale over a small backbone --------------------
class ConvBNLeaky(nn.Sequential):
    def __init__(self, c_in: int, c_out: int, k: int = 3, s: int = 1):
        super().__init__(
            nn.Conv2d(c_in, c_out, k, s, k // 2, bias=False),
            nn.BatchNorm2d(c_out),
            nn.LeakyReLU(0.1, inplace=True),
        )


class TinyYOLO(nn.Module):
    def __init__(self, num_classes: int = 4, num_anchors: int = 3):
        super().__init__()
        self.na = num_anchors
        self.no = num_classes + 5
        self.stem = ConvBNLeaky(3, 8, 3, 2)
        self.c3 = ConvBNLeaky(8, 16, 3, 2)
        self.c4 = ConvBNLeaky(16, 32, 3, 2)
        self.c5 = ConvBNLeaky(32, 64, 3, 2)
        self.m = nn.ModuleList(nn.Conv2d(c, self.no * self.na, 1) for c in (16, 32, 64))

    def forward(self, x: torch.Tensor):
        p3 = self.c3(self.stem(x))
        p4 = self.c4(p3)
        p5 = self.c5(p4)
        out = []
        for i, feat in enumerate((p3, p4, p5)):
            y = self.m[i](feat)
            bs, _, ny, nx = y.shape
            out.append(y.view(bs, self.na, self.no, ny, nx))
        return out


# --- An FPN neck (torchvision's FeaturePyramidNetwork layout) over a small backbone -------------
class SmallFPN(nn.Module):
    def __init__(self, in_channels_list=(16, 32, 64), out_channels: int = 24):
        super().__init__()
        self.body = nn.ModuleList(
            [
                nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(inplace=True)),
                nn.Sequential(nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(inplace=True)),
                nn.Sequential(nn.Conv2d(32, 64, 3, 2, 1), nn.ReLU(inplace=True)),
            ]
        )
        self.inner_blocks = nn.ModuleList(nn.Conv2d(c, out_channels, 1) for c in in_channels_list)
        self.layer_blocks = nn.ModuleList(
            nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in in_channels_list
        )

    def forward(self, x: torch.Tensor):
        feats = []
        for stage in self.body:
            x = stage(x)
            feats.append(x)
        last_inner = self.inner_blocks[-1](feats[-1])
        results = [self.layer_blocks[-1](last_inner)]
        for idx in range(len(feats) - 2, -1, -1):
            inner_lateral = self.inner_blocks[idx](feats[idx])
            inner_top_down = F.interpolate(
                last_inner, size=inner_lateral.shape[-2:], mode="nearest"
            )
            last_inner = inner_lateral + inner_top_down
            results.insert(0, self.layer_blocks[idx](last_inner))
        results.append(F.max_pool2d(results[-1], 1, 2, 0))
        return results


# --- A small HRNet (HRNet/HRNet-Semantic-Segmentation: seg_hrnet.py), one two-branch stage ----
class HRBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)

    def forward(self, x):
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += residual
        return self.relu(out)


class HighResolutionModule(nn.Module):
    def __init__(self, num_branches, num_channels):
        super().__init__()
        self.num_branches = num_branches
        self.branches = nn.ModuleList(
            nn.Sequential(HRBasicBlock(c, c), HRBasicBlock(c, c)) for c in num_channels
        )
        fuse_layers = []
        for i in range(num_branches):
            fuse_layer = []
            for j in range(num_branches):
                if j > i:
                    fuse_layer.append(
                        nn.Sequential(
                            nn.Conv2d(num_channels[j], num_channels[i], 1, 1, 0, bias=False),
                            nn.BatchNorm2d(num_channels[i]),
                            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
                        )
                    )
                elif j == i:
                    fuse_layer.append(None)
                else:
                    conv3x3s = []
                    for k in range(i - j):
                        if k == i - j - 1:
                            conv3x3s.append(
                                nn.Sequential(
                                    nn.Conv2d(
                                        num_channels[j], num_channels[i], 3, 2, 1, bias=False
                                    ),
                                    nn.BatchNorm2d(num_channels[i]),
                                )
                            )
                        else:
                            conv3x3s.append(
                                nn.Sequential(
                                    nn.Conv2d(
                                        num_channels[j], num_channels[j], 3, 2, 1, bias=False
                                    ),
                                    nn.BatchNorm2d(num_channels[j]),
                                    nn.ReLU(False),
                                )
                            )
                    fuse_layer.append(nn.Sequential(*conv3x3s))
            fuse_layers.append(nn.ModuleList(fuse_layer))
        self.fuse_layers = nn.ModuleList(fuse_layers)
        self.relu = nn.ReLU(False)

    def forward(self, x):
        for i in range(self.num_branches):
            x[i] = self.branches[i](x[i])
        x_fuse = []
        for i in range(len(self.fuse_layers)):
            y = x[0] if i == 0 else self.fuse_layers[i][0](x[0])
            for j in range(1, self.num_branches):
                if i == j:
                    y = y + x[j]
                else:
                    y = y + self.fuse_layers[i][j](x[j])
            x_fuse.append(self.relu(y))
        return x_fuse


class SmallHRNet(nn.Module):
    def __init__(self, num_classes=5):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.transition1 = nn.ModuleList(
            [
                nn.Sequential(
                    nn.Conv2d(16, 8, 3, 1, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(inplace=True)
                ),
                nn.Sequential(
                    nn.Sequential(
                        nn.Conv2d(16, 16, 3, 2, 1, bias=False),
                        nn.BatchNorm2d(16),
                        nn.ReLU(inplace=True),
                    )
                ),
            ]
        )
        self.stage2 = nn.Sequential(HighResolutionModule(2, [8, 16]))
        self.last_layer = nn.Conv2d(24, num_classes, 1)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x_list = [self.transition1[i](x) for i in range(2)]
        y_list = self.stage2(x_list)
        h, w = y_list[0].size(2), y_list[0].size(3)
        x1 = F.interpolate(y_list[1], size=(h, w), mode="bilinear", align_corners=False)
        x = torch.cat([y_list[0], x1], 1)
        return self.last_layer(x)
