"""A `file://` mirror (a machine without a network) that does not hold the file.

Before: a mirror folder that did not exist, and one that existed without the file, got the
same hint as no mirror at all ("... or set base_url= / $ARCHSPEC_WEIGHTS_URL to a mirror"),
though the user had just set one; and `base_url="file:mirror"` (a folder relative to the
working one, which file URLs cannot name) was read as the folder `/mirror` at the root.
Now the hint says what the mirror lacks, and a relative file URL is refused, saying how to
write the folder's URL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import archspec

SPEC = "squeezenet1_1"
FILE = "squeezenet1_1-b8a52dc0.pth"


@pytest.fixture
def hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ARCHSPEC_WEIGHTS_URL", raising=False)
    return tmp_path / "torch" / "hub" / "checkpoints"


def _refusal(base_url: str) -> archspec.ArchSpecError:
    with pytest.raises(archspec.ArchSpecError) as err:
        archspec.load(SPEC, weights="DEFAULT", base_url=base_url)
    return err.value


def test_a_mirror_folder_that_is_not_there_is_said_so(hub: Path, tmp_path: Path) -> None:
    folder = tmp_path / "mirror"
    err = _refusal(folder.as_uri())
    assert err.error_code == "E802"
    assert f"the mirror's folder {folder} does not exist" in str(err.hint)
    assert not hub.exists() or not any(hub.iterdir())


def test_a_mirror_folder_without_the_file_names_the_file_it_needs(
    hub: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "mirror"
    folder.mkdir()
    err = _refusal(folder.as_uri() + "/")
    assert err.error_code == "E802"
    assert f"the mirror's folder {folder} holds no {FILE}" in str(err.hint)


def test_a_relative_file_url_is_refused_not_read_at_the_root(
    hub: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    err = _refusal("file:mirror")
    assert err.error_code == "E802"
    assert "/mirror/" not in str(err)  # never the root's folder
    assert "pathlib.Path(folder).resolve().as_uri()" in str(err.hint)
    monkeypatch.setenv("ARCHSPEC_WEIGHTS_URL", "file:./mirror")
    with pytest.raises(archspec.ArchSpecError) as again:
        archspec.load(SPEC, weights="DEFAULT")
    assert again.value.error_code == "E802"
