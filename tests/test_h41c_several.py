"""Modules that pass each other several tensors at once, in a list or a dict, as detection and
segmentation code does: a YOLO head given `[p3, p4, p5]`, torchvision's LRASPP head reading
`input["low"]` and `input["high"]`, its FeaturePyramidNetwork walking the OrderedDict it is
given. A spec states them as blocks of several inputs, one per tensor in the container's
order, and a child's dict given whole to another as that child's outputs, one name each.
Before, `archspec import` refused each (E904 'passes `self.detect` a list', E903 'reads the
key 'low' of `input_1`, a dict', E902 at FPN's `list(x.keys())`). tests/h41c/make_fixture.py
recorded torchvision's lraspp_mobilenet_v3_large and resnet_fpn_backbone("resnet18") and the
specs `archspec import` wrote of them."""

from __future__ import annotations

import json
import types
from collections import OrderedDict
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import archspec
from archspec.errors import ImportFailure
from tests.h41c.cases import FIXTURE, HERE, RECORDED
from tests.newuser36.facts import state_dict_facts
from tests.newuser38.facts import compiled_and_emitted
from tests.parity.weights import deterministic_input, output_summary, summary_matches
from tests.test_keyed40 import IntermediateLayerGetter


def _same(got: Any, want: Any) -> int:
    """Assert two forward results hold equal tensors, a dict's under the same keys in order;
    the number of tensors compared."""
    if isinstance(want, dict):
        assert type(got) is OrderedDict and list(got) == list(want)
        got, want = list(got.values()), list(want.values())
    if isinstance(want, torch.Tensor):
        got, want = [got], [want]
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    return len(want)


def imported(model: nn.Module, shape: tuple[int, ...] = (1, 3, 32, 32)) -> str:
    """Import `model`, compile and emit the spec, load the model's weights into both
    (strict) and assert that both return what the model returns at another size."""
    model.eval()
    text = archspec.from_module(model, torch.zeros(shape))
    ours = archspec.compile(text).eval()
    module = types.ModuleType("emitted_h41c")
    exec(compile(archspec.emit(text), "<emitted h41c>", "exec"), module.__dict__)
    emitted = getattr(module, type(ours).__name__)().eval()
    for twin in (ours, emitted):
        assert list(twin.state_dict()) == list(model.state_dict())
        twin.load_state_dict(model.state_dict(), strict=True)
    x = torch.randn(2, 3, 37, 45, generator=torch.Generator().manual_seed(41))
    with torch.no_grad():
        want = model(x)
        assert _same(ours(x), want) == _same(emitted(x), want) >= 1
    return text


def _strided(cin: int, cout: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=2, padding=1)


# 1. a list of maps given to a head


class ZipDetect(nn.Module):
    """A YOLO-style head: one conv per scale, over the list it is given."""

    def __init__(self, channels: tuple[int, ...] = (8, 16, 32), outputs: int = 6) -> None:
        super().__init__()
        self.m = nn.ModuleList(nn.Conv2d(c, outputs, 1) for c in channels)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [m(x) for m, x in zip(self.m, xs)]


class IndexDetect(ZipDetect):
    """YOLOv5's Detect: each map replaced in the list by its conv's output."""

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        for i in range(len(self.m)):
            x[i] = self.m[i](x[i])
        return x


class Yolo(nn.Module):
    def __init__(self, head: type[nn.Module]) -> None:
        super().__init__()
        self.c1, self.c2, self.c3 = _strided(3, 8), _strided(8, 16), _strided(16, 32)
        self.detect = head()

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        c1 = self.c1(x)
        c2 = self.c2(c1)
        return self.detect([c1, c2, self.c3(c2)])


@pytest.mark.parametrize("head", [ZipDetect, IndexDetect])
def test_a_head_given_a_list_of_maps_reads_one_input_per_map(head: type[nn.Module]) -> None:
    text = imported(Yolo(head))
    assert "inputs: [xs_1, xs_2, xs_3]" in text or "inputs: [x_1, x_2, x_3]" in text
    assert f"type: {head.__name__}, from: [c1, c2, c3], names: [" in text


class OneMap(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1 = _strided(3, 8)
        self.detect = ZipDetect((8,))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.detect([self.c1(x)])[0]


def test_a_list_of_one_map_is_the_block_s_one_input() -> None:
    text = imported(OneMap())
    assert "{name: detect, type: ZipDetect}" in text


# 2. a dict of maps given to a head, read by key


class LRASPPHead(nn.Module):
    """torchvision's LRASPPHead as 0.29 writes it, at small widths."""

    def __init__(self, low: int, high: int, classes: int, inter: int) -> None:
        super().__init__()
        self.cbr = nn.Sequential(
            nn.Conv2d(high, inter, 1, bias=False), nn.BatchNorm2d(inter), nn.ReLU(inplace=True)
        )
        self.scale = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Conv2d(high, inter, 1, bias=False), nn.Sigmoid()
        )
        self.low_classifier = nn.Conv2d(low, classes, 1)
        self.high_classifier = nn.Conv2d(inter, classes, 1)

    def forward(self, input: dict[str, torch.Tensor]) -> torch.Tensor:  # noqa: A002
        low = input["low"]
        high = input["high"]
        x = self.cbr(high)
        s = self.scale(high)
        x = x * s
        x = F.interpolate(x, size=low.shape[-2:], mode="bilinear", align_corners=False)
        return self.low_classifier(low) + self.high_classifier(x)


class LRASPP(nn.Module):
    """torchvision's LRASPP over a small backbone."""

    def __init__(self) -> None:
        super().__init__()
        body = nn.Sequential(_strided(3, 8), nn.ReLU(), _strided(8, 16), _strided(16, 24))
        self.backbone = IntermediateLayerGetter(body, {"1": "low", "3": "high"})
        self.classifier = LRASPPHead(8, 24, 5, 12)

    def forward(self, input: torch.Tensor) -> dict[str, torch.Tensor]:  # noqa: A002
        features = self.backbone(input)
        out = self.classifier(features)
        out = F.interpolate(out, size=input.shape[-2:], mode="bilinear", align_corners=False)
        result = OrderedDict()
        result["out"] = out
        return result


def test_a_head_given_its_backbone_s_dict_reads_each_key_as_an_input() -> None:
    text = imported(LRASPP())
    assert "inputs: [low, high]" in text  # named by the keys
    assert "{name: classifier, type: LRASPPHead, from: [backbone_0, backbone_1]}" in text
    assert "outputs: {out: " in text


class Fuse(nn.Module):
    """A head given a dict built in forward, whose keys name no input ('0', 'class')."""

    def __init__(self) -> None:
        super().__init__()
        self.proj = nn.Conv2d(16, 8, 1)

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        top = F.interpolate(self.proj(feats["class"]), size=feats["0"].shape[-2:])
        return feats["0"] + top


class Fused(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1, self.c2 = _strided(3, 8), _strided(8, 16)
        self.fuse = Fuse()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.c1(x)
        return self.fuse({"0": a, "class": self.c2(a)})


def test_a_dict_built_in_forward_keeps_fx_s_names_where_its_keys_name_no_input() -> None:
    text = imported(Fused(), (1, 3, 32, 32))
    assert "inputs: [feats_1, feats_2]" in text
    assert "{name: fuse, type: Fuse, from: [c1, c2]}" in text


# 3. torchvision's feature pyramid: a dict walked, and a stateless extra block given text


class Conv(nn.Sequential):
    """torchvision's Conv2dNormActivation without norm and activation, as the FPN builds it."""

    def __init__(self, cin: int, cout: int, k: int) -> None:
        super().__init__(nn.Conv2d(cin, cout, k, padding=k // 2))


class LastLevelMaxPool(nn.Module):
    """torchvision.ops.feature_pyramid_network's, as 0.29 writes it."""

    def forward(
        self, x: list[torch.Tensor], y: list[torch.Tensor], names: list[str]
    ) -> tuple[list[torch.Tensor], list[str]]:
        names.append("pool")
        x.append(F.max_pool2d(x[-1], kernel_size=1, stride=2, padding=0))
        return x, names


class FeaturePyramidNetwork(nn.Module):
    """torchvision.ops.FeaturePyramidNetwork's forward as 0.29 writes it (less its checks)."""

    def __init__(self, channels: list[int], out: int, extra: nn.Module | None) -> None:
        super().__init__()
        self.inner_blocks = nn.ModuleList(Conv(c, out, 1) for c in channels)
        self.layer_blocks = nn.ModuleList(Conv(out, out, 3) for _ in channels)
        self.extra_blocks = extra

    def _inner(self, x: torch.Tensor, idx: int) -> torch.Tensor:
        idx = idx + len(self.inner_blocks) if idx < 0 else idx
        out = x
        for i, module in enumerate(self.inner_blocks):
            if i == idx:
                out = module(x)
        return out

    def _layer(self, x: torch.Tensor, idx: int) -> torch.Tensor:
        idx = idx + len(self.layer_blocks) if idx < 0 else idx
        out = x
        for i, module in enumerate(self.layer_blocks):
            if i == idx:
                out = module(x)
        return out

    def forward(self, x: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        names = list(x.keys())
        x = list(x.values())
        last_inner = self._inner(x[-1], -1)
        results = [self._layer(last_inner, -1)]
        for idx in range(len(x) - 2, -1, -1):
            inner_lateral = self._inner(x[idx], idx)
            top_down = F.interpolate(last_inner, size=inner_lateral.shape[-2:], mode="nearest")
            last_inner = inner_lateral + top_down
            results.insert(0, self._layer(last_inner, idx))
        if self.extra_blocks is not None:
            results, names = self.extra_blocks(results, x, names)
        return OrderedDict([(k, v) for k, v in zip(names, results)])


class BackboneWithFPN(nn.Module):
    def __init__(self, extra: nn.Module | None) -> None:
        super().__init__()
        body = nn.Sequential(
            OrderedDict(
                conv1=_strided(3, 8), layer1=_strided(8, 16), layer2=_strided(16, 32), fc=nn.ReLU()
            )
        )
        self.body = IntermediateLayerGetter(body, {"conv1": "0", "layer1": "1", "layer2": "2"})
        self.fpn = FeaturePyramidNetwork([8, 16, 32], 12, extra)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.fpn(self.body(x))


@pytest.mark.parametrize("extra", [None, LastLevelMaxPool()])
def test_a_feature_pyramid_over_a_backbone_s_dict_returns_its_keys(extra: Any) -> None:
    text = imported(BackboneWithFPN(extra))
    assert "{name: fpn, type: FeaturePyramidNetwork, from: [body_0, body_1, body_2]" in text
    keys = "{'0': fpn_0, '1': fpn_1, '2': fpn_2" + (", pool: fpn_3}" if extra else "}")
    assert f"outputs: {keys}" in text
    # the extra block, which holds nothing, is computed in the pyramid's own forward
    assert ("type: maxpool2d, kernel_size: 1, stride: 2" in text) is (extra is not None)


# 4. a child's dict walked by its caller (RetinaNet's `list(features.values())`)


def _pick(feats: dict[str, torch.Tensor]) -> torch.Tensor:
    return feats.get("high")


class Picks(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = LRASPP().backbone

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _pick(self.backbone(x))


class RegressionHead(nn.Module):
    """torchvision's RetinaNetRegressionHead's walk: one conv over each map of a list."""

    def __init__(self) -> None:
        super().__init__()
        self.bbox_reg = nn.Conv2d(12, 4, 3, padding=1)

    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        out = []
        for features in x:
            out.append(self.bbox_reg(features).flatten(2))
        return torch.cat(out, dim=2)


class Retina(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = BackboneWithFPN(LastLevelMaxPool())
        self.head = RegressionHead()

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        features = self.backbone(x)
        features = list(features.values())
        return {"bbox_regression": self.head(features), "last": features[-1]}


def test_a_child_s_dict_read_as_python_reads_a_dict_is_its_maps() -> None:
    # before: `feats.get("high")` was E903 ('no layer kind computes the tensor method
    # `.get()`'), `list(features.values())` E902 (fx cannot iterate the call's one value):
    # the model's run tells the caller's trace the keys the child returns
    assert "{name: backbone, type: IntermediateLayerGetter, names: [" in imported(Picks())
    text = imported(Retina())
    assert "{name: head, type: RegressionHead, from: [backbone_0, backbone_1, backbone_2" in text


class SequentialList(nn.Sequential):
    """timm's SelecSLS: an nn.Sequential walking the list each item returns."""

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        for module in self:
            x = module(x)
        return x


class SelecBlock(nn.Module):
    """timm's SelecSlsBlock, small: the first of a stage returns its output twice, the
    others concatenate the stage's skip, `x[1]`, and return it on."""

    def __init__(self, cin: int, skip: int, cout: int, is_first: bool) -> None:
        super().__init__()
        self.is_first = is_first
        self.conv1 = nn.Conv2d(cin, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8 + (0 if is_first else skip), cout, 1)

    def forward(self, x: list[torch.Tensor]) -> list[torch.Tensor]:
        if not isinstance(x, list):
            x = [x]
        d1 = self.conv1(x[0])
        if self.is_first:
            out = self.conv2(d1)
            return [out, out]
        return [self.conv2(torch.cat([d1, x[1]], 1)), x[1]]


class SelectSeq(nn.Module):
    def forward(self, x: list[torch.Tensor]) -> torch.Tensor:
        return x[0]


class SelecSls(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = _strided(3, 8)
        blocks = [SelecBlock(8, 0, 16, True), SelecBlock(16, 16, 16, False)]
        self.features = SequentialList(*blocks, SelecBlock(16, 16, 24, False))
        self.from_seq = SelectSeq()
        self.head = nn.Conv2d(24, 5, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.from_seq(self.features([self.stem(x)])))


def test_a_chain_of_blocks_passing_lists_on_is_one_block_call_each() -> None:
    # before: E904 'SelecSls.forward passes `self.features` a list'; then, given the list,
    # the chain's two outputs of `self.0` were both named `node` (fx names it `_0`), a
    # block returning the input `x[1]` did not merge, and SelectSeq's `x[0]` was an
    # identity reading both maps
    text = imported(SelecSls())
    assert "{name: from_seq, type: identity, from: features_0}" in text
    assert "outputs: [conv2, x_2]" in text


class LastLevelP6P7(nn.Module):
    """torchvision's RetinaNet extra block, as 0.29 writes it: it holds layers."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.p6 = nn.Conv2d(channels, channels, 3, 2, 1)
        self.p7 = nn.Conv2d(channels, channels, 3, 2, 1)

    def forward(
        self, p: list[torch.Tensor], c: list[torch.Tensor], names: list[str]
    ) -> tuple[list[torch.Tensor], list[str]]:
        p6 = self.p6(p[-1])
        p7 = self.p7(F.relu(p6))
        p.extend([p6, p7])
        names.extend(["p6", "p7"])
        return p, names


def test_an_extra_block_holding_layers_is_refused_naming_what_is_iterated() -> None:
    # before: E902 'it iterates a value computed in forward (`*size`, `for v in t`, a tuple
    # a child returns)', which named neither the child nor what to do
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(BackboneWithFPN(LastLevelP6P7(12)).eval(), torch.zeros(1, 3, 32, 32))
    (found,) = info.value.diagnostics
    assert found.code == "E902"
    assert "it iterates a value computed in forward, what `self.extra_blocks` returns" in (
        found.message
    )
    assert "LastLevelP6P7" in (found.hint or "")
    line = FeaturePyramidNetwork.forward.__code__.co_firstlineno + 12
    assert found.span is not None and found.span.line == line  # `zip(names, results)`


class Writes(nn.Module):
    """A head that writes into the dict it is given: a replaced map, or a new key."""

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key
        self.conv = nn.Conv2d(16, 8, 1)

    def forward(self, feats: dict[str, torch.Tensor]) -> torch.Tensor:
        feats[self.key] = self.conv(feats["b"])
        return feats["a"]


class ReadsAfter(nn.Module):
    def __init__(self, key: str) -> None:
        super().__init__()
        self.a, self.b = _strided(3, 8), _strided(8, 16)
        self.head = Writes(key)
        self.key = key

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.a(x)
        feats = {"a": a, "b": F.interpolate(self.b(a), size=a.shape[-2:])}
        first = self.head(feats)
        return first + feats[self.key]


@pytest.mark.parametrize("key", ["a", "new"])
def test_a_dict_read_after_a_child_wrote_into_it_is_refused_where_it_is_read(key: str) -> None:
    # before: 'the imported spec computes other outputs than the model' for a replaced map
    # (the trace read the map as it was), E902 "cannot trace ...: 'new'" for a new key
    with pytest.raises(ImportFailure) as info:
        archspec.from_module(ReadsAfter(key).eval(), torch.zeros(1, 3, 32, 32))
    (found,) = info.value.diagnostics
    assert found.code == "E904"
    assert "reads a dict after `self.head` changed it" in found.message
    line = ReadsAfter.forward.__code__.co_firstlineno + 4
    assert found.span is not None and found.span.line == line


# 5. torchvision's own models, as recorded


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RECORDED))
def test_the_imported_spec_is_torchvision_s_model(name: str) -> None:
    case, record = RECORDED[name], json.loads(FIXTURE.read_text(encoding="utf-8"))[name]
    ours, emitted = compiled_and_emitted(str(HERE / f"{name}.yaml"))
    assert sum(p.numel() for p in ours.parameters()) == record["param_count"]
    assert [n for n, p in ours.named_parameters() if not p.requires_grad] == record["frozen"]
    facts = state_dict_facts(ours.state_dict())
    assert facts == {k: record[k] for k in facts}
    for shape, expected in zip(case["inputs"], record["returned"], strict=True):
        x = deterministic_input(shape)
        with torch.no_grad():
            got, again = ours(x), emitted(x)
        assert _same(got, again) == len(expected["keys"])
        assert type(got).__name__ == expected["type"] == "OrderedDict"
        assert list(got) == expected["keys"]
    # the record is of float64 runs (make_fixture.py): it holds on any CPU's kernels
    ours.double()
    compared = 0
    for shape, expected in zip(case["inputs"], record["returned"], strict=True):
        with torch.no_grad():
            got = ours(deterministic_input(shape).double())
        for out, summary in zip(got.values(), expected["values"], strict=True):
            assert out.dtype == torch.float64
            assert summary_matches(output_summary(out), summary, rtol=1e-5) == []
            compared += 1
    assert compared == sum(len(r["keys"]) for r in record["returned"]) >= 2


def test_the_fixture_holds_each_case() -> None:
    records = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert sorted(records) == sorted(RECORDED)
    assert records["resnet18_fpn"]["returned"][0]["keys"] == ["0", "1", "2", "3", "pool"]
    assert records["lraspp_mobilenet_v3_large"]["returned"][0]["keys"] == ["out"]


# 6. the same written in YAML, from docs/spec-language.md


def _doc_spec(name: str) -> str:
    """The ```yaml block of docs/spec-language.md whose spec is `name`."""
    text = (HERE.parent.parent / "docs" / "spec-language.md").read_text(encoding="utf-8")
    at = text.index(f"\nname: {name}\n")
    return text[text.rindex("```yaml\n", 0, at) + 8 : text.index("```", at)]


class Backbone(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.stem, self.c3 = _strided(3, width), _strided(width, width * 2)
        self.c4, self.c5 = _strided(width * 2, width * 4), _strided(width * 4, width * 8)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        c3 = self.c3(self.stem(x))
        c4 = self.c4(c3)
        return c3, c4, self.c5(c4)


class TinyDetector(nn.Module):
    """The doc's tiny_detector as torchvision and YOLO write its parts."""

    def __init__(self, width: int = 8, out: int = 32) -> None:
        super().__init__()
        self.backbone = Backbone(width)
        self.fpn = FeaturePyramidNetwork([width * 2, width * 4, width * 8], out, LastLevelMaxPool())
        self.detect = ZipDetect((out, out, out), 3 * (4 + 5))

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = self.fpn(OrderedDict(zip("012", self.backbone(x), strict=True)))
        p3, p4, p5, pool = feats.values()
        d3, d4, d5 = self.detect([p3, p4, p5])
        return OrderedDict([("0", d3), ("1", d4), ("2", d5), ("pool", pool)])


def _compare_spec(text: str, model: nn.Module, shapes: list[tuple[int, ...]]) -> int:
    """Compile `text`, load `model`'s state_dict (same keys in order, strict) and compare
    the outputs at each shape; the number of tensors compared."""
    ours = archspec.compile(text).eval()
    model.eval()
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in model.state_dict().items()
    ]
    ours.load_state_dict(model.state_dict(), strict=True)
    compared = 0
    for shape in shapes:
        x = torch.randn(shape, generator=torch.Generator().manual_seed(7))
        with torch.no_grad():
            compared += _same(ours(x), model(x))
    return compared


def test_the_doc_s_pyramid_and_yolo_head_are_torchvision_s_and_yolo_s() -> None:
    text = _doc_spec("tiny_detector")
    assert archspec.check(text).ok
    assert _compare_spec(text, TinyDetector(), [(2, 3, 64, 64), (1, 3, 45, 77)]) == 8


LRASPP_SPEC = """\
archspec: 1
name: small_lraspp
input: [N, 3, H, W]
blocks:
  Backbone:
    layers:
      - {key: "0", type: conv2d, out_channels: 8, kernel_size: 3, stride: 2, padding: 1}
      - {key: "1", type: relu}
      - {key: "2", type: conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
      - {key: "3", type: conv2d, out_channels: 24, kernel_size: 3, stride: 2, padding: 1}
    outputs: ["1", "3"]
  LRASPPHead:
    inputs: [low, high]
    params: {classes: int, inter: int}
    layers:
      - name: cbr
        type: sequential
        from: high
        layers:
          - {type: conv2d, out_channels: inter, kernel_size: 1, bias: false}
          - {type: batchnorm2d}
          - {type: relu, inplace: true}
      - name: scale
        type: sequential
        from: high
        layers:
          - {type: adaptive_avgpool2d, output_size: 1}
          - {type: conv2d, out_channels: inter, kernel_size: 1, bias: false}
          - {type: sigmoid}
      - {name: gated, type: mul, from: [cbr, scale]}
      - {name: up, type: interpolate_as, from: [gated, low], mode: bilinear, align_corners: false}
      - {name: low_classifier, type: conv2d, from: low, out_channels: classes, kernel_size: 1}
      - {name: high_classifier, type: conv2d, from: up, out_channels: classes, kernel_size: 1}
      - {type: add, from: [low_classifier, high_classifier]}
layers:
  - {name: backbone, type: Backbone, names: [low, high]}
  - {name: classifier, type: LRASPPHead, classes: 5, inter: 12, from: [low, high]}
  - name: out
    type: interpolate_as
    from: [classifier, input]
    mode: bilinear
    align_corners: false
outputs: {out: out}
"""


def test_an_lraspp_head_written_as_a_block_of_two_inputs_is_torchvision_s() -> None:
    assert _compare_spec(LRASPP_SPEC, LRASPP(), [(2, 3, 64, 64), (1, 3, 45, 77)]) == 2
