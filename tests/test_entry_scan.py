"""One scan of the installed entry points serves layer plugins and spec folders
(spec_plugins.installed_entry_points): the same entry points as a scan per group."""

from __future__ import annotations

import importlib.metadata
from collections.abc import Iterator
from pathlib import Path

import pytest

from archspec import plugins, spec_plugins
from archspec.catalog import builtin_index


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Entry-point state forgotten before and after; yields the count of full scans."""
    monkeypatch.delenv("ARCHSPEC_NO_PLUGINS", raising=False)
    scans: list[int] = []
    real = importlib.metadata.entry_points

    def counted(**params: object) -> object:
        if not params:  # archspec's scan of every group (pydantic scans its own group)
            scans.append(1)
        return real(**params)

    monkeypatch.setattr(importlib.metadata, "entry_points", counted)
    plugins.reset()
    spec_plugins.reset()
    yield scans
    monkeypatch.undo()
    plugins.reset()
    spec_plugins.reset()


def _per_group(group: str) -> list[tuple[str, str, str]]:
    eps = importlib.metadata.entry_points(group=group)
    return [(e.name, e.value, e.group) for e in sorted(eps, key=lambda e: e.name)]


def test_one_scan_serves_both_groups(fresh: list[int]) -> None:
    loaded = plugins.load_plugins()
    builtin_index()  # reads the spec folders
    spec_plugins.spec_folders()
    assert len(fresh) == 1
    for group in (plugins.GROUP, spec_plugins.GROUP):
        shared = spec_plugins.installed_entry_points(group)
        assert [(e.name, e.value, e.group) for e in shared] == _per_group(group)
    assert loaded == [e.name for e in spec_plugins.installed_entry_points(plugins.GROUP)]


def test_a_new_path_entry_or_a_reset_scans_again(
    fresh: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert spec_plugins.installed_entry_points("archspec.test_group") == []
    info = tmp_path / "scan_pkg-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: scan_pkg\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[archspec.test_group]\nb = x:B\na = x:A\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = [e.name for e in spec_plugins.installed_entry_points("archspec.test_group")]
    assert names == ["a", "b"] and len(fresh) == 2
    spec_plugins.installed_entry_points("archspec.test_group")
    assert len(fresh) == 2
    plugins.reset()
    spec_plugins.installed_entry_points("archspec.test_group")
    assert len(fresh) == 3
