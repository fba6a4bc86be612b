"""std_conv2d, weight standardisation (BiT's StdConv2d; `scaled`: NFNets' ScaledStdConv2d),
against the layer written out here in plain torch as timm writes it: state_dict, outputs bit
for bit (compiled and emitted), parameters, MACs, domain and the errors at check time."""

from __future__ import annotations

import types
from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
import yaml
from torch import nn

import archspec


class ScaledStdConv2d(nn.Conv2d):
    """timm.layers.std_conv's ScaledStdConv2d (StdConv2d when `gain` is False)."""

    def __init__(self, *args: object, eps: float, gamma: float, gain: bool, **kw: object) -> None:
        super().__init__(*args, **kw)  # type: ignore[arg-type]
        self.scale = gamma * self.weight[0].numel() ** -0.5
        self.eps = eps
        self.gain = nn.Parameter(torch.ones(self.out_channels, 1, 1, 1)) if gain else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight.reshape(1, self.out_channels, -1)
        g = None if self.gain is None else (self.gain * self.scale).view(-1)
        w = F.batch_norm(w, None, None, weight=g, training=True, momentum=0.0, eps=self.eps)
        w = w.reshape_as(self.weight)
        return F.conv2d(x, w, self.bias, self.stride, self.padding, self.dilation, self.groups)


SPEC = """\
archspec: 1
name: std_net
input: [N, 4, H, W]
layers:
  - {name: stem, type: std_conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1,
     scaled: true, gamma: 1.7139588594436646, eps: 1.0e-5}
  - {name: act, type: relu}
  - {name: grouped, type: std_conv2d, out_channels: 8, kernel_size: 3, padding: same,
     groups: 2, dilation: 2, bias: false}
  - {name: proj, type: std_conv2d, out_channels: 6, kernel_size: 1, scaled: true}
"""


def _reference() -> nn.Module:
    return nn.Sequential(
        OrderedDict(
            stem=ScaledStdConv2d(4, 8, 3, 2, 1, eps=1e-5, gamma=1.7139588594436646, gain=True),
            act=nn.ReLU(),
            grouped=ScaledStdConv2d(
                8,
                8,
                3,
                padding="same",
                groups=2,
                dilation=2,
                bias=False,
                eps=1e-6,
                gamma=1.0,
                gain=False,
            ),
            proj=ScaledStdConv2d(8, 6, 1, eps=1e-6, gamma=1.0, gain=True),
        )
    )


def _emitted() -> nn.Module:
    module = types.ModuleType("emitted_std_conv")
    exec(compile(archspec.emit(SPEC), "<emitted>", "exec"), module.__dict__)
    return module.StdNet()


@pytest.mark.parametrize("build", [lambda: archspec.compile(SPEC), _emitted])
def test_std_conv2d_is_timms_weight_standardised_conv(build: object) -> None:
    ours, ref = build(), _reference()  # type: ignore[operator]
    theirs = ref.state_dict()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.items()
    ]
    assert list(theirs) == ["stem.weight", "stem.bias", "stem.gain", "grouped.weight",
                            "proj.weight", "proj.bias", "proj.gain"]  # fmt: skip
    torch.manual_seed(0)
    weights = OrderedDict((k, torch.randn_like(v)) for k, v in theirs.items())
    ref.load_state_dict(weights, strict=True)
    ours.load_state_dict(weights, strict=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 4, 13, 11)
    with torch.no_grad():
        assert torch.equal(ours(x), ref(x))
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())


def test_a_fresh_std_conv2d_starts_with_a_gain_of_one() -> None:
    model = archspec.compile(SPEC)
    assert torch.equal(model.stem.gain, torch.ones(8, 1, 1, 1))
    assert model.grouped.gain is None


def test_summary_counts_the_gain_and_the_conv_macs() -> None:
    table = archspec.summary(SPEC, input=(1, 4, 13, 11))
    ref = archspec.summary(_reference(), input_size=(1, 4, 13, 11))
    assert table.params == ref.params == (8 * 4 * 9 + 8 + 8) + (8 * 4 * 9) + (6 * 8 + 6 + 6)
    assert int(table.macs) == int(ref.macs) == 7 * 6 * 8 * 36 + 7 * 6 * 8 * 36 + 7 * 6 * 6 * 8


def test_the_domain_is_the_convolutions() -> None:
    assert archspec.check(SPEC).domain_text == "std_net accepts (N, 4, H, W) with H, W >= 1"


@pytest.mark.parametrize(
    ("layer", "field", "words"),
    [
        ("{type: std_conv2d, out_channels: 4, kernel_size: 3, gamma: 2.0}", "gamma", "scaled"),
        (
            "{type: std_conv2d, out_channels: 4, kernel_size: 1, groups: 4}",
            "kernel_size",
            "least 2",
        ),
    ],
)
def test_refused_at_check_time(layer: str, field: str, words: str) -> None:
    text = f"archspec: 1\nname: bad\ninput: [N, 4, 8, 8]\nlayers:\n  - {layer}\n"
    (d,) = archspec.check(text).diagnostics
    assert d.code == "E409" and words in d.message and d.span is not None
    assert d.span.line == 5 and text.splitlines()[4][: d.span.col - 1].endswith(f"{field}: ")
    # torch refuses the one-weight filter too
    if field == "kernel_size":
        conv = ScaledStdConv2d(4, 4, 1, groups=4, eps=1e-6, gamma=1.0, gain=False)
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            conv(torch.randn(1, 4, 8, 8))


def test_a_weight_standardised_conv_imports_as_std_conv2d() -> None:
    """timm's classes as plain torch writes them (no repr of their own: a Conv2d's): the
    forward graph decides, and gamma is read back from `scale` to the last bit."""
    from tests.test_importer_timm25 import round_trip_and_emit

    ref = _reference().eval()
    text = round_trip_and_emit(ref, (2, 4, 13, 11))
    layers = [v for v in yaml.safe_load(text)["layers"] if v["type"] != "relu"]
    assert [v["type"] for v in layers] == ["std_conv2d"] * 3
    stem, grouped, proj = layers
    assert stem["scaled"] is True and stem["gamma"] == 1.7139588594436646 and stem["eps"] == 1e-5
    assert "scaled" not in grouped and grouped["padding"] == "same" and grouped["dilation"] == 2
    assert proj["scaled"] is True and "gamma" not in proj  # 1.0, the default


class OtherOrder(ScaledStdConv2d):
    """The same numbers computed in another order: not shown to be the kind's module."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None,
                         training=True, momentum=0.0, eps=self.eps * 2)  # fmt: skip
        return F.conv2d(x, w.reshape_as(self.weight), self.bias, self.stride, self.padding)


def test_another_forward_is_not_read_as_std_conv2d() -> None:
    from archspec.importer.leaves import read_leaf

    assert read_leaf(OtherOrder(4, 8, 3, eps=1e-6, gamma=1.0, gain=False)) is None
    assert read_leaf(ScaledStdConv2d(4, 8, 3, eps=1e-6, gamma=1.0, gain=False)) is not None
