"""Source emission, classes: torchvision's layouts, one class per block that builds any
instance, params as real arguments, variants where a param decides structure."""

from __future__ import annotations

import ast
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import archspec
from archspec.api import build_graph
from archspec.backends.pycode import Code, lit
from archspec.backends.pysource import render_module

from .conftest import ROOT, spec_source
from .emit_helpers import (
    ODD,
    PROBE,
    STACKS,
    _emitted_class,
    _layout,
    _load,
    _module,
    _same_weights,
    _source,
    _train_outputs,
)
from .ops_cases import same_as_emitted

# -- torchvision layouts and readability -------------------------------------------------------

TWINS = {
    "alexnet": ("alexnet_torchvision", {}),
    "googlenet": ("googlenet", {"aux_logits": False}),
    "googlenet_aux": ("googlenet", {}),
    "vgg16_bn": ("vgg16_bn", {}),
    "resnet50": ("resnet50", {}),
    "resnet152": ("resnet152", {}),
}


@pytest.mark.parametrize("model_name", sorted(TWINS))
def test_emitted_class_loads_torchvision_layout_strictly(model_name: str) -> None:
    import json

    fixture = json.loads((ROOT / "tests/parity/fixture.json").read_text())["models"][model_name]
    spec, params = TWINS[model_name]
    with torch.device("meta"):
        model = _emitted_class(spec, **params)()
        weights = {k: torch.empty(shape) for k, shape, _ in fixture["state_dict"]}
    model.load_state_dict(weights, strict=True, assign=True)
    assert [k for k, _, _ in fixture["state_dict"]] == list(model.state_dict())


def test_resnet50_reads_like_torchvision() -> None:
    src = _source("resnet50")
    assert "class Bottleneck(nn.Module):" in src
    # the library's Bottleneck, as torchvision's: `groups` and `base_width` for ResNeXt,
    # `dilation` for the segmentation backbones
    assert (
        "        in_channels: int,\n        planes: int,\n        stride: int = 1,\n"
        "        groups: int = 1,\n        base_width: int = 64,\n        dilation: int = 1,\n"
    ) in src
    assert "padding=dilation,\n            dilation=dilation," in src
    assert "if stride != 1 or in_channels != planes * 4:" in src
    assert "identity = x\n" in src and "out = out + identity" in src
    for stage in ("layer1", "layer2", "layer3", "layer4"):
        assert f"self.{stage} = nn.Sequential(" in src
    assert "x = self.layer4(x)  # (N, 2048, (H + 31)//32, (W + 31)//32)" in src
    assert "def __init__(self, num_classes: int = 1000, zero_init_residual: bool = False)" in src
    # zero_init_residual as torchvision writes it: a loop over the Bottlenecks' last BN
    assert (
        "        if zero_init_residual:\n"
        "            for m in self.modules():\n"
        "                if isinstance(m, Bottleneck):\n"
        "                    nn.init.zeros_(m.bn3.weight)\n"
    ) in src
    assert "fnmatch" not in src


def test_googlenet_has_one_class_per_block_and_training_outputs() -> None:
    src = _source("googlenet")
    for cls in ("BasicConv2d", "Inception", "InceptionAux", "GoogLeNet"):
        assert src.count(f"\nclass {cls}(nn.Module):") == 1
    assert "        if self.training:\n            aux1 = self.aux1(inception4a)" in src
    assert "return x, aux2, aux1" in src
    # aux_logits decides structure: fixed at its value and said so, not an argument
    net = next(c for c in ast.parse(src).body if getattr(c, "name", "") == "GoogLeNet")
    init = next(f for f in net.body if getattr(f, "name", "") == "__init__")
    assert [a.arg for a in init.args.args] == ["self", "num_classes", "dropout", "dropout_aux"]
    assert "Emitted with aux_logits=True, transform_input=False." in src


# -- the network's params and the blocks' classes are generic ------------------------------------


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("resnet18", {"num_classes": 10}),
        ("googlenet", {"num_classes": 7, "dropout": 0.3, "dropout_aux": 0.1}),
        ("vgg16_bn", {"num_classes": 5, "dropout": 0.1}),
        ("lenet5", {"num_classes": 3}),
    ],
)
def test_network_params_are_real_arguments(name: str, params: dict[str, Any]) -> None:
    with torch.device("meta"):
        ours = _emitted_class(name)(**params)
    ref = archspec.compile(spec_source(name), device="meta", **params)
    assert _layout(ours) == _layout(ref)
    ps = {n: m.p for n, m in ours.named_modules() if isinstance(m, torch.nn.Dropout)}
    assert ps == {n: m.p for n, m in ref.named_modules() if isinstance(m, torch.nn.Dropout)}


def _one_block(spec: str, block: str, in_channels: int, side: int, **args: Any) -> Any:
    data = archspec.api.resolve(spec)  # imports copied in, a family's variant applied
    data.update(
        input=["N", in_channels, side, side],
        layers=[{"name": "b", "type": block, **args}],
        init=[],
    )
    data.pop("outputs", None)
    return archspec.compile(data, device="meta").b


@settings(max_examples=15)
@given(c=st.integers(1, 80), planes=st.integers(1, 40), stride=st.integers(1, 3))
def test_bottleneck_class_builds_any_instance(c: int, planes: int, stride: int) -> None:
    ref = _one_block("resnet50", "Bottleneck", c, 16, planes=planes, stride=stride)
    with torch.device("meta"):
        ours = _module("resnet50").Bottleneck(c, planes, stride=stride)
    assert _layout(ours) == _layout(ref)
    assert (ours.downsample is None) == (not hasattr(ref, "downsample"))


@settings(max_examples=15)
@given(
    c=st.integers(1, 64),
    chans=st.lists(st.integers(1, 48), min_size=6, max_size=6),
)
def test_inception_class_builds_any_instance(c: int, chans: list[int]) -> None:
    keys = ("ch1x1", "ch3x3red", "ch3x3", "ch5x5red", "ch5x5", "pool_proj")
    args = dict(zip(keys, chans))
    ref = _one_block("googlenet", "Inception", c, 12, **args)
    with torch.device("meta"):
        ours = _module("googlenet").Inception(c, **args)
    assert _layout(ours) == _layout(ref)


@settings(max_examples=15)
@given(
    c=st.integers(1, 32),
    out=st.integers(1, 32),
    k=st.integers(1, 5),
    s=st.integers(1, 3),
    p=st.integers(0, 2),
)
def test_basicconv2d_class_builds_any_instance(c: int, out: int, k: int, s: int, p: int) -> None:
    args = {"out_channels": out, "kernel_size": k, "stride": s, "padding": p}
    ref = _one_block("googlenet", "BasicConv2d", c, 16, **args)
    with torch.device("meta"):
        ours = _module("googlenet").BasicConv2d(c, **args)
    assert _layout(ours) == _layout(ref)
    assert ours.conv.stride == ref.conv.stride and ours.conv.padding == ref.conv.padding


@pytest.mark.parametrize("text", [ODD, STACKS, PROBE], ids=["odd", "stacks", "probe"])
def test_unusual_structures_match_compile(text: str) -> None:
    graph = build_graph(text)
    cls = getattr(_load(render_module(graph), graph.name), graph.class_name)
    torch.manual_seed(1)
    ref = archspec.compile(text)
    torch.manual_seed(1)
    ours = cls()
    assert _same_weights(ours, ref)
    x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(_train_outputs(ours, x, 3), _train_outputs(ref, x, 3))
    assert _same_weights(ours, ref)  # batch-norm statistics moved alike
    ours.eval()
    ref.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(x))


def test_structure_deciding_params_are_fixed_and_variants_named() -> None:
    source = render_module(build_graph(STACKS))
    assert "class Stack_2(nn.Module):" in source and "built for depth=3." in source
    assert "def __init__(self, width: int = 8) -> None:" in source  # n is a repeat count
    assert "Emitted with n=2." in source
    assert "self.b = Stack_2(width, 8)" in source  # b's input is a's output: `width`
    odd = render_module(build_graph(ODD))
    assert 'self.add_module("0", nn.Conv2d(in_channels, c, kernel_size=(kh, 1)' in odd
    assert "            self.aux(flat)  # (N, 5)" in odd  # read by nothing: run, not kept


def test_symbolic_values_reach_ops_as_code() -> None:
    from archspec.ops import REGISTRY

    attrs = dict(
        out_channels=Code("planes * 4"),
        kernel_size=1,
        stride=Code("stride"),
        padding=0,
        dilation=1,
        groups=1,
        bias=False,
        padding_mode="zeros",
        in_channels=Code("in_channels"),
    )
    text = REGISTRY["conv2d"].emit(attrs, lit)
    assert text == "nn.Conv2d(in_channels, planes * 4, kernel_size=1, stride=stride, bias=False)"


SPEC_PARAM_IN_BLOCK = """
archspec: 1
name: grouped
input: [N, 8, 8, 8]
params:
  groups: 4
  width_per_group: 2
blocks:
  Unit:
    params: {planes: int}
    let:
      width: planes * width_per_group * groups // 8
    layers:
      - {name: conv1, type: conv2d, out_channels: width, kernel_size: 1}
      - {name: conv2, type: conv2d, out_channels: width, kernel_size: 3, padding: 1, groups: groups}
      - {name: conv3, type: conv2d, out_channels: planes * groups, kernel_size: 1}
layers:
  - {name: a, type: Unit, planes: 4}
  - {name: b, type: Unit, planes: 8}
"""


def test_block_reading_spec_params_stays_one_class() -> None:
    """A block reading the spec's params (ResNeXt's `groups`) is one class whose own params
    stay arguments, the spec's written as the constants the network fixes them to; it was
    a class per `planes` (`Unit_2`, "built for planes=8")."""
    graph = build_graph(SPEC_PARAM_IN_BLOCK)
    source = render_module(graph)
    assert "Unit_2" not in source
    assert "def __init__(self, in_channels: int, planes: int) -> None:" in source
    assert "width = planes * 2 * 4 // 8" in source and "groups=4" in source
    assert "Emitted with groups=4, width_per_group=2." in source  # fixed in the network too
    cls = getattr(_load(source, graph.name), graph.class_name)
    torch.manual_seed(1)
    ref = archspec.compile(SPEC_PARAM_IN_BLOCK)
    torch.manual_seed(1)
    assert _same_weights(cls(), ref)


#: A `reshape` sized by a let over the input's width (a global-context block's
#: `shape: [0, 1, c, -1]`, `let: {c: in_channels}`).
WIDTHS = """archspec: 1
name: widths
input: [N, 16, H, W]
blocks:
  Flat:
    let: {c: in_channels}
    layers:
      - {name: r, type: reshape, shape: [0, c, -1]}
      - {name: back, type: reshape, shape: [0, c, 1, -1]}
layers:
  - {name: a, type: Flat}
  - {name: up, type: conv2d, out_channels: 32, kernel_size: 1}
  - {name: b, type: Flat}
"""


def test_a_width_forward_reads_is_stored_and_one_class_serves_every_width() -> None:
    source = archspec.emit(WIDTHS)
    assert "class Flat_2" not in source and "def __init__(self, in_channels: int)" in source
    assert "        c = in_channels\n        self.c = c\n" in source
    assert "x = x.reshape(x.size(0), self.c, -1)" in source
    assert "self.a = Flat(16)" in source and "self.b = Flat(32)" in source
    same_as_emitted(WIDTHS, torch.randn(2, 16, 3, 5))


def test_a_class_per_input_width_says_so_not_that_its_structure_differs() -> None:
    """Where `__init__` cannot store the width (a submodule takes the let's name, `self.c`),
    the reshape writes it as a number, so each width is a class of its own. Their structure
    is the same: the docstring says which width each class is for, where it said "(its
    structure differs)"."""
    text = WIDTHS.replace("    layers:\n", "    layers:\n      - {name: c, type: batchnorm2d}\n", 1)
    source = archspec.emit(text)
    assert "Variant 1 of 2 of block `Flat`, built for an input of 16 channels." in source
    assert "Variant 2 of 2 of block `Flat`, built for an input of 32 channels." in source
    assert "its structure differs" not in source


TOKEN_MLP = """\
archspec: 1
name: mixer
input: [N, 16, 8]
blocks:
  Mlp:
    let: {width: in_features}
    layers:
      - {name: fc1, type: linear, out_features: 2 * width}
      - {name: act, type: gelu}
      - {name: fc2, type: linear, out_features: width}
layers:
  - {name: t1, type: permute, dims: [0, 2, 1]}
  - {name: mlp_tokens, type: Mlp}
  - {name: t2, type: permute, dims: [0, 2, 1]}
  - {name: mlp_channels, type: Mlp}
"""


def test_a_class_that_takes_its_width_is_not_said_to_be_built_for_one() -> None:
    """An MLP-Mixer's MLP block over channels-last tokens, (N, L, C), takes C as its
    `in_channels` argument; its docstring said "built for an input of 8 channels", reading
    the token count at dim 1 as if it were the width the class was specialised for."""
    source = archspec.emit(TOKEN_MLP)
    generic = source[source.index("class Mlp(") : source.index("class Mlp_2(")]
    assert "def __init__(self, in_channels: int)" in generic
    assert "built for an input of" not in generic
    same_as_emitted(TOKEN_MLP, torch.randn(2, 16, 8))
