"""A compiled model's classes are named after its spec (`ResNet18`, `BasicBlock`), as torchvision's
are, so tools that show `type(m).__name__` (torchinfo, Lightning) show the architecture."""

from __future__ import annotations

import copy
import io
import pickle
import textwrap

import pytest
import torch
import torch.nn as nn

import archspec
from archspec.backends import classes, torch_module
from archspec.backends.torch_module import SpecModule, SpecSequential


def test_model_and_blocks_are_named_after_the_spec() -> None:
    model = archspec.load("resnet18")
    assert type(model).__name__ == "ResNet18"
    assert type(model.layer1[0]).__name__ == "BasicBlock"
    assert type(model.layer1).__name__ == "Sequential"
    assert isinstance(model, SpecModule) and isinstance(model, nn.Module)
    assert isinstance(model.layer1[0], SpecModule)
    assert isinstance(model.layer1, SpecSequential) and isinstance(model.layer1, nn.Sequential)
    # one class per (spec, block): every instance of a block shares it, across builds too
    assert (
        type(model.layer2[0]) is type(model.layer1[0]) is type(archspec.load("resnet18").layer4[1])
    )
    assert type(model).__qualname__ == "ResNet18"
    assert type(model.layer1[0]).__qualname__ == "ResNet18.BasicBlock"
    assert type(archspec.compile("resnet50", device="meta").layer1[0]).__name__ == "Bottleneck"


def test_class_names_match_the_emitted_source() -> None:
    model = archspec.compile("googlenet", device="meta")
    source = archspec.emit("googlenet")
    assert f"class {type(model).__name__}(nn.Module):" in source
    for sub in (model.inception3a, model.inception3a.branch1, model.aux1):
        assert f"class {type(sub).__name__}(nn.Module):" in source


def test_same_block_name_in_two_specs_gives_two_classes() -> None:
    body = """
    blocks:
      Unit:
        params: {c: int}
        layers: [{name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}]
    layers:
      - {name: a, type: Unit, c: 4}
      - {name: head, type: conv2d, out_channels: 2, kernel_size: 1}
    """
    first = archspec.compile(
        f"archspec: 1\nname: one\ninput: [N, 3, 8, 8]\n{textwrap.dedent(body)}"
    )
    second = archspec.compile(
        f"archspec: 1\nname: two\ninput: [N, 3, 8, 8]\n{textwrap.dedent(body)}"
    )
    assert type(first).__name__ == "One" and type(second).__name__ == "Two"
    assert type(first.a).__name__ == type(second.a).__name__ == "Unit"
    assert type(first.a) is not type(second.a)
    assert type(first).__name__ == "One" and isinstance(first, SpecSequential)


def test_state_dict_and_outputs_are_those_of_the_base_classes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    torch.manual_seed(0)
    named = archspec.load("resnet18").eval()
    monkeypatch.setattr(torch_module, "runtime_class", lambda base, spec, name, inputs=(): base)
    torch.manual_seed(0)
    plain = archspec.load("resnet18").eval()
    assert type(plain) is SpecModule and type(named) is not SpecModule
    assert repr(plain) == repr(named)
    ours, theirs = named.state_dict(), plain.state_dict()
    assert list(ours) == list(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert ours._metadata == theirs._metadata  # the `_version`s torch records per module
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(named(x), plain(x))


def test_pickle_deepcopy_and_save_keep_the_classes() -> None:
    torch.manual_seed(0)
    model = archspec.load("googlenet").eval()
    x = torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        ref = model(x)
        buf = io.BytesIO()
        torch.save(model, buf)
        buf.seek(0)
        twins = [
            copy.deepcopy(model),
            pickle.loads(pickle.dumps(model)),
            torch.load(buf, weights_only=False),
        ]
        for twin in twins:
            assert type(twin) is type(model)
            assert type(twin.inception3a) is type(model.inception3a)
            assert torch.equal(twin(x), ref)
        # train mode has its own program (the aux heads); it survives the round trip
        assert len(twins[1].train()(torch.randn(2, 3, 224, 224))) == 3


@pytest.mark.parametrize("name", ["not an identifier", "class", "Ünïcode", "", "a.b", "x\n"])
def test_a_name_that_is_no_identifier_never_becomes_a_class_name(name: str) -> None:
    assert classes.runtime_class(SpecModule, "Net", name) is SpecModule
    assert classes.runtime_class(SpecModule, name, "Block") is SpecModule
    assert classes.runtime_class(SpecSequential, "Net", "Block").__name__ == "Block"


def test_a_base_instance_pickles_as_before() -> None:
    seq = SpecSequential("Stage", nn.ReLU())
    twin = pickle.loads(pickle.dumps(seq))
    assert type(twin) is SpecSequential and twin._get_name() == "Stage"
