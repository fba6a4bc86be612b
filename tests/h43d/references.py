"""The networks of tests/h43d written by hand in plain PyTorch, as their public repos write
them (each class names its source), at the small widths of the specs."""

# ruff: noqa: E741  (the Set Transformer's MAB names its output `O`, kept as written)

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class NBeatsBlock(nn.Module):
    """ElementAI's N-BEATS `NBeatsBlock` with its `GenericBasis` (nbeats/models/nbeats.py)."""

    def __init__(
        self,
        input_size: int,
        theta_size: int,
        layers: int,
        layer_size: int,
        backcast_size: int,
        forecast_size: int,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            [nn.Linear(input_size, layer_size)]
            + [nn.Linear(layer_size, layer_size) for _ in range(layers - 1)]
        )
        self.basis_parameters = nn.Linear(layer_size, theta_size)
        self.backcast_size, self.forecast_size = backcast_size, forecast_size

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        block_input = x
        for layer in self.layers:
            block_input = torch.relu(layer(block_input))
        theta = self.basis_parameters(block_input)
        return theta[:, : self.backcast_size], theta[:, -self.forecast_size :]


class NBeats(nn.Module):
    """ElementAI's `NBeats`: residuals read newest first, forecasts summed."""

    def __init__(
        self,
        lookback: int = 12,
        horizon: int = 4,
        blocks: int = 3,
        layers: int = 4,
        layer_size: int = 32,
    ) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            NBeatsBlock(lookback, lookback + horizon, layers, layer_size, lookback, horizon)
            for _ in range(blocks)
        )

    def forward(self, x: torch.Tensor, input_mask: torch.Tensor) -> torch.Tensor:
        residuals = x.flip(dims=(1,))
        input_mask = input_mask.flip(dims=(1,))
        forecast = x[:, -1:]
        for block in self.blocks:
            backcast, block_forecast = block(residuals)
            residuals = (residuals - backcast) * input_mask
            forecast = forecast + block_forecast
        return forecast


class NCF(nn.Module):
    """guoyang9/NCF's model.py, NeuMF-end (no pretraining)."""

    def __init__(
        self,
        user_num: int = 50,
        item_num: int = 80,
        factor_num: int = 8,
        num_layers: int = 3,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.dropout = dropout
        self.embed_user_GMF = nn.Embedding(user_num, factor_num)
        self.embed_item_GMF = nn.Embedding(item_num, factor_num)
        self.embed_user_MLP = nn.Embedding(user_num, factor_num * (2 ** (num_layers - 1)))
        self.embed_item_MLP = nn.Embedding(item_num, factor_num * (2 ** (num_layers - 1)))
        MLP_modules = []
        for i in range(num_layers):
            input_size = factor_num * (2 ** (num_layers - i))
            MLP_modules.append(nn.Dropout(p=self.dropout))
            MLP_modules.append(nn.Linear(input_size, input_size // 2))
            MLP_modules.append(nn.ReLU())
        self.MLP_layers = nn.Sequential(*MLP_modules)
        self.predict_layer = nn.Linear(factor_num * 2, 1)

    def forward(self, user: torch.Tensor, item: torch.Tensor) -> torch.Tensor:
        output_GMF = self.embed_user_GMF(user) * self.embed_item_GMF(item)
        interaction = torch.cat((self.embed_user_MLP(user), self.embed_item_MLP(item)), -1)
        output_MLP = self.MLP_layers(interaction)
        concat = torch.cat((output_GMF, output_MLP), -1)
        prediction = self.predict_layer(concat)
        return prediction.view(-1)


class CrossNet(nn.Module):
    """DeepCTR-Torch's CrossNet, `parameterization="matrix"` (DCN-M,
    deepctr_torch/layers/interaction.py)."""

    def __init__(self, in_features: int, layer_num: int = 2) -> None:
        super().__init__()
        self.layer_num = layer_num
        self.kernels = nn.Parameter(torch.empty(layer_num, in_features, in_features))
        self.bias = nn.Parameter(torch.zeros(layer_num, in_features, 1))
        nn.init.xavier_normal_(self.kernels)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        x_0 = inputs.unsqueeze(2)
        x_l = x_0
        for i in range(self.layer_num):
            xl_w = torch.matmul(self.kernels[i], x_l)
            dot_ = xl_w + self.bias[i]
            x_l = x_0 * dot_ + x_l
        return torch.squeeze(x_l, dim=2)


class DCNv2(nn.Module):
    """DCN-V2, stacked: per-field embeddings and dense features, cross network, deep MLP."""

    def __init__(
        self,
        num_dense: int = 4,
        cards: tuple[int, ...] = (10, 20, 30),
        emb_dim: int = 4,
        cross_layers: int = 2,
        deep: tuple[int, ...] = (32, 16),
    ) -> None:
        super().__init__()
        self.embeddings = nn.ModuleList(nn.Embedding(c, emb_dim) for c in cards)
        d = num_dense + len(cards) * emb_dim
        self.crossnet = CrossNet(d, cross_layers)
        layers: list[nn.Module] = []
        for width in deep:
            layers += [nn.Linear(d, width), nn.ReLU()]
            d = width
        self.deep = nn.Sequential(*layers)
        self.head = nn.Linear(d, 1)

    def forward(self, dense: torch.Tensor, sparse: torch.Tensor) -> torch.Tensor:
        embs = [emb(sparse[:, i]) for i, emb in enumerate(self.embeddings)]
        x = torch.cat([dense, *embs], dim=1)
        return self.head(self.deep(self.crossnet(x)))


class GraphConvolution(nn.Module):
    """tkipf/pygcn's GraphConvolution (pygcn/layers.py), batched with matmul."""

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.empty(out_features))
        stdv = 1.0 / math.sqrt(out_features)
        self.weight.data.uniform_(-stdv, stdv)
        self.bias.data.uniform_(-stdv, stdv)

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        support = torch.matmul(x, self.weight)
        return torch.matmul(adj, support) + self.bias


class GCN(nn.Module):
    """tkipf/pygcn's GCN (pygcn/models.py), log-probabilities over the last dim."""

    def __init__(
        self, nfeat: int = 8, nhid: int = 16, nclass: int = 3, dropout: float = 0.5
    ) -> None:
        super().__init__()
        self.gc1 = GraphConvolution(nfeat, nhid)
        self.gc2 = GraphConvolution(nhid, nclass)
        self.dropout = dropout

    def forward(self, x: torch.Tensor, adj: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.gc1(x, adj))
        x = F.dropout(x, self.dropout, training=self.training)
        x = self.gc2(x, adj)
        return F.log_softmax(x, dim=-1)


class MAB(nn.Module):
    """juho-lee/set_transformer's MAB (modules.py)."""

    def __init__(
        self, dim_Q: int, dim_K: int, dim_V: int, num_heads: int, ln: bool = False
    ) -> None:
        super().__init__()
        self.dim_V = dim_V
        self.num_heads = num_heads
        self.fc_q = nn.Linear(dim_Q, dim_V)
        self.fc_k = nn.Linear(dim_K, dim_V)
        self.fc_v = nn.Linear(dim_K, dim_V)
        if ln:
            self.ln0 = nn.LayerNorm(dim_V)
            self.ln1 = nn.LayerNorm(dim_V)
        self.fc_o = nn.Linear(dim_V, dim_V)

    def forward(self, Q: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
        Q = self.fc_q(Q)
        K, V = self.fc_k(K), self.fc_v(K)
        dim_split = self.dim_V // self.num_heads
        Q_ = torch.cat(Q.split(dim_split, 2), 0)
        K_ = torch.cat(K.split(dim_split, 2), 0)
        V_ = torch.cat(V.split(dim_split, 2), 0)
        A = torch.softmax(Q_.bmm(K_.transpose(1, 2)) / math.sqrt(self.dim_V), 2)
        O = torch.cat((Q_ + A.bmm(V_)).split(Q.size(0), 0), 2)
        O = O if getattr(self, "ln0", None) is None else self.ln0(O)
        O = O + F.relu(self.fc_o(O))
        O = O if getattr(self, "ln1", None) is None else self.ln1(O)
        return O


class SAB(nn.Module):
    def __init__(self, dim_in: int, dim_out: int, num_heads: int, ln: bool = False) -> None:
        super().__init__()
        self.mab = MAB(dim_in, dim_in, dim_out, num_heads, ln=ln)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.mab(X, X)


class ISAB(nn.Module):
    def __init__(
        self, dim_in: int, dim_out: int, num_heads: int, num_inds: int, ln: bool = False
    ) -> None:
        super().__init__()
        self.I = nn.Parameter(torch.Tensor(1, num_inds, dim_out))
        nn.init.xavier_uniform_(self.I)
        self.mab0 = MAB(dim_out, dim_in, dim_out, num_heads, ln=ln)
        self.mab1 = MAB(dim_in, dim_out, dim_out, num_heads, ln=ln)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        H = self.mab0(self.I.repeat(X.size(0), 1, 1), X)
        return self.mab1(X, H)


class PMA(nn.Module):
    def __init__(self, dim: int, num_heads: int, num_seeds: int, ln: bool = False) -> None:
        super().__init__()
        self.S = nn.Parameter(torch.Tensor(1, num_seeds, dim))
        nn.init.xavier_uniform_(self.S)
        self.mab = MAB(dim, dim, dim, num_heads, ln=ln)

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.mab(self.S.repeat(X.size(0), 1, 1), X)


class SetTransformer(nn.Module):
    """juho-lee/set_transformer's SetTransformer (models.py)."""

    def __init__(
        self,
        dim_input: int = 3,
        num_outputs: int = 2,
        dim_output: int = 5,
        num_inds: int = 8,
        dim_hidden: int = 32,
        num_heads: int = 4,
        ln: bool = True,
    ) -> None:
        super().__init__()
        self.enc = nn.Sequential(
            ISAB(dim_input, dim_hidden, num_heads, num_inds, ln=ln),
            ISAB(dim_hidden, dim_hidden, num_heads, num_inds, ln=ln),
        )
        self.dec = nn.Sequential(
            PMA(dim_hidden, num_heads, num_outputs, ln=ln),
            SAB(dim_hidden, dim_hidden, num_heads, ln=ln),
            SAB(dim_hidden, dim_hidden, num_heads, ln=ln),
            nn.Linear(dim_hidden, dim_output),
        )

    def forward(self, X: torch.Tensor) -> torch.Tensor:
        return self.dec(self.enc(X))


class Conv(nn.Module):
    """princeton-vl/pytorch_stacked_hourglass's Conv (models/layers.py)."""

    def __init__(
        self,
        inp_dim: int,
        out_dim: int,
        kernel_size: int = 3,
        stride: int = 1,
        bn: bool = False,
        relu: bool = True,
    ) -> None:
        super().__init__()
        self.inp_dim = inp_dim
        self.conv = nn.Conv2d(
            inp_dim, out_dim, kernel_size, stride, padding=(kernel_size - 1) // 2, bias=True
        )
        self.relu = nn.ReLU() if relu else None
        self.bn = nn.BatchNorm2d(out_dim) if bn else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.size()[1] == self.inp_dim
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu is not None:
            x = self.relu(x)
        return x


class Residual(nn.Module):
    """Its Residual: skip_layer is made whatever the widths, called only where they differ."""

    def __init__(self, inp_dim: int, out_dim: int) -> None:
        super().__init__()
        self.relu = nn.ReLU()
        self.bn1 = nn.BatchNorm2d(inp_dim)
        self.conv1 = Conv(inp_dim, int(out_dim / 2), 1, relu=False)
        self.bn2 = nn.BatchNorm2d(int(out_dim / 2))
        self.conv2 = Conv(int(out_dim / 2), int(out_dim / 2), 3, relu=False)
        self.bn3 = nn.BatchNorm2d(int(out_dim / 2))
        self.conv3 = Conv(int(out_dim / 2), out_dim, 1, relu=False)
        self.skip_layer = Conv(inp_dim, out_dim, 1, relu=False)
        self.need_skip = inp_dim != out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = self.skip_layer(x) if self.need_skip else x
        out = self.conv1(self.relu(self.bn1(x)))
        out = self.conv2(self.relu(self.bn2(out)))
        out = self.conv3(self.relu(self.bn3(out)))
        out += residual
        return out


class Hourglass(nn.Module):
    """Its Hourglass, which holds a smaller one as `low2` while n > 1."""

    def __init__(self, n: int, f: int, increase: int = 0) -> None:
        super().__init__()
        nf = f + increase
        self.up1 = Residual(f, f)
        self.pool1 = nn.MaxPool2d(2, 2)
        self.low1 = Residual(f, nf)
        self.n = n
        self.low2 = Hourglass(n - 1, nf) if n > 1 else Residual(nf, nf)
        self.low3 = Residual(nf, f)
        self.up2 = nn.Upsample(scale_factor=2, mode="nearest")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        up1 = self.up1(x)
        low1 = self.low1(self.pool1(x))
        low3 = self.low3(self.low2(low1))
        return up1 + self.up2(low3)


class Merge(nn.Module):
    def __init__(self, x_dim: int, y_dim: int) -> None:
        super().__init__()
        self.conv = Conv(x_dim, y_dim, 1, relu=False, bn=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class PoseNet(nn.Module):
    """Its PoseNet (models/posenet.py) at small widths: the stem's 64 and 128 are 8 and 16."""

    def __init__(
        self,
        nstack: int = 2,
        inp_dim: int = 16,
        oup_dim: int = 4,
        depth: int = 2,
        increase: int = 0,
    ) -> None:
        super().__init__()
        self.nstack = nstack
        self.pre = nn.Sequential(
            Conv(3, 8, 7, 2, bn=True, relu=True),
            Residual(8, 16),
            nn.MaxPool2d(2, 2),
            Residual(16, 16),
            Residual(16, inp_dim),
        )
        self.hgs = nn.ModuleList(
            nn.Sequential(Hourglass(depth, inp_dim, increase)) for _ in range(nstack)
        )
        self.features = nn.ModuleList(
            nn.Sequential(Residual(inp_dim, inp_dim), Conv(inp_dim, inp_dim, 1, bn=True, relu=True))
            for _ in range(nstack)
        )
        self.outs = nn.ModuleList(
            Conv(inp_dim, oup_dim, 1, relu=False, bn=False) for _ in range(nstack)
        )
        self.merge_features = nn.ModuleList(Merge(inp_dim, inp_dim) for _ in range(nstack - 1))
        self.merge_preds = nn.ModuleList(Merge(oup_dim, inp_dim) for _ in range(nstack - 1))

    def forward(self, imgs: torch.Tensor) -> torch.Tensor:
        x = imgs.permute(0, 3, 1, 2)
        x = self.pre(x)
        combined_hm_preds = []
        for i in range(self.nstack):
            hg = self.hgs[i](x)
            feature = self.features[i](hg)
            preds = self.outs[i](feature)
            combined_hm_preds.append(preds)
            if i < self.nstack - 1:
                x = x + self.merge_preds[i](preds) + self.merge_features[i](feature)
        return torch.stack(combined_hm_preds, 1)
