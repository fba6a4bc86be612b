"""An ONNX export whose tensors torch keeps in a file beside the model (every model over
2 GB of weights: vit_h_14, regnet_y_128gf) is written whole, both files: export_onnx saved
into a temporary folder and copied the `.onnx` alone, which then named a `model.onnx.data`
that was nowhere ("should be stored in .../model.onnx.data, but it is not regular file").
torch decides by size; these tests make it keep any model's tensors beside it, as it keeps a
large one's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import onnx  # the `onnx` extra, installed where the tests run (tests/test_interop.py)
import pytest
import torch

import archspec
from archspec.errors import ArchSpecError
from archspec.interop import export_onnx


@pytest.fixture
def tensors_beside(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch's ONNXProgram.save keeps the tensors in a file beside the model, as it does
    for a model over 2 GB."""
    from torch.onnx import ONNXProgram

    save = ONNXProgram.save

    def beside(self: Any, destination: Any, **kwargs: Any) -> None:
        save(self, destination, **{**kwargs, "external_data": True})

    monkeypatch.setattr(ONNXProgram, "save", beside)


def _export(path: Path, force: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    model = archspec.load("lenet5").eval()
    export_onnx(model, torch.randn(2, 1, 32, 32), path, force=force)
    return model


@pytest.mark.filterwarnings("ignore::FutureWarning")  # from torch.onnx's own internals
def test_a_model_whose_tensors_are_kept_beside_it_is_written_with_them(
    tmp_path: Path, tensors_beside: None
) -> None:
    from onnx.reference import ReferenceEvaluator

    path = tmp_path / "out" / "net.onnx"
    model = _export(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["net.onnx", "net.onnx.data"]
    onnx.checker.check_model(str(path))  # reads the tensors from the file beside it
    proto = onnx.load(str(path))
    x = torch.randn(3, 1, 32, 32)
    (got,) = ReferenceEvaluator(proto).run(None, {proto.graph.input[0].name: x.numpy()})
    with torch.no_grad():
        assert torch.allclose(torch.from_numpy(got), model(x), atol=1e-5)


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_the_tensors_file_is_replaced_as_the_model_is(tmp_path: Path, tensors_beside: None) -> None:
    """Only with force, like the .onnx itself (an ONNX file carries no mark of archspec), and
    a file in the way of either is refused before anything is replaced."""
    path = tmp_path / "net.onnx"
    _export(path)
    data = tmp_path / "net.onnx.data"
    before = path.read_bytes(), data.read_bytes()
    with pytest.raises(ArchSpecError) as refused:
        _export(path)
    assert refused.value.error_code == "E603"
    assert (path.read_bytes(), data.read_bytes()) == before
    _export(path, force=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["net.onnx", "net.onnx.data"]

    other = tmp_path / "other.onnx"
    (tmp_path / "other.onnx.data").write_text("someone's notes")
    with pytest.raises(ArchSpecError) as refused:
        _export(other)
    assert refused.value.error_code == "E603" and "other.onnx.data" in str(refused.value)
    assert not other.exists()
    assert (tmp_path / "other.onnx.data").read_text() == "someone's notes"
