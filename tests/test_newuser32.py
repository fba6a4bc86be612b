"""Networks written from the docs alone by a new user (session 32's independent check:
torchvision's video ResNets and segmentation models, DCGAN, timm's MLP-Mixer, gMLP and
GhostNet): what broke on the way. A DCGAN generator's `input: [N, nz, 1, 1]` beside a param
`nz` read `nz` as a symbol, and the first layer's E406 ("got nz", "give the input's channel
dimension as a number") named a param the user had given a number. The block library's
ResNet `Bottleneck` had no `dilation`, which torchvision's takes and its segmentation
backbones (FCN, DeepLabV3: replace_stride_with_dilation) use."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ArchSpecError
from tests.test_newuser_specs import _emitted, _spec
from tests.test_newuser_specs import _same as same

GENERATOR = _spec(
    "dcgan_generator",
    """
    input: [N, DIM, 1, 1]
    params: {nz: 100, ngf: 8}
    let: {mid: ngf // 2}
    layers:
      - {type: conv_transpose2d, out_channels: ngf, kernel_size: 4, bias: false}
      - {type: batchnorm2d}
      - {type: conv_transpose2d, out_channels: 3, kernel_size: 4, stride: 2, padding: 1}
    """,
)


@pytest.mark.parametrize(
    ("dim", "what", "hint"),
    [("nz", "param", "write the number (`100`, its default)"), ("mid", "let", "write the number,")],
)
def test_an_input_symbol_named_like_a_param_or_let_is_e304_at_the_input(
    dim: str, what: str, hint: str
) -> None:
    text = GENERATOR.replace("DIM", dim)
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    first = err.value.diagnostics[0]
    line = text.splitlines()[2]
    assert (first.code, first.span.line, first.span.col) == ("E304", 3, line.index(dim) + 1)
    assert f"not the {what} `{dim}`" in first.message
    assert first.hint is not None and first.hint.startswith(hint)
    # the layers read the dim as the value it names: no E406 "got nz" after it
    assert len(err.value.diagnostics) == 1


def test_input_symbols_of_other_names_and_numbers_still_check() -> None:
    assert archspec.check(GENERATOR.replace("DIM", "100")).ok
    spatial = GENERATOR.replace("[N, DIM, 1, 1]", "[N, 100, H, W]")
    assert archspec.check(spatial).ok


class _DilatedBottleneck(nn.Module):
    """torchvision.models.resnet.Bottleneck (base width 64, groups 1) with its dilation."""

    def __init__(self, inplanes: int, planes: int, stride: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(
            planes, planes, 3, stride, padding=dilation, dilation=dilation, bias=False
        )
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != planes * 4:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes * 4, 1, stride, bias=False), nn.BatchNorm2d(planes * 4)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)


class _DilatedStages(nn.Module):
    """Two stages as torchvision's `_make_layer` builds them with replace_stride_with_dilation
    (the segmentation backbones): stride 1, the first block at the dilation before, the
    others at the doubled one."""

    def __init__(self) -> None:
        super().__init__()
        self.layer3 = nn.Sequential(
            _DilatedBottleneck(16, 8, 1, 1), _DilatedBottleneck(32, 8, 1, 2)
        )
        self.layer4 = nn.Sequential(
            _DilatedBottleneck(32, 16, 1, 2), _DilatedBottleneck(64, 16, 1, 4)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer4(self.layer3(x))


DILATED = _spec(
    "dilated_stages",
    """
    input: [N, 16, H, W]
    use:
      - {from: "archspec:blocks/resnet", blocks: [Bottleneck]}
    layers:
      - {name: layer3, type: repeat, count: 2,
         layer: {type: Bottleneck, planes: 8, dilation: "1 if i == 0 else 2"}}
      - {name: layer4, type: repeat, count: 2,
         layer: {type: Bottleneck, planes: 16, dilation: "2 if i == 0 else 4"}}
    """,
)


def test_the_library_bottleneck_takes_torchvisions_dilation() -> None:
    x = torch.randn(2, 16, 11, 13)
    same(archspec.compile(DILATED), _DilatedStages(), x)
    same(_emitted(DILATED, "DilatedStages"), _DilatedStages(), x)
    assert archspec.check(DILATED).domain_text.endswith("with H, W >= 1")


def _first_error(text: str) -> Any:
    with pytest.raises(ArchSpecError) as err:
        archspec.compile(text)
    return err.value.diagnostics[0]


@pytest.mark.parametrize(
    ("kind", "fields", "means"),
    [
        ("transpose", "dim0: 1, dim1: 2", "`permute` here"),
        ("swapaxes", "axis0: 1, axis1: 2", "`permute` here"),
        ("view", "shape: [0, 14, -1]", "`reshape` here"),
        ("unbind", "dim: 0", "`chunk` here"),
        ("cat", "dim: 1", "`concat` here"),
        ("bmm", "from: [input, input]", "`matmul` here"),
    ],
)
def test_a_tensor_methods_name_as_a_type_says_which_kind_writes_it(
    kind: str, fields: str, means: str
) -> None:
    # a plain "did you mean" offered `conv_transpose3d` for `transpose`
    text = _spec("tokens", f"input: [N, 196, 64]\nlayers:\n  - {{type: {kind}, {fields}}}\n")
    first = _first_error(text)
    assert (first.code, first.span.line) == ("E205", 5)
    assert first.hint.startswith(f"PyTorch's `{kind}` is {means}")
    assert "conv_transpose" not in first.hint


def test_every_kind_an_e205_hint_names_is_registered() -> None:
    from archspec.ops import REGISTRY
    from archspec.ops.names import TORCH_SPELLINGS

    assert {kind for kind, _ in TORCH_SPELLINGS.values()} <= set(REGISTRY)
    assert not set(TORCH_SPELLINGS) & set(REGISTRY)


@pytest.mark.parametrize(
    ("shape", "kind", "fit"),
    [
        ("[N, 3, 8, 32, 32]", "batchnorm2d", "batchnorm3d"),
        ("[N, 3, 32, 32]", "batchnorm3d", "batchnorm2d"),
        ("[N, 3, 32]", "batchnorm2d", "batchnorm1d"),
    ],
)
def test_a_batch_norm_of_another_rank_names_the_one_that_fits(
    shape: str, kind: str, fit: str
) -> None:
    # the hint said "use batchnorm1d after linear layers, batchnorm2d after 2-d convs" of
    # a video's (N, C, D, H, W)
    text = _spec("norms", f"input: {shape}\nlayers:\n  - {{type: {kind}}}\n")
    first = _first_error(text)
    assert first.code == "E401"
    assert first.hint.startswith(f"use `{fit}` for an input of rank {shape.count(',') + 1}")


def test_an_input_symbol_read_as_a_size_points_at_the_kinds_that_follow_it() -> None:
    text = _spec(
        "resize_back",
        """
        input: [N, 3, H, W]
        layers:
          - {type: conv2d, out_channels: 8, kernel_size: 3, stride: 2}
          - {type: interpolate, size: [H, W], mode: bilinear}
        """,
    )
    first = _first_error(text)
    assert (first.code, first.span.line) == ("E302", 6)
    assert first.hint.startswith("`H` is a symbol of `input:`")
    assert "`interpolate_as`" in first.hint and first.hint.endswith("in_channels")
    # a name that is no symbol of the input keeps the plain hint
    other = _first_error(text.replace("[H, W]", "[K, W]"))
    assert other.hint == "names in scope here: in_channels"


STRIDED = _spec(
    "strided",
    """
    input: [N, 3, H, W]
    layers:
      - {name: down, type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
      - {name: pool, type: maxpool2d, kernel_size: 2}
      - {name: conv, type: conv2d, out_channels: 4, kernel_size: 3}
      - {name: up, type: conv_transpose2d, out_channels: 4, kernel_size: 2, stride: 2}
    """,
)


@pytest.mark.parametrize(("h", "w"), [(18, 18), (19, 22), (24, 31)])
def test_a_rows_symbolic_macs_read_as_written_give_its_count_at_each_size(h: int, w: int) -> None:
    # the row of a strided conv read `216*N*(H + 1)//2*(W + 1)//2`: (216*N*(H + 1))//2*...,
    # 486 at H = W = 2 where the layer makes 216
    symbolic = {r.path: r.macs_text for r in archspec.summary(STRIDED).rows}
    assert symbolic["down"] == "216*N*((H + 1)//2)*((W + 1)//2)"
    concrete = {r.path: int(r.macs) for r in archspec.summary(STRIDED, input=(2, 3, h, w)).rows}
    for path, text in symbolic.items():
        value = eval(text.replace(",", ""), {"__builtins__": {}}, {"N": 2, "H": h, "W": w})
        assert value == concrete[path], (path, text)


@pytest.mark.parametrize(
    ("written", "hint"),
    [
        # the hint wrote `floor(dim * mlp_ratio)` whatever the call held
        (
            "int(mlp_ratio[0] * dim)",
            "write `floor(mlp_ratio[0] * dim)` for `int(mlp_ratio[0] * dim)`",
        ),
        ("math.ceil(c / 4)", "write `ceil(c / 4)` for `math.ceil(...)`"),
        ("float(c) / 2", "write `c` alone"),
        ("pow(2, k)", "write `2 ** k`"),
        ("pow(c + 1, 2)", "write `(c + 1) ** 2`"),
    ],
)
def test_a_python_call_an_expression_does_not_make_is_rewritten_in_the_hint(
    written: str, hint: str
) -> None:
    from archspec.expr import ExprError, parse_expr

    with pytest.raises(ExprError) as err:
        parse_expr(written)
    assert err.value.code == "E206"
    assert hint in (err.value.hint or "")


@pytest.mark.parametrize(
    "written", ["int(dim, base=2)", "math.ceil(x=c)", "pow(*r, 2)", "int(*r)", "np.floor(*r)"]
)
def test_a_call_with_keywords_or_a_star_gets_no_rewrite_that_misquotes_it(written: str) -> None:
    """The rewrite keeps positional arguments only: `int(dim, base=2)` was told to write
    `floor(dim)` for `int(dim)`, `math.ceil(x=c)` to write `ceil()`, `pow(*r, 2)` `(*r) ** 2`."""
    from archspec.expr import ExprError, parse_expr

    with pytest.raises(ExprError) as err:
        parse_expr(written)
    assert err.value.code == "E206"
    assert (err.value.hint or "").startswith("expressions use params")
