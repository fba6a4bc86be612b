"""Networks of today beyond image classification, written from archspec's docs alone by a
new user (session 42's acceptance round, helper h42c: tests/h42c/*.yaml), each against the
same network written by hand in plain PyTorch as its public code writes it
(tests/h42c/references.py): a DDPM noise-prediction UNet (two inputs, a sinusoidal timestep
embedding, GroupNorm and SiLU residual blocks, self-attention at the low resolution), a
LLaMA decoder (RMSNorm, rotary embeddings, grouped-query causal attention, SwiGLU), a BERT
encoder (three int64 inputs, the attention mask added to the scores, HuggingFace's keys with
its `self`), Whisper's audio encoder (conv1d stems, a persistent position table, pre-norm
blocks), and CLIP (two towers, nn.MultiheadAttention with a causal mask, normalised features
under a learned logit scale), and a DETR head (sine positions, a post-norm encoder and a
decoder over learned queries, nn.MultiheadAttention called as DETR calls it, a dict of
heads), and SegFormer (overlapping patch embeddings, attention over a spatially reduced
map, Mix-FFN's depthwise conv, the all-MLP decoder upsampling and concatenating four
scales), and a Perceiver (a learned latent array cross-attending to the input, latent
self-attention, GEGLU, lucidrains' PreNorm registering `fn` before its norms). Each spec
is checked, compiled and emitted and compared with
its reference: parameter count, the state_dict's keys, shapes and dtypes in order, strict
loads both ways, eval outputs equal to the bit, the emitted module's too; the domain check
states holds the calls and refuses one just outside it, where torch fails too; `archspec
import` of each reference is the network or a refusal that says why."""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

import archspec
from archspec.errors import ImportFailure
from tests.conftest import sample_params
from tests.h42c import references
from tests.h42c.cases import CASES, HERE, make_input


def _reference(name: str) -> nn.Module:
    torch.manual_seed(0)
    return getattr(references, CASES[name]["reference"])().eval()


def _outputs(model: nn.Module, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
    with torch.no_grad():
        out = model(*inputs)
    if isinstance(out, dict):  # outputs by key: the same keys, in order
        return [*out, *out.values()]
    return list(out) if isinstance(out, tuple | list) else [out]


def _facts(module: nn.Module) -> list[tuple[str, tuple[int, ...], torch.dtype]]:
    return [(k, tuple(v.shape), v.dtype) for k, v in module.state_dict().items()]


def _same(ours: nn.Module, reference: nn.Module, name: str) -> None:
    assert sum(p.numel() for p in ours.parameters()) == sum(
        p.numel() for p in reference.parameters()
    )
    assert _facts(ours) == _facts(reference)
    ours.load_state_dict(reference.state_dict(), strict=True)
    reference.load_state_dict(ours.state_dict(), strict=True)
    torch.manual_seed(1)
    for call in CASES[name]["calls"]:
        inputs = [make_input(given) for given in call]
        got, want = _outputs(ours.eval(), inputs), _outputs(reference, inputs)
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            assert a == b if isinstance(a, str) else torch.equal(a, b)


def test_every_spec_of_the_folder_has_a_case() -> None:
    assert sorted(p.stem for p in HERE.glob("*.yaml")) == sorted(CASES)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_spec_is_the_hand_written_network(name: str) -> None:
    spec = str(HERE / f"{name}.yaml")
    report = archspec.check(spec)
    assert report.ok and not report.diagnostics, report.diagnostics
    ours = archspec.compile(spec)
    reference = _reference(name)
    _same(ours, reference, name)
    module = types.ModuleType(f"emitted_{name}")
    exec(compile(archspec.emit(spec), "<emitted>", "exec"), module.__dict__)
    _same(getattr(module, type(ours).__name__)(), reference, name)


@pytest.mark.parametrize("name", sorted(CASES))
def test_the_domain_check_states_is_where_the_network_runs(name: str) -> None:
    case, spec = CASES[name], str(HERE / f"{name}.yaml")
    assert case["domain"] in archspec.check(spec).domain_text
    outside = case["outside"]
    shapes = [tuple(given[1]) for given in outside]
    assert not archspec.check(spec, input=shapes[0] if len(shapes) == 1 else shapes).ok
    inputs = [make_input(given) for given in outside]
    for model in (archspec.compile(spec).eval(), _reference(name)):
        with pytest.raises((RuntimeError, AssertionError)):
            _outputs(model, inputs)


@pytest.mark.parametrize("name", sample_params(sorted(CASES), stride=2))
def test_the_import_of_the_reference(name: str) -> None:
    case, reference = CASES[name], _reference(name)
    torch.manual_seed(2)
    given = [make_input(g) for g in case["calls"][0]]
    example = given[0] if len(given) == 1 else tuple(given)
    if case["import"] is None:
        _same(archspec.compile(archspec.from_module(reference, example)), reference, name)
        return
    with pytest.raises(ImportFailure) as failure:
        archspec.from_module(reference, example)
    assert case["import"] in str(failure.value)
