"""Networks archspec does not ship, written from the docs alone by a new user (session 44,
helper h44b: tests/h44b/*.yaml), each against the same network written by hand in plain
PyTorch as its public code writes it (tests/h44b/references.py): PyTorch's translation
tutorial's Seq2SeqTransformer (two int64 inputs, nn.Transformer's keys, one positional
encoding module called on both sequences by `reuse`, a causal target mask), AntixK's
VanillaVAE (sampling at every forward, `[recons, input, mu, log_var]` returned), an
Attention U-Net (additive gates, blocks of two inputs, one max pool called twice), a FiLM
network (a conditioning vector's gammas and betas split, selected per block and broadcast
over the map) and a non-local block (matmuls over positions, `unflatten_as` back to the
map, a zero-initialised norm), pyGAT's graph attention network (parameters multiplied by
`matmul`, its attention vector cut in two by a `slice` of dim 0, the adjacency a mask), a
dense mixture of experts (an nn.ModuleList of expert MLPs keyed `experts.{i}`, stacked and
weighed by a softmax gate), and CBAM's ResNet (its authors' BasicBlock, a shared MLP over
the average and the max pooled map by `reuse`, the average a `global_avgpool2d`: their
`F.avg_pool2d(x, x.size()[2:])`, which an adaptive pool equals only to the last bit but one).
Each spec is checked, compiled and emitted and compared with
its reference: parameter count, state_dict keys, shapes and dtypes in order, strict loads
both ways, float64 outputs equal to the bit at each call (the RNG seeded alike before each)
and the record of reference.json (make_fixture.py); a call outside the domain is refused by
check and by torch."""

from __future__ import annotations

import json
import types
from typing import Any

import pytest
import torch
from torch import nn

import archspec
from tests.h44b import references
from tests.h44b.cases import CASES, FIXTURE, HERE, make_input
from tests.newuser36.facts import state_dict_facts
from tests.parity.weights import fill_deterministic, output_summary, summary_matches

#: nn.Transformer built sequence first (as the tutorial builds it) warns of its fast path
pytestmark = pytest.mark.filterwarnings("ignore:enable_nested_tensor is True")


def _spec(name: str) -> str:
    return str(HERE / f"{name}.yaml")


def _outputs(model: nn.Module, call: list[Any]) -> list[torch.Tensor]:
    torch.manual_seed(0)  # the VAE samples at every forward
    with torch.no_grad():
        out = model(*(make_input(given) for given in call))
    return list(out) if isinstance(out, tuple | list) else [out]


def _reference(case: dict[str, Any]) -> nn.Module:
    """The case's reference in float64, holding the RNG-free weights, in eval."""
    reference = getattr(references, case["reference"])().double().eval()
    reference.load_state_dict(fill_deterministic(reference.state_dict()), strict=True)
    return reference


def test_every_spec_of_the_folder_has_a_case() -> None:
    assert sorted(p.stem for p in HERE.glob("*.yaml")) == sorted(CASES)
    assert sorted(json.loads(FIXTURE.read_text(encoding="utf-8"))) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_spec_is_the_hand_written_network(name: str) -> None:
    case, spec = CASES[name], _spec(name)
    report = archspec.check(spec)
    assert report.ok, report.diagnostics
    assert [d.code for d in report.diagnostics] == [], report.diagnostics
    assert case["domain"] in report.domain_text
    reference = _reference(case)
    ours = archspec.compile(spec).double().eval()
    module = types.ModuleType(f"emitted_{name}")
    exec(compile(archspec.emit(spec), "<emitted>", "exec"), module.__dict__)
    emitted = getattr(module, type(ours).__name__)().double().eval()
    record = json.loads(FIXTURE.read_text(encoding="utf-8"))[name]
    count = sum(p.numel() for p in reference.parameters())
    assert sum(p.numel() for p in ours.parameters()) == count == record["param_count"]
    facts = state_dict_facts(ours.float().state_dict())
    assert facts == state_dict_facts(emitted.float().state_dict())
    assert facts == {k: record[k] for k in facts}
    ours.double()
    emitted.double()
    ours.load_state_dict(reference.state_dict(), strict=True)
    emitted.load_state_dict(ours.state_dict(), strict=True)
    reference.load_state_dict(ours.state_dict(), strict=True)
    for call, expected in zip(case["calls"], record["outputs"], strict=True):
        want = _outputs(reference, call)
        for model in (ours, emitted):
            got = _outputs(model, call)
            assert len(got) == len(want) == len(expected)
            for a, b, summary in zip(got, want, expected, strict=True):
                assert a.dtype == torch.float64 and torch.equal(a, b)
                assert summary_matches(output_summary(a), summary, rtol=1e-9) == []


@pytest.mark.parametrize("name", sorted(CASES))
def test_check_input_agrees_with_torch_at_the_edges(name: str) -> None:
    """Each call's shapes are accepted by `check --input`, and the call outside is refused
    by check with an error and by torch."""
    case, spec = CASES[name], _spec(name)
    for call in case["calls"]:
        shapes = [tuple(make_input(given).shape) for given in call]
        report = archspec.check(spec, input=shapes if len(shapes) > 1 else shapes[0])
        assert report.ok, (shapes, report.diagnostics)
    outside = [tuple(make_input(given).shape) for given in case["outside"]]
    report = archspec.check(spec, input=outside if len(outside) > 1 else outside[0])
    assert not report.ok and report.errors
    with pytest.raises((RuntimeError, IndexError)):
        _outputs(_reference(case), case["outside"])


def test_the_non_local_blocks_output_norm_starts_at_zero_as_the_originals() -> None:
    """The spec's `init` rule zeroes `W.1` as the original's constructor does, so the
    block starts as the identity; other norms keep torch's ones."""
    ours = archspec.compile(_spec("nonlocal_net"))
    reference = references.NonLocalNet()
    for model in (ours, reference):
        state = model.state_dict()
        assert torch.count_nonzero(state["features.4.W.1.weight"]) == 0
        assert torch.count_nonzero(state["features.4.W.1.bias"]) == 0
        assert torch.equal(state["features.1.weight"], torch.ones(16))
