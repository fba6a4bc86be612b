"""What api's `_parse` composes without copying (compose.only_read): a plain spec is its kept
parse, and a family's variant inside `family_budget` shares the family's data (never edited),
whose parts are counted for the size limit once (compose._Sizes) and kept by validation as
they are. Every result and error is what composing the variant alone, as the caller's own
copy, gives."""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec.compose as compose_module
from archspec import api
from archspec.catalog import family_budget, read_source
from archspec.errors import LoadError
from archspec.loader import is_kept, load_yaml
from archspec.validate import validate_spec

LIB = """archspec: 1
blocks:
  B:
    layers:
      - {type: conv2d, out_channels: 4, kernel_size: 1}
      - {type: relu}
"""

FAMILY = """archspec: 1
name: fam
input: [1, 3, 8, 8]
params:
  widths: {type: list, default: [4]}
use: [{from: lib.yaml, blocks: [B]}]
variants:
  small: {params: {widths: [2]}}
  big: {params: {widths: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]}}
layers:
  - {type: B}
  - {type: conv2d, out_channels: "widths[0]", kernel_size: 1}
"""


def _family(tmp_path: Path) -> Path:
    (tmp_path / "lib.yaml").write_text(LIB, encoding="utf-8")
    spec = tmp_path / "fam.yaml"
    spec.write_text(FAMILY, encoding="utf-8")
    return spec


@pytest.mark.parametrize("parse", [False, True])
def test_a_variant_is_counted_with_what_it_sets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parse: bool
) -> None:
    """The family's parts are counted once, but a part the variant sets (its params) is its
    own: `big` is over a limit `small` is within, after `small` was counted (E104)."""
    spec = _family(tmp_path)
    sizes = {v: compose_module._nodes(read_source(spec, v).data) for v in ("small", "big")}
    assert sizes["small"] < sizes["big"]
    monkeypatch.setattr(compose_module, "MAX_NODES", sizes["small"])
    read = (lambda v: api._parse(spec, v)[0]) if parse else (lambda v: read_source(spec, v))
    with pytest.raises(LoadError) as alone:
        read("big")
    with family_budget(None):
        assert read("small").variant == "small"
        with pytest.raises(LoadError) as together:
            read("big")
    assert together.value.render() == alone.value.render()
    assert "E104" in together.value.render()


def test_an_edit_a_caller_makes_is_never_taken_for_a_kept_part(tmp_path: Path) -> None:
    """Validation keeps a copy of a part of a caller's own variant: the caller may edit both
    variants alike after the first was validated, and the second is validated for its data."""
    spec = _family(tmp_path)
    with family_budget(None):
        first = read_source(spec, "small")
        validate_spec(first)
        second = read_source(spec, "big")
        for doc in (first, second):
            doc.data["layers"][0] = {"type": "conv2d", "out_channels": 9, "kernel_size": 1}
        assert validate_spec(second).layers[0].out_channels == 9


def test_parse_shares_what_compose_keeps_and_reads_as_alone(tmp_path: Path) -> None:
    spec = _family(tmp_path)
    with family_budget(None):
        parsed = {v: api._parse(spec, v) for v in ("small", "big")}
        own = read_source(spec, "big")
    assert parsed["big"][0].data["layers"] is parsed["small"][0].data["layers"]
    assert own.data["layers"] is not parsed["big"][0].data["layers"]
    kept = zip(parsed["big"][1].layers, parsed["small"][1].layers, strict=True)
    assert all(a is b for a, b in kept)  # the layers validated once
    for variant, (doc, validated) in parsed.items():
        alone = read_source(spec, variant)
        assert (doc.data, doc.spans, doc.key_spans) == (alone.data, alone.spans, alone.key_spans)
        assert validated == validate_spec(alone)


def test_a_plain_spec_parsed_is_its_kept_parse(tmp_path: Path) -> None:
    text = "archspec: 1\nname: net\ninput: [1, 3, 8, 8]\nlayers:\n  - {type: relu}\n"
    spec = tmp_path / "net.yaml"
    spec.write_text(text, encoding="utf-8")
    doc, _ = api._parse(spec)
    assert is_kept(doc) and doc is load_yaml(text, str(spec), copy=False)
    own = read_source(spec)  # the caller's own
    assert not is_kept(own) and own.data == doc.data and own.data is not doc.data
