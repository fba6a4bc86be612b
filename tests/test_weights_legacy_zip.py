"""torch.hub's legacy checkpoint format in its cache (a zip of one file, the checkpoint:
torch.hub's `_is_legacy_zip_format` / `_legacy_zip_load`), read as torch.hub reads it: it
was E802 'cannot read ... as a checkpoint'. Within limits: tensors only, inflated into a
temporary folder of archspec's own under a fixed name, never past LEGACY_RATIO times the zip."""

from __future__ import annotations

import io
import tempfile
import urllib.request
import warnings
import zipfile
from pathlib import Path
from typing import Any

import pytest
import torch

import archspec
from archspec.checkpoints import LEGACY_RATIO, legacy_entry

from .test_weights import SPEC, _checkpoint, _RunsCode, _same


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh torch.hub cache; $ARCHSPEC_WEIGHTS_URL unset."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ARCHSPEC_WEIGHTS_URL", raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every URL opened is recorded and refused: what is read comes from the cache."""
    opened: list[str] = []

    def refuse(url: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(getattr(url, "full_url", url))
        raise AssertionError(f"no network in tests: {opened[-1]}")

    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    monkeypatch.setattr("archspec.download.urlopen", refuse)
    monkeypatch.setattr(torch.hub, "urlopen", refuse)
    return opened


def _legacy_zip(file: Path, content: Any, entry: str = "checkpoint.pth", old: bool = True) -> None:
    """`content` torch.save'd (the pre-1.6 format when `old`) as the one entry of a zip."""
    buf = io.BytesIO()
    torch.save(content, buf, _use_new_zipfile_serialization=not old)
    file.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(entry, buf.getvalue())


def _folders_left() -> set[str]:
    return {p.name for p in Path(tempfile.gettempdir()).glob("archspec-legacy-*")}


@pytest.mark.parametrize("old", [True, False])
def test_a_legacy_zip_in_the_cache_loads_as_torch_hub_loads_it(
    hub: Path,
    offline: list[str],
    old: bool,
) -> None:
    state = _checkpoint()
    cached = hub / archspec.get_weights(SPEC).file
    _legacy_zip(cached, state, old=old)
    assert torch.hub._is_legacy_zip_format(str(cached))  # torch.hub's own rule says so
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.hub's deprecation notice
        theirs = torch.hub._legacy_zip_load(str(cached), tempfile.mkdtemp(), "cpu", True)
    assert theirs.keys() == state.keys()
    before = _folders_left()
    model = archspec.load(SPEC, weights="DEFAULT")
    assert _same(model, state) and offline == []
    assert _folders_left() == before  # the temporary folder is gone


def test_a_torch_save_zip_is_not_taken_for_the_legacy_format(tmp_path: Path) -> None:
    torch.save({"w": torch.zeros(2)}, tmp_path / "new.pth")
    assert legacy_entry(tmp_path / "new.pth") is None
    _legacy_zip(tmp_path / "old.pth", {"w": torch.zeros(2)})
    entry = legacy_entry(tmp_path / "old.pth")
    assert entry is not None and entry.filename == "checkpoint.pth"


def test_a_legacy_zip_bomb_is_refused_before_it_fills_a_disk(hub: Path, offline: list[str]) -> None:
    cached = hub / archspec.get_weights(SPEC).file
    cached.parent.mkdir(parents=True)
    with zipfile.ZipFile(cached, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("checkpoint.pth", bytes(64 * 2**20))
    size = cached.stat().st_size
    before = _folders_left()
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights="DEFAULT")
    assert err.value.error_code == "E802"
    assert f"expands to more than {LEGACY_RATIO * size:,} bytes" in str(err.value)
    assert "delete it" in str(err.value.hint)
    assert _folders_left() == before


def test_a_legacy_entry_with_code_is_refused_unrun(
    hub: Path,
    tmp_path: Path,
    offline: list[str],
) -> None:
    marker = tmp_path / "ran"
    _legacy_zip(hub / archspec.get_weights(SPEC).file, {"x": _RunsCode(marker)})
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights="DEFAULT")
    assert err.value.error_code == "E802" and "legacy format" in str(err.value)
    assert "weights_only" not in str(err.value)
    assert not marker.exists()


def test_a_legacy_entry_named_outside_is_written_nowhere_but_the_temporary_folder(
    hub: Path,
    tmp_path: Path,
    offline: list[str],
) -> None:
    """torch.hub extracts the entry under its own name into its cache folder (with a check
    against `../`); archspec writes it under a fixed name into a folder of its own."""
    state = _checkpoint()
    cached = hub / archspec.get_weights(SPEC).file
    _legacy_zip(cached, state, entry="../../escaped.pth")
    model = archspec.load(SPEC, weights="DEFAULT")
    assert _same(model, state)
    assert not (hub.parent / "escaped.pth").exists()
    assert sorted(p.name for p in hub.iterdir()) == [cached.name]
