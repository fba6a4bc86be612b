"""Networks written from the docs alone by the lead (session 36's new-user round), each
exact on its first or second try against its reference: a Wide ResNet as the common CIFAR
code writes it (pre-activation, the shortcut read after the first norm where the width
changes), torchaudio's M5 over raw audio (1-d convs, its input domain exact at the edge),
timm's Xception (a block's `rep` built from copies of three items, the first ReLU left out
by `when`, the shortcut registered first) and DPN-68 (the residual and dense paths cut from
one tensor by `split`s, a config table over the stages, keys `conv2_1` ...). The full-size
Xception and DPN-68 matched timm 1.0.31 (params 22,855,952 and 12,611,602, keys and outputs
equal); here they are checked at a small size against plain-torch twins of timm's code."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from tests.test_newuser_specs import _emitted
from tests.test_newuser_specs import _same as same

WRN = """\
archspec: 1
name: wrn
description: Wide ResNet (Zagoruyko & Komodakis, 2016) for CIFAR.
input: [N, 3, 32, 32]
params:
  depth: {type: int, default: 10}
  widen_factor: {type: int, default: 2}
  num_classes: {type: int, default: 10}
  drop_rate: {type: float, default: 0.3}
let:
  n: (depth - 4) // 6
blocks:
  BasicBlock:
    params: {out_planes: int, stride: int, drop: float}
    let: {equal: in_channels == out_planes}
    layers:
      - {name: bn1, type: batchnorm2d}
      - {name: relu1, type: relu, inplace: true}
      - {name: conv1, type: conv2d, out_channels: out_planes, kernel_size: 3, stride: stride,
         padding: 1, bias: false}
      - {name: bn2, type: batchnorm2d}
      - {name: relu2, type: relu, inplace: true}
      - {type: dropout, p: drop, when: drop > 0}
      - {name: conv2, type: conv2d, out_channels: out_planes, kernel_size: 3, padding: 1,
         bias: false}
      - {name: convShortcut, type: conv2d, from: relu1, out_channels: out_planes,
         kernel_size: 1, stride: stride, bias: false, when: not equal}
      - {name: out, type: add, from: [input, conv2], when: equal}
      - {name: out, type: add, from: [convShortcut, conv2], when: not equal}
    outputs: [out]
  NetworkBlock:
    params: {nb_layers: int, out_planes: int, stride: int, drop: float}
    layers:
      - name: layer
        type: repeat
        count: nb_layers
        layer: {type: BasicBlock, out_planes: out_planes, stride: "stride if i == 0 else 1",
          drop: drop}
layers:
  - {name: conv1, type: conv2d, out_channels: 16, kernel_size: 3, padding: 1, bias: false}
  - {name: block1, type: NetworkBlock, nb_layers: n, out_planes: 16 * widen_factor, stride: 1,
     drop: drop_rate}
  - {name: block2, type: NetworkBlock, nb_layers: n, out_planes: 32 * widen_factor, stride: 2,
     drop: drop_rate}
  - {name: block3, type: NetworkBlock, nb_layers: n, out_planes: 64 * widen_factor, stride: 2,
     drop: drop_rate}
  - {name: bn1, type: batchnorm2d}
  - {name: relu, type: relu, inplace: true}
  - {name: pool, type: avgpool2d, kernel_size: 8}
  - {name: flat, type: flatten}
  - {name: fc, type: linear, out_features: num_classes}
"""

M5 = """\
archspec: 1
name: m5
description: M5 (Dai et al., 2017).
input: [N, 1, 8000]
params:
  n_output: {type: int, default: 35}
  stride: {type: int, default: 16}
  n_channel: {type: int, default: 32}
layers:
  - {name: conv1, type: conv1d, out_channels: n_channel, kernel_size: 80, stride: stride}
  - {name: bn1, type: batchnorm1d}
  - {type: relu}
  - {name: pool1, type: maxpool1d, kernel_size: 4}
  - {name: conv2, type: conv1d, out_channels: n_channel, kernel_size: 3}
  - {name: bn2, type: batchnorm1d}
  - {type: relu}
  - {name: pool2, type: maxpool1d, kernel_size: 4}
  - {name: conv3, type: conv1d, out_channels: 2 * n_channel, kernel_size: 3}
  - {name: bn3, type: batchnorm1d}
  - {type: relu}
  - {name: pool3, type: maxpool1d, kernel_size: 4}
  - {name: conv4, type: conv1d, out_channels: 2 * n_channel, kernel_size: 3}
  - {name: bn4, type: batchnorm1d}
  - {type: relu}
  - {name: pool4, type: maxpool1d, kernel_size: 4}
  - {name: gap, type: adaptive_avgpool1d, output_size: 1}
  - {name: tokens, type: permute, dims: [0, 2, 1]}
  - {name: fc1, type: linear, out_features: n_output}
  - {name: out, type: log_softmax, dim: 2}
"""

XCEPTION = """\
archspec: 1
name: xception
description: Xception (Chollet, 2017) as timm's legacy_xception.
input: [N, 3, 299, 299]
params:
  num_classes: {type: int, default: 1000}
blocks:
  SeparableConv2d:
    params: {out: int, kernel_size: {type: int, default: 1}, stride: {type: int, default: 1},
      padding: {type: int, default: 0}}
    layers:
      - {name: conv1, type: conv2d, out_channels: in_channels, kernel_size: kernel_size,
         stride: stride,
         padding: padding, groups: in_channels, bias: false}
      - {name: pointwise, type: conv2d, out_channels: out, kernel_size: 1, bias: false}
  Block:
    params:
      out: int
      reps: int
      strides: {type: int, default: 1}
      start_with_relu: {type: bool, default: true}
      grow_first: {type: bool, default: true}
    let: {cin: in_channels}
    layers:
      - {name: skip, type: conv2d, from: input, out_channels: out, kernel_size: 1, stride: strides,
         bias: false, when: out != cin or strides != 1}
      - {name: skipbn, type: batchnorm2d, when: out != cin or strides != 1}
      - name: rep
        type: sequential
        from: input
        layers:
          - type: repeat
            count: reps
            flat: true
            layers:
              - {type: relu, inplace: "i > 0", when: "i > 0 or start_with_relu"}
              - {type: SeparableConv2d, kernel_size: 3, padding: 1,
                 out: "out if grow_first else (cin if i < reps - 1 else out)"}
              - {type: batchnorm2d}
          - {type: maxpool2d, kernel_size: 3, stride: strides, padding: 1, when: strides != 1}
      - {name: sum, type: add, from: [rep, skipbn], when: out != cin or strides != 1}
      - {name: sum, type: add, from: [rep, input], when: not (out != cin or strides != 1)}
    outputs: [sum]
layers:
  - {name: conv1, type: conv2d, out_channels: 32, kernel_size: 3, stride: 2, bias: false}
  - {name: bn1, type: batchnorm2d}
  - {name: act1, type: relu, inplace: true}
  - {name: conv2, type: conv2d, out_channels: 64, kernel_size: 3, bias: false}
  - {name: bn2, type: batchnorm2d}
  - {name: act2, type: relu, inplace: true}
  - {name: block1, type: Block, out: 128, reps: 2, strides: 2, start_with_relu: false}
  - {name: block2, type: Block, out: 256, reps: 2, strides: 2}
  - {name: block3, type: Block, out: 728, reps: 2, strides: 2}
  - type: repeat
    count: 8
    flat: true
    names: "block{i + 4}"
    layer: {type: Block, out: 728, reps: 3}
  - {name: block12, type: Block, out: 1024, reps: 2, strides: 2, grow_first: false}
  - {name: conv3, type: SeparableConv2d, out: 1536, kernel_size: 3, padding: 1}
  - {name: bn3, type: batchnorm2d}
  - {name: act3, type: relu, inplace: true}
  - {name: conv4, type: SeparableConv2d, out: 2048, kernel_size: 3, padding: 1}
  - {name: bn4, type: batchnorm2d}
  - {name: act4, type: relu, inplace: true}
  - {name: global_pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: flat, type: flatten}
  - {name: fc, type: linear, out_features: num_classes}
"""

DPN68 = """\
archspec: 1
name: dpn68
description: DPN-68 (Chen et al., 2017) as timm's dpn68.
input: [N, 3, 224, 224]
params:
  num_classes: {type: int, default: 1000}
  k_r: {type: int, default: 128}
  groups: {type: int, default: 32}
  k_sec: {type: list, default: [3, 4, 12, 3]}
  inc_sec: {type: list, default: [16, 32, 32, 64]}
blocks:
  BnActConv2d:
    params: {out: int, kernel_size: int, stride: {type: int, default: 1},
      groups: {type: int, default: 1}}
    layers:
      - {name: bn, type: batchnorm2d, eps: 0.001}
      - {type: activation, fn: relu}
      - {name: conv, type: conv2d, out_channels: out, kernel_size: kernel_size, stride: stride,
         padding: (kernel_size - 1) // 2, groups: groups, bias: false}
  DualPathBlock:
    params: {r: int, bw: int, inc: int, groups: int, block_type: str}
    let:
      key_stride: "2 if block_type == 'down' else 1"
    layers:
      - {name: c1x1_w_s1, type: BnActConv2d, out: bw + 2 * inc, kernel_size: 1,
         when: "block_type == 'proj'"}
      - {name: c1x1_w_s2, type: BnActConv2d, out: bw + 2 * inc, kernel_size: 1, stride: 2,
         from: input,
         when: "block_type == 'down'"}
      - {type: split, split_size: [bw, 2 * inc], names: [x_s1, x_s2],
         when: "block_type == 'proj'", from: c1x1_w_s1}
      - {type: split, split_size: [bw, 2 * inc], names: [x_s1, x_s2],
         when: "block_type == 'down'", from: c1x1_w_s2}
      - {type: split, split_size: [bw, in_channels - bw], names: [x_s1, x_s2],
         when: "block_type == 'normal'", from: input}
      - {name: c1x1_a, type: BnActConv2d, out: r, kernel_size: 1, from: input}
      - {name: c3x3_b, type: BnActConv2d, out: r, kernel_size: 3, stride: key_stride,
         groups: groups}
      - {name: c1x1_c, type: BnActConv2d, out: bw + inc, kernel_size: 1}
      - {type: split, split_size: [bw, inc], names: [out1, out2]}
      - {name: resid, type: add, from: [x_s1, out1]}
      - {name: out, type: concat, from: [resid, x_s2, out2]}
    outputs: [out]
layers:
  - name: features
    type: sequential
    layers:
      - name: conv1_1
        type: sequential
        layers:
          - {name: conv, type: conv2d, out_channels: 10, kernel_size: 3, stride: 2, padding: 1,
             bias: false}
          - {name: bn, type: batchnorm2d, eps: 0.001}
          - {type: activation, fn: relu}
      - {name: conv1_pool, type: maxpool2d, kernel_size: 3, stride: 2, padding: 1}
      - type: for_each
        rows: >-
          [[64, k_sec[0], inc_sec[0]], [128, k_sec[1], inc_sec[1]],
          [256, k_sec[2], inc_sec[2]], [512, k_sec[3], inc_sec[3]]]
        fields: [bw_base, depth, inc]
        row_index: s
        count: depth
        flat: true
        names: "conv{s + 2}_{i + 1}"
        layer:
          type: DualPathBlock
          r: k_r * bw_base // 64
          bw: bw_base
          inc: inc
          groups: groups
          block_type: "('proj' if s == 0 else 'down') if i == 0 else 'normal'"
      - name: conv5_bn_ac
        type: sequential
        layers:
          - {name: bn, type: batchnorm2d, eps: 0.001}
          - {type: activation, fn: relu}
  - {name: global_pool, type: adaptive_avgpool2d, output_size: 1}
  - {name: classifier, type: conv2d, out_channels: num_classes, kernel_size: 1}
  - {name: flatten, type: flatten}
"""


class _WrnBlock(nn.Module):
    """xternalz/WideResNet-pytorch's BasicBlock, as most CIFAR code copies it."""

    def __init__(self, cin: int, cout: int, stride: int, drop: float) -> None:
        super().__init__()
        self.bn1 = nn.BatchNorm2d(cin)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.drop = drop
        self.equal = cin == cout
        self.convShortcut = None if self.equal else nn.Conv2d(cin, cout, 1, stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.equal:
            x = self.relu1(self.bn1(x))
            out = x
        else:
            out = self.relu1(self.bn1(x))
        out = self.relu2(self.bn2(self.conv1(out)))
        out = F.dropout(out, p=self.drop, training=self.training)
        out = self.conv2(out)
        return (x if self.equal else self.convShortcut(x)) + out


class _Wrn(nn.Module):
    def __init__(self, depth: int = 10, k: int = 2, drop: float = 0.3) -> None:
        super().__init__()
        n, widths = (depth - 4) // 6, [16, 16 * k, 32 * k, 64 * k]
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        for b, stride in zip((1, 2, 3), (1, 2, 2)):
            group = nn.Module()
            group.layer = nn.Sequential(
                *[
                    _WrnBlock(
                        widths[b - 1] if i == 0 else widths[b],
                        widths[b],
                        stride if i == 0 else 1,
                        drop,
                    )
                    for i in range(n)
                ]
            )
            setattr(self, f"block{b}", group)
        self.bn1 = nn.BatchNorm2d(widths[3])
        self.relu = nn.ReLU(inplace=True)
        self.fc = nn.Linear(widths[3], 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        for b in (self.block1, self.block2, self.block3):
            out = b.layer(out)
        out = F.avg_pool2d(self.relu(self.bn1(out)), 8)
        return self.fc(out.view(out.size(0), -1))


def test_a_wide_resnet_as_cifar_code_writes_it() -> None:
    x = torch.randn(2, 3, 32, 32)
    same(archspec.compile(WRN), _Wrn(), x)
    same(_emitted(WRN, "Wrn"), _Wrn(), x)
    report = archspec.check(WRN)
    assert report.domain_text == "wrn accepts (N, 3, H, W) with 29 <= H <= 60 and 29 <= W <= 60"


class _M5(nn.Module):
    """torchaudio's tutorial M5, functional ReLUs and a pool over the whole length."""

    def __init__(self) -> None:
        super().__init__()
        c = 32
        for i, (cin, cout, k, s) in enumerate(
            [(1, c, 80, 16), (c, c, 3, 1), (c, 2 * c, 3, 1), (2 * c, 2 * c, 3, 1)], start=1
        ):
            setattr(self, f"conv{i}", nn.Conv1d(cin, cout, k, stride=s))
            setattr(self, f"bn{i}", nn.BatchNorm1d(cout))
            setattr(self, f"pool{i}", nn.MaxPool1d(4))
        self.fc1 = nn.Linear(2 * c, 35)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i in range(1, 5):
            x = getattr(self, f"pool{i}")(
                F.relu(getattr(self, f"bn{i}")(getattr(self, f"conv{i}")(x)))
            )
        x = F.avg_pool1d(x, x.shape[-1]).permute(0, 2, 1)
        return F.log_softmax(self.fc1(x), dim=2)


def test_m5_over_raw_audio_and_its_shortest_input() -> None:
    for length in (8000, 6848):
        same(archspec.compile(M5), _M5(), torch.randn(2, 1, length))
    assert archspec.check(M5).domain_text == "m5 accepts (N, 1, L) with L >= 6848"
    report = archspec.check(M5, input=(1, 1, 6847))
    assert not report.ok and report.errors[0].code == "E405"
    with pytest.raises(RuntimeError):  # torch refuses it too
        _M5()(torch.randn(1, 1, 6847))


class _Sep(nn.Module):
    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cin, 3, 1, 1, groups=cin, bias=False)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.conv1(x))


class _XBlock(nn.Module):
    """timm's xception.Block: `rep` a list of (ReLU, separable conv, BN) per rep, the first
    ReLU dropped (`rep[1:]`) or made out of place, the skip registered before `rep`."""

    def __init__(
        self,
        cin: int,
        cout: int,
        reps: int,
        strides: int = 1,
        start_with_relu: bool = True,
        grow_first: bool = True,
    ) -> None:
        super().__init__()
        self.skip = None
        if cout != cin or strides != 1:
            self.skip = nn.Conv2d(cin, cout, 1, stride=strides, bias=False)
            self.skipbn = nn.BatchNorm2d(cout)
        rep: list[nn.Module] = []
        for i in range(reps):
            inc, outc = (
                (cin if i == 0 else cout, cout)
                if grow_first
                else (cin, cin if i < reps - 1 else cout)
            )
            rep += [nn.ReLU(inplace=True), _Sep(inc, outc), nn.BatchNorm2d(outc)]
        rep = rep[1:] if not start_with_relu else [nn.ReLU(inplace=False), *rep[1:]]
        if strides != 1:
            rep.append(nn.MaxPool2d(3, strides, 1))
        self.rep = nn.Sequential(*rep)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skip = x if self.skip is None else self.skipbn(self.skip(x))
        return self.rep(x) + skip


class _Xception(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.bn1, self.act1 = (
            nn.Conv2d(3, 32, 3, 2, 0, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
        )
        self.conv2, self.bn2, self.act2 = (
            nn.Conv2d(32, 64, 3, bias=False),
            nn.BatchNorm2d(64),
            nn.ReLU(inplace=True),
        )
        self.block1 = _XBlock(64, 128, 2, 2, start_with_relu=False)
        self.block2 = _XBlock(128, 256, 2, 2)
        self.block3 = _XBlock(256, 728, 2, 2)
        for i in range(4, 12):
            setattr(self, f"block{i}", _XBlock(728, 728, 3, 1))
        self.block12 = _XBlock(728, 1024, 2, 2, grow_first=False)
        self.conv3, self.bn3, self.act3 = (
            _Sep(1024, 1536),
            nn.BatchNorm2d(1536),
            nn.ReLU(inplace=True),
        )
        self.conv4, self.bn4, self.act4 = (
            _Sep(1536, 2048),
            nn.BatchNorm2d(2048),
            nn.ReLU(inplace=True),
        )
        self.fc = nn.Linear(2048, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act2(self.bn2(self.conv2(self.act1(self.bn1(self.conv1(x))))))
        for i in range(1, 13):
            x = getattr(self, f"block{i}")(x)
        x = self.act4(self.bn4(self.conv4(self.act3(self.bn3(self.conv3(x))))))
        return self.fc(x.mean((2, 3)))


def test_xception_as_timm_writes_its_blocks() -> None:
    ours = archspec.compile(XCEPTION)
    assert sum(p.numel() for p in ours.parameters()) == 22_855_952  # timm's legacy_xception
    same(ours, _Xception(), torch.randn(1, 3, 71, 71))
    assert archspec.check(XCEPTION).domain_text == "xception accepts (N, 3, H, W) with H, W >= 7"


class _BnActConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(cin, eps=0.001)
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.relu(self.bn(x)))


class _DualPath(nn.Module):
    """timm's dpn.DualPathBlock (b=False): the residual and dense paths are one tensor."""

    def __init__(self, cin: int, r: int, bw: int, inc: int, groups: int, block_type: str) -> None:
        super().__init__()
        self.bw, stride = bw, 2 if block_type == "down" else 1
        if block_type != "normal":
            proj = _BnActConv(cin, bw + 2 * inc, 1, stride)
            setattr(self, "c1x1_w_s2" if stride == 2 else "c1x1_w_s1", proj)
        self.proj_name = {"proj": "c1x1_w_s1", "down": "c1x1_w_s2"}.get(block_type)
        self.c1x1_a = _BnActConv(cin, r, 1)
        self.c3x3_b = _BnActConv(r, r, 3, stride, groups)
        self.c1x1_c = _BnActConv(r, bw + inc, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_s = x if self.proj_name is None else getattr(self, self.proj_name)(x)
        x = self.c1x1_c(self.c3x3_b(self.c1x1_a(x)))
        return torch.cat(
            [x_s[:, : self.bw] + x[:, : self.bw], x_s[:, self.bw :], x[:, self.bw :]], 1
        )


class _Dpn(nn.Module):
    def __init__(self, k_r: int, groups: int, k_sec: list[int], inc_sec: list[int]) -> None:
        super().__init__()
        blocks: dict[str, nn.Module] = {}
        blocks["conv1_1"] = nn.Sequential()
        blocks["conv1_1"].add_module("conv", nn.Conv2d(3, 10, 3, 2, 1, bias=False))
        blocks["conv1_1"].add_module("bn", nn.BatchNorm2d(10, eps=0.001))
        blocks["conv1_1"].add_module("act", nn.ReLU())
        blocks["conv1_pool"] = nn.MaxPool2d(3, 2, 1)
        cin = 10
        for s, (bw, depth, inc) in enumerate(zip((64, 128, 256, 512), k_sec, inc_sec)):
            r = k_r * bw // 64
            blocks[f"conv{s + 2}_1"] = _DualPath(
                cin, r, bw, inc, groups, "proj" if s == 0 else "down"
            )
            cin = bw + 3 * inc
            for j in range(2, depth + 1):
                blocks[f"conv{s + 2}_{j}"] = _DualPath(cin, r, bw, inc, groups, "normal")
                cin += inc
        blocks["conv5_bn_ac"] = nn.Sequential()
        blocks["conv5_bn_ac"].add_module("bn", nn.BatchNorm2d(cin, eps=0.001))
        blocks["conv5_bn_ac"].add_module("act", nn.ReLU())
        self.features = nn.Sequential()
        for k, v in blocks.items():
            self.features.add_module(k, v)
        self.classifier = nn.Conv2d(cin, 1000, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1)
        return torch.flatten(self.classifier(x), 1)


def _small(text: str) -> str:
    """DPN68 with small defaults (the emitted class builds its defaults)."""
    for old, new in [
        ("k_r: {type: int, default: 128}", "k_r: {type: int, default: 32}"),
        ("groups: {type: int, default: 32}", "groups: {type: int, default: 8}"),
        ("default: [3, 4, 12, 3]}", "default: [1, 2, 1, 2]}"),
        ("default: [16, 32, 32, 64]}", "default: [8, 8, 16, 16]}"),
    ]:
        assert old in text
        text = text.replace(old, new)
    return text


def test_dpn_cuts_its_two_paths_from_one_tensor() -> None:
    assert sum(p.numel() for p in archspec.compile(DPN68).parameters()) == 12_611_602  # timm's
    small = _small(DPN68)
    ref = _Dpn(k_r=32, groups=8, k_sec=[1, 2, 1, 2], inc_sec=[8, 8, 16, 16])
    same(archspec.compile(small), ref, torch.randn(2, 3, 33, 33))
    same(_emitted(small, "Dpn68"), ref, torch.randn(1, 3, 64, 64))
