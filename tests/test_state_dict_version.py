"""`state_dict_version:`: the `_version` a block's class or the network class declares, which
torch records per module in `state_dict()._metadata` (torchvision's DenseNet `_DenseBlock`
and MNASNet are 2), the same in the compiled module and in emitted source."""

from __future__ import annotations

import copy
import io
import pickle
from pathlib import Path

import pytest
import torch

import archspec
from archspec.backends.pysource import render_module
from archspec.errors import ArchSpecError

from .emit_helpers import _load

SPEC = """archspec: 1
name: versioned
input: [N, 3, 16, 16]
state_dict_version: 2
blocks:
  Dense:
    state_dict_version: 3
    params: {growth: int}
    layers:
      - {name: conv, type: conv2d, out_channels: growth, kernel_size: 3, padding: 1}
      - {name: bn, type: batchnorm2d}
      - {name: inner, type: Plain}
  Plain:
    layers:
      - {name: conv, type: conv2d, out_channels: 4, kernel_size: 1}
layers:
  - {name: block1, type: Dense, growth: 4}
  - {name: stage, type: repeat, count: 2, layer: {type: Dense, growth: 8}}
  - {name: block2, type: Plain}
  - {name: pool, type: adaptive_avgpool2d, output_size: 1}
  - {type: flatten}
  - {name: fc, type: linear, out_features: 10}
"""

#: torch's own `_version`s: BatchNorm2d is 2, every other module here 1.
EXPECTED = {
    "": 2,
    "block1": 3,
    "block1.conv": 1,
    "block1.bn": 2,
    "block1.inner": 1,
    "block1.inner.conv": 1,
    "stage": 1,
    "stage.0": 3,
    "stage.0.conv": 1,
    "stage.0.bn": 2,
    "stage.0.inner": 1,
    "stage.0.inner.conv": 1,
    "stage.1": 3,
    "stage.1.conv": 1,
    "stage.1.bn": 2,
    "stage.1.inner": 1,
    "stage.1.inner.conv": 1,
    "block2": 1,
    "block2.conv": 1,
    "pool": 1,
    "4": 1,
    "fc": 1,
}


def _versions(model: torch.nn.Module) -> dict[str, int]:
    return {k: v["version"] for k, v in model.state_dict()._metadata.items()}


def _emitted(text: str, tag: str) -> torch.nn.Module:
    graph = archspec.build_graph(text)
    module = _load(render_module(graph), tag)
    return getattr(module, graph.class_name)()


def test_compiled_module_records_the_declared_versions() -> None:
    model = archspec.compile(SPEC)
    assert _versions(model) == EXPECTED
    # the class stays torch's: only these instances carry another version
    assert type(model.block2)._version == 1


def test_emitted_source_writes_a_class_attribute_as_torchvision_does() -> None:
    source = render_module(archspec.build_graph(SPEC))
    # a chain of modules, so an nn.Sequential subclass, as torchvision's `_Transition`
    dense = source.split("class Dense(nn.Sequential):")[1].split("\nclass ")[0]
    plain = source.split("class Plain(nn.Module):")[1].split("\nclass ")[0]
    root = source.split("class Versioned(nn.Module):")[1]
    # after the docstring, before __init__, as MNASNet's `_version = 2`
    assert '"""\n\n    _version = 3\n\n    def __init__(' in dense
    # the network class also names its shard units (`_archspec_shard`) before __init__
    assert '"""\n\n    _version = 2\n    _archspec_shard = ' in root
    assert "_version" not in plain
    model = _emitted(SPEC, "versioned")
    assert type(model)._version == 2 and type(model.block1)._version == 3
    assert _versions(model) == EXPECTED


def test_state_dicts_load_both_ways_with_their_metadata() -> None:
    ours, emitted = archspec.compile(SPEC), _emitted(SPEC, "versioned_load")
    sd = emitted.state_dict()
    assert ours.load_state_dict(sd, strict=True) is not None
    emitted.load_state_dict(ours.state_dict(), strict=True)
    buf = io.BytesIO()
    torch.save(ours.state_dict(), buf)
    buf.seek(0)
    assert {k: v["version"] for k, v in torch.load(buf)._metadata.items()} == EXPECTED


def test_the_version_survives_pickling_and_deepcopy() -> None:
    model = archspec.compile(SPEC)
    for clone in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert _versions(clone) == EXPECTED


def test_a_chain_root_and_a_default_spec_are_unchanged() -> None:
    chain = """archspec: 1
name: chain
input: [N, 3, 8, 8]
state_dict_version: 4
layers:
  - {type: conv2d, out_channels: 2, kernel_size: 1}
  - {type: relu}
"""
    model = archspec.compile(chain)
    assert isinstance(model, torch.nn.Sequential)
    assert _versions(model) == {"": 4, "0": 1, "1": 1}
    assert _versions(_emitted(chain, "chain"))[""] == 4
    plain = chain.replace("state_dict_version: 4\n", "")
    assert _versions(archspec.compile(plain)) == {"": 1, "0": 1, "1": 1}
    assert "_version" not in render_module(archspec.build_graph(plain))


@pytest.mark.parametrize(
    "line,code,col",
    [
        ("state_dict_version: 0", "E204", 21),
        ("state_dict_version: two", "E202", 21),
        ("state_dict_version: 2.0", "E202", 21),
        ("state_dict_versoin: 2", "E201", 1),
    ],
)
def test_a_bad_version_is_an_error_at_its_line(line: str, code: str, col: int) -> None:
    text = SPEC.replace("state_dict_version: 2", line, 1)
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    e = info.value
    assert e.error_code == code, e.render()
    assert e.span is not None and (e.span.line, e.span.col) == (4, col), e.render()


def test_extends_and_variants_keep_the_version(tmp_path: Path) -> None:
    family = SPEC.replace(
        "layers:\n  - {name: block1",
        "params: {width: 4}\nvariants:\n  small: {params: {width: 4}}\n"
        "  big: {params: {width: 6}}\nlayers:\n  - {name: block1",
    ).replace("growth: 4}", "growth: width}")
    path = tmp_path / "family.yaml"
    path.write_text(family)
    big = archspec.compile(path, variant="big")
    assert _versions(big)[""] == 2 and _versions(big)["block1"] == 3
    base = tmp_path / "base.yaml"
    base.write_text(SPEC)
    child = tmp_path / "child.yaml"
    child.write_text(f"archspec: 1\nname: child\nextends: {base.name}\n")
    assert _versions(archspec.compile(child)) == EXPECTED
    child.write_text(f"archspec: 1\nname: child\nextends: {base.name}\nstate_dict_version: 5\n")
    assert _versions(archspec.compile(child)) == {**EXPECTED, "": 5}
