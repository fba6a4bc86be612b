"""Spec folders from installed packages: the `archspec.specs` entry point group.

A package that ships specs declares, in its pyproject.toml,

    [project.entry-points."archspec.specs"]
    my_models = "my_package.specs"          # a package: the .yaml files in its folder
    # or: my_models = "my_package:SPEC_DIR"  (an absolute path, str or pathlib.Path)

and every `.yaml` file there is named like a built-in spec: a plain spec by its file name,
each variant of a family file by the variant's name (`archspec list`, `archspec check NAME`,
`archspec.load(NAME)`). As with `archspec.layers`, the person who installed the package chose
to run its code; a spec can never name an entry point. A folder that cannot be used (the
import fails, the object is no folder, a name is no identifier or is taken) is a PluginError
(E701) that names the entry point and its package. ARCHSPEC_NO_PLUGINS=1 skips them.
"""

from __future__ import annotations

import importlib.metadata
import os
import sys
import types
from pathlib import Path
from typing import Any

from .errors import PluginError, exception_said
from .ops.names import NAME_RE

GROUP = "archspec.specs"

#: The hint of every broken entry point, spec folder or layer plugin (plugins.py too).
ENTRY_POINT_HINT = (
    "fix or uninstall the package that provides it, or set ARCHSPEC_NO_PLUGINS=1 to run "
    "without plugins"
)

#: (entry point, folder) of every spec folder, once found (None: not looked for yet).
_folders: list[tuple[str, Path]] | None = None

#: The installed entry points of every group, with the sys.path they were read for: one scan
#: of the installed distributions' metadata serves `archspec.layers` and `archspec.specs`
#: (each scan reads every distribution's entry points, ~2 ms with a hundred installed).
_scanned: tuple[tuple[str, ...], Any] | None = None


def installed_entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    """The installed entry points of `group`, sorted by name: what
    `importlib.metadata.entry_points(group=group)` finds, from one scan per sys.path (a new
    path entry, or `reset` here or in plugins.py, scans again)."""
    global _scanned
    path = tuple(sys.path)
    if _scanned is None or _scanned[0] != path:
        _scanned = (path, importlib.metadata.entry_points())
    return sorted(_scanned[1].select(group=group), key=lambda e: e.name)


def spec_folders() -> list[tuple[str, Path]]:
    """(description of the entry point, folder) for each `archspec.specs` entry point, found
    once per process; a broken one raises PluginError each time it is asked for."""
    global _folders
    if _folders is not None:
        return list(_folders)
    if os.environ.get("ARCHSPEC_NO_PLUGINS"):
        _folders = []
        return []
    found = []
    for ep in installed_entry_points(GROUP):
        found.append((describe(ep), _folder_of(ep)))
    _folders = found
    return list(found)


def _folder_of(ep: importlib.metadata.EntryPoint) -> Path:
    try:
        obj = ep.load()
    except Exception as exc:
        raise PluginError(
            f"spec folder {describe(ep)} failed to load: {exception_said(exc)}",
            hint=ENTRY_POINT_HINT,
        ) from None
    folder = _path_of(obj)
    if folder is None:
        raise PluginError(
            f"spec folder {describe(ep)} names a {type(obj).__name__}, not a folder: an "
            "`archspec.specs` entry point names a package (its folder holds the .yaml files) "
            "or an absolute path (str or pathlib.Path)",
            hint=ENTRY_POINT_HINT,
        )
    if not folder.is_dir():
        raise PluginError(
            f"spec folder {describe(ep)} names {str(folder)!r}, which is no folder",
            hint=ENTRY_POINT_HINT,
        )
    return folder


def _path_of(obj: Any) -> Path | None:
    """The folder a package or an absolute path names (None for anything else)."""
    if isinstance(obj, types.ModuleType):
        paths = list(getattr(obj, "__path__", None) or [])
        return Path(paths[0]) if paths else None
    if isinstance(obj, (str, os.PathLike)) and not isinstance(obj, bytes):
        path = Path(obj)
        return path if path.is_absolute() else None
    return None


def check_spec_name(name: str, where: str, file: Path, taken: dict[str, str]) -> None:
    """A name from a spec folder must be an identifier no other spec already has."""
    if not NAME_RE.match(name):
        raise PluginError(
            f"spec folder {where}: {file.name} gives the name {name!r}, which is no "
            "identifier (spec names are ASCII letters, digits and _)",
            hint="rename the file; " + ENTRY_POINT_HINT,
        )
    if name in taken:
        raise PluginError(
            f"spec folder {where}: {file.name} gives the name `{name}`, which {taken[name]} "
            "already has",
            hint="rename one of them; " + ENTRY_POINT_HINT,
        )


def describe(ep: importlib.metadata.EntryPoint) -> str:
    """An entry point as errors name it: `name = value` and the package it comes from."""
    dist = getattr(ep, "dist", None)
    origin = f" from {dist.name} {dist.version}" if dist is not None else ""
    return f"`{ep.name} = {ep.value}`{origin}"


def reset() -> None:
    """Look for spec folders again on next use (tests), in a new scan of the entry points."""
    global _folders
    _folders = None
    forget_scan()


def forget_scan() -> None:
    """Scan the installed entry points again on next use."""
    global _scanned
    _scanned = None
