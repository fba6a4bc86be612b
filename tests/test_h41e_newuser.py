"""Networks archspec does not ship, written from the docs alone by a new user (session 41's
acceptance round, helper h41e: tests/newuser_h41e/*.yaml), each against the same network
written by hand in plain PyTorch as its public repo writes it (tests/newuser_h41e/references.py):
ConvNeXt V2 (GRN and the channels-first LayerNorm written out), a MobileViT block (unfolded
to patches by `partition`, a transformer over each pixel's patches, folded back by
`departition`), DeiT's distilled ViT (both heads in training, their average in eval), one
BiFPN layer (fast normalised fusion of three inputs with learned weights), UNet++ (nested
skips as loops over the diagonals, `pool` and `up` reused), SqueezeNet with simple bypass
(the library's Fire), torchaudio's Wav2Letter on a waveform and on MFCCs, and CoAtNet
(an MBConv block, then attention with a relative position bias passed to the fused kernel,
q, k and v laid out `contiguous` as timm lays them), and a YOLOv5 backbone (its Conv, C3
registered in another order than it runs, SPPF calling one max pool three times). Each spec is
compiled and emitted and compared with its reference: parameter count, the state_dict's keys,
shapes and dtypes in order, strict loads both ways, outputs equal to the bit at each case's
inputs (the edge of the domain `archspec check` states among them) and the record of
reference.json (make_fixture.py); one size below that edge is refused by check and by torch.
`archspec import` of each reference is that network, or a refusal that says why."""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.conftest import sample_params
from tests.newuser36.facts import state_dict_facts
from tests.newuser_h41e import references
from tests.newuser_h41e.cases import CASES, FIXTURE, HERE
from tests.parity.weights import (
    deterministic_input,
    fill_deterministic,
    output_summary,
    summary_matches,
)


def _outputs(
    model: nn.Module, shapes: list[tuple[int, ...]], dtype: torch.dtype = torch.float32
) -> list[torch.Tensor]:
    with torch.no_grad():
        out = model(*(deterministic_input(s).to(dtype) for s in shapes))
    return list(out) if isinstance(out, list | tuple) else [out]


def _reference(case: dict[str, Any]) -> nn.Module:
    """The case's reference, holding the RNG-free weights of tests/parity/weights.py."""
    reference = getattr(references, case["reference"])().eval()
    reference.load_state_dict(fill_deterministic(reference.state_dict()), strict=True)
    return reference


def _same_network(ours: nn.Module, reference: nn.Module, case: dict[str, Any]) -> int:
    """Assert `ours` is `reference` (keys, counts, loads, outputs); the inputs compared."""
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
    assert state_dict_facts(ours.state_dict()) == state_dict_facts(reference.state_dict())
    ours.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(ours.state_dict(), strict=True)
    for shapes in case["inputs"]:
        got, expected = _outputs(ours.eval(), shapes), _outputs(reference, shapes)
        assert len(got) == len(expected)
        for a, b in zip(got, expected, strict=True):
            assert torch.equal(a, b)
    return len(case["inputs"])


def _spec(case: dict[str, Any]) -> str:
    return str(HERE / case["spec"])


def _options(case: dict[str, Any]) -> dict[str, Any]:
    return {"variant": case["variant"]} if "variant" in case else {}


def compiled_and_emitted(case: dict[str, Any]) -> tuple[nn.Module, nn.Module]:
    """The spec compiled, and built from its emitted source, after a check that finds no
    error and only the case's warnings, each holding the same RNG-free weights, in eval."""
    spec, opts = _spec(case), _options(case)
    report = archspec.check(spec, **opts)
    assert report.ok, report.diagnostics
    assert [d.code for d in report.diagnostics] == case.get("warnings", []), report.diagnostics
    ours = archspec.compile(spec, **opts).eval()
    module = types.ModuleType(f"emitted_{Path(spec).stem}")
    exec(compile(archspec.emit(spec, **opts), "<emitted>", "exec"), module.__dict__)
    emitted = getattr(module, type(ours).__name__)().eval()
    filled = fill_deterministic(ours.state_dict())
    ours.load_state_dict(filled, strict=True)
    emitted.load_state_dict(filled, strict=True)
    return ours, emitted


def test_every_spec_of_the_folder_has_a_case() -> None:
    assert sorted(p.name for p in HERE.glob("*.yaml")) == sorted(
        {c["spec"] for c in CASES.values()}
    )
    assert sorted(json.loads(FIXTURE.read_text(encoding="utf-8"))) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_spec_is_the_hand_written_network(name: str) -> None:
    case = CASES[name]
    ours, emitted = compiled_and_emitted(case)
    assert _same_network(ours, _reference(case), case) == len(case["inputs"]) >= 2
    emitted.load_state_dict(ours.state_dict(), strict=True)
    record = json.loads(FIXTURE.read_text(encoding="utf-8"))[name]
    assert sum(p.numel() for p in ours.parameters()) == record["param_count"]
    for shapes in case["inputs"]:
        outs, again = _outputs(ours, shapes), _outputs(emitted.eval(), shapes)
        assert len(outs) == len(again)
        for out, same in zip(outs, again, strict=True):
            assert torch.equal(out, same)
    # the record is of float64 runs (make_fixture.py): it holds on any CPU's kernels
    ours.double()
    for shapes, expected in zip(case["inputs"], record["outputs"], strict=True):
        outs = _outputs(ours, shapes, torch.float64)
        assert len(outs) == len(expected)
        for out, summary in zip(outs, expected, strict=True):
            assert out.dtype == torch.float64
            assert summary_matches(output_summary(out), summary, rtol=1e-5) == []


@pytest.mark.parametrize("imported", [False, True])
def test_deit_returns_both_heads_in_training_and_their_average_in_eval(imported: bool) -> None:
    case = CASES["deit_distilled"]
    ours, emitted = compiled_and_emitted(case)
    reference = _reference(case)
    if imported:  # import reads the eval-only average and the training-only second head
        ours = archspec.compile(
            archspec.from_module(reference, deterministic_input((2, 3, 16, 16)))
        )
    ours.load_state_dict(reference.state_dict(), strict=True)
    emitted.load_state_dict(reference.state_dict(), strict=True)
    x = deterministic_input((2, 3, 16, 16))
    with torch.no_grad():
        want = reference.train()(x)
        for model in (ours.train(), emitted.train()):
            got = model(x)
            assert isinstance(got, tuple) and len(got) == 2
            assert all(torch.equal(a, b) for a, b in zip(got, want, strict=True))
        assert torch.equal(ours.eval()(x), (want[0] + want[1]) / 2)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_domain_check_states_is_where_the_network_runs(name: str) -> None:
    # the smallest inputs of each case run in the reference (above); one size less does not
    case = CASES[name]
    opts = _options(case)
    assert case["domain"] in archspec.check(_spec(case), **opts).domain_text
    outside = case["outside"]
    assert not archspec.check(
        _spec(case), input=outside[0] if len(outside) == 1 else outside, **opts
    ).ok
    for model in (archspec.compile(_spec(case), **opts).eval(), _reference(case)):
        with pytest.raises(RuntimeError):
            _outputs(model, outside)


IMPORTED = sorted(set(CASES) - {"mobilevit", "coatnet"})


@pytest.mark.parametrize("name", sample_params(IMPORTED, stride=2))
def test_the_import_of_the_hand_written_network_is_that_network(name: str) -> None:
    case = CASES[name]
    reference = _reference(case)
    given = [deterministic_input(s) for s in case["inputs"][0]]
    text = archspec.from_module(reference, given[0] if len(given) == 1 else tuple(given))
    assert _same_network(archspec.compile(text), reference, case) >= 2


@pytest.mark.parametrize(
    ("name", "refusal"),
    [
        # timm's unfold reshapes (B, C, H, W) to (B * C * H / p, p, W / p, p): the batch merged
        # with the channels and rows, which a spec states as `partition` (written above)
        ("mobilevit", "the tensor method `.reshape()` takes sizes read from tensor shapes that "
         "no spec step states for every input"),
        # Attention2d calls `self.rel_pos.get_bias()`, a method of its child that reads the
        # child's table, where a spec's module reads its own tensors and calls children
        ("coatnet", "forward reads the tensor `self.rel_pos.relative_position_bias_table`, "
         "which belongs to `self.rel_pos`, not to this module itself"),
    ],
)  # fmt: skip
def test_a_reference_import_cannot_state_is_refused_saying_why(name: str, refusal: str) -> None:
    case = CASES[name]
    given = deterministic_input(case["inputs"][0][0])
    with pytest.raises(ImportFailure) as failure:
        archspec.from_module(_reference(case), given)
    assert refusal in str(failure.value)
