"""The networks of timm that session 36's new user wrote from the docs alone
(tests/newuser36/*.yaml: lcnet_050, mobileone_s0 and fastvit_t8 in their training form,
repghostnet_050, starnet_s1, inception_next_atto, edgenext_xx_small, efficientformerv2_s0),
against what timm 1.0.31 builds, as tests/newuser36/timm.json records it
(tests/newuser36/make_fixture.py; timm is not needed here): the parameter count, the
state_dict's keys, shapes and dtypes in order (so a strict load either way), and the eval
output under the same RNG-free weights at the spec's input size and at a non-square one,
compiled and emitted."""

from __future__ import annotations

import json

import pytest

from tests.conftest import sample_params
from tests.newuser36.facts import (
    FIXTURE,
    HERE,
    SIZES,
    compare_with_record,
    weights,
)

RECORDS = json.loads(FIXTURE.read_text(encoding="utf-8"))


def test_every_spec_of_the_folder_has_timms_record() -> None:
    assert sorted(p.stem for p in HERE.glob("*.yaml")) == sorted(SIZES) == sorted(RECORDS)


# every other network by default (float64 runs: ~100 s of CPU in all); --all runs each
@pytest.mark.parametrize("name", sample_params(sorted(SIZES), stride=2))
def test_the_spec_is_timms_network(name: str) -> None:
    spec = str(HERE / f"{name}.yaml")
    compared = compare_with_record(
        spec, RECORDS[name], lambda state: weights(name, state), SIZES[name]
    )
    assert compared == 2
