"""A network's `outputs:` as a mapping: forward returns an OrderedDict of those keys, as
torchvision's segmentation models do (`out`, `aux`). Before, `outputs:` took a list only, so a
ported FCN or DeepLab returned a tuple where torchvision's code reads `result["out"]`, and
`archspec import` refused a model returning a dict (E904). tests/keyed40/make_fixture.py
recorded torchvision's fcn_resnet50 and deeplabv3_resnet50 (aux_loss=True)."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
import yaml
from torch import nn
from torch.nn import functional as F

import archspec
from archspec.errors import ArchSpecError
from tests.keyed40.cases import FIXTURE, RECORDED
from tests.newuser36.facts import state_dict_facts
from tests.newuser38.facts import compiled_and_emitted
from tests.parity.weights import deterministic_input, output_summary, summary_matches

TESTS = Path(__file__).parent

SEG = """\
archspec: 1
name: seg
input: [N, 3, H, W]
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {name: head, type: conv2d, out_channels: 4, kernel_size: 1}
  - {name: aux_head, type: conv2d, out_channels: 4, kernel_size: 1, from: stem}
outputs: {out: head, aux: aux_head}
"""


def _emitted(text: str) -> nn.Module:
    module = types.ModuleType("emitted_seg")
    exec(compile(archspec.emit(text), "<emitted>", "exec"), module.__dict__)
    return module.Seg()


def _same_dicts(a: object, b: object) -> None:
    assert type(a) is OrderedDict and type(b) is OrderedDict
    assert list(a) == list(b)
    for key in a:
        assert torch.equal(a[key], b[key])


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RECORDED))
def test_the_spec_returns_torchvision_s_ordered_dict(name: str) -> None:
    case, record = RECORDED[name], json.loads(FIXTURE.read_text(encoding="utf-8"))[name]
    ours, emitted = compiled_and_emitted(str(TESTS / case["spec"]))
    assert sum(p.numel() for p in ours.parameters()) == record["param_count"]
    for model in (ours, emitted):  # `frozen:` in compile and emit alike
        assert [n for n, p in model.named_parameters() if not p.requires_grad] == record["frozen"]
    facts = state_dict_facts(ours.state_dict())
    assert facts == {k: record[k] for k in facts}
    for shape, expected in zip(case["inputs"], record["returned"], strict=True):
        x = deterministic_input(shape)
        with torch.no_grad():
            got, again = ours(x), emitted(x)
        _same_dicts(got, again)
        assert type(got).__name__ == expected["type"] == "OrderedDict"
        assert list(got) == expected["keys"]
    # the record is of float64 runs (make_fixture.py): it holds on any CPU's kernels
    ours.double()
    for shape, expected in zip(case["inputs"], record["returned"], strict=True):
        with torch.no_grad():
            got = ours(deterministic_input(shape).double())
        assert len(got) == len(expected["values"])
        for out, summary in zip(got.values(), expected["values"], strict=True):
            assert out.dtype == torch.float64
            assert summary_matches(output_summary(out), summary, rtol=1e-5) == []


def test_every_recorded_case_is_in_the_fixture() -> None:
    records = json.loads(FIXTURE.read_text(encoding="utf-8"))
    assert sorted(records) == sorted(RECORDED)
    assert records["resnet18_fpn_frozen"]["returned"][0]["keys"] == ["0", "1", "2", "3", "pool"]
    assert records["fcn_resnet50"]["returned"][0]["keys"] == ["out", "aux"]
    assert len(records["resnet18_fpn_frozen"]["frozen"]) == 5  # conv1, layer1's four convs


@pytest.mark.parametrize(
    "outputs",
    [
        "{out: head, aux: aux_head}",
        "{out: head}",  # one key: still a dict, as fcn_resnet50(aux_loss=False) returns
        '{"0": stem, "a b\\"": aux_head, out: head}',  # any printable text, in order
        "{x: input, y: head, z: head}",  # the input, and one node under two keys
    ],
)
def test_compile_and_emit_return_the_same_ordered_dict(outputs: str) -> None:
    text = SEG.replace("{out: head, aux: aux_head}", outputs)
    ours = archspec.compile(text).eval()
    emitted = _emitted(text).eval()
    emitted.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 9, 7)
    with torch.no_grad():
        _same_dicts(ours(x), emitted(x))
    assert list(ours(x)) == list(yaml.safe_load(text)["outputs"])


def test_a_training_only_entry_is_left_out_of_eval_s_dict() -> None:
    text = SEG.replace("from: stem}", "from: stem, train_only: true}")
    ours, emitted = archspec.compile(text), _emitted(text)
    emitted.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, 3, 8, 8)
    for training, keys in ((True, ["out", "aux"]), (False, ["out"])):
        ours.train(training)
        emitted.train(training)
        with torch.no_grad():
            got = ours(x)
            _same_dicts(got, emitted(x))
        assert list(got) == keys
    source = archspec.emit(text)
    assert 'return OrderedDict([("out", x)])' in source
    assert "-> OrderedDict[str, torch.Tensor]:" in source
    assert "Output: out (N, 4, H, W); in training mode followed by aux (N, 4, H, W)." in source


def test_fx_and_torch_export_keep_the_keys() -> None:
    model = archspec.compile(SEG).eval()
    x = torch.randn(2, 3, 8, 8)
    traced = torch.fx.symbolic_trace(model)
    assert list(traced(x)) == ["out", "aux"]
    batch = torch.export.Dim("batch")
    program = torch.export.export(model, (x,), dynamic_shapes=({0: batch},))
    got = program.module()(torch.randn(3, 3, 8, 8))
    assert list(got) == ["out", "aux"] and got["out"].shape == (3, 4, 8, 8)


def test_check_reports_each_output_s_key() -> None:
    report = archspec.check(SEG)
    assert report.ok and report.output_keys == ("out", "aux")
    data = report.to_dict()
    assert list(data)[list(data).index("outputs") + 1] == "output_keys"
    assert data["output_keys"] == ["out", "aux"]
    assert archspec.check(SEG.replace("outputs: {out: head, aux: aux_head}", "")).output_keys == ()


def test_the_cli_check_and_graph_name_the_keys(tmp_path: Path) -> None:
    spec = tmp_path / "seg.yaml"
    spec.write_text(SEG, encoding="utf-8")
    run = [sys.executable, "-m", "archspec"]
    out = subprocess.run([*run, "check", str(spec)], capture_output=True, text=True, check=True)
    assert "output  out: (N, 4, H, W), aux: (N, 4, H, W)" in out.stdout
    dot = subprocess.run([*run, "graph", str(spec)], capture_output=True, text=True, check=True)
    assert '[label="output out: head"' in dot.stdout
    assert '[label="output aux: aux_head"' in dot.stdout


@pytest.mark.parametrize(
    ("outputs", "code", "where", "words"),
    [
        ("{}", "E305", (8, 10), "empty mapping"),
        ("{out: nope}", "E305", (8, 16), "unknown reference `nope`"),
        ('{"": head}', "E204", (8, 11), "1 to 100 characters"),
        ('{"a\\tb": head}', "E204", (8, 11), "printable"),
        ("{out: [head]}", "E202", (8, 16), "expected a string"),
        ("{out: {each: head}}", "E202", (8, 16), "expected a string"),
        ("42", "E204", (8, 10), "or a mapping of keys to node names"),
        ('{out: "head{k}"}', "E302", (8, 16), "unknown name 'k'"),
    ],
)
def test_a_wrong_mapping_is_a_located_error(
    outputs: str, code: str, where: tuple[int, int], words: str
) -> None:
    text = SEG.replace("{out: head, aux: aux_head}", outputs)
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(text)
    (diag,) = [d for d in info.value.diagnostics if d.severity == "error"]
    assert diag.code == code and words in diag.message
    assert (diag.span.line, diag.span.col) == where


class _Heads(nn.Module):
    """A detector's heads returned as a dict (many user models do)."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Conv2d(3, 8, 3, padding=1)
        self.cls = nn.Conv2d(8, 5, 1)
        self.box = nn.Conv2d(8, 4, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = F.relu(self.body(x))
        return {"cls_logits": self.cls(f), "bbox_regression": self.box(f)}


class _OrderedHeads(_Heads):
    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        f = F.relu(self.body(x))
        out = OrderedDict()
        out["bbox_regression"] = self.box(f)
        out["cls_logits"] = self.cls(f)
        return out


@pytest.mark.parametrize("cls", [_Heads, _OrderedHeads])
def test_import_of_a_model_returning_a_dict_writes_the_mapping(cls: type[nn.Module]) -> None:
    model = cls().eval()
    x = torch.randn(2, 3, 12, 10)
    text = archspec.from_module(model, x)
    keys = list(model(x))
    assert f"outputs: {{{keys[0]}: " in text
    ours = archspec.compile(text).eval()
    ours.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        got, want = ours(x), model(x)
    assert type(got) is OrderedDict and list(got) == keys
    for key in keys:
        torch.testing.assert_close(got[key], want[key])


class DictBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"feat": self.conv(x)}


class _ReadsADictBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = DictBlock()
        self.head = nn.Conv2d(4, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(x)["feat"])


def test_a_child_s_dict_of_one_tensor_read_by_key_is_its_output() -> None:
    # fcn_resnet50 without aux_loss: its backbone returns {"out": layer4}, read by key; the
    # block returns the tensor (before: E903 at the key read, E904 at the block)
    model = _ReadsADictBlock().eval()
    x = torch.randn(2, 3, 8, 8)
    text = archspec.from_module(model, x)
    assert "{name: backbone, type: DictBlock}" in text
    ours = archspec.compile(text).eval()
    ours.load_state_dict(model.state_dict(), strict=True)
    torch.testing.assert_close(ours(x), model(x))


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::FutureWarning")  # from torch.onnx's own internals
def test_onnx_export_of_a_mapping_names_its_outputs_by_key(tmp_path: Path) -> None:
    import onnx  # the dev extra's `onnx` (tests/test_interop.py checks the hint without it)

    from archspec.interop import export_onnx

    model = archspec.compile(SEG).eval()
    path = export_onnx(model, torch.randn(1, 3, 8, 8), tmp_path / "seg.onnx")  # by its keys
    assert [o.name for o in onnx.load(str(path)).graph.output] == ["out", "aux"]
    path = export_onnx(
        model, torch.randn(1, 3, 8, 8), tmp_path / "named.onnx", output_names=["o", "a"]
    )
    assert [o.name for o in onnx.load(str(path)).graph.output] == ["o", "a"]


class IntermediateLayerGetter(nn.ModuleDict):
    """torchvision.models._utils.IntermediateLayerGetter as torchvision 0.29 writes it (less
    its checks), so the import of a segmentation model is tested without torchvision."""

    _version = 2

    def __init__(self, model: nn.Module, return_layers: dict[str, str]) -> None:
        layers = OrderedDict()
        left = dict(return_layers)
        for name, module in model.named_children():
            layers[name] = module
            left.pop(name, None)
            if not left:
                break
        super().__init__(layers)
        self.return_layers = return_layers

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        out = OrderedDict()
        for name, module in self.items():
            x = module(x)
            if name in self.return_layers:
                out[self.return_layers[name]] = x
        return out


class _Segmenter(nn.Module):
    """torchvision's _SimpleSegmentationModel over a small backbone."""

    def __init__(self) -> None:
        super().__init__()
        body = nn.Sequential(
            OrderedDict(
                conv1=nn.Conv2d(3, 8, 3, stride=2, padding=1),
                relu=nn.ReLU(),
                layer1=nn.Conv2d(8, 16, 3, stride=2, padding=1),
                layer2=nn.Conv2d(16, 32, 3, padding=2, dilation=2),
                fc=nn.Linear(32, 10),  # left out, as IntermediateLayerGetter leaves it
            )
        )
        self.backbone = IntermediateLayerGetter(body, {"layer2": "out", "layer1": "aux"})
        self.classifier = nn.Conv2d(32, 5, 1)
        self.aux_classifier = nn.Conv2d(16, 5, 1)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        input_shape = x.shape[-2:]
        features = self.backbone(x)
        result = OrderedDict()
        x = features["out"]
        x = self.classifier(x)
        x = F.interpolate(x, size=input_shape, mode="bilinear", align_corners=False)
        result["out"] = x
        x = features["aux"]
        x = self.aux_classifier(x)
        x = F.interpolate(x, size=input_shape, mode="bilinear", align_corners=False)
        result["aux"] = x
        return result


def test_import_of_a_segmentation_model_reading_its_backbone_s_dict_by_key() -> None:
    # the backbone returns {"aux": layer1, "out": layer2}, read by key: a block of several
    # outputs, its call's `names` read where forward reads the keys (before: E903 at
    # `features["out"]`, E904 at the backbone)
    model = _Segmenter().eval()
    x = torch.randn(2, 3, 21, 19)
    text = archspec.from_module(model, x)
    assert "type: IntermediateLayerGetter, names: [" in text
    assert "outputs: {out: " in text
    ours = archspec.compile(text).eval()
    ours.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        got, want = ours(x), model(x)
    assert type(got) is OrderedDict and list(got) == list(want) == ["out", "aux"]
    for key in want:
        torch.testing.assert_close(got[key], want[key])


def _body() -> nn.Sequential:
    return nn.Sequential(OrderedDict(conv1=nn.Conv2d(3, 8, 3), layer1=nn.Conv2d(8, 8, 3)))


class _ReturnsTheBackbone(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = IntermediateLayerGetter(_body(), {"conv1": "c1", "layer1": "c2"})

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.backbone(x)  # as BackboneWithFPN returns its FPN's dict


class _Wrapper(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.inner = _ReturnsTheBackbone()
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.inner(x)["c2"])


def test_a_child_s_dict_returned_by_the_network_is_its_mapping() -> None:
    model = _ReturnsTheBackbone().eval()
    x = torch.randn(1, 3, 12, 12)
    text = archspec.from_module(model, x)
    assert "outputs: {c1: backbone_0, c2: backbone_1}" in text
    ours = archspec.compile(text).eval()
    ours.load_state_dict(model.state_dict(), strict=True)
    got, want = ours(x), model(x)
    assert list(got) == list(want) == ["c1", "c2"]
    assert all(torch.equal(got[k], want[k]) for k in want)


def test_a_block_returning_a_child_s_dict_whole_returns_its_maps() -> None:
    # refused in session 40 (E904 at the call); since session 41 the block returns the
    # dict's maps in order, and its caller's `["c2"]` reads the second
    model = _Wrapper().eval()
    x = torch.randn(1, 3, 12, 12)
    text = archspec.from_module(model, x)
    assert "{name: inner, type: ReturnsTheBackbone, names: [inner_0, inner_1]}" in text
    ours = archspec.compile(text).eval()
    ours.load_state_dict(model.state_dict(), strict=True)
    with torch.no_grad():
        assert torch.equal(ours(x), model(x))


def test_a_block_s_outputs_as_a_mapping_says_the_network_alone_takes_one() -> None:
    text = """\
archspec: 1
name: bo
input: [N, 3, H, W]
blocks:
  Two:
    layers:
      - {name: a, type: conv2d, out_channels: 4, kernel_size: 1}
      - {name: b, type: conv2d, out_channels: 4, kernel_size: 1, from: input}
    outputs: {x: a, y: b}
layers:
  - {name: t, type: Two, names: [p, q]}
"""
    with pytest.raises(ArchSpecError) as info:
        archspec.compile(text)
    (diag,) = info.value.diagnostics
    assert diag.code == "E204" and (diag.span.line, diag.span.col) == (9, 14)
    assert "only the network's `outputs:` takes a mapping" in diag.message
