"""Hostile input, round 44: inputs earlier rounds did not try, each fixed at its root."""

from __future__ import annotations

import errno
import os
import select
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import torch

import archspec
from archspec import specbytes
from archspec.errors import ArchSpecError, LoadError
from archspec.weights import WeightsError

SPEC = """\
archspec: 1
name: tiny
input: [N, 4]
layers:
  - {name: fc, type: linear, out_features: 2}
"""


@contextmanager
def reads_wait(monkeypatch: pytest.MonkeyPatch, path: Path) -> Iterator[None]:
    """Make the regular file at `path` read as /proc/kmsg does (a regular file, root's, whose
    read waits for the kernel's next message): a non-blocking read has nothing yet, and
    select() never finds it readable. A wait with no timeout fails the test, not hangs it."""
    target = os.stat(path)

    def ours(fd: int) -> bool:
        info = os.fstat(fd)
        return (info.st_dev, info.st_ino) == (target.st_dev, target.st_ino)

    real_read, real_select = os.read, select.select

    def read(fd: int, n: int) -> bytes:
        if ours(fd):
            raise BlockingIOError(errno.EAGAIN, os.strerror(errno.EAGAIN))
        return real_read(fd, n)

    def select_(r: list[Any], w: list[Any], x: list[Any], *timeout: float) -> Any:
        if any(isinstance(fd, int) and ours(fd) for fd in r):
            assert timeout, "waited with no bound for a file that never becomes readable"
            return [], [], []
        return real_select(r, w, x, *timeout)

    with monkeypatch.context() as patched:
        patched.setattr(os, "read", read)
        patched.setattr(specbytes.select, "select", select_)
        yield


def test_a_spec_file_whose_read_waits_is_e100_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`archspec check /proc/kmsg` (or `new --from` it) waited for ever: the file is regular,
    opened without blocking, and its empty read was waited on by a select() with no bound."""
    path = tmp_path / "net.yaml"
    path.write_text(SPEC)
    with reads_wait(monkeypatch, path), pytest.raises(LoadError) as info:
        specbytes.read_spec_text(path)
    assert info.value.codes == ["E100"], info.value.render()
    assert info.value.span is not None and info.value.span.file == str(path)
    assert "waits" in info.value.diagnostics[0].message and info.value.hint


def test_a_checkpoint_whose_read_waits_is_refused_by_diff_and_load_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`archspec diff /proc/kmsg net.yaml` waited for ever in the checkpoint sniff (is_file(),
    then a blocking open and read); load_weights of it in torch.load."""
    path = tmp_path / "w.pt"
    torch.save({"fc.weight": torch.zeros(2, 4), "fc.bias": torch.zeros(2)}, path)
    model = archspec.compile(SPEC)
    with reads_wait(monkeypatch, path):
        with pytest.raises(ArchSpecError) as info:
            archspec.diff(path, SPEC)
        assert info.value.codes == ["E100"], info.value.render()
        assert "waits" in info.value.diagnostics[0].message
        with pytest.raises(WeightsError) as refused:
            archspec.load_weights(model, path)
        assert refused.value.codes == ["E801"], refused.value.render()
        assert "waits" in refused.value.diagnostics[0].message
    assert archspec.diff(path, SPEC).unchanged  # the same file, read as any file is


def test_a_mirror_file_whose_read_waits_is_refused_before_the_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A `file://` mirror's file linked to /proc/kmsg passed check_mirror_file (it is
    regular) and torch.hub's download then waited for ever, a .partial file left behind."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("ARCHSPEC_WEIGHTS_URL", raising=False)
    weights = archspec.get_weights("squeezenet1_1", "DEFAULT")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / weights.file).write_bytes(b"PK\x03\x04 not read")
    with reads_wait(monkeypatch, mirror / weights.file), pytest.raises(WeightsError) as info:
        archspec.load("squeezenet1_1", weights="DEFAULT", base_url=mirror.as_uri())
    assert info.value.codes == ["E802"], info.value.render()
    assert "waits" in info.value.diagnostics[0].message
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    assert not cache.exists() or not any(cache.iterdir())  # nothing downloaded, no .partial


def test_a_hub_cache_entry_whose_read_waits_is_e802(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """torch.hub's cached file linked to /proc/kmsg: read_cached refuses it before zipfile
    or torch.load would wait on it."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = archspec.get_weights("squeezenet1_1", "DEFAULT")
    cache = tmp_path / "torch" / "hub" / "checkpoints"
    cache.mkdir(parents=True)
    torch.save({"w": torch.zeros(1)}, cache / weights.file)
    with reads_wait(monkeypatch, cache / weights.file), pytest.raises(WeightsError) as info:
        archspec.load("squeezenet1_1", weights="DEFAULT")
    assert info.value.codes == ["E802"], info.value.render()
    assert "waits" in info.value.diagnostics[0].message


@pytest.mark.parametrize("name", ["a.b", "0"])
def test_a_spec_or_variant_name_that_is_no_identifier_is_not_told_to_be_a_key(name: str) -> None:
    """The spec's own `name:` (and a variant's, which becomes it) got the hint of a layer's:
    `name: "a.b"` was told to write `key: "a.b"`, `name: "0"` to leave the item unnamed."""
    plain = SPEC.replace("name: tiny", f'name: "{name}"')
    family = SPEC + f'variants:\n  "{name}": {{}}\n  ok: {{}}\n'
    for source, variant in ((plain, None), (family, name)):
        result = archspec.check(source, variant=variant)
        (diag,) = [d for d in result.diagnostics if d.code == "E204"]
        assert f"'{name}' is not a valid name" in diag.message
        assert "key:" not in str(diag.hint) and "numbered" not in str(diag.hint)
        assert "identifier" in str(diag.hint)
    layer = SPEC.replace("{name: fc,", f'{{name: "{name}",')
    (diag,) = archspec.check(layer).diagnostics
    assert "key:" in str(diag.hint)  # a layer's is still told how to name an entry


def test_a_py_link_to_a_file_that_is_no_py_file_is_refused_with_a_reason(tmp_path: Path) -> None:
    """`--plugins layers.py`, a link to layers.txt (or to /proc/kmsg), passed the suffix check
    on the name given; importlib, which judges the file by its real path, then found no
    loader and the error said only 'cannot be imported', with no hint."""
    from archspec.plugins import PluginError, load_plugin_files

    (tmp_path / "layers.txt").write_text("raise SystemExit('ran')\n")
    link = tmp_path / "layers.py"
    link.symlink_to(tmp_path / "layers.txt")
    with pytest.raises(PluginError) as info:
        load_plugin_files([str(link)])
    message = info.value.diagnostics[0].message
    assert "layers.txt" in message and "not a Python file (.py)" in message, message
    assert info.value.hint and ".py file" in info.value.hint


def test_compile_writes_no_module_named_like_one_torch_imports_when_installed(
    tmp_path: Path,
) -> None:
    """`name: numpy` compiled with `-o .` wrote ./numpy.py: numpy is no requirement of torch
    or archspec, but torch imports it when it is installed, so any Python run in that folder
    (archspec's next compile too) failed in torch's import: "partially initialized module
    'numpy' has no attribute 'ndarray'". Refused as torch.py and math.py are."""
    from typer.testing import CliRunner

    from archspec.cli import app

    spec = tmp_path / "numpy.yaml"
    spec.write_text(SPEC.replace("name: tiny", "name: numpy"))
    result = CliRunner().invoke(app, ["compile", str(spec), "-o", str(tmp_path)])
    assert result.exit_code == 1 and "E604" in result.output, result.output
    assert "shadows" in result.output and "-o numpy_net.py" in result.output
    assert not (tmp_path / "numpy.py").exists()


def test_a_module_only_this_process_imports_is_no_reason_to_refuse_a_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The suite's CI refused `-o six.py` as shadowing "the module `six`, which importing
    torch imports": something else in the test process had imported six, and the check read
    this process's modules. A module torch's import does not bring is written as any other."""
    import types

    from typer.testing import CliRunner

    from archspec.cli import app

    monkeypatch.setitem(sys.modules, "probe44", types.ModuleType("probe44"))
    spec = tmp_path / "probe44.yaml"
    spec.write_text(SPEC.replace("name: tiny", "name: probe44"))
    result = CliRunner().invoke(app, ["compile", str(spec), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "probe44.py").read_text().startswith("# Generated by archspec")
