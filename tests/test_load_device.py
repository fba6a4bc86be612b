"""`archspec.load(name, device=...)` builds where `compile(..., device=...)` does: "meta"
allocates nothing, so it refuses weights (there would be nowhere to put them). A keyword of
another call (`variant=`, `input=`) reaches the spec as a param: its E302 says so."""

from __future__ import annotations

import pytest
import torch

import archspec


def test_load_on_meta_allocates_nothing() -> None:
    model = archspec.load("lenet5", device="meta")
    devices = {t.device.type for t in model.state_dict().values()}
    assert devices == {"meta"}
    assert list(model.state_dict()) == list(archspec.load("lenet5").state_dict())


def test_load_with_weights_on_a_device_holds_them_there() -> None:
    state = archspec.load("lenet5").state_dict()
    model = archspec.load("lenet5", weights=state, device="cpu")
    assert all(t.device.type == "cpu" for t in model.state_dict().values())
    for key, value in state.items():
        assert torch.equal(model.state_dict()[key], value), key


def test_weights_on_meta_are_a_value_error() -> None:
    state = archspec.load("lenet5").state_dict()
    with pytest.raises(ValueError, match="meta device"):
        archspec.load("lenet5", weights=state, device="meta")


@pytest.mark.parametrize(
    ("keyword", "value", "says"),
    [
        ("variant", "resnet18", "archspec.load takes a family's variant by its own name"),
        ("input", (1, 3, 64, 64), "the input size is the spec's `input:`"),
        ("max_layers", 5, "max_layers is an argument of compile and check"),
    ],
)
def test_a_keyword_of_another_call_is_named_as_such(keyword: str, value: object, says: str) -> None:
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.load("resnet18", **{keyword: value})
    (diag,) = caught.value.diagnostics
    assert diag.code == "E302" and f"unknown param `{keyword}`" in diag.message
    assert says in (diag.hint or "")
