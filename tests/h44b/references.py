"""The networks of tests/h44b written by hand in plain PyTorch, as their papers' and
tutorials' public code writes them (small widths), for tests/test_h44b_networks.py and
make_fixture.py. torchvision and timm are not used."""

from __future__ import annotations

import math

import torch
from torch import nn


class TokenEmbedding(nn.Module):
    """The translation tutorial's: an embedding scaled by sqrt(emb_size)."""

    def __init__(self, vocab_size: int, emb_size: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, emb_size)
        self.emb_size = emb_size

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.embedding(tokens.long()) * math.sqrt(self.emb_size)


class PositionalEncoding(nn.Module):
    """The tutorial's sine table (maxlen, 1, emb_size), added and dropped out."""

    def __init__(self, emb_size: int, dropout: float, maxlen: int = 64) -> None:
        super().__init__()
        den = torch.exp(-torch.arange(0, emb_size, 2) * math.log(10000) / emb_size)
        pos = torch.arange(0, maxlen).reshape(maxlen, 1)
        pos_embedding = torch.zeros((maxlen, emb_size))
        pos_embedding[:, 0::2] = torch.sin(pos * den)
        pos_embedding[:, 1::2] = torch.cos(pos * den)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("pos_embedding", pos_embedding.unsqueeze(-2))

    def forward(self, token_embedding: torch.Tensor) -> torch.Tensor:
        return self.dropout(token_embedding + self.pos_embedding[: token_embedding.size(0), :])


class Seq2SeqTransformer(nn.Module):
    """PyTorch's "Language Translation with nn.Transformer" model, the target mask made
    in forward (padding masks left out)."""

    def __init__(self, src_vocab: int = 50, tgt_vocab: int = 60, emb_size: int = 32,
                 nhead: int = 4, layers: int = 2, dim_feedforward: int = 64,
                 dropout: float = 0.1) -> None:  # fmt: skip
        super().__init__()
        self.transformer = nn.Transformer(
            d_model=emb_size, nhead=nhead, num_encoder_layers=layers,
            num_decoder_layers=layers, dim_feedforward=dim_feedforward, dropout=dropout,
        )  # fmt: skip
        self.generator = nn.Linear(emb_size, tgt_vocab)
        self.src_tok_emb = TokenEmbedding(src_vocab, emb_size)
        self.tgt_tok_emb = TokenEmbedding(tgt_vocab, emb_size)
        self.positional_encoding = PositionalEncoding(emb_size, dropout=dropout)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        src_emb = self.positional_encoding(self.src_tok_emb(src))
        tgt_emb = self.positional_encoding(self.tgt_tok_emb(tgt))
        tgt_mask = nn.Transformer.generate_square_subsequent_mask(
            tgt.size(0), device=tgt.device, dtype=src_emb.dtype
        )
        outs = self.transformer(src_emb, tgt_emb, tgt_mask=tgt_mask)
        return self.generator(outs)


class BasicConv(nn.Module):
    """cbam.py's BasicConv: conv, batch norm of momentum 0.01, an optional ReLU."""

    def __init__(self, in_planes: int, out_planes: int, kernel_size: int, padding: int = 0,
                 relu: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(out_planes, eps=1e-5, momentum=0.01, affine=True)
        self.relu = nn.ReLU() if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        if self.relu is not None:
            x = self.relu(x)
        return x


class Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), -1)


class ChannelGate(nn.Module):
    """cbam.py's: one MLP over the average- and the max-pooled map, summed."""

    def __init__(self, gate_channels: int, reduction_ratio: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            Flatten(),
            nn.Linear(gate_channels, gate_channels // reduction_ratio),
            nn.ReLU(),
            nn.Linear(gate_channels // reduction_ratio, gate_channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = (x.size(2), x.size(3))
        avg_pool = nn.functional.avg_pool2d(x, size, stride=size)
        max_pool = nn.functional.max_pool2d(x, size, stride=size)
        channel_att_sum = self.mlp(avg_pool) + self.mlp(max_pool)
        scale = torch.sigmoid(channel_att_sum).unsqueeze(2).unsqueeze(3).expand_as(x)
        return x * scale


class SpatialGate(nn.Module):
    """cbam.py's: a 7x7 conv over the channel max and mean."""

    def __init__(self) -> None:
        super().__init__()
        self.spatial = BasicConv(2, 1, 7, padding=3, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_compress = torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), 1)
        return x * torch.sigmoid(self.spatial(x_compress))


class CBAM(nn.Module):
    def __init__(self, gate_channels: int, reduction_ratio: int) -> None:
        super().__init__()
        self.ChannelGate = ChannelGate(gate_channels, reduction_ratio)
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class CBAMBlock(nn.Module):
    """model_resnet.py's BasicBlock with use_cbam=True."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1, reduction: int = 4) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False), nn.BatchNorm2d(planes)
            )
        self.cbam = CBAM(planes, reduction)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        out = self.cbam(out)
        out += residual
        return self.relu(out)


class CBAMResNet(nn.Module):
    """A two-stage CIFAR-sized ResNet of CBAM blocks."""

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(CBAMBlock(16, 16), CBAMBlock(16, 16))
        self.layer2 = nn.Sequential(CBAMBlock(16, 32, 2), CBAMBlock(32, 32))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer2(self.layer1(x))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class VanillaVAE(nn.Module):
    """AntixK's PyTorch-VAE `VanillaVAE` (models/vanilla_vae.py) for 16x16 images: the
    decoder's first map is 4x4 where the original's 64x64 input gives 2x2."""

    def __init__(self, in_channels: int = 3, latent_dim: int = 4,
                 hidden_dims: tuple[int, ...] = (8, 16)) -> None:  # fmt: skip
        super().__init__()
        self.latent_dim = latent_dim
        modules = []
        for h_dim in hidden_dims:
            modules.append(
                nn.Sequential(
                    nn.Conv2d(in_channels, h_dim, kernel_size=3, stride=2, padding=1),
                    nn.BatchNorm2d(h_dim),
                    nn.LeakyReLU(),
                )
            )
            in_channels = h_dim
        self.encoder = nn.Sequential(*modules)
        self.fc_mu = nn.Linear(hidden_dims[-1] * 16, latent_dim)
        self.fc_var = nn.Linear(hidden_dims[-1] * 16, latent_dim)
        self.decoder_input = nn.Linear(latent_dim, hidden_dims[-1] * 16)
        hidden = list(reversed(hidden_dims))
        self.last = hidden[0]
        self.decoder = nn.Sequential(
            *[
                nn.Sequential(
                    nn.ConvTranspose2d(
                        hidden[i], hidden[i + 1], 3, stride=2, padding=1, output_padding=1
                    ),
                    nn.BatchNorm2d(hidden[i + 1]),
                    nn.LeakyReLU(),
                )
                for i in range(len(hidden) - 1)
            ]
        )
        self.final_layer = nn.Sequential(
            nn.ConvTranspose2d(hidden[-1], hidden[-1], 3, stride=2, padding=1, output_padding=1),
            nn.BatchNorm2d(hidden[-1]),
            nn.LeakyReLU(),
            nn.Conv2d(hidden[-1], out_channels=3, kernel_size=3, padding=1),
            nn.Tanh(),
        )

    def encode(self, input: torch.Tensor) -> list[torch.Tensor]:  # noqa: A002 (as the original)
        result = torch.flatten(self.encoder(input), start_dim=1)
        return [self.fc_mu(result), self.fc_var(result)]

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        result = self.decoder_input(z).view(-1, self.last, 4, 4)
        return self.final_layer(self.decoder(result))

    def reparameterize(self, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
        std = torch.exp(0.5 * logvar)
        eps = torch.randn_like(std)
        return eps * std + mu

    def forward(self, input: torch.Tensor) -> tuple[torch.Tensor, ...]:  # noqa: A002
        mu, log_var = self.encode(input)
        z = self.reparameterize(mu, log_var)
        return self.decode(z), input, mu, log_var


class conv_block(nn.Module):
    def __init__(self, ch_in: int, ch_out: int) -> None:
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(ch_in, ch_out, kernel_size=3, stride=1, padding=1, bias=True),
            nn.BatchNorm2d(ch_out),
            nn.ReLU(inplace=True),
            nn.Conv2d(ch_out, ch_out, kernel_size=3, stride=1, padding=1, bias=True),
            nn.BatchNorm2d(ch_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class up_conv(nn.Module):
    def __init__(self, ch_in: int, ch_out: int) -> None:
        super().__init__()
        self.up = nn.Sequential(
            nn.Upsample(scale_factor=2),
            nn.Conv2d(ch_in, ch_out, kernel_size=3, stride=1, padding=1, bias=True),
            nn.BatchNorm2d(ch_out),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.up(x)


class Attention_block(nn.Module):
    """The additive attention gate: psi(relu(W_g g + W_x x)) scales the skip x."""

    def __init__(self, F_g: int, F_l: int, F_int: int) -> None:
        super().__init__()
        self.W_g = nn.Sequential(nn.Conv2d(F_g, F_int, 1, bias=True), nn.BatchNorm2d(F_int))
        self.W_x = nn.Sequential(nn.Conv2d(F_l, F_int, 1, bias=True), nn.BatchNorm2d(F_int))
        self.psi = nn.Sequential(nn.Conv2d(F_int, 1, 1, bias=True), nn.BatchNorm2d(1), nn.Sigmoid())
        self.relu = nn.ReLU(inplace=True)

    def forward(self, g: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        psi = self.relu(self.W_g(g) + self.W_x(x))
        return x * self.psi(psi)


class AttU_Net(nn.Module):
    """LeeJunHyun/Image_Segmentation's AttU_Net, three levels, widths 4, 8, 16."""

    def __init__(self, img_ch: int = 3, output_ch: int = 1, base: int = 4) -> None:
        super().__init__()
        self.Maxpool = nn.MaxPool2d(kernel_size=2, stride=2)
        self.Conv1 = conv_block(img_ch, base)
        self.Conv2 = conv_block(base, base * 2)
        self.Conv3 = conv_block(base * 2, base * 4)
        self.Up3 = up_conv(base * 4, base * 2)
        self.Att3 = Attention_block(base * 2, base * 2, base)
        self.Up_conv3 = conv_block(base * 4, base * 2)
        self.Up2 = up_conv(base * 2, base)
        self.Att2 = Attention_block(base, base, base // 2)
        self.Up_conv2 = conv_block(base * 2, base)
        self.Conv_1x1 = nn.Conv2d(base, output_ch, kernel_size=1, stride=1, padding=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.Conv1(x)
        x2 = self.Conv2(self.Maxpool(x1))
        x3 = self.Conv3(self.Maxpool(x2))
        d3 = self.Up3(x3)
        x2 = self.Att3(g=d3, x=x2)
        d3 = self.Up_conv3(torch.cat((x2, d3), dim=1))
        d2 = self.Up2(d3)
        x1 = self.Att2(g=d2, x=x1)
        d2 = self.Up_conv2(torch.cat((x1, d2), dim=1))
        return self.Conv_1x1(d2)


class FiLM(nn.Module):
    """ethanjperez/film's FiLM: gammas * x + betas, each (N, C) over the map."""

    def forward(self, x: torch.Tensor, gammas: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        gammas = gammas.unsqueeze(2).unsqueeze(3).expand_as(x)
        betas = betas.unsqueeze(2).unsqueeze(3).expand_as(x)
        return (gammas * x) + betas


class FiLMedResBlock(nn.Module):
    """film's FiLMedResBlock (no coordinate maps, batch norm without affine, FiLM after it)."""

    def __init__(self, in_dim: int, out_dim: int) -> None:
        super().__init__()
        self.input_proj = nn.Conv2d(in_dim, in_dim, kernel_size=1)
        self.conv1 = nn.Conv2d(in_dim, out_dim, kernel_size=3, padding=1)
        self.bn1 = nn.BatchNorm2d(out_dim, affine=False)
        self.film = FiLM()

    def forward(self, x: torch.Tensor, gammas: torch.Tensor, betas: torch.Tensor) -> torch.Tensor:
        x = nn.functional.relu(self.input_proj(x))
        out = self.bn1(self.conv1(x))
        out = nn.functional.relu(self.film(out, gammas, betas))
        return x + out


class FiLMNet(nn.Module):
    """A stem, a linear FiLM generator of the conditioning vector, FiLMed blocks, a head."""

    def __init__(self, cond_dim: int = 16, dim: int = 8, num_blocks: int = 2,
                 num_answers: int = 5) -> None:  # fmt: skip
        super().__init__()
        self.dim, self.num_blocks = dim, num_blocks
        self.stem = nn.Sequential(nn.Conv2d(3, dim, 3, padding=1), nn.BatchNorm2d(dim),
                                  nn.ReLU(inplace=True))  # fmt: skip
        self.film_generator = nn.Linear(cond_dim, num_blocks * 2 * dim)
        self.res_blocks = nn.ModuleList(FiLMedResBlock(dim, dim) for _ in range(num_blocks))
        self.classifier = nn.Sequential(
            nn.Conv2d(dim, 16, 1), nn.BatchNorm2d(16), nn.ReLU(inplace=True),
            nn.AdaptiveMaxPool2d(1), Flatten(), nn.Linear(16, 32), nn.BatchNorm1d(32),
            nn.ReLU(inplace=True), nn.Linear(32, num_answers),
        )  # fmt: skip

    def forward(self, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        feats = self.stem(x)
        film = self.film_generator(q).view(q.size(0), self.num_blocks, 2 * self.dim)
        gammas, betas = torch.split(film, self.dim, dim=-1)
        for i, block in enumerate(self.res_blocks):
            feats = block(feats, gammas[:, i, :], betas[:, i, :])
        return self.classifier(feats)


class NONLocalBlock2D(nn.Module):
    """AlexHex7/Non-local_pytorch's embedded-Gaussian _NonLocalBlockND, 2-d, sub_sample and
    bn_layer on (one max pool module shared by g and phi)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.inter_channels = in_channels // 2
        max_pool_layer = nn.MaxPool2d(kernel_size=(2, 2))
        self.g = nn.Conv2d(in_channels, self.inter_channels, 1, 1, 0)
        self.W = nn.Sequential(
            nn.Conv2d(self.inter_channels, in_channels, 1, 1, 0), nn.BatchNorm2d(in_channels)
        )
        nn.init.constant_(self.W[1].weight, 0)
        nn.init.constant_(self.W[1].bias, 0)
        self.theta = nn.Conv2d(in_channels, self.inter_channels, 1, 1, 0)
        self.phi = nn.Conv2d(in_channels, self.inter_channels, 1, 1, 0)
        self.g = nn.Sequential(self.g, max_pool_layer)
        self.phi = nn.Sequential(self.phi, max_pool_layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch_size = x.size(0)
        g_x = self.g(x).view(batch_size, self.inter_channels, -1).permute(0, 2, 1)
        theta_x = self.theta(x).view(batch_size, self.inter_channels, -1).permute(0, 2, 1)
        phi_x = self.phi(x).view(batch_size, self.inter_channels, -1)
        f_div_C = nn.functional.softmax(torch.matmul(theta_x, phi_x), dim=-1)
        y = torch.matmul(f_div_C, g_x).permute(0, 2, 1).contiguous()
        y = y.view(batch_size, self.inter_channels, *x.size()[2:])
        return self.W(y) + x


class NonLocalNet(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
            NONLocalBlock2D(16),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(),
        )  # fmt: skip
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(self.features(x)), 1))


class GraphAttentionLayer(nn.Module):
    """Diego999/pyGAT's layers.py GraphAttentionLayer."""

    def __init__(self, in_features: int, out_features: int, dropout: float, alpha: float,
                 concat: bool = True) -> None:  # fmt: skip
        super().__init__()
        self.dropout = dropout
        self.in_features = in_features
        self.out_features = out_features
        self.alpha = alpha
        self.concat = concat
        self.W = nn.Parameter(torch.empty(size=(in_features, out_features)))
        nn.init.xavier_uniform_(self.W.data, gain=1.414)
        self.a = nn.Parameter(torch.empty(size=(2 * out_features, 1)))
        nn.init.xavier_uniform_(self.a.data, gain=1.414)
        self.leakyrelu = nn.LeakyReLU(self.alpha)

    def forward(self, h: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        Wh = torch.mm(h, self.W)
        e = self._prepare_attentional_mechanism_input(Wh)
        zero_vec = -9e15 * torch.ones_like(e)
        attention = torch.where(adj > 0, e, zero_vec)
        attention = nn.functional.softmax(attention, dim=1)
        attention = nn.functional.dropout(attention, self.dropout, training=self.training)
        h_prime = torch.matmul(attention, Wh)
        return nn.functional.elu(h_prime) if self.concat else h_prime

    def _prepare_attentional_mechanism_input(self, Wh: torch.Tensor) -> torch.Tensor:
        Wh1 = torch.matmul(Wh, self.a[: self.out_features, :])
        Wh2 = torch.matmul(Wh, self.a[self.out_features :, :])
        return self.leakyrelu(Wh1 + Wh2.T)


class GAT(nn.Module):
    """pyGAT's models.py GAT: heads concatenated, one output head, log-softmax."""

    def __init__(self, nfeat: int = 12, nhid: int = 8, nclass: int = 3, dropout: float = 0.6,
                 alpha: float = 0.2, nheads: int = 2) -> None:  # fmt: skip
        super().__init__()
        self.dropout = dropout
        self.attentions = [
            GraphAttentionLayer(nfeat, nhid, dropout=dropout, alpha=alpha, concat=True)
            for _ in range(nheads)
        ]
        for i, attention in enumerate(self.attentions):
            self.add_module(f"attention_{i}", attention)
        self.out_att = GraphAttentionLayer(nhid * nheads, nclass, dropout=dropout, alpha=alpha,
                                           concat=False)  # fmt: skip

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        x = nn.functional.dropout(x, self.dropout, training=self.training)
        x = torch.cat([att(x, adj) for att in self.attentions], dim=1)
        x = nn.functional.dropout(x, self.dropout, training=self.training)
        x = nn.functional.elu(self.out_att(x, adj))
        return nn.functional.log_softmax(x, dim=1)


class MoE(nn.Module):
    """A dense mixture of experts as tutorials write it: every expert runs, a softmax gate
    weighs their stacked outputs."""

    def __init__(
        self, d: int = 16, num_experts: int = 4, hidden: int = 32, num_out: int = 5
    ) -> None:
        super().__init__()
        self.experts = nn.ModuleList(
            nn.Sequential(nn.Linear(d, hidden), nn.ReLU(), nn.Linear(hidden, d))
            for _ in range(num_experts)
        )
        self.gate = nn.Linear(d, num_experts)
        self.head = nn.Linear(d, num_out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weights = nn.functional.softmax(self.gate(x), dim=-1)
        outs = torch.stack([expert(x) for expert in self.experts], dim=1)
        return self.head((weights.unsqueeze(-1) * outs).sum(dim=1))
