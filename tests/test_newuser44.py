"""Networks of timm written from the docs alone in session 44 (tests/newuser44/*.yaml):
PoolFormer-S12 (a pooling token mixer, `sub`, per-channel `Scale` blocks holding a
`parameter` reshaped to (C, 1, 1)), DeiT-tiny distilled (timm's `Attention` cut from one
`qkv` projection, class and distillation tokens, two heads averaged), GhostNet-1.0 (ghost
modules that concatenate and `slice` back, a nested stage table walked by a `repeat` over
`len(cfgs)` and a `for_each` of each stage's rows, a shortcut chosen by a let) and ResMLP-12
(`Affine` blocks of two parameters joined by `addcmul`, a `linear` across the tokens between
two permutes). Each went through as first written but for two mistakes whose errors now say
what to write (a derived value written as a param: tests/test_param_text_hint.py; an
expression with a comma left unquoted in a flow mapping: tests/test_duplicate_cut_hint.py).
They are compared with what timm 1.0.31 builds, as tests/newuser44/timm.json records it
(make_fixture.py; timm is not needed here): parameter count, state_dict facts, compiled and
emitted float64 outputs."""

from __future__ import annotations

import json

import pytest

from tests.conftest import sample_params
from tests.newuser36.facts import compare_with_record, weights
from tests.newuser44.cases import FIXTURE, HERE, SIZES

RECORDS = json.loads(FIXTURE.read_text(encoding="utf-8"))


def test_every_spec_of_the_folder_has_timms_record() -> None:
    assert sorted(p.stem for p in HERE.glob("*.yaml")) == sorted(SIZES) == sorted(RECORDS)


# one network by default (float64 runs of ~1 GMAC networks); --all runs each
@pytest.mark.parametrize("name", sample_params(sorted(SIZES), stride=4))
def test_the_spec_is_timms_network(name: str) -> None:
    spec = str(HERE / f"{name}.yaml")
    compared = compare_with_record(
        spec, RECORDS[name], lambda state: weights(name, state), SIZES[name]
    )
    assert compared == len(SIZES[name]) >= 1
