"""A checkpoint is data too: `archspec.load(..., weights=path)` and `archspec.load_weights`
read a stranger's file with torch.load(weights_only=True), so a pickle that would run code is
refused, and so is any file torch's unpickler cannot make sense of: each is a WeightsError
(E801) whose hint never advises weights_only=False, not torch's own exception. A state_dict's
`_metadata` of another shape than torch's is refused before anything indexes it.
"""

from __future__ import annotations

import os
import pickle
import zipfile
from collections import OrderedDict
from pathlib import Path

import pytest
import torch

import archspec
from archspec.hub import WeightsError

SPEC = """\
archspec: 1
name: tiny
input: [N, 3, 8, 8]
layers:
  - {name: conv, type: conv2d, out_channels: 4, kernel_size: 3}
  - {name: bn, type: batchnorm2d}
"""


class _RunsCode:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, ("echo pwned > pwned.txt",))


def _files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "raw pickle": tmp_path / "raw.pt",
        "torch.save of code": tmp_path / "zip.pt",
        "text": tmp_path / "text.pt",
        "empty": tmp_path / "empty.pt",
        "truncated zip": tmp_path / "cut.pt",
    }
    files["raw pickle"].write_bytes(pickle.dumps(_RunsCode(), protocol=2))
    torch.save({"conv.weight": _RunsCode()}, files["torch.save of code"])
    files["text"].write_text("hello")
    files["empty"].write_bytes(b"")
    torch.save({"conv.weight": torch.zeros(4, 3, 3, 3)}, files["truncated zip"])
    whole = files["truncated zip"].read_bytes()
    files["truncated zip"].write_bytes(whole[: len(whole) // 2])
    return files


def test_a_checkpoint_that_is_not_tensors_is_e801_and_runs_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    model = archspec.compile(SPEC)
    for what, path in _files(tmp_path).items():
        with pytest.raises(WeightsError) as info:
            archspec.load_weights(model, path)
        assert info.value.code == "E801", what
        assert "weights_only=False" not in f"{info.value} {info.value.hint}", what
        assert "weights_only=True" in (info.value.hint or ""), what
    assert not (tmp_path / "pwned.txt").exists()


def test_a_device_or_folder_is_not_a_weights_file(tmp_path: Path) -> None:
    model = archspec.compile(SPEC)
    for path in ("/dev/zero", str(tmp_path)):
        with pytest.raises(WeightsError, match="is not a regular file"):
            archspec.load_weights(model, path)
    with pytest.raises(WeightsError, match="does not exist"):
        archspec.load_weights(model, tmp_path / "missing.pt")


@pytest.mark.parametrize(
    "meta",
    [
        [1, 2],
        {"bn": 5},
        {"bn": {"version": "1"}},
        {"": {"version": 1.5}},
        {"bn": {"version": True}},
        {3: {"version": 1}},
    ],
)
def test_metadata_of_another_shape_is_e801(meta: object) -> None:
    model = archspec.compile(SPEC)
    state = OrderedDict(model.state_dict())
    del state["bn.num_batches_tracked"]  # what makes the loader read bn's version
    state._metadata = meta  # type: ignore[attr-defined]
    with pytest.raises(WeightsError, match="_metadata") as info:
        archspec.load_weights(model, state)
    assert info.value.code == "E801"


def test_torch_s_own_metadata_still_loads(tmp_path: Path) -> None:
    model = archspec.compile(SPEC)
    path = tmp_path / "ok.pt"
    torch.save(model.state_dict(), path)
    assert archspec.load_weights(archspec.compile(SPEC), path).compatible


@pytest.mark.parametrize("key", [1, None, ("bn", "weight"), b"bn.weight"])
def test_a_key_that_is_not_text_is_e801(key: object, tmp_path: Path) -> None:
    """torch.load(weights_only=True) reads int, None, tuple or bytes keys; each raised
    AttributeError (`'int' object has no attribute 'startswith'`) or TypeError."""
    model = archspec.compile(SPEC)
    path = tmp_path / "keys.pt"
    torch.save({**model.state_dict(), key: torch.zeros(1)}, path)
    for weights in (path, torch.load(path, weights_only=True)):
        with pytest.raises(WeightsError, match="keys are module paths as text") as info:
            archspec.load_weights(archspec.compile(SPEC), weights)
        assert info.value.code == "E801"


def _unloadable(state: dict[str, torch.Tensor]) -> dict[str, dict[str, object]]:
    """Checkpoints holding an entry torch cannot load, by the words that name it."""
    return {
        "(a float, not a tensor) -> ()": {**state, "bn.num_batches_tracked": 3.5},
        "(a list, not a tensor)": {**state, "conv.weight": [1.0] * 4},
        "(a meta tensor, with no data)": {
            k: torch.empty_like(v, device="meta") for k, v in state.items()
        },
        "(a sparse_coo tensor, not dense)": {
            **state,
            "conv.weight": state["conv.weight"].to_sparse(),
        },
        "(a quantized tensor (torch.qint8), not float)": {
            **state,
            "conv.weight": torch.quantize_per_tensor(state["conv.weight"], 0.1, 0, torch.qint8),
        },
        "(a nested tensor, not dense) -> (": {
            **state,
            "conv.weight": torch.nested.nested_tensor([torch.zeros(2, 3), torch.zeros(1, 3)]),
        },
    }


def test_an_entry_torch_cannot_load_is_a_tensor_that_does_not_fit(tmp_path: Path) -> None:
    """A float at `bn.num_batches_tracked` (shape () like the buffer), meta tensors or a
    sparse one passed the shape comparison and torch's load_state_dict raised its own
    RuntimeError (a quantized one too; a nested one raised reading its shape); each is now
    a tensor that does not fit: E803 strict, skipped otherwise."""
    model = archspec.compile(SPEC)
    for what, state in _unloadable(model.state_dict()).items():
        path = tmp_path / "odd.pt"
        torch.save(state, path)
        with pytest.raises(WeightsError, match="does not fit") as info:
            archspec.load_weights(archspec.compile(SPEC), path)
        assert info.value.diagnostics[0].code == "E803", what
        assert what in str(info.value), str(info.value)
        fresh = archspec.compile(SPEC)
        with pytest.warns(archspec.WeightsWarning):
            diff = archspec.load_weights(fresh, state, strict=False)
        assert not diff.compatible and diff.changed, what


def _deflated(plain: Path, packed: Path) -> None:
    """`plain`'s zip entries written again, deflated."""
    with zipfile.ZipFile(plain) as zin, zipfile.ZipFile(packed, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, zin.read(info))


def test_a_compressed_checkpoint_is_e801_before_torch_inflates_it(tmp_path: Path) -> None:
    # a torch.save'd checkpoint of 2**28 zeros, deflated, is 1 MB that torch.load read into
    # 1.3 GB (and ten of them into a machine's memory); here 2**20 zeros, 4 KB
    plain, packed = tmp_path / "plain.pt", tmp_path / "packed.pt"
    torch.save({"conv.weight": torch.zeros(2**20)}, plain)
    _deflated(plain, packed)
    assert packed.stat().st_size < 100_000
    with pytest.raises(WeightsError) as info:
        archspec.load_weights(archspec.compile(SPEC), packed)
    assert info.value.error_code == "E801"
    assert "expand to" in str(info.value) and "weights_only=False" not in str(info.value)
    # a checkpoint as torch.save writes it is read: its entries are stored as they are
    model = archspec.compile(SPEC)
    torch.save(model.state_dict(), plain)
    assert archspec.load_weights(archspec.compile(SPEC), plain).compatible
