"""Work the composer keeps between compositions: the parse of an imported file (read, never
edited, by every spec that imports it) and the index of its spans by block. What is kept
depends on the file's text alone, so an edited file is read afresh, and a document a caller
may edit is never indexed for later. Inside `family_budget` (the variants of one family
checked or emitted together) a family is composed once and each variant chosen from it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

import archspec.compose as compose_module
from archspec.catalog import family_budget, read_source
from archspec.compose import imports
from archspec.loader import LoadedDoc, copy_data, is_kept, load_yaml


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


SPEC = """archspec: 1
name: net
input: [1, 3, 8, 8]
use: [{from: lib.yaml, blocks: [B]}]
layers:
  - {type: B}
"""


def _lib(channels: int, pad: str = "") -> str:
    layer = f"{{type: conv2d, out_channels: {channels}, kernel_size: 1}}"
    return f"archspec: 1\nblocks:\n{pad}  B:\n    layers:\n      - {layer}\n"


def test_an_edited_library_file_is_read_afresh(tmp_path: Path) -> None:
    spec = _write(tmp_path / "net.yaml", SPEC)
    lib = _write(tmp_path / "lib.yaml", _lib(4))
    first = read_source(spec)
    conv = ("blocks", "B", "layers", 0, "out_channels")
    assert first.data["blocks"]["B"]["layers"][0]["out_channels"] == 4
    assert first.spans[conv].line == 5
    _write(lib, _lib(8, pad="\n\n"))  # another value, two lines lower
    second = read_source(spec)
    assert second.data["blocks"]["B"]["layers"][0]["out_channels"] == 8
    assert second.spans[conv].line == 7
    assert read_source(spec).spans[conv].line == 7


def test_files_with_the_same_block_names_keep_their_own_spans(tmp_path: Path) -> None:
    for sub, pad in (("a", ""), ("b", "\n\n\n")):
        (tmp_path / sub).mkdir()
        _write(tmp_path / sub / "lib.yaml", _lib(4, pad))
        _write(tmp_path / sub / "net.yaml", SPEC)
    a = read_source(tmp_path / "a" / "net.yaml")
    b = read_source(tmp_path / "b" / "net.yaml")
    key = ("blocks", "B", "layers", 0)
    assert (a.spans[key].line, b.spans[key].line) == (5, 8)
    assert a.spans[key].file != b.spans[key].file


def test_a_document_a_caller_may_edit_is_indexed_each_time() -> None:
    text = _lib(4)
    fresh = load_yaml(text, "lib.yaml")
    assert not is_kept(fresh) and is_kept(load_yaml(text, "lib.yaml", copy=False))
    before = imports._spans_by_block(fresh)[False]["B"]
    fresh.spans[("blocks", "B", "extra")] = fresh.spans[("blocks", "B")]
    after = imports._spans_by_block(fresh)[False]["B"]
    assert len(after) == len(before) + 1


FAMILY = """archspec: 1
name: fam
input: [1, 3, 8, 8]
params:
  width: {type: int, default: 4}
use: [{from: lib.yaml, blocks: [B]}]
variants:
  small: {params: {width: 2}}
  large: {class_name: Large, params: {width: 16}}
layers:
  - {type: B}
  - {type: conv2d, out_channels: width, kernel_size: 1}
"""


def _same(a: LoadedDoc, b: LoadedDoc) -> None:
    assert (a.data, a.spans, a.key_spans, a.sources, a.variant) == (
        b.data,
        b.spans,
        b.key_spans,
        b.sources,
        b.variant,
    )
    for key, span in a.spans.items():  # the import chains too (SourceSpan's == skips them)
        assert list(span.import_sites()) == list(b.spans[key].import_sites())


def test_a_family_read_once_composes_each_variant_as_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = _write(tmp_path / "fam.yaml", FAMILY)
    _write(tmp_path / "lib.yaml", _lib(4))
    alone = {v: read_source(spec, v) for v in ("small", "large")}
    imported: list[str] = []
    real_imports = compose_module._with_imports
    monkeypatch.setattr(
        compose_module,
        "_with_imports",
        lambda doc, *a: imported.append(doc.file) or real_imports(doc, *a),
    )
    with family_budget(None):
        together = {v: read_source(spec, v) for v in ("small", "large")}
        together["small"].data["blocks"]["B"]["layers"][0]["out_channels"] = 99  # its own
        again = read_source(spec, "small")
    assert len(imported) == 1  # the family's imports copied in once, for every variant
    _same(together["large"], alone["large"])
    _same(again, alone["small"])


def test_outside_one_reading_an_edited_family_is_read_afresh(tmp_path: Path) -> None:
    spec = _write(tmp_path / "fam.yaml", FAMILY)
    lib = _write(tmp_path / "lib.yaml", _lib(4))
    with family_budget(None):
        assert read_source(spec, "small").data["blocks"]["B"]["layers"][0]["out_channels"] == 4
    _write(lib, _lib(8))
    assert read_source(spec, "small").data["blocks"]["B"]["layers"][0]["out_channels"] == 8
    with family_budget(None):
        assert read_source(spec, "large").data["blocks"]["B"]["layers"][0]["out_channels"] == 8


EXTENDED = """archspec: 1
extends: net.yaml
name: child
"""


@pytest.mark.parametrize("name", ["net.yaml", "fam.yaml", "child.yaml"])
@pytest.mark.parametrize("together", [False, True])
def test_a_composed_spec_is_the_callers_own(tmp_path: Path, name: str, together: bool) -> None:
    """read_source composes from the kept parse of the file (no copy of it when a variant
    is chosen from a family read once): editing what it returns edits no kept parse."""
    _write(tmp_path / "net.yaml", SPEC)
    _write(tmp_path / "fam.yaml", FAMILY)
    _write(tmp_path / "child.yaml", EXTENDED)
    _write(tmp_path / "lib.yaml", _lib(4))
    variant = "small" if name == "fam.yaml" else None
    text = (tmp_path / name).read_text(encoding="utf-8")
    kept = load_yaml(text, str(tmp_path / name), copy=False)
    before = (copy_data(kept.data), dict(kept.spans), dict(kept.key_spans))
    with family_budget(None) if together else contextlib.nullcontext():
        for _ in range(2):
            doc = read_source(tmp_path / name, variant)
            for key, value in list(doc.data.items()):
                if isinstance(value, (list, dict)):
                    value.clear()  # what the data holds, not only the mapping itself
                doc.data[key] = "edited"
            doc.spans.clear()
            doc.key_spans.clear()
    assert load_yaml(text, str(tmp_path / name), copy=False) is kept
    assert (kept.data, kept.spans, kept.key_spans) == before
    again = read_source(tmp_path / name, variant)
    assert again.data["name"] != "edited" and again.spans
