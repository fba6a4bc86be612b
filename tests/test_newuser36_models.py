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
import types

import pytest
import torch

import archspec
from tests.newuser36.facts import FIXTURE, HERE, SIZES, state_dict_facts, weights
from tests.parity.weights import deterministic_input, output_summary, summary_matches

RECORDS = json.loads(FIXTURE.read_text(encoding="utf-8"))


def test_every_spec_of_the_folder_has_timms_record() -> None:
    assert sorted(p.stem for p in HERE.glob("*.yaml")) == sorted(SIZES) == sorted(RECORDS)


@pytest.mark.parametrize("name", sorted(SIZES))
def test_the_spec_is_timms_network(name: str) -> None:
    record = RECORDS[name]
    spec = str(HERE / f"{name}.yaml")
    report = archspec.check(spec)
    assert report.ok and not report.diagnostics, report.diagnostics
    ours = archspec.compile(spec).eval()
    assert sum(p.numel() for p in ours.parameters()) == record["param_count"]
    facts = state_dict_facts(ours.state_dict())
    assert facts == {k: record[k] for k in facts}
    filled = weights(name, ours.state_dict())
    ours.load_state_dict(filled, strict=True)
    module = types.ModuleType(f"emitted_{name}")
    exec(compile(archspec.emit(spec), "<emitted>", "exec"), module.__dict__)
    emitted = getattr(module, type(ours).__name__)().eval()
    emitted.load_state_dict(filled, strict=True)
    compared = 0
    for size, expected in zip(SIZES[name], record["outputs"], strict=True):
        x = deterministic_input((1, 3, *size))
        with torch.no_grad():
            out = ours(x)
            assert torch.equal(emitted(x), out)
        assert summary_matches(output_summary(out), expected, rtol=1e-5) == []
        compared += 1
    assert compared == 2
