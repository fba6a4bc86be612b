"""Where specs come from: a path, a built-in name (a plain file in specs/ or a variant of a
family file there), YAML text or a mapping, each read and composed (imports resolved, a
family's variant chosen). Split from archspec.api, which re-exports every public name."""

from __future__ import annotations

import contextlib
import difflib
import fnmatch
import functools
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from . import limits
from .compose import compose, one_reading, read_once, variant_names
from .errors import ArchSpecError, LoadError, clipped, close_names_to
from .lazymethods import dataclass
from .loader import LoadedDoc, kept_data, load_yaml, read_spec_text
from .spec_plugins import check_spec_name, spec_folders
from .specbytes import IDLE_SECONDS, MAX_BYTES, STDIN_NAME, read_spec_stream
from .validate import validate_spec


@dataclass(frozen=True)
class SpecText:
    """A spec's YAML text under a name of its own, which its errors show (`<stdin>:3:5`):
    always read as text, never as a path or a built-in name, whatever it holds."""

    text: str
    name: str = "<string>"


def stdin_spec(
    fd: int = 0,
    *,
    idle: float | None = IDLE_SECONDS,
    waiting: Callable[[], object] | None = None,
) -> SpecText:
    """The spec piped to this process (`archspec check -`), named `<stdin>`: read to its end
    within the size limit, a terminal refused (E100), binary input a located E105, a pipe
    that sends nothing for `idle` seconds (None: no bound) and stays open E100; `waiting`
    is called once when nothing came for a few seconds."""
    return SpecText(read_spec_stream(fd, idle=idle, waiting=waiting), STDIN_NAME)


SpecSource = str | Path | Mapping[str, Any] | SpecText


def builtin_dir() -> Path:
    """Where the built-in specs live: inside the installed package, or the source checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "specs"
    if packaged.is_dir():
        return packaged
    return here.parent / "specs"


def builtin_specs() -> dict[str, Path]:
    """Built-in spec names -> files (plain specs; a family's variants are in builtin_index)."""
    d = builtin_dir()
    if not d.is_dir():
        return {}
    return {p.stem: p for p in sorted(d.glob("*.yaml")) if not _is_family(p)}


#: A family name that can name its emitted file (`<name>.py`).
_FILE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_FAMILY_KEY = re.compile(r"^variants[ \t]*:", re.MULTILINE)


def _is_family(path: Path) -> bool:
    """A built-in file that declares `variants:` (found in the text, without parsing it)."""
    return bool(_FAMILY_KEY.search(path.read_text(encoding="utf-8")))


def builtin_index() -> dict[str, tuple[Path, str | None]]:
    """Every built-in name -> (file, variant): a plain spec is named by its file, each variant
    of a family file (`variants:`) by its own name; archspec's own specs first, then those of
    installed packages' `archspec.specs` folders (see spec_plugins)."""
    out = _folder_index(builtin_dir())
    folders = spec_folders()
    if folders:
        taken = dict.fromkeys(out, "a built-in spec")
        for where, folder in folders:
            for name, entry in _folder_index(folder).items():
                check_spec_name(name, where, entry[0], taken)
                taken[name] = f"the spec folder {where}"
                out[name] = entry
    return out


def _folder_index(d: Path) -> dict[str, tuple[Path, str | None]]:
    out: dict[str, tuple[Path, str | None]] = {}
    for p in sorted(d.glob("*.yaml")) if d.is_dir() else []:
        variants = _builtin_variants(p, p.stat().st_mtime_ns)
        if variants:
            out.update((v, (p, v)) for v in variants)
        else:
            out[p.stem] = (p, None)
    return out


def list_models(pattern: str | Iterable[str] | None = None) -> list[str]:
    """Built-in names that match a wildcard pattern (or any of several), as timm's
    `list_models("resnet*")`: fnmatch's `*`, `?` and `[...]`, case-insensitive, in the order
    `archspec list` shows them; every name without a pattern, [] when none matches."""
    names = list(builtin_index())
    if pattern is None:
        return names
    if not isinstance(pattern, (str, Iterable)) or isinstance(pattern, bytes):
        raise TypeError(
            "list_models() takes a pattern string or an iterable of them, "
            f"got {type(pattern).__name__}"
        )
    patterns = [pattern] if isinstance(pattern, str) else list(pattern)
    if not all(isinstance(p, str) for p in patterns):
        raise TypeError("list_models() takes a pattern string or an iterable of them")
    folded = [p.lower() for p in patterns]
    return [n for n in names if any(fnmatch.fnmatchcase(n.lower(), p) for p in folded)]


def close_names(pattern: str, n: int = 3) -> list[str]:
    """Built-in names close to a name or pattern, for hints: those that share the longest
    start with its text before the first wildcard, else difflib's closest."""
    names = list(builtin_index())
    head = re.split(r"[*?\[]", pattern, maxsplit=1)[0].lower()
    bare = re.sub(r"[*?\[\]]", "", pattern).lower()
    longest = max(map(len, names), default=0)  # a longer start matches no name
    for size in range(min(len(head), longest), 2, -1):  # (a 100,000-character pattern: 11 s)
        close = [m for m in names if m.lower().startswith(head[:size])]
        if close:  # the closest to the whole text first: resnt50 -> resnet50, then the others
            close.sort(key=lambda m: -difflib.SequenceMatcher(None, bare, m.lower()).ratio())
            return close[:n]
    return close_names_to(bare, names, n=n)


@functools.lru_cache(maxsize=512)
def _builtin_variants(path: Path, mtime_ns: int) -> tuple[str, ...]:
    """A built-in file's variants (none for a plain spec), parsed once per version of the file:
    every built-in name looked up (`archspec check` of 72 names) would otherwise parse every
    family file again."""
    if not _is_family(path):
        return ()
    return tuple(variant_names(kept_data(read_spec_text(path))))


#: How a one-line spec text starts: a flow mapping, or YAML's `archspec:` key and a space.
_STARTS_AS_SPEC = re.compile(r"\s*(?:\{|archspec:(?:\s|$))")


def is_spec_text(source: str) -> bool:
    """Whether a str source is YAML text, not a path or a built-in name: it holds a line break
    or starts as a spec does (`{` or `archspec:` and a space: `archspec:blocks/resnet`, a
    library module's name, is no YAML mapping), and names no file (a file may be called
    `a<newline>b.yaml`)."""
    if "\n" not in source and not _STARTS_AS_SPEC.match(source):
        return False
    return len(source) > 4096 or not os.path.lexists(source)


def family_variants(source: SpecSource) -> list[str]:
    """The variants of a family file named by path, which `archspec check` then checks one by
    one; [] for anything else (a plain spec, a built-in name, text, a file that fails to load:
    checking it reports why). As in read_source, an existing file wins over a built-in name.
    A `SpecText` (a spec piped in) is a file read already: its variants too."""
    if isinstance(source, SpecText):
        found = family_of(source)
        return found[1] if found else []
    if not isinstance(source, (str, Path)) or (isinstance(source, str) and is_spec_text(source)):
        return []
    try:
        is_file = Path(source).is_file()
    except (OSError, ValueError):
        return []
    found = family_of(Path(source)) if is_file else None
    return found[1] if found else []


def family_of(source: SpecSource) -> tuple[str, list[str]] | None:
    """A family spec's name and variants, for a file, YAML text or a mapping; None for a plain
    spec, a built-in name (each names one network) or a source that fails to load (reading it
    for real reports why). The name is the spec's `name:` when it can name a file
    (`resnet` -> resnet.py), else the file's stem."""
    data: Any = None
    stem = "family"
    try:
        if isinstance(source, Mapping):
            data = source
        elif isinstance(source, SpecText):
            data = load_yaml(source.text, source.name, copy=False).data
        elif isinstance(source, str) and is_spec_text(source):
            data = load_yaml(source, copy=False).data  # only read here: the kept parse
        elif isinstance(source, (str, Path)) and Path(source).is_file():
            data = load_yaml(read_spec_text(source), str(source), copy=False).data
            stem = Path(source).stem
    except (ArchSpecError, OSError, ValueError):
        return None
    variants = variant_names(data)
    if not variants:
        return None
    name = data.get("name") if isinstance(data, Mapping) else None
    if not (isinstance(name, str) and _FILE_NAME.fullmatch(name)):
        name = stem if _FILE_NAME.fullmatch(stem) else "family"
    return name, variants


@contextlib.contextmanager
def family_budget(
    max_layers: int | None, kept: list[Any] | None = None, *, shared: bool = True
) -> Iterator[None]:
    """Lower the variants of one family inside: together they may expand to
    `limits.FAMILY_FACTOR` * max_layers layer items (E310 past it), and they are composed
    from one reading of the family's files (`compose.one_reading`, whose reading goes to
    `kept` at the end if given), and the passes keep what they find in a subtree for each
    other (`passes.family`). `shared=False` (one spec, or one variant, lowered alone) opens
    no budget, as a call of the API outside this opens none: the older layouts of its
    `legacy_versions:` were charged to one, a plain spec's E310 then "the family's variants
    together" where `archspec.check` of it was ok."""
    from .passes.family import shared_findings

    budget = limits.family_budget(max_layers) if shared else contextlib.nullcontext()
    with budget, one_reading(kept), shared_findings(kept):
        yield


class _Builtins:
    """The built-in specs for `extends:`: one by name, and every name (its "did you mean")."""

    def __call__(self, name: str) -> tuple[Path, str | None] | None:
        return builtin_index().get(name)

    def names(self) -> list[str]:
        return list(builtin_index())


_builtin = _Builtins()


def _with_spans(doc: LoadedDoc) -> LoadedDoc:
    """A spec given as Python data, read as the YAML text it amounts to (`show`'s, ASCII), so
    that each item has a span, as in a file: the emitter tells a block's `when` items apart
    by their spans, and with none it joined a mapping's instances into other classes than
    the same spec's text gave (rexnet's emitted forward failed). Past the byte limit with
    its escapes, the text is UTF-8 as a file would be; data whose text is past the limit
    either way is refused as that file is (it took the old path without spans, and emitted
    other classes than the file). Data the text does not hold as it is keeps no spans."""
    from .yaml_floats import dump

    texts = (dump(doc.data, sort_keys=False, allow_unicode=u, width=100) for u in (False, True))
    text = next((t for t in texts if len(t.encode("utf-8")) <= MAX_BYTES), None)
    if text is None:
        raise LoadError(
            f"the spec is larger than {MAX_BYTES} bytes as YAML text, the limit for a spec",
            code="E104",
            hint="a spec given as Python data is held to a file's limits: shorten its text",
        )
    try:
        spanned = load_yaml(text, doc.file)
    except LoadError:
        return doc
    return spanned if spanned.data == doc.data else doc


def read_source(source: SpecSource, variant: str | None = None) -> LoadedDoc:
    """Load a spec from a path, a built-in name, YAML text or a mapping, composed: its
    imports resolved (`use:`) and, for a family, `variant` chosen (see archspec.compose)."""
    if variant is not None and not isinstance(variant, str):
        raise TypeError(f"variant must be a str or None, got {type(variant).__name__}")
    if isinstance(source, Mapping):
        from .loaddata import load_data  # (a mapping given in Python)

        return compose(_with_spans(load_data(source)), None, variant=variant, builtins=_builtin)
    if isinstance(source, SpecText):  # imports only from the block library, as any text
        doc = load_yaml(source.text, source.name)
        return compose(doc, None, variant=variant, builtins=_builtin)
    if isinstance(source, Path):
        # the kept parse: compose copies it
        doc = load_yaml(read_once(source, read_spec_text), str(source), copy=False)
        return compose(doc, source, variant=variant, builtins=_builtin)
    if not isinstance(source, str):
        raise LoadError(f"cannot read a spec from {type(source).__name__}", code="E100")
    if is_spec_text(source):
        return compose(load_yaml(source, "<string>"), None, variant=variant, builtins=_builtin)
    path = Path(source)
    # lexists: a link to nothing (or a loop) is a file named, which read_spec_text refuses
    # with its reason; it is False for a name too long for the file system, or with a NUL.
    if os.path.lexists(source):
        doc = load_yaml(read_once(path, read_spec_text), source, copy=False)
        return compose(doc, path, variant=variant, builtins=_builtin)
    builtins = builtin_index()
    if source in builtins:
        file, member = builtins[source]
        if variant is not None and member is not None and variant != member:
            raise LoadError(
                f"{source!r} is itself a variant; it has no variant {clipped(variant)!r}",
                code="E113",
                hint=f"name the family's file ({_display(file)}) with --variant, or drop it",
            )
        doc = load_yaml(read_once(file, read_spec_text), str(_display(file)), copy=False)
        return compose(doc, file, variant=member or variant, builtins=_builtin)
    close = close_names_to(source, list(builtins), n=3)
    hint = (
        f"did you mean {', '.join(close)}?" if close else "run `archspec list` for built-in specs"
    )
    if source == "-":  # the command line reads it (`archspec check -`); Python passes text
        hint = "pass the spec's text, or archspec.api.stdin_spec() for a spec piped in"
    elif source.startswith("archspec:"):  # a library module's name: it builds no network
        hint = (
            f"{source[:60]} names a module of the block library, which a spec imports "
            f'(`use: [{{from: "{source[:60]}", blocks: [...]}}]`); docs/blocks.md lists them'
        )
    shown = repr(source) if len(source) <= 200 else repr(source[:200]) + "..."
    raise LoadError(f"no spec file or built-in spec named {shown}", code="E100", hint=hint)


def resolve(source: SpecSource, *, variant: str | None = None) -> dict[str, Any]:
    """The fully resolved spec as plain data (imports copied in, base extended, the variant
    chosen), as `archspec show` prints it; compiling it gives the same module as `source`."""
    doc = read_source(source, variant)
    validate_spec(doc)
    return doc.data  # type: ignore[no-any-return]


def resolved_text(source: SpecSource, *, variant: str | None = None) -> str:
    """`resolve(source)` as YAML text: a plain spec (no `use:`, no `variants:`), ASCII only
    (other characters written as escapes, so no control character reaches a terminal)."""
    from .yaml_floats import dump

    data = resolve(source, variant=variant)
    order = ("archspec", "name", "class_name", "description", "input", "params", "blocks")
    data = {k: data[k] for k in (*order, *data) if k in data}
    return dump(data, sort_keys=False, allow_unicode=False, width=100, default_flow_style=None)


def relative_reads(source: str | Path, doc: LoadedDoc) -> list[str]:
    """The files the spec file `source` (read as `doc`) reads by a path from its own folder
    (`use: [{from: lib/stems.yaml, ...}]`, `extends: base.yaml`): what a copy of its text in
    another folder would not find. Built-in specs and the block library are found from
    anywhere, so a file of theirs is none of these."""
    from .compose.sources import LIBRARY_DIR

    if not doc.other_sources:
        return []
    home = Path(source).resolve().parent
    found = [LIBRARY_DIR.resolve(), builtin_dir(), *(f.resolve() for _, f in spec_folders())]
    out = []
    for name in doc.other_sources:
        path = Path(name).resolve()
        if path.is_relative_to(home) and not any(path.is_relative_to(d) for d in found):
            out.append(name)
    return out


def _display(path: Path) -> Path:
    """How a built-in spec's file is shown (in errors, `check`'s report, emitted headers):
    archspec's own as `specs/NAME.yaml` wherever archspec is installed or run from, so no
    machine's directories show; another package's relative to the working folder if below
    it, else as it is."""
    if path.parent == builtin_dir():
        return Path("specs") / path.name
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path
