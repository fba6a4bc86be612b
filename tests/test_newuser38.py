"""Networks of other shapes of problem written from the docs alone by a new user (session 38's
acceptance check, tests/newuser38/*.yaml): torchvision's video ResNets (r3d_18, mc3_18,
r2plus1d_18, one family file) and S3D on 3-d convolutions, timm's cspdarknet53, milesial's
U-Net (transposed convolutions, and bilinear upsampling padded to the skips), torchaudio's M5
on raw waveforms, locuslab's TCN (dilated causal Conv1d, chomped), meijieru's CRNN (a conv
stack read by bidirectional LSTMs), a WaveNet stack (gated dilated convolutions, their skip
outputs summed), fxia22's PointNet segmentation (its global feature beside every point) and a
time-series classifier on torch's own nn.TransformerEncoder. Each is compared, compiled and
emitted, with its reference: the parameter count, the state_dict's keys, shapes and dtypes in
order (so a strict load either way), and the eval outputs under the same RNG-free weights at
each case's inputs, the smallest the domain `archspec check` derives among them. torchvision
and timm are recorded in tests/newuser38/reference.json (make_fixture.py); the hand-written
references are tests/newuser38/references.py, compared directly."""

from __future__ import annotations

import json

import pytest
import torch

import archspec
from tests.conftest import sample_params
from tests.newuser36.facts import state_dict_facts
from tests.newuser38 import references
from tests.newuser38.facts import (
    FIXTURE,
    HERE,
    LOCAL,
    RECORDED,
    compiled_and_emitted,
    options,
    outputs,
)
from tests.parity.weights import deterministic_input, summary_matches

RECORDS = json.loads(FIXTURE.read_text(encoding="utf-8"))


def test_every_spec_of_the_folder_has_a_case_and_every_recorded_case_a_record() -> None:
    specs = {c["spec"] for c in (*RECORDED.values(), *LOCAL.values())}
    assert sorted(p.name for p in HERE.glob("*.yaml")) == sorted(specs)
    assert sorted(RECORDED) == sorted(RECORDS)


# every other network by default (float64 runs: ~100 s of CPU in all); --all runs each
@pytest.mark.parametrize("name", sample_params(sorted(RECORDED), stride=2))
def test_the_spec_is_the_recorded_network(name: str) -> None:
    case, record = RECORDED[name], RECORDS[name]
    ours, emitted = compiled_and_emitted(str(HERE / case["spec"]), **options(case))
    assert sum(p.numel() for p in ours.parameters()) == record["param_count"]
    facts = state_dict_facts(ours.state_dict())
    assert facts == {k: record[k] for k in facts}
    assert outputs(ours, case["inputs"]) == outputs(emitted, case["inputs"])
    # the record is of float64 runs (facts.record): it holds on any CPU's kernels
    for got, expected in zip(
        outputs(ours, case["inputs"], wide=True), record["outputs"], strict=True
    ):
        assert got["dtype"] == expected["dtype"] == "float64"
        assert summary_matches(got, expected, rtol=1e-5) == []


@pytest.mark.parametrize("name", sorted(LOCAL))
def test_the_spec_is_the_hand_written_network(name: str) -> None:
    case = LOCAL[name]
    ours, emitted = compiled_and_emitted(str(HERE / case["spec"]), **options(case))
    cls, kwargs = case["reference"]
    reference = getattr(references, cls)(**kwargs).eval()
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
    assert state_dict_facts(ours.state_dict()) == state_dict_facts(reference.state_dict())
    reference.load_state_dict(ours.state_dict(), strict=True)
    ours.load_state_dict(reference.state_dict(), strict=True)
    for shape in case["inputs"]:
        x = deterministic_input(shape)
        with torch.no_grad():
            expected, got = reference(x), ours(x)
            assert torch.equal(emitted(x), got)
        # the CRNN's LSTMs run batch first where the reference runs sequence first
        torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "domain", "outside"),
    [
        ("s3d", "D >= 13 and H, W >= 209", (1, 3, 12, 209, 209)),
        ("m5", "L >= 6848", (1, 1, 6847)),
        ("crnn", "32 <= H <= 47 and W >= 4", (1, 1, 48, 10)),
        ("unet", "H, W >= 16", (1, 3, 15, 16)),
    ],
)
def test_the_domain_check_derives_is_where_the_network_runs(
    name: str, domain: str, outside: tuple[int, ...]
) -> None:
    case = {**RECORDED, **LOCAL}[name]
    spec = str(HERE / case["spec"])
    assert archspec.check(spec, **options(case)).domain_text.endswith(f"with {domain}")
    assert not archspec.check(spec, input=outside, **options(case)).ok
    model = archspec.compile(spec, **options(case)).eval()
    with torch.no_grad(), pytest.raises(RuntimeError):
        model(torch.zeros(outside))
