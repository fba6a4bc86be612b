"""A checkpoint saved from a wrapped model: every key starts with the wrapper's name
(`module.` of DistributedDataParallel, `_orig_mod.` of torch.compile), so none fits. The
E803 said to pass strict=False "to load the tensors that fit", which then loaded none
with only a warning; now the hint and the warning name the prefix to strip."""

from __future__ import annotations

import warnings

import pytest
import torch

import archspec

SPEC = "squeezenet1_1"


@pytest.mark.parametrize("prefix", ["module.", "_orig_mod.", "module._orig_mod."])
def test_the_hint_names_the_wrapper_prefix(prefix: str) -> None:
    model = archspec.compile(SPEC)
    state = {prefix + k: v for k, v in model.state_dict().items()}
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.load_weights(archspec.compile(SPEC), state)
    err = caught.value
    assert err.error_code == "E803"
    assert f"starts with `{prefix}`" in err.hint and "then it fits" in err.hint
    assert "strict=False" not in err.hint  # it would load nothing
    # the way out the hint gives works
    stripped = {k.removeprefix(prefix): v for k, v in state.items()}
    assert archspec.load_weights(archspec.compile(SPEC), stripped).compatible


def test_a_new_head_says_how_many_would_fit() -> None:
    state = {"module." + k: v for k, v in archspec.compile(SPEC).state_dict().items()}
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.load(SPEC, weights=state, num_classes=10)
    assert "then 50 of 52 tensors fit" in caught.value.hint


def test_strict_false_warns_that_nothing_was_loaded(tmp_path) -> None:  # type: ignore[no-untyped-def]
    source = archspec.compile(SPEC)
    path = tmp_path / "ddp.pth"
    torch.save({"model": {"module." + k: v for k, v in source.state_dict().items()}}, path)
    model = archspec.compile(SPEC)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        archspec.load_weights(model, path, strict=False)
    (told,) = [w for w in seen if issubclass(w.category, archspec.WeightsWarning)]
    assert "nothing was loaded: every key of the checkpoint starts with `module.`" in str(
        told.message
    )


def test_a_partial_fit_gets_the_usual_hint() -> None:
    """A checkpoint some of whose keys fit is no wrapper's: the hint is strict=False's."""
    state = dict(archspec.compile(SPEC).state_dict())
    state["module.extra"] = torch.zeros(1)
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.load_weights(archspec.compile(SPEC), state)
    assert "pass strict=False" in caught.value.hint and "starts with" not in caught.value.hint


def test_keys_deep_in_dots_cost_no_more_than_reading_them() -> None:
    """The prefix was looked for one name at a time over every key, as deep as the keys go:
    200 keys of 20,000 names each took half a minute of CPU before the E803. A wrapper's
    prefix holds a few names; deeper is none, and the hint says no key is the model's."""
    from tests.cpu import GUARD, cpu_seconds

    state = {"a." * 20_000 + str(i): torch.zeros(1) for i in range(200)}
    model = archspec.compile("lenet5")

    def refuse() -> archspec.ArchSpecError:
        with pytest.raises(archspec.ArchSpecError) as caught:
            archspec.load_weights(model, state)
        return caught.value

    err, seconds = cpu_seconds(refuse)
    assert err.error_code == "E803" and "starts with" not in err.hint
    assert seconds < GUARD / 10, seconds
    wrapped = {"module._orig_mod." + k: v for k, v in model.state_dict().items()}
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.load_weights(model, wrapped)
    assert "starts with `module._orig_mod.`" in caught.value.hint


def test_a_checkpoint_of_other_names_is_said_to_be_another_models() -> None:
    """timm's efficientnet_b0 into torchvision's (`conv_stem.weight` for `features.0.0.weight`):
    no key fits and no wrapper explains it. The hint said to pass strict=False "to load the
    tensors that fit", which loads none of them."""
    ours = archspec.compile(SPEC).state_dict()
    state = {
        k.replace("features.", "blocks_").replace("classifier.", "head_"): v
        for k, v in ours.items()
    }
    with pytest.raises(archspec.ArchSpecError) as caught:
        archspec.load_weights(archspec.compile(SPEC), state)
    hint = caught.value.hint
    assert caught.value.error_code == "E803" and "pass strict=False" not in hint, hint
    assert f"none of the checkpoint's {len(state)} keys is a key of the model" in hint, hint
    assert "first is `blocks_0.weight`, the model's `features.0.weight`" in hint, hint
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        archspec.load_weights(archspec.compile(SPEC), state, strict=False)
    (told,) = [w for w in seen if issubclass(w.category, archspec.WeightsWarning)]
    assert "nothing was loaded: none of the checkpoint's" in str(told.message)
