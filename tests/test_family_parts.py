"""The variants of one family read once validate their common parts once (validate.py,
compose.family_store): the blocks and layers an earlier variant validated from the same data
are the same objects in the next, and every error and every spec is what validating the
variant alone gives."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from archspec import api
from archspec.errors import ArchSpecError
from archspec.validate import same_data, validate_spec

RESNET = api.builtin_dir() / "resnet.yaml"


def test_variants_read_once_share_their_validated_blocks_and_layers() -> None:
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        r18, r50, r101 = (api._parse(RESNET, v)[1] for v in ("resnet18", "resnet50", "resnet101"))
    assert r50.blocks["Bottleneck"] is r18.blocks["Bottleneck"]
    assert all(a is b for a, b in zip(r50.layers, r101.layers, strict=True))
    # resnet18's stages call BasicBlock (its block param's choice), resnet50's Bottleneck
    assert r18.layers[4] is not r50.layers[4]
    assert r18.layers[0] is not r50.layers[0]  # a part is shared whole or not at all
    for spec, name in ((r18, "resnet18"), (r50, "resnet50"), (r101, "resnet101")):
        assert spec == api._parse(RESNET, name)[1]


def test_variants_read_one_by_one_share_nothing() -> None:
    r50, r101 = (api._parse(RESNET, v)[1] for v in ("resnet50", "resnet101"))
    assert r50.blocks["Bottleneck"] is not r101.blocks["Bottleneck"]


def test_an_edit_of_the_data_is_no_shared_part() -> None:
    """The data an earlier variant was validated from is kept as it was; data that `==`
    would take for it (64.0 for 64) is validated for what it is."""
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        first = api.read_source(RESNET, "resnet50")
        validate_spec(first)
        first.data["layers"][0]["out_channels"] = 32  # after validation: not what was kept
        doc = api.read_source(RESNET, "resnet101")
        spec = validate_spec(doc)
        assert spec.layers[0].out_channels == 64
        doc = api.read_source(RESNET, "resnet152")
        doc.data["layers"][0]["out_channels"] = 64.0
        with pytest.raises(ArchSpecError) as shared:
            validate_spec(doc)
    alone = api.read_source(RESNET, "resnet152")
    alone.data["layers"][0]["out_channels"] = 64.0
    with pytest.raises(ArchSpecError) as own:
        validate_spec(alone)
    assert shared.value.render() == own.value.render()


FAMILY = textwrap.dedent(
    """\
    archspec: 1
    name: fam
    input: [N, 3, 32, 32]
    params:
      width: {type: int, default: 8}
    variants:
      good: {params: {width: 8}}
      bad: {class_name: "not a name", params: {width: 16}}
      good_too: {params: {width: 4}}
    layers:
      - {name: conv, type: conv2d, out_channels: width, kernel_size: 3}
      - {name: the-relu, type: relu}
    """
)


@pytest.mark.parametrize("broken", [False, True])
def test_each_variant_reports_what_it_reports_alone(tmp_path: Path, broken: bool) -> None:
    """A variant's own error (a class_name that is no name) with shared layers, and a name
    error in the shared layers themselves (`the-relu`), reported as when read alone."""
    text = FAMILY if broken else FAMILY.replace("the-relu", "relu")
    path = tmp_path / "fam.yaml"
    path.write_text(text, encoding="utf-8")
    variants = ["good", "bad", "good_too"]
    with api.family_budget(api.DEFAULT_MAX_LAYERS):
        shared = [api.check(path, variant=v) for v in variants]
    alone = [api.check(path, variant=v) for v in variants]
    assert [r.diagnostics for r in shared] == [r.diagnostics for r in alone]
    assert [r.ok for r in shared] == ([False] * 3 if broken else [True, False, True])


def test_same_data_tells_apart_what_equals_merges() -> None:
    assert not same_data([1], [1.0]) and not same_data([1], [True])
    assert not same_data({"p": 0.0}, {"p": -0.0})
    assert not same_data({"a": 1, "b": 2}, {"b": 2, "a": 1})
    assert same_data({"a": [1, {"b": "x"}]}, {"a": [1, {"b": "x"}]})
