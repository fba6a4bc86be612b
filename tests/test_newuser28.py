"""Networks written from the docs alone by session 28's new user, against references written
here in plain torch: what they needed. PointNet's T-Net adds `torch.eye(3)` to its learned
transform (no buffer fill made an identity), and its classifier registers `fc1, fc2, fc3,
dropout, bn1, bn2` while calling them interleaved (`register_order:` was a block's field only,
so the network's own order had no form). A BiFPN node adds an upsampled map to a lateral one,
an either-or E402 whose hint did not name the resize that holds for every size. milesial's
U-Net pads each upsampled map to its skip by the sizes' difference (F.pad in forward), which no
kind did: the spec held only for sizes every pool divides."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import archspec
from tests.test_newuser_specs import _emitted, _spec
from tests.test_newuser_specs import _same as _same_outputs


def _same(ours: nn.Module, ref: nn.Module, x: torch.Tensor) -> None:
    """test_newuser_specs' comparison (keys, shapes and order; strict loads both ways; equal
    eval outputs), and equal parameter counts."""
    _same_outputs(ours, ref, x)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


# PointNet (fxia22/pointnet.pytorch), its widths divided by 16
POINTNET = _spec(
    "pointnet_cls",
    """
    input: [N, 3, P]
    blocks:
      STN3d:
        register_order: [conv1, conv2, fc1, fc2, relu, bn1, bn2, bn3]
        layers:
          - {name: conv1, type: conv1d, out_channels: 8, kernel_size: 1}
          - {name: bn1, type: batchnorm1d}
          - {name: relu, type: relu}
          - {name: conv2, type: conv1d, out_channels: 64, kernel_size: 1}
          - {name: bn2, type: batchnorm1d}
          - {name: relu2, type: reuse, node: relu}
          - {name: pooled, type: amax, dim: [2]}
          - {name: fc1, type: linear, out_features: 32}
          - {name: bn3, type: batchnorm1d}
          - {name: relu3, type: reuse, node: relu}
          - {name: fc2, type: linear, out_features: 9}
          - {name: iden, type: buffer, shape: [3, 3], fill: eye, persistent: false}
          - {name: matrix, type: reshape, shape: [-1, 3, 3], from: fc2}
          - {name: trans, type: add, from: [matrix, iden]}
      Feat:
        register_order: [stn, conv1, conv2, bn1, bn2]
        layers:
          - {name: stn, type: STN3d}
          - {name: points, type: permute, dims: [0, 2, 1], from: input}
          - {name: moved, type: matmul, from: [points, stn]}
          - {name: back, type: permute, dims: [0, 2, 1]}
          - {name: conv1, type: conv1d, out_channels: 8, kernel_size: 1}
          - {name: bn1, type: batchnorm1d}
          - {name: relu1, type: activation, fn: relu}
          - {name: conv2, type: conv1d, out_channels: 64, kernel_size: 1}
          - {name: bn2, type: batchnorm1d}
          - {name: pooled, type: amax, dim: [2]}
    register_order: [feat, fc1, fc2, dropout, bn1]
    layers:
      - {name: feat, type: Feat}
      - {name: fc1, type: linear, out_features: 32}
      - {name: bn1, type: batchnorm1d}
      - {name: act1, type: activation, fn: relu}
      - {name: fc2, type: linear, out_features: 10}
      - {name: dropout, type: dropout, p: 0.3}
      - {name: out, type: log_softmax, dim: 1}
    """,
)


class _STN3d(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.conv2 = nn.Conv1d(3, 8, 1), nn.Conv1d(8, 64, 1)
        self.fc1, self.fc2 = nn.Linear(64, 32), nn.Linear(32, 9)
        self.relu = nn.ReLU()
        self.bn1, self.bn2, self.bn3 = nn.BatchNorm1d(8), nn.BatchNorm1d(64), nn.BatchNorm1d(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))))
        x = torch.max(x, 2, keepdim=True)[0].view(-1, 64)
        x = self.fc2(self.relu(self.bn3(self.fc1(x))))
        iden = torch.eye(3, dtype=x.dtype).flatten().view(1, 9).repeat(x.shape[0], 1)
        return (x + iden).view(-1, 3, 3)


class _Feat(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stn = _STN3d()
        self.conv1, self.conv2 = nn.Conv1d(3, 8, 1), nn.Conv1d(8, 64, 1)
        self.bn1, self.bn2 = nn.BatchNorm1d(8), nn.BatchNorm1d(64)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        trans = self.stn(x)
        x = torch.bmm(x.transpose(2, 1), trans).transpose(2, 1)
        x = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        return torch.max(x, 2, keepdim=True)[0].view(-1, 64)


class _PointNetCls(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.feat = _Feat()
        self.fc1, self.fc2 = nn.Linear(64, 32), nn.Linear(32, 10)
        self.dropout = nn.Dropout(p=0.3)
        self.bn1 = nn.BatchNorm1d(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.bn1(self.fc1(self.feat(x))))
        return F.log_softmax(self.fc2(self.dropout(x)), dim=1)


@pytest.mark.parametrize("built", ["compiled", "emitted"])
def test_pointnet_with_an_identity_buffer_and_the_network_s_own_register_order(
    built: str,
) -> None:
    ours = archspec.compile(POINTNET) if built == "compiled" else _emitted(POINTNET, "PointnetCls")
    assert list(ours._modules)[:5] == ["feat", "fc1", "fc2", "dropout", "bn1"]
    _same(ours, _PointNetCls(), torch.randn(4, 3, 37))


def test_the_network_s_register_order_is_checked_as_a_block_s() -> None:
    text = _spec(
        "ro",
        """
        input: [N, 4]
        register_order: [b, nope, b]
        layers:
          - {name: a, type: linear, out_features: 4}
          - {name: b, type: linear, out_features: 4}
        """,
    )
    errors = archspec.check(text).errors
    assert [e.code for e in errors] == ["E305"] * 2
    assert "`nope`, which is no module or tensor of this network" in errors[0].message
    assert (errors[0].span.line, errors[0].span.col) == (4, 21)
    assert "twice" in errors[1].message
    # a chain registered in another order is no longer refused: a class of its own (h42c)
    reordered = archspec.compile(text.replace("[b, nope, b]", "[b, a]"))
    assert list(reordered.state_dict())[:2] == ["b.weight", "b.bias"]


def test_an_extending_spec_s_register_order_replaces_the_base_s(tmp_path) -> None:
    base = _spec(
        "base",
        """
        input: [N, 4]
        register_order: [b, a]
        layers:
          - {name: a, type: linear, out_features: 4}
          - {name: act, type: activation, fn: relu}
          - {name: b, type: linear, out_features: 4}
        """,
    )
    (tmp_path / "base.yaml").write_text(base)
    (tmp_path / "child.yaml").write_text(
        "archspec: 1\nextends: base.yaml\nname: child\nregister_order: [a, b]\n"
    )
    assert list(archspec.compile(str(tmp_path / "base.yaml"), device="meta")._modules) == [
        "b",
        "a",
    ]
    assert list(archspec.compile(str(tmp_path / "child.yaml"), device="meta")._modules) == [
        "a",
        "b",
    ]


@pytest.mark.parametrize("shape", [[3, 3], [2, 3], [4, 2], [2, 2, 3], [1, 1]])
def test_an_eye_buffer_is_torch_eye_over_its_last_two_dims(shape: list[int]) -> None:
    text = _spec(
        "eyes",
        f"""
        input: [N, 4]
        layers:
          - {{name: e, type: buffer, shape: {shape}, fill: eye}}
        """,
    )
    expected = torch.eye(shape[-2], shape[-1]).expand(shape)
    assert torch.equal(archspec.compile(text).e, expected)
    assert torch.equal(_emitted(text, "Eyes").e, expected)


def test_an_eye_buffer_of_one_dim_is_refused_at_its_shape() -> None:
    text = _spec(
        "eye1",
        """
        input: [N, 4]
        layers:
          - {name: e, type: buffer, shape: [3], fill: eye}
        """,
    )
    (err,) = archspec.check(text).errors
    assert err.code == "E409" and "two dims or more" in err.message
    assert (err.span.line, err.span.col) == (5, 36)  # the shape


def test_an_int64_eye_holds_zeros_and_ones_for_an_embedding() -> None:
    """An embedding looking up an int64 identity needs the rows 0 and 1."""
    text = _spec(
        "eye_ids",
        """
        input: [N, 4]
        layers:
          - {name: ids, type: buffer, shape: [3, 3], fill: eye, dtype: int64}
          - {name: emb, type: embedding, num_embeddings: ROWS, embedding_dim: 2,
             from: ids}
        """,
    )
    assert archspec.check(text.replace("ROWS", "2")).ok
    (err,) = archspec.check(text.replace("ROWS", "1")).errors
    assert err.code == "E409"


def test_a_non_persistent_identity_buffer_imports_as_an_eye_buffer() -> None:
    class Transform(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 9)
            self.register_buffer("iden", torch.eye(3), persistent=False)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.fc(x).view(-1, 3, 3) + self.iden

    model = Transform().eval()
    text = archspec.from_module(model, torch.randn(2, 4))
    assert "fill: eye" in text
    ours = archspec.compile(text).eval()
    ours.load_state_dict(model.state_dict())
    x = torch.randn(5, 4)
    with torch.no_grad():
        assert torch.equal(ours(x), model(x))


def test_an_upsampled_map_added_to_a_lateral_one_names_interpolate_as() -> None:
    """BiFPN's `w0 * p4 + w1 * upsample(p5)`: the sizes agree only where H % 4 is 0 or 3,
    and broadcast at H of 1 or 2 (the domain says both); at another size the error's hint
    names `interpolate_as`, which makes them agree for every size."""
    text = _spec(
        "bifpn_node",
        """
        input: [N, 3, H, W]
        layers:
          - {name: p4, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
          - {name: p5, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
          - {name: up, type: upsample, scale_factor: 2, mode: nearest}
          - {name: fused, type: add, from: [p4, up]}
        """,
    )
    result = archspec.check(text)
    assert result.ok and result.domain_text.endswith(
        "with (1 <= H <= 2 or H % 4 in {0, 3}) and (1 <= W <= 2 or W % 4 in {0, 3})"
    )
    (err,) = archspec.check(text, input=(1, 3, 6, 6)).errors
    assert err.code == "E402" and "`interpolate_as` with `from: [x, like]`" in err.hint
    fixed = text.replace(
        "{name: up, type: upsample, scale_factor: 2, mode: nearest}",
        "{name: up, type: interpolate_as, mode: nearest, from: [p5, p4]}",
    )
    result = archspec.check(fixed)
    assert result.ok and "H, W >= 1" in result.domain_text
    # a dim that is no map's size (the channels) gets no word of resizing
    gate = _spec(
        "gate",
        """
        input: [N, C, 4, 4]
        layers:
          - {name: pooled, type: adaptive_avgpool2d, output_size: 1}
          - {name: conv, type: conv2d, out_channels: 8, kernel_size: 1, from: pooled}
          - {name: gated, type: mul, from: [input, conv]}
        """,
    )
    errors = archspec.check(gate).errors
    assert errors and all("interpolate_as" not in (e.hint or "") for e in errors)


class _Head(nn.Module):
    """PointNet's classifier head: its layers registered apart from its norms."""

    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(16, 32), nn.Linear(32, 10)
        self.dropout = nn.Dropout(p=0.3)
        self.bn1 = nn.BatchNorm1d(32)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.dropout(F.relu(self.bn1(self.fc1(x)))))


def test_a_network_that_registers_out_of_call_order_imports_with_its_register_order() -> None:
    """The network's own order was E904 ('a block may state register_order')."""
    model = _Head().eval()
    text = archspec.from_module(model, torch.randn(2, 16))
    assert "\nregister_order: [fc1, fc2, bn1]\n" in text
    _same(archspec.compile(text), model, torch.randn(3, 16))


# milesial's Pytorch-UNet (bilinear), two levels: `Up` pads the upsampled map to its skip
UNET = _spec(
    "unet",
    """
    input: [N, 3, H, W]
    blocks:
      DoubleConv:
        params: {out: int, mid: 0}
        layers:
          - name: double_conv
            type: sequential
            layers:
              - {type: conv2d, out_channels: "mid if mid > 0 else out", kernel_size: 3,
                 padding: 1, bias: false}
              - {type: batchnorm2d}
              - {type: relu, inplace: true}
              - {type: conv2d, out_channels: out, kernel_size: 3, padding: 1, bias: false}
              - {type: batchnorm2d}
              - {type: relu, inplace: true}
      Up:
        inputs: [x1, x2]
        params: {out: int}
        layers:
          - {name: up, type: upsample, scale_factor: 2, mode: bilinear, align_corners: true}
          - {name: padded, type: pad_as, from: [up, x2]}
          - {name: cat, type: concat, from: [x2, padded]}
          - {name: conv, type: DoubleConv, out: out, mid: in_channels // 2}
    layers:
      - {name: inc, type: DoubleConv, out: 8}
      - {name: down1, type: sequential, layers: [{type: maxpool2d, kernel_size: 2},
                                                  {type: DoubleConv, out: 16}]}
      - {name: down2, type: sequential, layers: [{type: maxpool2d, kernel_size: 2},
                                                  {type: DoubleConv, out: 16}]}
      - {name: up1, type: Up, out: 8, from: [down2, down1]}
      - {name: up2, type: Up, out: 8, from: [up1, inc]}
    """,
)


def _double(i: int, o: int, mid: int | None = None) -> nn.Module:
    mid = mid or o
    seq = nn.Sequential(
        nn.Conv2d(i, mid, 3, padding=1, bias=False),
        nn.BatchNorm2d(mid),
        nn.ReLU(inplace=True),
        nn.Conv2d(mid, o, 3, padding=1, bias=False),
        nn.BatchNorm2d(o),
        nn.ReLU(inplace=True),
    )
    holder = nn.Module()
    holder.double_conv = seq
    holder.forward = seq.forward  # type: ignore[method-assign]
    return holder


class _Up(nn.Module):
    def __init__(self, i: int, o: int) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=True)
        self.conv = _double(i, o, i // 2)

    def forward(self, x1: torch.Tensor, x2: torch.Tensor) -> torch.Tensor:
        x1 = self.up(x1)
        dy, dx = x2.size()[2] - x1.size()[2], x2.size()[3] - x1.size()[3]
        x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
        return self.conv(torch.cat([x2, x1], dim=1))


class _UNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inc = _double(3, 8)
        self.down1 = nn.Sequential(nn.MaxPool2d(2), _double(8, 16))
        self.down2 = nn.Sequential(nn.MaxPool2d(2), _double(16, 16))
        self.up1, self.up2 = _Up(32, 8), _Up(16, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1 = self.inc(x)
        x2 = self.down1(x1)
        return self.up2(self.up1(self.down2(x2), x2), x1)


@pytest.mark.parametrize("built", ["compiled", "emitted"])
@pytest.mark.parametrize("size", [(16, 16), (37, 22), (5, 6)])
def test_a_unet_padding_its_upsampled_maps_to_the_skips_takes_any_size(
    built: str, size: tuple[int, int]
) -> None:
    """A concat of the upsampled map and its skip held only where 4 divides H and W."""
    assert "H, W >= 4" in archspec.check(UNET).domain_text
    ours = archspec.compile(UNET) if built == "compiled" else _emitted(UNET, "Unet")
    _same(ours, _UNet(), torch.randn(2, 3, *size))


def test_pad_as_pads_with_its_value_and_only_pads() -> None:
    text = _spec(
        "pads",
        """
        input: [N, 2, 9, 7]
        layers:
          - {name: pooled, type: maxpool2d, kernel_size: 2}
          - {name: padded, type: pad_as, value: -1.0, from: [pooled, input]}
        """,
    )
    x = torch.randn(1, 2, 9, 7)
    expected = F.pad(F.max_pool2d(x, 2), [2, 2, 2, 3], value=-1.0)  # (4, 3) to (9, 7)
    with torch.no_grad():
        assert torch.equal(archspec.compile(text)(x), expected)
        assert torch.equal(_emitted(text, "Pads")(x), expected)
    (err,) = archspec.check(text.replace("from: [pooled, input]", "from: [input, pooled]")).errors
    assert err.code == "E405" and "is larger than the one it is padded to" in err.message
    assert err.span.line == 6
    flat = text.replace(
        "  - {name: padded", "  - {name: flat, type: flatten, from: input}\n  - {name: padded"
    ).replace("from: [pooled, input]", "from: [pooled, flat]")
    (err,) = archspec.check(flat).errors
    assert err.code == "E401" and "need one rank" in err.message
