"""A safetensors file (timm's and Hugging Face's format) given as weights, to diff, or as a spec.

Before: `archspec.load(SPEC, weights="model.safetensors")` said "cannot read ... as a
checkpoint (RuntimeError)" with a hint about files that run code (a safetensors file holds
tensors only), `archspec diff model.safetensors SPEC` read it as a spec (E104, "specs are
limited to 1048576 bytes"), and `archspec check model.safetensors` said the same. Now it is
known by its header: read with the safetensors package where it is installed (it is no
dependency), else E801 naming the package; as a spec, E105 says it is a checkpoint.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import math
import struct
import sys
import types
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import archspec
from archspec.cli import app

runner = CliRunner()


def _safetensors(path: Path, tensors: dict[str, tuple[int, ...]]) -> Path:
    """A safetensors file of float32 zeros, written by its format (8-byte header size, the
    JSON header, the data), so the test needs no safetensors package."""
    header: dict[str, object] = {}
    offset = 0
    for key, shape in tensors.items():
        size = 4 * math.prod(shape)
        header[key] = {
            "dtype": "F32",
            "shape": list(shape),
            "data_offsets": [offset, offset + size],
        }
        offset += size
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + bytes(offset))
    return path


def test_as_a_spec_it_is_said_to_be_a_checkpoint(tmp_path: Path) -> None:
    f = _safetensors(tmp_path / "model.safetensors", {"fc.weight": (10, 4)})
    result = runner.invoke(app, ["check", str(f)])
    assert result.exit_code == 1
    assert f"error[E105]: {f} is a PyTorch checkpoint (a safetensors file)" in result.stderr


def test_without_the_package_its_reader_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    f = _safetensors(tmp_path / "model.safetensors", {"fc.weight": (10, 4)})
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "safetensors" else real(name)
    )
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load("lenet5", weights=str(f))
    assert err.value.error_code == "E801"
    assert "is a safetensors file" in str(err.value) and "pip install safetensors" in str(
        err.value.hint
    )
    result = runner.invoke(app, ["diff", str(f), "lenet5"])
    assert result.exit_code == 1
    assert "error[E801]: in A: weights file" in result.stderr
    assert "safetensors package" in result.stderr


def _reader(path: str, device: str = "cpu") -> dict[str, torch.Tensor]:
    """The safetensors package's `load_file`, for files of float32 zeros as `_safetensors`
    writes them (the package is no dependency, and not installed where the tests run)."""
    raw = Path(path).read_bytes()
    header = json.loads(raw[8 : 8 + struct.unpack("<Q", raw[:8])[0]])
    return {k: torch.zeros(v["shape"]) for k, v in header.items()}


def test_with_the_package_it_loads_and_diffs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if importlib.util.find_spec("safetensors") is None:  # the package's reader, stood in for
        package = types.ModuleType("safetensors")
        package.__spec__ = importlib.machinery.ModuleSpec("safetensors", None)
        reader = types.ModuleType("safetensors.torch")
        reader.load_file = _reader  # type: ignore[attr-defined]
        monkeypatch.setitem(sys.modules, "safetensors", package)
        monkeypatch.setitem(sys.modules, "safetensors.torch", reader)
    model = archspec.compile("lenet5")
    f = _safetensors(
        tmp_path / "model.safetensors", {k: tuple(v.shape) for k, v in model.state_dict().items()}
    )
    assert archspec.diff(str(f), "lenet5").compatible
    archspec.load_weights(model, str(f))
    assert all(float(v.abs().sum()) == 0 for v in model.state_dict().values())
