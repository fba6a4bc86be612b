"""Networks of timm written from the docs alone by a new user (issue 14's independent check:
ResNeSt, SK-ResNet, ...), each case here against a reference module written in plain torch:
what broke on the way. A block's `register_order:` could not name a layer its `when` leaves
out of some instances (ResNeSt's `avd_last`, an average pool only in the strided block): E305
in every instance without it, so the registration order of the others was not expressible.
A list given to an int block param (a (1, 7) kernel) had a hint that did not say how to
pass a size a layer takes either as one number or one per dim; a list written as a layer
(MobileViT's stages as lists of lists) did not say how to nest layers; a reshape whose -1
cannot be inferred reported the -1's floor ("0 vs 25088") instead of what it gets."""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

import archspec
from tests.test_newuser_specs import _emitted, _spec
from tests.test_newuser_specs import _same as same


def _same(ours: nn.Module, ref: nn.Module, x: torch.Tensor) -> None:
    """test_newuser_specs's comparison, with the per-module metadata in order too."""
    same(ours, ref, x, metadata=True)


AVD_BLOCK = _spec(
    "avd_net",
    """
    input: [N, 8, 16, 16]
    blocks:
      Bottleneck:
        params: {planes: int, stride: 1}
        register_order: [conv1, avd_last, conv3, act3, downsample]
        layers:
          - {name: conv1, type: conv2d, out_channels: planes, kernel_size: 1, bias: false}
          - {name: avd_last, type: avgpool2d, kernel_size: 3, stride: stride, padding: 1,
             when: stride > 1}
          - {name: conv3, type: conv2d, out_channels: planes * 2, kernel_size: 1, bias: false}
          - {name: downsample, type: conv2d, out_channels: planes * 2, kernel_size: 1,
             stride: stride, bias: false, from: input}
          - {name: sum, type: add, from: [conv3, downsample]}
          - {name: act3, type: relu}
    layers:
      - {name: layer1, type: Bottleneck, planes: 8}
      - {name: layer2, type: Bottleneck, planes: 16, stride: 2}
    """,
)


class _Bottleneck(nn.Module):
    """timm's ResNestBottleneck in brief: `avd_last` exists only at stride 2, `act3` is
    registered before `downsample` although it runs after the sum."""

    def __init__(self, cin: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.avd_last = nn.AvgPool2d(3, stride, padding=1) if stride > 1 else None
        self.conv3 = nn.Conv2d(planes, planes * 2, 1, bias=False)
        self.act3 = nn.ReLU()
        self.downsample = nn.Conv2d(cin, planes * 2, 1, stride=stride, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv1(x)
        if self.avd_last is not None:
            out = self.avd_last(out)
        return self.act3(self.conv3(out) + self.downsample(x))


def test_register_order_names_a_layer_that_when_leaves_out_of_some_instances() -> None:
    ref = nn.Sequential(OrderedDict(layer1=_Bottleneck(8, 8), layer2=_Bottleneck(16, 16, 2)))
    assert archspec.check(AVD_BLOCK).ok
    x = torch.randn(2, 8, 16, 16)
    _same(archspec.compile(AVD_BLOCK), ref, x)
    _same(_emitted(AVD_BLOCK, "AvdNet"), ref, x)


def test_register_order_still_refuses_a_name_no_layer_of_the_block_declares() -> None:
    text = AVD_BLOCK.replace("[conv1, avd_last,", "[conv1, avd_lats,")
    (d,) = archspec.check(text).diagnostics
    assert d.code == "E305" and "avd_lats" in d.message and d.span is not None
    assert (d.span.line, d.span.col) == (7, 29)


KERNEL_PARAM = _spec(
    "kernel_param",
    """
    input: [N, 8, 16, 16]
    blocks:
      ConvBN:
        params: {out: int, k: 1}
        layers:
          - {name: conv, type: conv2d, out_channels: out, kernel_size: k, bias: false}
          - {name: bn, type: batchnorm2d}
    layers:
      - {name: a, type: ConvBN, out: 8, k: 3}
      - {name: b, type: ConvBN, out: 8, k: [1, 7]}
    """,
)


def test_a_per_dim_kernel_given_to_an_int_param_says_how_a_block_passes_one() -> None:
    """Inception-ResNet's (1, 7) convs through a ConvBN block whose `k` is an int: the
    hint said only 'give a value that fits'; a layer field takes either form, a param one."""
    (d,) = archspec.check(KERNEL_PARAM).diagnostics
    assert d.code == "E309" and d.hint is not None and "declare a `list` param" in d.hint
    as_list = KERNEL_PARAM.replace("{out: int, k: 1}", "{out: int, k: [1, 1]}")
    (d,) = archspec.check(as_list).diagnostics
    assert d.code == "E309" and "expected a list, got 3" in d.message
    assert d.hint is not None and "two `int` params" in d.hint
    written_out = as_list.replace("k: 3}", "k: [3, 3]}")
    assert archspec.check(written_out).ok


def test_a_list_written_as_a_layer_says_how_to_nest_layers() -> None:
    """MobileViT's stages as lists of lists (`- - {type: ...}`): the hint said only that each
    layer needs a `type`, which the inner items have."""
    text = _spec("nested", "input: [N, 3, 8, 8]\nlayers:\n  - - {type: relu}\n")
    (d,) = archspec.check(text).diagnostics
    assert d.code == "E205" and d.span is not None and (d.span.line, d.span.col) == (5, 5)
    assert d.hint is not None and "{type: sequential, layers: [...]}" in d.hint


def test_a_reshape_whose_minus_one_cannot_be_inferred_says_what_it_gets() -> None:
    """MobileViT's patch unfolding at a map size it was not written for: the message said
    'the sizes do not multiply out (0 vs 25088)', the 0 being the -1's floor."""
    text = _spec(
        "unfold", "input: [2, 16, 28, 28]\nlayers:\n  - {type: reshape, shape: [-1, 64, 256, 4]}\n"
    )
    (d,) = archspec.check(text).diagnostics
    assert d.code == "E404"
    assert "the -1 gets 25088 elements, not a multiple of 65536" in d.message, d.message
    try:
        torch.zeros(2, 16, 28, 28).reshape(-1, 64, 256, 4)
    except RuntimeError as exc:
        assert "invalid for input of size 25088" in str(exc)
    else:
        raise AssertionError("torch reshaped what check refuses")
