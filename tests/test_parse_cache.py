"""load_yaml keeps parsed documents (a family file is read once per variant, the block
library once per spec that imports it): each caller still gets a document of its own, and
a document that fails is refused every time."""

from __future__ import annotations

from typing import Any

import pytest

from archspec import loader
from archspec.errors import LoadError

TEXT = "archspec: 1\nname: t\ninput: [N, 4]\nlayers:\n  - {type: linear, out_features: 2}\n"


def test_a_caller_may_change_its_document_without_changing_the_next() -> None:
    first = loader.load_yaml(TEXT, "t.yaml")
    first.data["layers"][0]["out_features"] = 99
    first.data["name"] = "changed"
    first.spans.clear()
    second = loader.load_yaml(TEXT, "t.yaml")
    assert second.data["layers"][0] == {"type": "linear", "out_features": 2}
    assert second.data["name"] == "t"
    assert second.span_of(("layers", 0, "out_features")).line == 5


def test_the_same_text_under_another_name_has_spans_in_that_file() -> None:
    assert loader.load_yaml(TEXT, "a.yaml").span_of(("name",)).file == "a.yaml"
    assert loader.load_yaml(TEXT, "b.yaml").span_of(("name",)).file == "b.yaml"


def test_a_broken_document_is_refused_each_time() -> None:
    for _ in range(2):
        with pytest.raises(LoadError) as info:
            loader.load_yaml("name: [unclosed\n", "bad.yaml")
        assert info.value.diagnostics[0].code == "E101"


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(loader, "_PARSED", {})
    for i in range(loader.PARSED_KEPT + 10):
        loader.load_yaml(f"name: n{i}\n", "x.yaml")
    assert len(loader._PARSED) == loader.PARSED_KEPT
    assert ("name: n0\n", "x.yaml") not in loader._PARSED  # the oldest went first


def test_a_text_kept_under_another_name_reads_as_a_fresh_parse(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(loader, "_PARSED", {})
    loader.load_yaml(TEXT, "first.yaml")
    parses = []
    real = loader._parse_yaml
    monkeypatch.setattr(loader, "_parse_yaml", lambda *a: parses.append(a) or real(*a))
    renamed = loader.load_yaml(TEXT, "second.yaml")
    assert parses == []  # not parsed again
    fresh = real(TEXT, "second.yaml")
    assert renamed.data == fresh.data and renamed.file == fresh.file
    assert renamed.spans == fresh.spans and renamed.key_spans == fresh.key_spans
    assert all(s.file == "second.yaml" for s in renamed.spans.values())
    assert all(s.via is None for s in renamed.spans.values())


def test_the_built_in_index_reads_the_kept_parses_of_its_files(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`archspec check specs/*.yaml` has parsed every built-in file when it lists the built-in
    names (for the weights lines): the index takes their variant names from those parses,
    neither parsing them again nor keeping renamed copies of their spans."""
    from archspec import catalog

    monkeypatch.setattr(loader, "_PARSED", {})
    catalog._builtin_variants.cache_clear()
    monkeypatch.setattr(catalog, "_builtin_variants", catalog._builtin_variants.__wrapped__)
    files = sorted(catalog.builtin_dir().glob("*.yaml"))
    for path in files:  # read as `check` names them
        loader.load_yaml(loader.read_spec_text(path), f"specs/{path.name}", copy=False)
    kept = dict(loader._PARSED)
    parses: list[Any] = []
    monkeypatch.setattr(loader, "_parse_yaml", lambda *a: parses.append(a))
    index = catalog.builtin_index()
    assert parses == [] and kept == loader._PARSED
    assert index["resnet50"] == (catalog.builtin_dir() / "resnet.yaml", "resnet50")
    assert index["lenet5"] == (catalog.builtin_dir() / "lenet5.yaml", None)


def test_the_data_of_a_text_not_kept_is_parsed_once_and_kept() -> None:
    text = "archspec: 1\nname: only_data\nvariants: {a: {}, b: {}}\n"
    data = loader.kept_data(text)
    assert data == loader.load_yaml(text).data and loader.kept_data(text) is data
    with pytest.raises(LoadError) as info:
        loader.kept_data("name: [unclosed\n")
    assert info.value.codes == ["E101"] and info.value.span.file == "<string>"
