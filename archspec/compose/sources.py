"""Finding and reading the files a spec imports, within the trust rules.

A spec reaches only files inside its own folder tree (the folder of the spec given on the
command line, or to `archspec.compile`) and modules of the built-in library
(`archspec:blocks/resnet`). Every name is checked as text first, then resolved with symlinks
followed and checked again against the tree, before anything is opened; the file is then
read by `loader.read_spec_text` (regular files only, never blocking, size-bounded). Each
file is parsed once per composition, however often it is imported.
"""

from __future__ import annotations

import os
import re
from dataclasses import field, replace
from pathlib import Path

from ..errors import LoadError, SourceSpan
from ..lazymethods import dataclass
from ..loader import MAX_BYTES, LoadedDoc, fresh_copy, load_yaml, read_spec_text

#: The built-in library of blocks, shipped inside the package.
LIBRARY_DIR = Path(__file__).resolve().parent.parent / "library"
#: Prefix of a library module's name in `use:` and `extends:`.
LIBRARY_PREFIX = "archspec:"
#: Imports nested deeper than this are refused (E111): a chain this long is a mistake.
MAX_IMPORT_DEPTH = 64
#: Files one composition may read.
MAX_FILES = 256
#: Bytes of all the files one composition reads, the root spec included: the limit of one
#: spec file holds for the whole composed spec.
MAX_TOTAL_BYTES = MAX_BYTES

_MODULE_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}(?:/[a-z][a-z0-9_]{0,63}){0,7}")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_SPEC_SUFFIXES = (".yaml", ".yml")


def refused(message: str, site: SourceSpan | None, hint: str, code: str = "E110") -> LoadError:
    """A located composition error."""
    return LoadError(message, span=site, code=code, hint=hint)


@dataclass
class Shared:
    """What every reader of one composition shares: the parse cache (each file is parsed
    once, whether imported or extended), the byte budget, and the texts read."""

    total_bytes: int = 0
    cache: dict[str, LoadedDoc] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    #: Paths resolved in this composition (symlinks followed): the library's folder, the
    #: working folder and each imported path are resolved once, not at every import.
    reals: dict[str, Path] = field(default_factory=dict)

    def real(self, path: str | Path) -> Path:
        """`os.path.realpath(path)`, found once per composition."""
        key = str(path)
        found = self.reals.get(key)
        if found is None:
            found = self.reals[key] = Path(os.path.realpath(path))
        return found

    def shown(self, path: Path) -> str:
        """`_shown(path)`, with the working folder resolved once per composition."""
        try:
            return str(path.relative_to(self.real(os.getcwd())))
        except (ValueError, OSError):
            return str(path)


@dataclass
class Reader:
    """Reads the files one spec of a composition names: the tree it may reach."""

    root: Path | None
    shared: Shared = field(default_factory=Shared)

    @property
    def sources(self) -> dict[str, str]:
        return self.shared.sources

    def locate(self, ref: object, importer: Path | None, site: SourceSpan | None) -> Path:
        """The real path `ref` names, seen from the file `importer`, or a located E110."""
        if not isinstance(ref, str) or not ref:
            raise refused(
                "an import names a file or a library module as text",
                site,
                "write `from: archspec:blocks/resnet` or `from: blocks.yaml`",
            )
        if len(ref) > 300 or not ref.isprintable():
            raise refused(f"{ref[:60]!r} is not a file name archspec reads", site, _HINT)
        if ref.startswith(LIBRARY_PREFIX):
            return self._library(ref, site)
        if _SCHEME.match(ref) or "\\" in ref or ref.startswith(("/", "~")):
            what = _what_path(ref)
            raise refused(
                f"`{ref}` is {what}: a spec imports only files in its own folder tree",
                site,
                _HINT,
            )
        if not ref.lower().endswith(_SPEC_SUFFIXES):  # `Blocks.YAML` too, as the CLI reads it
            raise refused(f"`{ref}` is not a .yaml file", site, _HINT)
        tree = self.root_of(importer) if importer is not None else None
        if importer is None or tree is None:
            raise refused(
                f"a spec given as text or data cannot import the file `{ref}`",
                site,
                "save the spec to a file next to the one it imports, or import from the "
                "built-in library (`archspec:blocks/...`)",
            )
        return self._inside(importer.parent / ref, tree, ref, site)

    def _library(self, ref: str, site: SourceSpan | None) -> Path:
        module = ref[len(LIBRARY_PREFIX) :]
        if not _MODULE_NAME.fullmatch(module):
            raise refused(
                f"`{ref}` is not a library module name",
                site,
                "library modules are named like `archspec:blocks/resnet` "
                "(lowercase words separated by /)",
            )
        path = LIBRARY_DIR / f"{module}.yaml"
        if not path.is_file():
            known = ", ".join(sorted(library_modules())) or "none"
            raise refused(
                f"the built-in library has no module `{ref}`", site, f"library modules: {known}"
            )
        return self._inside(path, LIBRARY_DIR, ref, site)

    def _inside(self, path: Path, root: Path, ref: str, site: SourceSpan | None) -> Path:
        """`path` with every symlink followed, refused unless it lies under `root`."""
        real = self.shared.real(path)
        top = self.shared.real(root)
        if real != top and top not in real.parents:
            raise refused(
                f"`{ref}` leads outside the folder of the spec ({_shown(top)})",
                site,
                "a spec imports only files in its own folder tree (no `..` out of it, no "
                "symlink out of it) and the built-in library",
            )
        return real

    def root_of(self, path: Path) -> Path | None:
        """The tree a file's imports may reach: the library's for a library file, else the
        composition's (None for a spec given as text or data)."""
        real_lib = self.shared.real(LIBRARY_DIR)
        if real_lib in self.shared.real(path).parents:
            return real_lib
        return self.root

    def read(
        self, path: Path, site: SourceSpan | None, *, copy: bool = True, how: str = "imported"
    ) -> LoadedDoc:
        """The parsed file at the real path `path` (parsed once), its errors located at `site`
        when it cannot be read at all, and at its `archspec:` when it is of another format
        (`how` it is read, "imported" or "extended", for the note naming `site`).
        `copy=False`: the parsed document kept for every reader (loader.load_yaml), for a
        caller that only reads it."""
        key = str(path)
        shared = self.shared
        if key in shared.cache:
            return fresh_copy(shared.cache[key]) if copy else shared.cache[key]
        if len(shared.cache) >= MAX_FILES:
            raise refused(
                f"the spec imports more than {MAX_FILES} files",
                site,
                "a spec this large is refused",
                code="E104",
            )
        try:
            text = read_spec_text(path)
        except LoadError as exc:
            first = exc.diagnostics[0]
            raise LoadError(
                first.message.replace(str(path), _shown(path)),
                span=site,
                code=first.code,
                # a path, a directory, a FIFO: the hints for a spec named on the command line
                # do not fit an import
                hint=_READ_HINT if first.code == "E100" else first.hint,
                sources=exc.sources,
            ) from None
        shared.total_bytes += len(text.encode("utf-8", "surrogatepass"))
        if shared.total_bytes > MAX_TOTAL_BYTES:
            raise refused(
                f"the spec and the files it imports are larger than {MAX_TOTAL_BYTES} bytes",
                site,
                "the size limit of a spec counts every file it is composed from",
                code="E104",
            )
        shown = shared.shown(path)
        doc = load_yaml(text, shown, copy=False)
        _check_version(doc, site, how)
        shared.cache[key] = doc
        shared.sources[shown] = text
        return fresh_copy(doc) if copy else doc


def _check_version(doc: LoadedDoc, site: SourceSpan | None, how: str) -> None:
    """A file a spec reads (`use:`, `extends:`) is of this format, `archspec: 1`, as the spec
    itself must be: a file of another version (`archspec: 2`, a future format), or of none,
    was read as this one, its blocks or layers taken as they are. Exactly the integer 1:
    YAML's `true` and `1.0` equal it in Python, and mean no version."""
    data = doc.data
    if not isinstance(data, dict):
        return  # the reader says what the file should hold
    version = data.get("archspec")
    if type(version) is int and version == 1:
        return
    if site is not None and how != site.how:  # a copy, marked as extends.py marks its sites
        site = site.with_via(site.via)
        site.__dict__["how"] = how
    if "archspec" in data:
        span, message = doc.span_of(("archspec",)), f"{doc.file} has `archspec: {version!r}`"
    else:
        span, message = doc.span_of(()), f"{doc.file} has no `archspec:` format version"
    raise LoadError(
        message + "; this archspec reads format 1",
        span=with_site(span, site) if span is not None else site,
        code="E204",
        hint="a spec or a file of blocks starts with `archspec: 1`",
        sources=doc.sources,
    )


_READ_HINT = (
    "name a regular .yaml file by its path from the folder of the file that names it "
    "(`lib/blocks.yaml`)"
)
_HINT = (
    "import a file in the spec's own folder tree by a relative path (`blocks.yaml`, "
    "`lib/blocks.yaml`) or a module of the built-in library (`archspec:blocks/resnet`)"
)


def _what_path(ref: str) -> str:
    """What kind of name outside the tree `ref` is, for E110's message."""
    if re.match(r"[A-Za-z]:", ref) or ref.startswith(("/", "~", "\\")):  # `C:/x`, `\\srv\x`
        return "an absolute path"
    if _SCHEME.match(ref):
        return "a URL"
    return "a path written with `\\` (write `/`)"


def _shown(path: Path) -> str:
    """A file's name in messages: relative to the working directory when under it."""
    try:
        return str(path.relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def library_modules() -> list[str]:
    """The names of the built-in library's modules (`archspec:blocks/resnet`, ...)."""
    if not LIBRARY_DIR.is_dir():
        return []
    return [
        LIBRARY_PREFIX + p.relative_to(LIBRARY_DIR).with_suffix("").as_posix()
        for p in sorted(LIBRARY_DIR.rglob("*.yaml"))
    ]


def with_site(span: SourceSpan, via: SourceSpan | None) -> SourceSpan:
    """`span`, recorded as imported at `via` (unchanged when `via` is None)."""
    return span if via is None else replace(span, via=via)
