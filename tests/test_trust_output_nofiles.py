"""A folder that exists but takes no new file (a kernel's /proc): E604 says so, where the
OS's "No such file or directory" (from making the temporary file beside the target) read as
if the path were wrong."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from archspec import files
from archspec.errors import EmitError
from archspec.files import ANY, MODULE, write_atomic


def test_proc_refuses_with_the_folder_named_even_with_force() -> None:
    assert Path("/proc/version").is_file(), "the suite runs on Linux, which has /proc"
    before = Path("/proc/version").read_bytes()
    for target in ("/proc/version", "/proc/archspec_new.py"):
        with pytest.raises(EmitError) as info:
            # ANY: /proc/version is no module's name, which MODULE would refuse first
            write_atomic(Path(target), b"# archspec\n", kind=ANY, force=True)
        assert [d.code for d in info.value.diagnostics] == ["E604"]
        assert "/proc takes no new files" in str(info.value), str(info.value)
        assert "No such file" not in str(info.value)
        assert "write the file to a folder on disk" in (info.value.diagnostics[0].hint or "")
    assert Path("/proc/version").read_bytes() == before


def test_a_missing_temporary_file_in_a_folder_that_exists_is_named_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # any platform: the OS refuses the temporary file beside the target with ENOENT
    real_open = os.open

    def refusing(path: object, flags: int, *args: object, **kwargs: object) -> int:
        if ".archspec-" in str(path):
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", str(path))
        return real_open(path, flags, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(files.os, "open", refusing)
    with pytest.raises(EmitError) as info:
        write_atomic(tmp_path / "net.py", b"# archspec\n", kind=MODULE)
    assert f"{tmp_path.name} takes no new files" in str(info.value), str(info.value)
    assert not list(tmp_path.iterdir())
