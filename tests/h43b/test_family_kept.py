"""What a family's check found is handed to the caller's `kept` list at the end, as its
reading is, so that the command line frees it with the process rather than after each
family (issue 14: freeing the findings was ~13 ms of `archspec check specs/*.yaml`)."""

from __future__ import annotations

from archspec import catalog
from archspec.passes.family import family_memo, shared_findings


def test_the_findings_go_to_kept_at_the_end() -> None:
    kept: list[object] = []
    with shared_findings(kept):
        store = family_memo("walks")
        store[1] = "found"  # type: ignore[index]
        assert kept == []
    assert family_memo("walks") is None
    assert len(kept) == 1 and kept[0]["walks"] is store  # type: ignore[index]


def test_a_family_budget_keeps_its_reading_and_its_findings() -> None:
    kept: list[object] = []
    with catalog.family_budget(None, kept):
        family_memo("verify")
    assert any(isinstance(k, dict) and "verify" in k for k in kept)
    assert len(kept) == 2  # the reading (compose.one_reading) and the findings


def test_without_kept_nothing_is_kept() -> None:
    with shared_findings():
        assert family_memo("walks") is not None
    assert family_memo("walks") is None
