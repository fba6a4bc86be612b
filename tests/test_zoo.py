"""The seed zoo: every spec compiles, has the published parameter count, runs, and behaves
like a plain nn.Module (print, deepcopy, save/load, torch.compile, torch.export)."""

from __future__ import annotations

import copy
import io

import pytest
import torch

import archspec

from .conftest import ROOT, SPECS, spec_names, spec_source, zoo_params

PARAMS = {
    "lenet5": 61_706,
    "lenet5_1998": 60_000,
    "alexnet": 62_378_344,
    "alexnet_torchvision": 61_100_840,
    "vgg11": 132_863_336,
    "vgg11_bn": 132_868_840,
    "vgg13": 133_047_848,
    "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240,
    "vgg19_bn": 143_678_248,
    "googlenet": 13_004_888,
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
}


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_every_spec_has_a_known_count() -> None:
    """The seed zoo's counts are here; a torchvision twin's is the zoo fixture's, which
    tests/test_zoo_parity.py checks."""
    import json

    twins = set(json.loads((ROOT / "tests" / "parity" / "zoo.json").read_text())["models"])
    others = set(spec_names()) - set(PARAMS) - {"vgg_custom"}
    assert set(PARAMS) <= set(spec_names())
    assert others <= twins, others - twins


@pytest.mark.parametrize("name", sorted(PARAMS))
def test_parameter_count(name: str) -> None:
    model = archspec.compile(spec_source(name), device="meta")
    assert n_params(model) == PARAMS[name]


def test_googlenet_without_aux_logits() -> None:
    model = archspec.compile(SPECS / "googlenet.yaml", aux_logits=False, device="meta")
    assert n_params(model) == 6_624_904
    assert not hasattr(model, "aux1")


@pytest.mark.parametrize("name", zoo_params(spec_names(), share=(1, 2)))
def test_forward_gives_declared_output_shape(name: str) -> None:
    graph = archspec.build_graph(spec_source(name))
    shape = [2 if not d.is_const else d.value for d in graph.input_shape]
    (out_shape,) = [s for s, o in zip(graph.output_shapes, graph.root.outputs) if not o.train_only]
    model = archspec.compile(spec_source(name)).eval()
    with torch.no_grad():
        y = model(torch.randn(*shape))
    expected = [shape[0] if not d.is_const else d.value for d in out_shape]
    assert list(y.shape) == expected


SEED_PRINT = """\
Sequential(
  (0): Conv2d(3, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (1): ReLU(inplace=True)
  (2): Conv2d(64, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (3): ReLU(inplace=True)
  (4): Conv2d(64, 64, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (5): ReLU(inplace=True)
  (6): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (7): Conv2d(64, 128, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (8): ReLU(inplace=True)
  (9): Conv2d(128, 128, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (10): ReLU(inplace=True)
  (11): Conv2d(128, 128, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (12): ReLU(inplace=True)
  (13): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (14): Conv2d(128, 256, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (15): ReLU(inplace=True)
  (16): Conv2d(256, 256, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (17): ReLU(inplace=True)
  (18): Conv2d(256, 256, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
  (19): ReLU(inplace=True)
  (20): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
)"""


def test_vgg_custom_features_print_as_the_seed_notes() -> None:
    """The seed notes print make_layers(cfg['custom']) in torch 1.x, where ReLU printed as
    `ReLU(inplace)`; today's torch prints `ReLU(inplace=True)` for the same module."""
    features = archspec.compile(SPECS / "vgg_custom.yaml").features
    assert isinstance(features, torch.nn.Sequential)
    assert len(features) == 21
    assert repr(features) == SEED_PRINT


def test_vgg_custom_infers_classifier_features() -> None:
    model = archspec.compile(SPECS / "vgg_custom.yaml", device="meta")
    assert model.classifier[0].in_features == 256 * 7 * 7


def test_print_reads_like_torchvision() -> None:
    text = repr(archspec.compile("resnet18", device="meta"))
    assert text.startswith("ResNet18(\n  (conv1): Conv2d(3, 64, kernel_size=(7, 7)")
    assert "(layer2): Sequential(\n    (0): BasicBlock(" in text
    assert "(downsample): Sequential(" in text


def test_params_override_changes_the_model() -> None:
    model = archspec.load("resnet18", num_classes=10)
    assert model.fc.out_features == 10
    assert archspec.compile("vgg16_bn", device="meta").features[1].__class__.__name__ == (
        "BatchNorm2d"
    )


@pytest.mark.parametrize("name", ["lenet5", "googlenet", "resnet18"])
def test_deepcopy_and_save_load_round_trip(name: str) -> None:
    torch.manual_seed(0)
    model = archspec.load(name).eval()
    shape = (1, 1, 32, 32) if name == "lenet5" else (1, 3, 96, 96)
    x = torch.randn(*shape)
    with torch.no_grad():
        ref = model(x)
        twin = copy.deepcopy(model)
        assert torch.equal(twin(x), ref)
        buf = io.BytesIO()
        torch.save(model, buf)
        buf.seek(0)
        loaded = torch.load(buf, weights_only=False)
        assert torch.equal(loaded(x), ref)
        assert type(loaded).__name__ == type(model).__name__


def test_googlenet_train_mode_returns_aux_outputs() -> None:
    model = archspec.load("googlenet").train()
    out = model(torch.randn(2, 3, 224, 224))
    assert isinstance(out, tuple) and len(out) == 3
    assert all(o.shape == (2, 1000) for o in out)
    model.eval()
    with torch.no_grad():
        assert model(torch.randn(1, 3, 224, 224)).shape == (1, 1000)


def test_init_rules_are_applied() -> None:
    torch.manual_seed(0)
    model = archspec.load("vgg11")
    assert torch.all(model.classifier[0].bias == 0)
    assert abs(model.classifier[0].weight.std().item() - 0.01) < 1e-3
    resnet = archspec.load("resnet18", zero_init_residual=True)
    assert torch.all(resnet.layer1[0].bn2.weight == 0)
    assert torch.all(resnet.layer1[0].bn1.weight == 1)
    plain = archspec.load("resnet18")
    assert torch.all(plain.layer1[0].bn2.weight == 1)


@pytest.mark.slow
@pytest.mark.parametrize(
    "name,shape,backend",
    [
        pytest.param("lenet5", (2, 1, 32, 32), "inductor", marks=pytest.mark.heavy),
        # dynamo and AOTAutograd capture the whole graph (a graph break fails fullgraph=True
        # under aot_eager as under inductor); inductor's C++ compiler runs cost ~35 s of CPU,
        # so it runs with --all, as in test_zoo_compile.py
        ("resnet18", (1, 3, 64, 64), "aot_eager"),
        pytest.param("resnet18", (1, 3, 64, 64), "inductor", marks=pytest.mark.heavy),
    ],
)
def test_torch_compile_fullgraph_matches_eager(
    name: str, shape: tuple[int, ...], backend: str
) -> None:
    torch.manual_seed(0)
    model = archspec.load(name).eval()
    x = torch.randn(*shape)
    compiled = torch.compile(model, fullgraph=True, backend=backend)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-4, atol=1e-5)


def test_torch_export_runs_with_same_outputs() -> None:
    torch.manual_seed(0)
    model = archspec.load("resnet18").eval()
    x = torch.randn(1, 3, 64, 64)
    program = torch.export.export(model, (x,))
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x), model(x))
