"""Work the composer keeps between compositions: the parse of an imported file (read, never
edited, by every spec that imports it) and the index of its spans by block. What is kept
depends on the file's text alone, so an edited file is read afresh, and a document a caller
may edit is never indexed for later."""

from __future__ import annotations

from pathlib import Path

from archspec.catalog import read_source
from archspec.compose import imports
from archspec.loader import is_kept, load_yaml


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
