"""Drop-in parity with torchvision, through the committed fixture (no torchvision needed).

The fixture records torchvision's state_dict layout and its eval output under weights that
are a fixed formula of each key and shape (tests/parity/weights.py); regenerate it with
tests/parity/make_fixture.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import archspec

from .conftest import spec_source
from .parity.weights import deterministic_input, fill_deterministic

HERE = Path(__file__).resolve().parent / "parity"
FIXTURE = json.loads((HERE / "fixture.json").read_text())["models"]
OUTPUTS = torch.load(HERE / "outputs.pt", weights_only=True)

#: fixture model -> (spec, params)
TWINS = {
    "alexnet": ("alexnet_torchvision", {}),
    "googlenet": ("googlenet", {"aux_logits": False}),
    "googlenet_aux": ("googlenet", {}),
    **{f"vgg{d}{bn}": (f"vgg{d}{bn}", {}) for d in (11, 13, 16, 19) for bn in ("", "_bn")},
    **{f"resnet{d}": (f"resnet{d}", {}) for d in (18, 34, 50, 101, 152)},
}


def test_every_fixture_model_has_a_twin() -> None:
    assert set(TWINS) == set(FIXTURE)


@pytest.mark.parametrize("model_name", sorted(TWINS))
def test_state_dict_layout_matches_torchvision(model_name: str) -> None:
    spec, params = TWINS[model_name]
    model = archspec.compile(spec_source(spec), device="meta", **params)
    ours = [
        (k, list(v.shape), str(v.dtype).removeprefix("torch."))
        for k, v in model.state_dict().items()
    ]
    theirs = [tuple(e) for e in FIXTURE[model_name]["state_dict"]]
    assert [tuple(e) for e in ours] == theirs
    assert sum(p.numel() for p in model.parameters()) == FIXTURE[model_name]["param_count"]


#: Outputs the zoo fixture does not cover: tests/test_zoo_parity.py compares every zoo twin in
#: float64 (GoogLeNet with aux_logits=False and transform_input=False is in no zoo record).
NOT_IN_ZOO = ["googlenet"]


#: The rest run with `--all`: the zoo's float64 comparison covers them by default.
OUTPUT_CASES = NOT_IN_ZOO + [
    pytest.param(n, marks=pytest.mark.heavy) for n in sorted(set(TWINS) - set(NOT_IN_ZOO))
]


@pytest.mark.parametrize("model_name", OUTPUT_CASES)
def test_outputs_match_torchvision_under_same_weights(model_name: str) -> None:
    spec, params = TWINS[model_name]
    torch.set_num_threads(max(1, torch.get_num_threads()))
    model = archspec.compile(spec_source(spec), **params)
    model.load_state_dict(fill_deterministic(model.state_dict()), strict=True)
    model.eval()
    x = deterministic_input(tuple(FIXTURE[model_name]["input_shape"]))
    with torch.no_grad():
        y = model(x)
    expected = OUTPUTS[model_name]
    assert y.shape == expected.shape
    scale = expected.abs().max().item()
    torch.testing.assert_close(y, expected, rtol=1e-4, atol=1e-4 * max(1.0, scale))


def test_fill_keeps_computed_buffers_and_refuses_unknown_keys() -> None:
    """A relative position index keeps the constructor's values (zeros would still run, but
    would test nothing); a `keep` key the state_dict lacks is a mistake, not a no-op."""
    index = torch.arange(6).reshape(2, 3)
    state = {"attn.relative_position_index": index, "attn.weight": torch.empty(4, 4)}
    filled = fill_deterministic(state, keep=["attn.relative_position_index"])
    assert filled["attn.relative_position_index"] is index
    assert filled["attn.weight"].abs().sum() > 0
    assert fill_deterministic(state)["attn.relative_position_index"].sum() == 0
    with pytest.raises(KeyError, match=r"attn\.bias"):
        fill_deterministic(state, keep=["attn.bias"])
