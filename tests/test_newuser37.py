"""Networks of timm written from the docs alone by a new user (session 37's acceptance check,
tests/newuser37/*.yaml: rexnet_100, hgnetv2_b0, nf_resnet26, mobilevitv2_050, ConvMixer at a
small width, sequencer2d_s), against what timm 1.0.31 builds, as tests/newuser37/timm.json
records it (tests/newuser37/make_fixture.py; timm is not needed here): the parameter count,
the state_dict's keys, shapes and dtypes in order (so a strict load either way), and the eval
output under the same RNG-free weights at each case's input sizes (the spec's own, a
non-square one and one at the edge of the domain `archspec check` derives), compiled and
emitted."""

from __future__ import annotations

import json

import pytest
import torch

import archspec
from tests.conftest import sample_params
from tests.newuser36.facts import compare_with_record
from tests.newuser37.facts import CASES, FIXTURE, HERE, weights

RECORDS = json.loads(FIXTURE.read_text(encoding="utf-8"))


def _options(name: str) -> dict[str, object]:
    case = CASES[name]
    options: dict[str, object] = {"params": case.get("params", {})}
    if "variant" in case:
        options["variant"] = case["variant"]
    return options


def test_every_spec_of_the_folder_has_a_case_and_every_case_timms_record() -> None:
    assert sorted(p.name for p in HERE.glob("*.yaml")) == sorted(
        {c["spec"] for c in CASES.values()}
    )
    assert sorted(CASES) == sorted(RECORDS)


# every other network by default (float64 runs: ~100 s of CPU in all); --all runs each
@pytest.mark.parametrize("name", sample_params(sorted(CASES), stride=2))
def test_the_spec_is_timms_network(name: str) -> None:
    spec, sizes = str(HERE / CASES[name]["spec"]), CASES[name]["sizes"]
    weigh = lambda state: weights(name, state)  # noqa: E731
    compared = compare_with_record(spec, RECORDS[name], weigh, sizes, _options(name))
    assert compared == len(sizes) >= 1


@pytest.mark.parametrize(
    ("name", "domain"),
    [
        ("rexnet_100", "H, W >= 1 (in training mode, N >= 2 and H, W >= 1)"),
        ("hgnetv2_b0", "H, W >= 1"),
        ("nf_resnet26", "H, W >= 1"),
        ("convmixer_small", "H, W >= 7"),
        ("sequencer2d_s", "H, W >= 14"),
    ],
)
def test_the_domain_check_derives_is_where_the_network_runs(name: str, domain: str) -> None:
    spec, options = str(HERE / CASES[name]["spec"]), _options(name)
    assert archspec.check(spec, **options).domain_text.endswith(f"with {domain}")
    model = archspec.compile(spec, **options).eval()
    edge = {"convmixer_small": 7, "sequencer2d_s": 14}.get(name, 1)
    with torch.no_grad():
        assert model(torch.zeros(1, 3, edge, edge)).shape == (1, 1000)
        if edge > 1:
            with pytest.raises(RuntimeError):
                model(torch.zeros(1, 3, edge - 1, edge))


def test_mobilevitv2s_domain_is_the_sizes_its_patches_fold_at() -> None:
    """timm resizes a map of odd size to even before its 2x2 patches; the spec computes no
    resize, so it takes the sizes where none happens (57 to 64, modulo 64: the maps at its
    three MobileViT blocks, H / 8, H / 16 and H / 32 rounded up, even) and refuses the
    others at `check`, never computing otherwise."""
    spec = str(HERE / CASES["mobilevitv2_050"]["spec"])
    report = archspec.check(spec)
    assert report.domain_text.endswith(
        "with H % 64 in {0, 57, 58, 59, 60, 61, 62, 63} and W % 64 in {0, 57, 58, 59, 60, 61, "
        "62, 63}"
    )
    assert not archspec.check(spec, input=(1, 3, 56, 64)).ok
    model = archspec.compile(spec).eval()
    with torch.no_grad():
        assert model(torch.zeros(1, 3, 57, 128)).shape == (1, 1000)
        with pytest.raises(RuntimeError):
            model(torch.zeros(1, 3, 56, 64))
