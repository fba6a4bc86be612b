"""`padding: same` on the 2-d pools (timm's MaxPool2dSame, AvgPool2dSame) and on a strided
std_conv2d (timm's StdConv2dSame, ScaledStdConv2dSame: ViT hybrids', NFNets'), against the
padding written out here from TensorFlow's definition: outputs bit for bit (compiled and
emitted) at every input size, the symbolic output shape, the errors, and the import of
timm's four classes (written here as timm writes them)."""

from __future__ import annotations

import math
import types

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import archspec

SPEC = """\
archspec: 1
name: tf_pools
input: [N, 4, H, W]
layers:
  - {name: stem, type: std_conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: same}
  - {name: nf, type: std_conv2d, out_channels: 8, kernel_size: [3, 2], stride: [1, 2], padding: same, scaled: true, gamma: 1.7, eps: 1.0e-5}
  - {name: mp, type: maxpool2d, kernel_size: 3, stride: 2, padding: same}
  - {name: even, type: maxpool2d, kernel_size: 2, stride: 1, padding: same, dilation: 2, ceil_mode: true}
  - {name: ap, type: avgpool2d, kernel_size: [3, 2], stride: [2, 3], padding: same}
  - {name: ap1, type: avgpool2d, kernel_size: 2, stride: 1, padding: same, count_include_pad: false}
"""  # noqa: E501


def tf_pad(x: torch.Tensor, k: tuple[int, int], s: tuple[int, int], d: tuple[int, int],
           value: float = 0.0) -> torch.Tensor:  # fmt: skip
    """TensorFlow's SAME: out = ceil(in / s); pad_along = max((out - 1) s + (k - 1) d + 1
    - in, 0), the smaller half before."""
    pads: list[int] = []
    for i in (1, 0):
        n = x.shape[-2 + i]
        along = max((math.ceil(n / s[i]) - 1) * s[i] + (k[i] - 1) * d[i] + 1 - n, 0)
        pads += [along // 2, along - along // 2]
    return F.pad(x, pads, value=value)


def _reference(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    for m in model.children():
        if isinstance(m, nn.Conv2d):
            x = tf_pad(x, m.kernel_size, m.stride, m.dilation)
            gain = getattr(m, "gain", None)
            w = F.batch_norm(
                m.weight.reshape(1, m.out_channels, -1), None, None,
                None if gain is None else (gain * m.scale).view(-1),
                training=True, momentum=0.0, eps=m.eps,
            ).reshape_as(m.weight)  # fmt: skip
            x = F.conv2d(x, w, m.bias, m.stride, 0, m.dilation, m.groups)
        elif isinstance(m, nn.MaxPool2d):
            x = tf_pad(x, m.kernel_size, m.stride, m.dilation, -math.inf)
            x = F.max_pool2d(x, m.kernel_size, m.stride, 0, m.dilation)
        else:
            x = F.avg_pool2d(tf_pad(x, m.kernel_size, m.stride, (1, 1)), m.kernel_size, m.stride)
    return x


def _emitted() -> nn.Module:
    module = types.ModuleType("emitted_tf_pools")
    exec(compile(archspec.emit(SPEC), "<emitted>", "exec"), module.__dict__)
    return module.TfPools()


@pytest.mark.parametrize("build", [lambda: archspec.compile(SPEC), _emitted])
def test_same_pools_and_std_convs_are_tensorflows_at_every_size(build: object) -> None:
    model = build().eval()  # type: ignore[operator]
    assert [type(m).__name__ for m in model.children()] == [
        "StdConv2dSame", "ScaledStdConv2dSame", "MaxPool2dSame", "MaxPool2dSame",
        "AvgPool2dSame", "AvgPool2dSame",
    ]  # fmt: skip
    assert list(model.state_dict()) == [
        "stem.weight",
        "stem.bias",
        "nf.weight",
        "nf.bias",
        "nf.gain",
    ]
    with torch.no_grad():
        model.nf.gain.uniform_(0.5, 1.5)
        for h in range(1, 12):
            for w in (1, 2, 5, 8, 13):
                x = torch.randn(2, 4, h, w, generator=torch.Generator().manual_seed(h * 31 + w))
                got = model(x)
                assert torch.equal(got, _reference(model, x)), (h, w)
                (expect,) = archspec.check(SPEC, input=[2, 4, h, w]).outputs
                assert list(got.shape) == [int(d) for d in expect], (h, w)


def test_the_shape_is_the_ceiling_for_every_size() -> None:
    result = archspec.check(SPEC)
    assert result.ok and not result.diagnostics
    assert result.domain_text == "tf_pools accepts (N, 4, H, W) with H, W >= 1"
    (out,) = result.outputs
    assert str(out[2]) == "(H + 7)//8"
    assert str(out[3]) == "(W + 23)//24"


def test_only_a_same_node_brings_its_class_into_the_emitted_file() -> None:
    source = archspec.emit(SPEC)
    for name in ("StdConv2dSame", "ScaledStdConv2dSame", "MaxPool2dSame", "AvgPool2dSame"):
        assert source.count(f"class {name}(") == 1
    assert source.count("def tf_same_padding(") == 1  # the padding the four classes share
    plain = SPEC.replace("padding: same", "padding: 0").replace("stride: [1, 2], ", "")
    plain_source = archspec.emit(plain.replace(", ceil_mode: true", ""))
    assert "Same" not in plain_source and "tf_same_padding" not in plain_source


@pytest.mark.parametrize(
    ("layer", "words"),
    [
        ("{type: maxpool1d, kernel_size: 3, stride: 2, padding: same}", "padding"),
        ("{type: avgpool3d, kernel_size: 3, padding: same}", "padding"),
    ],
)
def test_other_pools_refuse_same_at_the_field(layer: str, words: str) -> None:
    rank = "[N, 4, 8]" if "1d" in layer else "[N, 4, 8, 8, 8]"
    text = f"archspec: 1\nname: bad\ninput: {rank}\nlayers:\n  - {layer}\n"
    (d,) = archspec.check(text).diagnostics
    assert d.code.startswith("E") and d.span is not None and d.span.line == 5
    assert text.splitlines()[4][: d.span.col - 1].endswith(f"{words}: ")


def _pad_same(x: torch.Tensor, k: tuple[int, int], s: tuple[int, int], d: tuple[int, int],
              value: float = 0.0) -> torch.Tensor:  # fmt: skip
    """timm.layers.padding.pad_same, as timm writes it (the size read in forward)."""
    ih, iw = x.size()[-2:]
    pad_h = max((math.ceil(ih / s[0]) - 1) * s[0] + (k[0] - 1) * d[0] + 1 - ih, 0)
    pad_w = max((math.ceil(iw / s[1]) - 1) * s[1] + (k[1] - 1) * d[1] + 1 - iw, 0)
    return F.pad(x, (pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2), value=value)


class MaxPool2dSame(nn.MaxPool2d):
    def __init__(self, kernel_size: int, stride: int, dilation: int = 1) -> None:
        super().__init__((kernel_size,) * 2, (stride,) * 2, (0, 0), (dilation,) * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _pad_same(x, self.kernel_size, self.stride, self.dilation, value=-float("inf"))
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)


class AvgPool2dSame(nn.AvgPool2d):
    def __init__(self, kernel_size: int, stride: int) -> None:
        super().__init__((kernel_size,) * 2, (stride,) * 2, (0, 0))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _pad_same(x, self.kernel_size, self.stride, (1, 1))
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding)


class StdConv2dSame(nn.Conv2d):
    """timm's: built with padding 0 and `same_pad` when its padding is dynamic (a stride),
    else with the padding it states and `same_pad` false."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, padding: object = "SAME",
                 eps: float = 1e-8) -> None:  # fmt: skip
        dynamic = padding == "SAME" and stride != 1
        if padding == "SAME":
            padding = 0 if dynamic else k // 2
        super().__init__(cin, cout, k, stride, padding, bias=False)  # type: ignore[arg-type]
        self.same_pad = dynamic
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.same_pad:
            x = _pad_same(x, self.kernel_size, self.stride, self.dilation)
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1), None, None,
            training=True, momentum=0.0, eps=self.eps,
        ).reshape_as(self.weight)  # fmt: skip
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


class ScaledStdConv2dSame(nn.Conv2d):
    """timm's, NFNets': a learned gain times gamma / sqrt(fan_in), padded as above."""

    def __init__(self, cin: int, cout: int, k: int, stride: int, gamma: float) -> None:
        super().__init__(cin, cout, k, stride, 0)
        self.scale = gamma * self.weight[0].numel() ** -0.5
        self.same_pad = True
        self.eps = 1e-6
        self.gain = nn.Parameter(torch.rand(cout, 1, 1, 1) + 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _pad_same(x, self.kernel_size, self.stride, self.dilation)
        weight = F.batch_norm(
            self.weight.reshape(1, self.out_channels, -1), None, None,
            weight=(self.gain * self.scale).view(-1), training=True, momentum=0.0, eps=self.eps,
        ).reshape_as(self.weight)  # fmt: skip
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


for _cls in (MaxPool2dSame, AvgPool2dSame, StdConv2dSame, ScaledStdConv2dSame):
    _cls.__module__ = "timm.layers.pool2d_same"


class HybridStem(nn.Module):
    """A ViT hybrid's stem (timm's ResNetV2 with `padding_same`): a strided StdConv2dSame, a
    MaxPool2dSame, then a StdConv2dSame of static padding and one built with padding 0."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = StdConv2dSame(3, 8, 7, stride=2)
        self.pool = MaxPool2dSame(3, 2)
        self.mid = StdConv2dSame(8, 8, 3)
        self.down = StdConv2dSame(8, 8, 3, stride=2, padding=0)
        self.avg = AvgPool2dSame(2, 2)
        self.nf = ScaledStdConv2dSame(8, 4, 3, 2, gamma=1.7139588594436646)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.nf(self.avg(self.down(self.mid(self.pool(self.conv(x))))))


def test_timms_same_classes_import_as_same_layers() -> None:
    from tests.test_importer_timm25 import round_trip_and_emit

    model = HybridStem().eval()
    text = round_trip_and_emit(model, (2, 3, 23, 30))
    layers = yaml.safe_load(text)["layers"]
    assert [(v["type"], v.get("stride", 1), v.get("padding", 0)) for v in layers] == [
        ("std_conv2d", 2, "same"),
        ("maxpool2d", 2, "same"),
        ("std_conv2d", 1, 1),
        ("std_conv2d", 2, 0),
        ("avgpool2d", 2, "same"),
        ("std_conv2d", 2, "same"),
    ]
    assert layers[-1]["scaled"] is True and layers[-1]["gamma"] == 1.7139588594436646  # fmt: skip
    ours = archspec.compile(text).eval()
    ours.load_state_dict(model.state_dict(), strict=True)
    for h, w in ((23, 30), (16, 16), (9, 41), (31, 17)):
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            assert torch.equal(ours(x), model(x))
