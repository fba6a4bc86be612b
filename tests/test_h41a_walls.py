"""Small walls the last session left, each with its reproduction."""

from __future__ import annotations

import pytest
import torch

import archspec
from archspec.constructs.registry import unregister as unregister_construct


def test_unregister_of_an_unknown_kind_names_the_near_one() -> None:
    """`archspec.unregister("Conv2d")` raised KeyError("layer kind 'Conv2d' is not
    registered"), printed quoted, with no guess and no word of what is registered."""
    with pytest.raises(KeyError) as info:
        archspec.unregister("Conv2d")
    text = str(info.value)
    assert text.startswith("layer kind 'Conv2d' is not registered: did you mean 'conv2d'? ")
    assert "`archspec list --layers`" in text
    with pytest.raises(KeyError, match="did you mean 'repeat'"):
        unregister_construct("repaet")
    with pytest.raises(KeyError, match=r"layer kind \['x'\] is not registered"):
        archspec.unregister(["x"])  # type: ignore[arg-type]


def test_the_non_specific_tag_keeps_a_scalar_text() -> None:
    """`name: ! 12` was read as the int 12 (E202 'expected a string, got integer 12'): PyYAML
    and libyaml resolve a scalar tagged `!` as if it were plain, where YAML (1.1 and 1.2)
    makes it text."""
    from archspec.loader import load_yaml

    text = "a: ! 12\nb: &x ! 13\nc: ! on\nd: 12\ne: !<!> 5\nf: [! 1, 2]\ng: ! 010\nh: *x\n"
    assert load_yaml(text).data == {
        "a": "12",
        "b": "13",
        "c": "on",
        "d": 12,
        "e": "5",
        "f": ["1", 2],
        "g": "010",
        "h": "13",
    }
    spec = "archspec: 1\nname: net\ninput: [N, 4]\nlayers:\n"
    spec += "  - {name: ! on, type: linear, out_features: 3}\n"
    report = archspec.check(spec)
    assert report.ok, report.diagnostics
    (d,) = archspec.check(spec.replace("! on", "! 12")).diagnostics
    assert d.code == "E204" and "'12' is not a valid name" in d.message


YAML12 = """\
%YAML 1.2
---
archspec: 1
name: net
input: [N, 4]
params:
  mode: on
  width: 010
  octal: 0o10
  hexa: 0x10
  clock: 1:20
  big: 1_000
  flag: True
layers:
  - {name: fc, type: linear, out_features: width}
"""


def test_a_yaml_1_2_directive_reads_the_spec_by_the_core_schema() -> None:
    """`%YAML 1.2` was parsed, then read by YAML 1.1's rules all the same: `on` was True,
    `010` E101 as the octal 8, `1:20` E101 as base 60."""
    from archspec.loader import load_yaml

    params = load_yaml(YAML12).data["params"]
    assert params == {
        "mode": "on",
        "width": 10,
        "octal": 8,
        "hexa": 16,
        "clock": "1:20",
        "big": "1_000",
        "flag": True,
    }
    assert type(params["width"]) is int and type(params["flag"]) is bool
    graph = archspec.build_graph(YAML12)
    assert graph.output_shapes[0][-1] == archspec.dims.Dim.of(10)
    # the same text without the directive is YAML 1.1: `010` is refused as the octal 8
    with pytest.raises(archspec.ArchSpecError) as info:
        load_yaml(YAML12.replace("%YAML 1.2\n", "").replace("  clock: 1:20\n", ""))
    assert info.value.diagnostics[0].code == "E101"
    assert "octal" in info.value.diagnostics[0].message
    # comments and a BOM may come first; a 1.1 directive keeps 1.1
    assert load_yaml("\ufeff# a spec\n\n%YAML 1.2\n---\na: on\n").data == {"a": "on"}
    assert load_yaml("%YAML 1.1\n---\na: on\n").data == {"a": True}
    # a plain word the writer meant as a boolean says so where it is read
    text = YAML12.replace("out_features: width}", "out_features: width, bias: on}")
    (d,) = archspec.check(text).diagnostics
    assert d.code == "E302" and "`on` is text here, not a boolean" in d.hint
    assert "write true or false" in d.hint


def test_a_yaml_version_archspec_does_not_read_says_which_it_does() -> None:
    report = archspec.check(YAML12.replace("%YAML 1.2", "%YAML 1.3"))
    (d,) = report.diagnostics
    assert d.code == "E101" and (d.span.line, d.span.col) == (1, 1)
    assert "YAML 1.2 under `%YAML 1.2`" in d.hint


FAMILY = """\
archspec: 1
name: net
input: [N, 3, 32, 32]
params:
  use_stem: true
variants:
  with_stem: {}
  plain: {params: {use_stem: false}}
blocks:
  Unit:
    params: {down: {type: bool, default: false}}
    layers:
      - {name: conv, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
      - {name: downsample, type: conv2d, out_channels: 8, kernel_size: 1, when: down}
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, when: use_stem}
  - {key: body.conv, type: conv2d, out_channels: 8, kernel_size: 3, padding: 1}
  - {key: body.extra, type: conv2d, out_channels: 8, kernel_size: 1, when: use_stem}
  - {name: unit, type: Unit, down: use_stem}
  - {name: head, type: conv2d, out_channels: 4, kernel_size: 1}
frozen: [stem, body.extra, unit.downsample, body.conv]
"""


def _frozen_names(model: torch.nn.Module) -> list[str]:
    return [n for n, p in model.named_parameters() if not p.requires_grad]


def test_a_frozen_path_a_variants_when_switched_off_is_left_out() -> None:
    """A family's `frozen:` lists paths for every variant; in the variant whose `when:`
    switched `stem` off it was E305 'names `stem`, which is no module of this network', so
    the family could not be written at all."""
    report = archspec.check(FAMILY, variant="plain")
    assert report.ok, report.diagnostics
    plain = archspec.compile(FAMILY, variant="plain")
    assert _frozen_names(plain) == ["body.conv.weight", "body.conv.bias"]
    full = archspec.compile(FAMILY, variant="with_stem")
    assert _frozen_names(full) == [
        "stem.weight",
        "stem.bias",
        "body.conv.weight",
        "body.conv.bias",
        "body.extra.weight",
        "body.extra.bias",
        "unit.downsample.weight",
        "unit.downsample.bias",
    ]
    # a path that is no module under any params is still E305, with its near name
    (d,) = archspec.check(FAMILY.replace("[stem,", "[stme,"), variant="plain").diagnostics
    assert d.code == "E305" and "`stme`" in d.message and "`stem`" not in d.hint
    (d,) = archspec.check(FAMILY.replace("[stem,", "[stme,"), variant="with_stem").diagnostics
    assert d.code == "E305" and "did you mean `stem`?" in d.hint


def test_the_emitted_class_freezes_what_its_when_kept() -> None:
    """The emitted class takes `use_stem` as an argument; built with use_stem=False its
    `self.get_submodule("stem")` raised AttributeError: `stem` is not an nn.Module."""
    single = "\n".join(
        line
        for line in FAMILY.splitlines()
        if not line.startswith(("variants:", "  with_stem", "  plain", "  - {name: unit"))
    ).replace(" unit.downsample,", "")
    namespace: dict[str, object] = {}
    exec(compile(archspec.emit(single), "<emitted>", "exec"), namespace)
    net = namespace["Net"]
    for use_stem in (True, False):
        compiled = archspec.compile(single, params={"use_stem": use_stem})
        emitted = net(use_stem=use_stem)  # type: ignore[operator]
        assert list(emitted.state_dict()) == list(compiled.state_dict())
        assert _frozen_names(emitted) == _frozen_names(compiled), use_stem
        assert ("stem.weight" in _frozen_names(compiled)) is use_stem


def test_a_buffer_of_a_plain_fill_emits_no_helper_it_does_not_call() -> None:
    """The docs' sequence-first encoder (a `buffer` of positions) was emitted with MaxViT's
    `maxvit_relative_position_index` defined at the top of its file, called nowhere."""
    from .test_h41a_batch_dim import ENCODER

    source = archspec.emit(ENCODER)
    assert "maxvit_relative_position_index" not in source
    assert 'self.register_buffer("pe", torch.full((64, 1, 32), 0.0' in source
    maxvit = archspec.emit("maxvit_t")
    assert maxvit.count("maxvit_relative_position_index(") == 2  # its def, and its call
