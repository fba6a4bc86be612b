"""`padding: same` with a stride: TensorFlow's SAME (timm's Conv2dSame), against the padding
written out here from TensorFlow's definition: outputs bit for bit (compiled and emitted) at
every input size, the symbolic output shape, the scratch F.pad makes, the errors, and the
import of a Conv2dSame."""

from __future__ import annotations

import math
import types

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import archspec
from archspec.dims import Dim
from archspec.ops.samepad import padded_extent

SPEC = """\
archspec: 1
name: tf_same
input: [N, 4, H, W]
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: same, bias: false}
  - {name: dw, type: conv2d, out_channels: 8, kernel_size: 5, stride: 2, padding: same, groups: 8}
  - {name: wide, type: conv2d, out_channels: 8, kernel_size: 3, stride: [1, 3], dilation: 2, padding: same}
  - {name: proj, type: conv2d, out_channels: 6, kernel_size: 1, stride: 2, padding: same}
  - {name: even, type: conv2d, out_channels: 6, kernel_size: 2, padding: same}
"""  # noqa: E501


def tf_same(x: torch.Tensor, conv: nn.Conv2d) -> torch.Tensor:
    """TensorFlow's SAME: out = ceil(in / s); pad_along = max((out - 1) s + (k - 1) d + 1
    - in, 0), the smaller half before."""
    pads: list[int] = []
    for i in (1, 0):
        n, s, k, d = x.shape[2 + i], conv.stride[i], conv.kernel_size[i], conv.dilation[i]
        along = max((math.ceil(n / s) - 1) * s + (k - 1) * d + 1 - n, 0)
        pads += [along // 2, along - along // 2]
    return F.conv2d(F.pad(x, pads), conv.weight, conv.bias, conv.stride, 0, conv.dilation,
                    conv.groups)  # fmt: skip


def _reference(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    for conv in model.children():
        assert isinstance(conv, nn.Conv2d)
        x = tf_same(x, conv) if conv.stride != (1, 1) else conv(x)
    return x


def _emitted() -> nn.Module:
    module = types.ModuleType("emitted_tf_same")
    exec(compile(archspec.emit(SPEC), "<emitted>", "exec"), module.__dict__)
    return module.TfSame()


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
@pytest.mark.parametrize("build", [lambda: archspec.compile(SPEC), _emitted])
def test_a_strided_same_conv_is_tensorflows_at_every_size(build: object) -> None:
    model = build().eval()  # type: ignore[operator]
    assert [type(m).__name__ for m in model.children()] == ["Conv2dSame"] * 4 + ["Conv2d"]
    assert list(model.state_dict()) == [
        "stem.weight", "dw.weight", "dw.bias", "wide.weight", "wide.bias", "proj.weight",
        "proj.bias", "even.weight", "even.bias",
    ]  # fmt: skip
    checked = 0
    with torch.no_grad():
        for h in range(1, 14):
            for w in (1, 2, 3, 8, 11, 16):
                x = torch.randn(2, 4, h, w, generator=torch.Generator().manual_seed(h * 31 + w))
                got = model(x)
                assert torch.equal(got, _reference(model, x)), (h, w)
                (expect,) = archspec.check(SPEC, input=[2, 4, h, w]).outputs
                assert list(got.shape) == [int(d) for d in expect], (h, w)
                checked += 1
    assert checked == 13 * 6


def test_the_shape_is_the_ceiling_for_every_size() -> None:
    result = archspec.check(SPEC)
    assert result.ok and not result.diagnostics
    assert result.domain_text == "tf_same accepts (N, 4, H, W) with H, W >= 1"
    (out,) = result.outputs
    assert str(out[2]) == "(H + 7)//8"
    assert str(out[3]) == "(W + 23)//24"


def test_only_a_strided_same_conv_brings_the_class_into_the_emitted_file() -> None:
    plain = SPEC.replace("stride: 2, ", "").replace("stride: [1, 3], ", "")
    assert "Conv2dSame" not in archspec.emit(plain)
    assert archspec.emit(SPEC).count("class Conv2dSame(nn.Conv2d):") == 1


def test_a_block_with_both_strides_emits_what_compile_builds() -> None:
    """A block whose `same` conv takes its stride as an argument: the stride decides the
    class, so the emitted file writes each instance's own."""
    from tests.emit_helpers import matches_compile

    text = """\
archspec: 1
name: tf_blocks
input: [N, 4, 17, 23]
blocks:
  Down:
    params: {stride: {type: int}}
    layers:
      - {type: conv2d, out_channels: 8, kernel_size: 3, stride: stride, padding: same}
      - {type: relu}
layers:
  - {type: Down, stride: 2}
  - {type: Down, stride: 1}
  - {type: Down, stride: 2}
"""
    source = matches_compile(text, (2, 4, 17, 23))
    assert "Conv2dSame(" in source and 'padding="same"' in source


@pytest.mark.parametrize(
    ("x", "k", "s", "d"),
    [(x, k, s, d) for x in range(1, 40) for k, s, d in
     [(3, 2, 1), (5, 2, 1), (1, 2, 1), (2, 3, 1), (3, 3, 2), (4, 2, 1), (2, 4, 1)]],
)  # fmt: skip
def test_the_scratch_is_the_extent_f_pad_makes(x: int, k: int, s: int, d: int) -> None:
    along = max((math.ceil(x / s) - 1) * s + (k - 1) * d + 1 - x, 0)
    padded = F.pad(torch.zeros(1, 1, 1, x), [along // 2, along - along // 2]).shape[-1]
    assert int(padded_extent(Dim.of(x), k, s, d)) == padded
    symbolic = padded_extent(Dim.of("X"), k, s, d).evaluate({"X": x})
    span = d * (k - 1) + 1
    if span >= s or span == 1:
        assert symbolic == padded  # exact
    else:
        assert padded <= symbolic <= x + span - 1  # the most it can be


@pytest.mark.parametrize(
    ("layer", "field", "words"),
    [
        ("{type: conv1d, out_channels: 4, kernel_size: 3, stride: 2, padding: same}",
         "padding", "stride 1 only"),
        ("{type: conv3d, out_channels: 4, kernel_size: 3, stride: 2, padding: same}",
         "padding", "stride 1 only"),
        ("{type: conv2d, out_channels: 4, kernel_size: 3, stride: 2, padding: same, "
         "padding_mode: reflect}", "padding_mode", "zeros"),
    ],
)  # fmt: skip
def test_refused_where_no_class_computes_it(layer: str, field: str, words: str) -> None:
    rank = {"conv1d": "[N, 4, 8]", "conv3d": "[N, 4, 8, 8, 8]"}
    kind = layer.split("type: ")[1].split(",")[0]
    text = (
        f"archspec: 1\nname: bad\ninput: {rank.get(kind, '[N, 4, 8, 8]')}\nlayers:\n  - {layer}\n"
    )
    (d,) = archspec.check(text).diagnostics
    assert d.code == "E409" and words in d.message and d.span is not None
    assert d.span.line == 5 and text.splitlines()[4][: d.span.col - 1].endswith(f"{field}: ")


class Conv2dSame(nn.Conv2d):
    """timm.layers.conv2d_same's class as timm writes it: built with padding 0 and padded
    in forward (its module set to timm's below, as a model built by timm has it)."""

    def __init__(self, *args: object, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return tf_same(x, self)


class OwnSame(Conv2dSame):
    """A class of the same name outside timm: its forward is not known to be SAME."""


Conv2dSame.__module__ = "timm.layers.conv2d_same"
OwnSame.__name__ = OwnSame.__qualname__ = "Conv2dSame"


class TfNet(nn.Module):
    def __init__(self, conv: type[nn.Conv2d]) -> None:
        super().__init__()
        self.conv_stem = conv(3, 8, 3, stride=2, bias=False)
        self.act = nn.ReLU()
        self.conv_dw = conv(8, 8, 5, stride=2, groups=8)
        self.conv_pw = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_pw(self.conv_dw(self.act(self.conv_stem(x))))


def test_timms_conv2d_same_imports_as_a_strided_same_conv() -> None:
    from tests.test_importer_timm25 import round_trip_and_emit

    model = TfNet(Conv2dSame).eval()
    text = round_trip_and_emit(model, (2, 3, 17, 22))
    layers = yaml.safe_load(text)["layers"]
    assert [(v["type"], v.get("padding")) for v in layers] == [
        ("conv2d", "same"), ("relu", None), ("conv2d", "same"), ("conv2d", None),
    ]  # fmt: skip
    ours = archspec.compile(text).eval()
    ours.load_state_dict(model.state_dict(), strict=True)
    for h, w in ((17, 22), (16, 16), (9, 31)):
        x = torch.randn(1, 3, h, w)
        with torch.no_grad():
            assert torch.equal(ours(x), model(x))


def test_a_class_of_that_name_outside_timm_is_not_read_as_same() -> None:
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.from_module(TfNet(OwnSame).eval(), torch.randn(1, 3, 16, 16))
    assert all(d.code.startswith("E90") for d in info.value.diagnostics)
