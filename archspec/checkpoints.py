"""Reading a checkpoint from disk, a file the user names or one in torch.hub's cache: tensors
only (`weights_only=True`, never code), in bounded memory (a compressed entry is refused before
it is inflated), and what it holds said as a WeightsError, whatever the file is.

torch.hub's cache may also hold a checkpoint in its legacy format (before torch 1.6): a zip of
one file, the checkpoint itself (torch.hub's `_is_legacy_zip_format`: a zip whose only entry is
no folder), which torch.hub extracts into its cache folder and loads. archspec reads it as
torch.hub does, with its own limits: the entry is inflated into a temporary folder of its own
(under a fixed name, whatever the entry is called), never to more than LEGACY_RATIO times the
zip's size nor download.MAX_BYTES, then read as any checkpoint (tensors only)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import tempfile
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from .download import MAX_BYTES
from .picklescan import pickle_problem
from .specbytes import WAITS, FileWaits, checkpoint_kind, regular_head
from .weights import WeightsError

#: How many times its zip's size a legacy checkpoint's one entry may inflate to: tensors of
#: floats compress little (a model's file, by a few percent), a zip bomb by a thousand times.
LEGACY_RATIO = 8

#: Why a checkpoint of compressed entries is refused, which both readers say.
_INFLATES = (
    "torch.save stores a checkpoint's tensors as they are; a compressed one can ask for any "
    "amount of memory when read, so it is refused before it is"
)


def read_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A state_dict saved with torch.save (a checkpoint dict with a `state_dict` or `model`
    entry is taken apart); read with weights_only=True."""
    file = Path(path)
    if not file.is_file() or not os.fspath(path):  # Path("") is the current folder
        what = "is not a regular file" if file.exists() and os.fspath(path) else "does not exist"
        raise WeightsError(
            f"weights file {os.fspath(path)!r} {what}",
            code="E801",
            hint="pass a torch.save'd state_dict's path (a URL's folder goes in base_url=), a "
            "state_dict, or torchvision's weights' name (archspec.list_weights(spec) lists them)",
        )
    _refuse_waiting(file, f"weights file {os.fspath(path)!r}", "E801", "pass a torch.save'd file")
    if _kind_of_file(file) == "safetensors":
        return _safetensors(file)
    state = _loaded(
        file,
        f"weights file {str(file)!r}",
        "E801",
        "archspec reads checkpoints of tensors only (torch.load(weights_only=True)): a file "
        "that needs more runs code when loaded; save a plain state_dict with "
        "torch.save(model.state_dict(), path) from a source you trust",
        f"{_INFLATES}: save a plain state_dict with torch.save(model.state_dict(), path)",
    )
    for key in ("state_dict", "model"):
        if isinstance(state, Mapping) and isinstance(state.get(key), Mapping):
            state = state[key]
    if not isinstance(state, Mapping):
        raise WeightsError(f"{file} holds {_kind(state)}, not a state_dict", code="E801")
    return state  # type: ignore[return-value]


def _kind_of_file(file: Path) -> str | None:
    try:
        return checkpoint_kind(regular_head(file, 10))
    except (OSError, ValueError):
        return None


def _refuse_waiting(file: Path, shown: str, code: str, hint: str) -> None:
    """A WeightsError for a regular file whose read would wait for ever (see FileWaits),
    before anything that reads it blocking (torch.load, zipfile) does."""
    try:
        regular_head(file, 1)
    except FileWaits:
        raise WeightsError(f"{shown} {WAITS}: it is no checkpoint", code=code, hint=hint) from None
    except (OSError, ValueError):
        pass  # the readers after this say what it is


def _safetensors(file: Path) -> dict[str, Any]:
    """A safetensors file (timm's and Hugging Face's format: tensors only, no code), read by
    the safetensors package where it is installed; it is no dependency of archspec."""
    shown = f"weights file {str(file)!r}"
    if importlib.util.find_spec("safetensors") is None:
        raise WeightsError(
            f"{shown} is a safetensors file, which archspec reads with the safetensors "
            "package: it is not installed",
            code="E801",
            hint="pip install safetensors; or read it yourself, "
            "safetensors.torch.load_file(path), and pass the state_dict",
        )
    from safetensors.torch import load_file

    try:
        return dict(load_file(str(file), device="cpu"))
    except Exception as exc:  # a damaged or truncated file: the package's own error
        raise WeightsError(
            f"cannot read {shown} as a safetensors file ({type(exc).__name__}: {str(exc)[:200]})",
            code="E801",
            hint="the file is damaged or truncated: fetch it again",
        ) from None


def read_cached(file: Path) -> Mapping[str, Any]:
    """The state_dict in torch.hub's cache at `file` (E802 when it is none). It was read as
    torch.hub reads it, and a file there that was no checkpoint of tensors failed past the
    errors caught: one holding a number was "'int' object is not iterable", a text file a
    KeyError, a compressed entry was inflated (1.5 GB for a 1.5 MB file) before it failed.
    A checkpoint in torch.hub's legacy format (a zip of one file) is read from its entry."""
    fix = "delete it, and it is downloaded again"
    hints = (
        "the cached file is damaged, truncated or holds more than tensors (which archspec "
        f"never unpickles: it could run code): {fix}",
        f"{_INFLATES}: the cached file is not torchvision's; {fix}",
    )
    _refuse_waiting(file, str(file), "E802", f"torch.hub's cache holds another file: {fix}")
    member = legacy_entry(file)
    if member is not None:
        state = _legacy_loaded(file, member, hints, fix)
    else:
        state = _loaded(file, str(file), "E802", *hints)
    if not isinstance(state, Mapping):
        raise WeightsError(
            f"{file} holds {_kind(state)}, not a state_dict",
            code="E802",
            hint=f"torch.hub's cache holds another file under this name: {fix}",
        )
    return state


def _kind(value: Any) -> str:
    kind = type(value).__name__
    return f"{'an' if kind[:1].lower() in 'aeiou' else 'a'} {kind}"


def _loaded(file: Path, shown: str, code: str, hint: str, inflate_hint: str) -> Any:
    if expanded := _expanded_size(file):
        raise WeightsError(
            f"{shown} holds compressed entries that expand to {expanded:,} bytes, more than "
            f"the file's {file.stat().st_size:,}",
            code=code,
            hint=inflate_hint,
        )
    if problem := _stream_problem(file):
        raise WeightsError(
            f"{shown} {problem}, which torch's unpickler would build before anything could "
            "refuse it",
            code=code,
            hint="torch.save writes no such object: the file was made to stall or crash its "
            "reader; save a plain state_dict with torch.save(model.state_dict(), path) from a "
            "source you trust",
        )
    try:
        return torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:  # whatever torch's unpickler makes of a stranger's file
        # torch's message advises weights_only=False, which runs the file's code: never passed on
        raise WeightsError(
            f"cannot read {shown} as a checkpoint ({type(exc).__name__})", code=code, hint=hint
        ) from None


def _stream_problem(file: Path) -> str | None:
    """What makes the pickles torch.load would read from `file` unfit to build (see
    archspec.picklescan), or None: a zip's `.pkl` entries (torch.save's `data.pkl`), else the
    file itself (torch.save's format before 1.6)."""
    try:
        with open(file, "rb") as f:
            if f.read(4) != b"PK\x03\x04":
                f.seek(0)
                return pickle_problem(f)
        with zipfile.ZipFile(file) as zf:
            for info in zf.infolist():
                if info.filename.endswith(".pkl"):
                    with zf.open(info) as entry:
                        if problem := pickle_problem(entry):
                            return f"has an entry {info.filename[:100]!r} that {problem}"
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, RuntimeError):
        return None  # torch.load says what is wrong with it
    return None


def _expanded_size(file: Path) -> int | None:
    """What the entries of the zip checkpoint `file` expand to when that is more than the
    file's size, else None (and for a file that is no zip: torch.load says what it is).
    torch.save stores entries uncompressed, while torch.load inflates compressed ones: a
    1 MB file of deflated zeros took 1.3 GB to read, ten of them a machine's memory."""
    try:
        with zipfile.ZipFile(file) as zf:
            expanded = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    return expanded if expanded > file.stat().st_size else None


def legacy_entry(file: Path) -> zipfile.ZipInfo | None:
    """The one entry of a checkpoint in torch.hub's legacy format, torch.hub's rule: a zip
    whose only entry is no folder (torch.save's own zip holds several); else None."""
    try:
        with zipfile.ZipFile(file) as zf:
            entries = zf.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None
    return entries[0] if len(entries) == 1 and not entries[0].is_dir() else None


def _legacy_loaded(file: Path, member: zipfile.ZipInfo, hints: tuple[str, str], fix: str) -> Any:
    """The checkpoint that is the one entry of `file`, inflated into a temporary folder of
    its own (bounded: see the module doc) and read as any checkpoint; the folder is removed."""
    shown = f"{file} (torch.hub's legacy format, its entry {member.filename[:100]!r})"
    limit = min(LEGACY_RATIO * file.stat().st_size, MAX_BYTES)
    folder = tempfile.mkdtemp(prefix="archspec-legacy-")
    try:
        inner = Path(folder) / "checkpoint.pth"
        try:
            copied = _inflate(file, member, inner, limit)
        except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError) as exc:
            raise WeightsError(
                f"cannot read {shown} ({type(exc).__name__})", code="E802", hint=hints[0]
            ) from None
        if copied > limit:
            raise WeightsError(
                f"{shown} expands to more than {limit:,} bytes, {LEGACY_RATIO} times the "
                f"file's {file.stat().st_size:,}",
                code="E802",
                hint=f"a checkpoint of tensors compresses little; this one may fill any "
                f"disk, so it is refused before it does: the cached file is not torchvision's; "
                f"{fix}",
            )
        return _loaded(inner, shown, "E802", *hints)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _inflate(file: Path, member: zipfile.ZipInfo, target: Path, limit: int) -> int:
    """Copy `member` of the zip `file` to `target` (a new file), at most `limit` + 1 bytes
    whatever its header says; return how many were written."""
    written = 0
    with zipfile.ZipFile(file) as zf, zf.open(member) as src, open(target, "xb") as dst:
        while written <= limit:
            chunk = src.read(min(1 << 20, limit + 1 - written))
            if not chunk:
                break
            dst.write(chunk)
            written += len(chunk)
    return written


__all__ = ["legacy_entry", "read_cached", "read_file"]
