"""torch.hub's cache that cannot take the download is said as the cache's fault, with a fix
that works: a checkpoints folder that is a file or a link to nothing, a TORCH_HOME that is a
file, a file system that fills or refuses the `.partial` file. Each was E802 "cannot fetch
... from URL: [Errno 17] File exists" with the hint to put the file in that very folder,
as if the mirror or the network were at fault."""

from __future__ import annotations

import errno
import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import archspec

from .test_weights import SPEC, _checkpoint, _hashed, _same

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def mirror(tmp_path: Path) -> tuple[archspec.Weights, str]:
    """A file:// mirror holding a checkpoint of SPEC under its hashed name."""
    weights = _hashed(_checkpoint(), tmp_path / "mirror")
    return weights, (tmp_path / "mirror").as_uri()


def _load_error(weights: archspec.Weights, base_url: str) -> archspec.ArchSpecError:
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.load(SPEC, weights=weights, base_url=base_url)
    return info.value


@pytest.mark.parametrize("standing", ["file", "dangling link", "torch home is a file"])
def test_a_cache_folder_that_is_no_folder_is_said_with_its_fix(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    mirror: tuple[archspec.Weights, str],
    standing: str,
) -> None:
    home = tmp_path / "torch"
    monkeypatch.setenv("TORCH_HOME", str(home))
    monkeypatch.delenv("ARCHSPEC_WEIGHTS_URL", raising=False)
    blocker = home / "hub" / "checkpoints"
    if standing == "torch home is a file":
        blocker = home
        home.write_text("not a folder")
    else:
        blocker.parent.mkdir(parents=True)
        if standing == "file":
            blocker.write_text("not a folder")
        else:
            blocker.symlink_to(tmp_path / "gone")
    err = _load_error(*mirror)
    said, hint = str(err.diagnostics[0].message), str(err.hint)
    assert err.error_code == "E802"
    assert "torch.hub's cache" in said and str(blocker) in said, said
    assert "File exists" not in said and "Not a directory" not in said, said
    assert ("link" in said) == (standing == "dangling link"), said
    assert "TORCH_HOME" in hint and "without a network" not in hint, hint
    assert "nothing was written to the cache" in said


def test_a_file_system_that_fills_is_said_as_the_cache_s(
    tmp_path: Path, mirror: tuple[archspec.Weights, str]
) -> None:
    """`ulimit -f` (as a full disk): the .partial file cannot grow."""
    weights, url = mirror
    script = (
        "import archspec, sys\n"
        "w = archspec.get_weights(sys.argv[1])\n"
        "import dataclasses\n"
        "w = dataclasses.replace(w, file=sys.argv[2])\n"
        "try:\n"
        "    archspec.load(sys.argv[1], weights=w, base_url=sys.argv[3])\n"
        "except archspec.ArchSpecError as exc:\n"
        "    print(exc.diagnostics[0].message, '|', exc.hint)\n"
        "    sys.exit(1)\n"
    )
    env = {
        **os.environ,
        "TORCH_HOME": str(tmp_path / "torch"),
        "PYTHONPATH": str(ROOT),
        "NO_COLOR": "1",
    }
    env.pop("ARCHSPEC_WEIGHTS_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", script, SPEC, weights.file, url],
        env=env,
        capture_output=True,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (65536, 65536)),
        check=False,
    )
    assert done.returncode == 1, done.stderr
    said, hint = done.stdout.split(" | ")
    assert "torch.hub's cache" in said and "File too large" in said, done.stdout
    assert "cannot fetch" not in said and "ulimit -f" in hint, done.stdout
    cached = tmp_path / "torch" / "hub" / "checkpoints"
    assert list(cached.iterdir()) == []  # no .partial file left


def test_a_cache_that_takes_the_file_still_loads_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror: tuple[archspec.Weights, str]
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights, url = mirror
    model = archspec.load(SPEC, weights=weights, base_url=url)
    assert _same(model, torch.load(tmp_path / "mirror" / weights.file, weights_only=True))
    cached = tmp_path / "torch" / "hub" / "checkpoints"
    assert [p.name for p in cached.iterdir()] == [weights.file]


def test_a_read_only_cache_says_to_choose_another(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirror: tuple[archspec.Weights, str]
) -> None:
    """A read-only file system (a container's home): nothing stands in the way to remove."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def read_only(self: Path, *args: object, **kwargs: object) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    err = _load_error(*mirror)
    assert "torch.hub's cache" in err.diagnostics[0].message
    assert "Read-only file system" in err.diagnostics[0].message
    assert str(err.hint).startswith("set $TORCH_HOME to a folder you can write"), err.hint
