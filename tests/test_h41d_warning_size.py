"""The WeightsWarning of a strict=False load shows a bounded diff: a stranger's checkpoint
with a key of megabytes, or with a million keys, made a warning of as many characters (the
whole diff, printed on stderr); each line is now cut, and the entries past a count are
counted, with where the whole diff is (archspec.load_weights returns it)."""

from __future__ import annotations

import warnings

import pytest
import torch

import archspec


def _warning_of(state: dict[str, torch.Tensor]) -> str:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        archspec.load("lenet5", weights=state, strict=False)
    (warning,) = [w for w in caught if issubclass(w.category, archspec.WeightsWarning)]
    return str(warning.message)


def test_a_key_of_megabytes_is_cut_in_the_warning() -> None:
    state = archspec.compile("lenet5").state_dict()
    state["x" * 2_000_000] = torch.zeros(1)
    text = _warning_of(state)
    assert len(text) < 5_000, len(text)
    assert "removed  xxxx" in text and "..." in text
    assert text.splitlines()[-1].startswith("a checkpoint of a loads into b with strict=False")


def test_a_checkpoint_of_many_keys_is_counted_past_the_first_entries() -> None:
    state = archspec.compile("lenet5").state_dict()
    state.update({f"extra.{i}.weight": torch.zeros(1) for i in range(5_000)})
    text = _warning_of(state)
    assert len(text.splitlines()) < 250
    assert "removed  extra.0.weight" in text and "extra.4999.weight" not in text
    assert "and 4,8" in text and "archspec.load_weights" in text
    assert text.splitlines()[-1].startswith("a checkpoint of a loads into b with strict=False")
    with pytest.warns(archspec.WeightsWarning):
        diff = archspec.load_weights(archspec.compile("lenet5"), state, strict=False)
    assert len(diff.removed) == 5_000  # the whole diff is where the warning says


def test_a_warning_of_a_few_entries_shows_them_all() -> None:
    state = archspec.compile("lenet5").state_dict()
    del state["features.c1.weight"]
    state["extra.weight"] = torch.zeros(1)
    text = _warning_of(state)
    assert "added    features.c1.weight" in text and "removed  extra.weight" in text
    assert "more" not in text
