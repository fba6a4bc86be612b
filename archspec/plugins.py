"""Layer plugins: Python that adds layer kinds, from installed packages or from named files.

Two ways in, both chosen by the person running archspec, never by a spec (a spec only ever
names a layer kind, never a module or a path, so reading a spec imports nothing new):

- an installed package's `archspec.layers` entry points (`load_plugins`, lazily, by itself);
- files named on the command line (`--plugins layers.py`, `ARCHSPEC_PLUGINS`) or in Python
  (`archspec.load_plugin_files`), imported by path (`load_plugin_files`).

docs/plugins.md is the reference of the plugin API. An installed package declares, in its
pyproject.toml,

    [project.entry-points."archspec.layers"]
    se = "my_package.layers:SqueezeExcite"

where the object named is an `Op` subclass (registered here), a list or tuple of them, or a
module that registers its ops with `@archspec.register` when imported. Plugins load once,
lazily, the first time the spec schema is built (so before validation and lowering); a spec
only ever names a layer kind, never an import path, so reading a spec imports nothing new.
Set ARCHSPEC_NO_PLUGINS=1 to skip them (e.g. to get past a broken one).
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import os
import re
import stat
import sys
import traceback
import types
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import PluginError, SourceSpan, exception_said, exception_text
from .ops.base import REGISTRY, Op, register, unregister
from .spec_plugins import ENTRY_POINT_HINT, describe, forget_scan, installed_entry_points
from .specbytes import note_imported, note_read

GROUP = "archspec.layers"

#: Names of the entry points loaded so far (also the "loaded once" flag: None = not yet).
_loaded: list[str] | None = None


def load_plugins() -> list[str]:
    """Load every `archspec.layers` entry point once; return their names.

    A plugin that fails to import or register raises PluginError naming the plugin and its
    distribution; the next call tries again, so the error is reported every time.
    """
    global _loaded
    if _loaded is not None:
        return list(_loaded)
    if os.environ.get("ARCHSPEC_NO_PLUGINS"):
        _loaded = []
        return []
    _loaded = []  # set first: a plugin importing archspec must not re-enter this loop
    try:
        for ep in installed_entry_points(GROUP):
            _load_one(ep)
            _loaded.append(ep.name)
    except PluginError:
        _loaded = None
        raise
    return list(_loaded)


def _load_one(ep: importlib.metadata.EntryPoint) -> None:
    before = dict(REGISTRY)
    try:
        for op_cls in _ops_of(ep.load()):
            if type(REGISTRY.get(op_cls.kind)) is not op_cls:  # importing may have registered it
                register(op_cls)
        _check_specs_build(before)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit or a BaseException of its own: still E701
        if isinstance(exc, _UnbuildableSpec):
            _forget(ep.module, before)  # so that the next try reports it again
        raise PluginError(
            f"layer plugin {describe(ep)} failed to load: {exception_said(exc)}",
            hint=ENTRY_POINT_HINT,
        ) from exc


def _ops_of(obj: Any) -> list[type[Op]]:
    """The Op classes an entry point names (none for a module that registers on import)."""
    if isinstance(obj, types.ModuleType):
        return []
    items = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    for item in items:
        if not (isinstance(item, type) and issubclass(item, Op)):
            raise TypeError(
                f"{item!r} is not an archspec Op subclass (an entry point names an Op "
                "subclass, a list of them, or a module that registers its ops on import)"
            )
    return items


def reset() -> None:
    """Forget which plugins and plugin files were loaded (tests; registered ops stay
    registered, a file named again is imported again, and the entry points are scanned
    again)."""
    global _loaded
    _loaded = None
    _files.clear()
    forget_scan()


# --------------------------------------------------------------------------------------
# Plugin files: `--plugins layers.py`, ARCHSPEC_PLUGINS, archspec.load_plugin_files.

#: The environment variable the command line reads: plugin files, os.pathsep-separated.
ENV_VAR = "ARCHSPEC_PLUGINS"

#: Where to read about writing a plugin (in hints).
DOCS = "docs/plugins.md"

#: Files loaded so far: real path -> (module name, the path as given, kinds it added).
_files: dict[str, tuple[str, str, tuple[str, ...]]] = {}


def env_plugin_files(environ: dict[str, str] | None = None) -> list[str]:
    """The files ARCHSPEC_PLUGINS names (os.pathsep-separated; empty entries are skipped).

    Only the command line reads it: a Python program loads its plugin files itself, with
    `load_plugin_files`, so no variable changes what a library call does.
    """
    value = (os.environ if environ is None else environ).get(ENV_VAR, "")
    return [part for part in value.split(os.pathsep) if part]


def load_plugin_files(paths: Iterable[str | os.PathLike[str]]) -> list[str]:
    """Import each Python file by path and register the layer kinds it defines; return the
    kinds added (a file already loaded in this process adds none and is not run again).

    A file's ops are the `Op` subclasses whose class body sets `kind` and that it defines
    itself (not ones it imports), plus whatever it registers with `@archspec.register`
    while it is imported. Installed entry-point plugins are loaded first, so a kind both
    define is reported against the file. Anything wrong (no such file, not a `.py` file,
    an exception on import, no layer kind, a kind already taken, a spec pydantic
    cannot make a validator of) is a PluginError (E701)
    naming the file; what the failing file had registered is removed again.

    The file runs as a module named `archspec_plugin_<stem>_<hash of its path>`. Its folder
    is on sys.path (at the end, so it shadows nothing installed) only while it is imported:
    a plugin may import modules beside it at its top level, not later from its functions.
    """
    if isinstance(paths, (str, bytes, os.PathLike)):  # one path: not the files named by its letters
        raise TypeError(f"load_plugin_files takes a list of paths, got {type(paths).__name__}")
    if not isinstance(paths, Iterable):
        raise TypeError(f"load_plugin_files takes a list of paths, got {type(paths).__name__}")
    load_plugins()
    added: list[str] = []
    for path in paths:
        added += _load_file(os.fspath(path))
    return added


def plugin_file_of(module: str) -> str | None:
    """The path (as it was given) of the plugin file that became `module`, if one did."""
    for name, given, _ in _files.values():
        if name == module:
            return given
    return None


def plugin_files_for(kinds: Iterable[str]) -> list[str]:
    """The plugin files (paths as given, in load order) that registered any of `kinds`:
    what a command that builds those kinds again needs on its `--plugins`."""
    wanted = set(kinds)
    return [given for _, given, added in _files.values() if wanted & set(added)]


def _load_file(given: str) -> list[str]:
    real = _checked_path(given)
    if real in _files:
        return []
    name = _module_name(real)
    before = dict(REGISTRY)
    module = _import_file(given, real, name)
    try:
        kinds = _register_ops(given, module, name, before)
        _check_specs_build(before)
    except _UnbuildableSpec as exc:
        _forget(name, before)
        raise PluginError(
            f"plugin file {given!r}: {exc}",
            hint="give each field of a layer spec a type pydantic validates (int, float, str, "
            f"bool, Literal[...], lists and tuples of them, archspec.Int(...), ...): {DOCS}",
        ) from None
    except PluginError:
        _forget(name, before)
        raise
    _files[real] = (name, given, tuple(kinds))
    return kinds


def _checked_path(given: str) -> str:
    """The file's real path, after checking it is a regular `.py` file (nothing is opened:
    a FIFO or a device named by mistake must not block or be read)."""
    shown = repr(given)
    hint = f"give the path of a .py file that defines archspec.Op subclasses ({DOCS})"
    try:
        st = os.stat(given)
    except FileNotFoundError:
        raise PluginError(f"plugin file {shown} does not exist", hint=hint) from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the path
        why = exc.strerror if isinstance(exc, OSError) else str(exc)
        raise PluginError(f"plugin file {shown} cannot be read: {why}", hint=hint) from None
    if stat.S_ISDIR(st.st_mode):
        raise PluginError(
            f"plugin file {shown} is a directory",
            hint="name the .py file(s) in it; a package of layers is installed and declared "
            f"as an `{GROUP}` entry point instead ({DOCS})",
        )
    if not stat.S_ISREG(st.st_mode):
        raise PluginError(f"plugin file {shown} is not a regular file", hint=hint)
    if Path(given).suffix != ".py":
        raise PluginError(f"plugin file {shown} is not a Python file (.py)", hint=hint)
    real = os.path.realpath(given)
    if Path(real).suffix != ".py":  # importlib judges the file by the path it opens
        raise PluginError(
            f"plugin file {shown} links to {real!r}, which is not a Python file (.py)",
            hint=hint,
        )
    note_read(given, st)  # an input of the command: no -o replaces it
    return real


def _module_name(real: str) -> str:
    """A module name of its own for each file: two `layers.py` in two folders never meet."""
    import hashlib  # OpenSSL's: only when a plugin file is named

    stem = re.sub(r"\W", "_", Path(real).stem, flags=re.ASCII)
    digest = hashlib.sha256(real.encode("utf-8", "surrogateescape")).hexdigest()[:10]
    return f"archspec_plugin_{stem}_{digest}"


def _import_file(given: str, real: str, name: str) -> types.ModuleType:
    """Run the file as module `name` (kept in sys.modules: pydantic, inspect.getsource and
    pickling look classes up there); an exception becomes E701 at the plugin's line."""
    spec = importlib.util.spec_from_file_location(name, real)
    if spec is None or spec.loader is None:  # pragma: no cover  (a .py path always has one)
        raise PluginError(f"plugin file {given!r} cannot be imported")
    module = importlib.util.module_from_spec(spec)
    folder = os.path.dirname(real)
    added_path = folder not in sys.path
    if added_path:
        sys.path.append(folder)
    imported = set(sys.modules)
    sys.modules[name] = module
    before = dict(REGISTRY)
    try:
        spec.loader.exec_module(module)
        note_imported(imported)  # a module it imports beside it is an input too
    except KeyboardInterrupt:  # Ctrl-C while it ran: the person stopped it, exit 130
        _forget(name, before)
        raise
    except BaseException as exc:  # SystemExit, a BaseException of its own: still E701
        _forget(name, before)
        raise _import_failure(given, real, exc) from exc
    finally:
        if added_path and folder in sys.path:
            sys.path.remove(folder)
    return module


def _import_failure(given: str, real: str, exc: BaseException) -> PluginError:
    """E701 for a file that raised on import, located at the deepest line of the file."""
    span = None
    if isinstance(exc, SyntaxError) and exc.filename == real and exc.lineno:
        span = SourceSpan(given, exc.lineno, exc.offset or 1)
    else:
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == real]
        if frames and frames[-1].lineno:
            f = frames[-1]
            col = (f.colno or 0) + 1
            end = (f.end_colno or 0) + 1 if f.end_lineno == f.lineno else None
            span = SourceSpan(given, f.lineno or 1, col, f.lineno, end)
    text = _source_of(real) if span is not None else None
    syntax = isinstance(exc, SyntaxError)
    what = f"{type(exc).__name__}: {exc.msg}" if syntax else exception_said(exc)
    return PluginError(
        f"plugin file {given!r} failed to import: {what}",
        span=span,
        hint="fix the file, or leave it out of --plugins and ARCHSPEC_PLUGINS",
        sources={given: text} if text is not None else None,
    )


def _source_of(real: str) -> str | None:
    try:
        return Path(real).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _register_ops(
    given: str, module: types.ModuleType, name: str, before: dict[str, Op]
) -> list[str]:
    """Register the file's own Op classes that it did not register itself; the kinds added."""
    by_file = {k for k, op in REGISTRY.items() if before.get(k) is not op}  # it registered
    chose = set(by_file)
    defined = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and issubclass(obj, Op)
        and obj.__module__ == name
        and "kind" in vars(obj)
    ]
    seen: dict[str, type[Op]] = {}
    for op_cls in defined:
        kind = op_cls.kind
        if kind in by_file:
            continue
        if kind in seen:
            raise PluginError(
                f"plugin file {given!r} defines two ops of kind `{kind}`: "
                f"{seen[kind].__name__} and {op_cls.__name__}",
                hint="register the one you mean with @archspec.register",
            )
        seen[kind] = op_cls
        current = REGISTRY.get(kind)
        if current is not None and _same_class(type(current), op_cls):
            continue  # this very file, imported another way and registered before
        try:
            register(op_cls)
        except (TypeError, ValueError) as exc:
            taken = isinstance(exc, ValueError) and current is not None
            owner = type(current).__module__ if taken else ""
            raise PluginError(
                f"plugin file {given!r}: {op_cls.__name__} cannot be registered: {exc}"
                + (f" (by {plugin_file_of(owner) or owner})" if taken else ""),
                hint="rename its `kind`, or leave out the other plugin"
                if taken
                else f"see {DOCS} for what an Op subclass declares",
            ) from None
        chose.add(kind)
    added = sorted(k for k in chose if k not in before)
    if not chose and not seen:
        raise PluginError(
            f"plugin file {given!r} defines no layer kind",
            hint="a plugin file defines archspec.Op subclasses (each with `kind` and `spec`) "
            f"or registers them with @archspec.register ({DOCS})",
        )
    return added


class _UnbuildableSpec(TypeError):
    """A registered kind's spec that pydantic cannot make a validator of."""


def _check_specs_build(before: dict[str, Op]) -> None:
    """TypeError unless every kind registered since `before` has a spec pydantic can make a
    validator of. The built-in kinds' validators are built on first use (check builds only
    the kinds a spec uses), so a plugin's field of a type pydantic cannot validate would
    otherwise surface in the middle of reading a spec, as an internal error."""
    for kind, op in REGISTRY.items():
        if before.get(kind) is op:
            continue
        try:
            op.spec.model_rebuild(force=True)
        except Exception as exc:  # pydantic's schema errors, unresolvable annotations, ...
            why = (exception_text(exc).strip().splitlines() or [""])[0]
            raise _UnbuildableSpec(
                f"{type(op).__name__} ({kind}): its spec {op.spec.__name__} cannot be "
                f"validated: {type(exc).__name__}: {why}"
            ) from None


def _same_class(a: type, b: type) -> bool:
    """The same class from the same file (imported once by name, once as a plugin)."""
    if a.__qualname__ != b.__qualname__:
        return False
    try:
        return os.path.realpath(inspect.getfile(a)) == os.path.realpath(inspect.getfile(b))
    except (TypeError, OSError):
        return False


def _forget(name: str, before: dict[str, Op]) -> None:
    """Undo a failed file: its module and whatever it registered go."""
    sys.modules.pop(name, None)
    for kind in [k for k in REGISTRY if before.get(k) is not REGISTRY[k]]:
        if kind in before:
            register(type(before[kind]), replace=True)
        else:
            unregister(kind)


__all__ = [
    "ENV_VAR",
    "GROUP",
    "env_plugin_files",
    "load_plugin_files",
    "plugin_files_for",
    "load_plugins",
    "plugin_file_of",
    "reset",
]
