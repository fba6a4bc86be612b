"""One error model for the whole pipeline: every user-facing failure knows where it is.

Stdlib only, so every stage (and `archspec check`, which must not import torch) can use it.

Text from a spec reaches messages (keys, names, references, file names, source lines), and a
spec may come from anyone: a message must never carry terminal control sequences (retitling,
clearing, OSC 52 clipboard writes) or bidi overrides that reorder what the reader sees. So the
escaping lives here, once: `Diagnostic` escapes its message and hint when it is made, and the
rendering escapes file names and quoted source lines, whatever produced them.
"""

from __future__ import annotations

import difflib
import enum
import functools
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import field, replace
from typing import ClassVar

from .lazymethods import dataclass

#: what separates a schema validator's refusal from its hint in its ValueError's text
#: (schema_errors.py makes the hint of the E204 of it)
VALIDATOR_HINT = "\nhint: "

#: Unicode categories shown as escapes: controls (C0, DEL, C1), format characters (bidi
#: overrides and isolates, zero-width characters, BOM), surrogates, private use, unassigned,
#: the line/paragraph separators, and the spaces other than ASCII's (a no-break space looks
#: like one, and YAML reads it as text: "unknown field `name: a`" hid it). Letters, marks,
#: symbols and CJK stay as they are.
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"})


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    code = ord(ch)
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


#: the characters of a source line a diagnostic quotes at most (a window around the span)
QUOTE_WIDTH = 160


@functools.lru_cache(maxsize=8)
def _source_lines(text: str) -> tuple[str, ...]:
    """The lines of a source, split once for all the diagnostics that quote it (2,800
    warnings on a 1 MiB spec split it 2,800 times: 2 s)."""
    return tuple(text.splitlines())


#: the characters of a diagnostic's message or hint at most (longer ones are cut, with ...)
MAX_MESSAGE = 1_500


def _bounded(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 3] + "..."


_END = object()


def shown_value(value: object, width: int = 200) -> str:
    """`repr(value)`, cut to `width` characters with `...`, made without writing out the
    rest: a message naming a value a let built (a table of 65,534 items, reached in each of
    thousands of copies) spent seconds per copy on a repr it then cut."""
    out: list[str] = []
    size = 0
    #: [items still to show, whether the next is the first] of each list being written
    stack: list[list[object]] = [[iter((value,)), True]]
    while stack and size <= width:
        frame = stack[-1]
        item = next(frame[0], _END)  # type: ignore[call-overload]
        if item is _END:
            stack.pop()
            if not stack:
                break
            piece = "]"
        else:
            piece = "" if frame[1] else ", "
            frame[1] = False
            if type(item) is list:
                piece += "["
                stack.append([iter(item), True])
            else:
                cut = item[: width + 1] if type(item) is str else item  # a long text
                piece += repr(cut)[: width + 1]
        out.append(piece)
        size += len(piece)
    text = "".join(out)
    return text if len(text) <= width else text[: width - 3] + "..."


def escape_text(text: str) -> str:
    """`text` with every non-printable character written as a visible escape (`\\x1b`).

    Newlines and tabs are escaped too: one diagnostic field is one line of output.
    """
    if text.isprintable():
        return text
    return "".join(
        _escape_char(ch) if ch != " " and unicodedata.category(ch) in _ESCAPED_CATEGORIES else ch
        for ch in text
    )


def _display_width(text: str) -> int:
    """Terminal columns `escape_text(text)` takes: escapes count their length, wide
    (CJK) characters two, combining marks none."""
    width = 0
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in _ESCAPED_CATEGORIES and ch != " ":
            width += len(_escape_char(ch))
        elif cat in ("Mn", "Me"):
            continue
        elif unicodedata.east_asian_width(ch) in ("W", "F"):
            width += 2
        else:
            width += 1
    return width


@dataclass(frozen=True)
class SourceSpan:
    """A position in a spec file (1-based line and column), as YAML marks report it."""

    file: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None
    #: Where the text was imported from (a `use:` or `extends:` of another spec), for spans
    #: of a composed spec that lie in an imported file; each import site may have its own.
    via: SourceSpan | None = field(default=None, compare=False, repr=False)
    #: How this span's file was brought in where it is a `via` site: "imported" (`use:`) or
    #: "extended" (`extends:`), for the note under an error ("extended at child.yaml:2:10").
    how: ClassVar[str] = "imported"
    #: On the span of a block's name in a composed spec: True where a `use:` names the block
    #: (not where it is copied along because an imported block calls it).
    named_import: ClassVar[bool] = False

    def __str__(self) -> str:
        return f"{escape_text(str(self.file))}:{self.line}:{self.col}"

    def with_via(self, via: SourceSpan | None) -> SourceSpan:
        """This span, imported through `via`: `dataclasses.replace(self, via=via)` without
        running __init__ again (composition re-roots every span of every imported block)."""
        new = object.__new__(SourceSpan)
        new.__dict__.update(self.__dict__)
        new.__dict__["via"] = via
        return new

    def import_sites(self) -> Iterator[SourceSpan]:
        """The chain of import sites that brought this span's file in, nearest first."""
        site = self.via
        for _ in range(64):  # the composer bounds import depth; never loop forever
            if site is None:
                return
            yield site
            site = site.via


class Severity(enum.StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Diagnostic:
    """One finding: a stable code, what is wrong, where, and how to fix it."""

    code: str
    message: str
    span: SourceSpan | None = None
    hint: str | None = None
    severity: Severity = Severity.ERROR

    def __post_init__(self) -> None:
        # Escaped and cut once, here, so that no producer (and no consumer of `.message`) can
        # forget: a message quoting a spec's 100,000-character name stays a line, not a page.
        if isinstance(self.message, str):
            object.__setattr__(self, "message", _bounded(escape_text(self.message)))
        if isinstance(self.hint, str):
            object.__setattr__(self, "hint", _bounded(escape_text(self.hint)))

    def render(self, sources: dict[str, str] | None = None, color: bool = False) -> str:
        """Compiler-style text: `file:line:col: error[CODE]: message`, the line, a caret, a hint."""
        where = f"{self.span}: " if self.span else ""
        sev = self.severity.value
        if color:
            tint = "\033[1;31m" if self.severity is Severity.ERROR else "\033[1;33m"
            head = f"\033[1m{where}\033[0m{tint}{sev}[{self.code}]\033[0m: {self.message}"
        else:
            head = f"{where}{sev}[{self.code}]: {self.message}"
        lines = [head]
        text = (sources or {}).get(self.span.file) if self.span else None
        if text is not None and self.span is not None:
            lines.extend(self._quote(text, self.span))
        if self.hint:
            lines.append(f"  = hint: {self.hint}")
        if self.span is not None:
            lines.extend(f"  = note: {site.how} at {site}" for site in self.span.import_sites())
        return "\n".join(lines)

    @staticmethod
    def _quote(text: str, span: SourceSpan) -> list[str]:
        """The source line (escaped) and a caret under the span, aligned after escaping."""
        src_lines = _source_lines(text)
        if not 1 <= span.line <= len(src_lines):
            return []
        src = src_lines[span.line - 1].replace("\t", " ")
        gutter = f"{span.line:>5} | "
        col = max(1, min(span.col, len(src) + 1))
        end = col + 1
        if span.end_line == span.line and span.end_col:
            end = max(col + 1, min(span.end_col, len(src) + 1))
        if len(src) > QUOTE_WIDTH:  # a line of a megabyte is quoted as a window on the span
            start = max(0, min(col - 1 - QUOTE_WIDTH // 3, len(src) - QUOTE_WIDTH))
            cut = src[start : start + QUOTE_WIDTH]
            head, tail = ("..." if start else ""), ("..." if start + QUOTE_WIDTH < len(src) else "")
            src = head + cut + tail
            col = col - start + len(head)
            end = max(col + 1, min(end - start + len(head), len(head) + len(cut) + 1))
        pad = " " * (len(gutter) - 2) + "| " + " " * _display_width(src[: col - 1])
        width = max(1, _display_width(src[col - 1 : end - 1]))
        return [gutter + escape_text(src), pad + "^" + "~" * (width - 1)]

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output and tests (`imported_at` only for an imported file)."""
        out: dict[str, object] = {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
            "file": escape_text(str(self.span.file)) if self.span else None,
            "line": self.span.line if self.span else None,
            "col": self.span.col if self.span else None,
        }
        sites = list(self.span.import_sites()) if self.span else []
        if sites:
            out["imported_at"] = [str(site) for site in sites]
        return out


class ArchSpecError(Exception):
    """Base of every user-facing failure; carries one or more diagnostics."""

    code = "E000"

    def __init__(
        self,
        message: str = "",
        *,
        span: SourceSpan | None = None,
        hint: str | None = None,
        code: str | None = None,
        diagnostics: list[Diagnostic] | None = None,
        sources: dict[str, str] | None = None,
    ) -> None:
        if diagnostics is None:
            diagnostics = [Diagnostic(code or self.code, message, span, hint)]
        self.diagnostics: list[Diagnostic] = list(diagnostics)
        self.sources: dict[str, str] = dict(sources or {})
        first = self.diagnostics[0]
        super().__init__(f"{first.span}: " + first.message if first.span else first.message)

    def __str__(self) -> str:
        """The first diagnostic, where and what, as it is now: a caller may restate the
        diagnostics after raising (`diff` says which side each is about)."""
        first = self.diagnostics[0]
        return f"{first.span}: {first.message}" if first.span else first.message

    @property
    def span(self) -> SourceSpan | None:
        return self.diagnostics[0].span

    @property
    def hint(self) -> str | None:
        return self.diagnostics[0].hint

    @property
    def error_code(self) -> str:
        return self.diagnostics[0].code

    @property
    def codes(self) -> list[str]:
        return [d.code for d in self.diagnostics]

    @property
    def __notes__(self) -> list[str]:
        """PEP 678 notes, which Python and IPython print under an uncaught error: the
        rendered diagnostics (code, source line, caret, hint, the other errors), all of which
        `str(err)`, only the first message, leaves out. Computed when read, so a hint changed
        after raising shows; notes added with `add_note` stay after it."""
        notes = self.__dict__.setdefault("_notes", [])
        added = notes[self.__dict__.get("_rendered_notes", 0) :]
        try:
            rendered = [self.render()]
        except Exception:  # a traceback being printed must not fail here
            rendered = []
        notes[:] = [*rendered, *added]
        self.__dict__["_rendered_notes"] = len(rendered)
        return notes  # type: ignore[no-any-return]

    @__notes__.setter
    def __notes__(self, value: list[str]) -> None:
        self.__dict__["_notes"] = list(value)
        self.__dict__["_rendered_notes"] = 0

    def render(self, color: bool = False, limit: int = 20) -> str:
        """All diagnostics, compiler-style, with "... and N more" past `limit`."""
        errs = [d for d in self.diagnostics]
        shown = [d.render(self.sources, color) for d in errs[:limit]]
        if len(errs) > limit:
            shown.append(f"... and {len(errs) - limit} more")
        return "\n".join(shown)


class LoadError(ArchSpecError):
    """The file is not readable, safe YAML (syntax, encoding, limits, unsafe tags)."""

    code = "E101"


class SchemaError(ArchSpecError):
    """The YAML does not describe a valid spec (unknown field, wrong type, bad expression)."""

    code = "E201"


class SpecError(ArchSpecError):
    """The spec is well-formed but means nothing sensible (unknown block, bad reference, cycle)."""

    code = "E301"


class ShapeError(ArchSpecError):
    """Shapes do not line up for the given input."""

    code = "E401"


class ResourceError(ArchSpecError):
    """The spec asks for more than the configured limits allow."""

    code = "E501"


class EmitError(ArchSpecError):
    """Source emission cannot render something safely."""

    code = "E601"


class PluginError(ArchSpecError):
    """An installed layer plugin (`archspec.layers` entry point) failed to load."""

    code = "E701"


class ToolError(ArchSpecError):
    """An optional outside tool or package (Graphviz `dot`, onnx) is missing or failed."""

    code = "E702"


class ImportFailure(ArchSpecError):
    """A PyTorch model cannot be stated exactly as a spec (`archspec import`): each
    diagnostic points at the Python source (forward statement or module class) at fault."""

    code = "E901"


#: Module paths (`stage0.se`, `stage1.0.se`) and numbers in a message: instances differing
#: only in these (where the copy is, a width) say the same thing.
_INSTANCE_PARTS = re.compile(r"\b[A-Za-z_][\w-]*(?:\.[\w-]+)+|\d+")


def once_per_place(diags: list[Diagnostic]) -> list[Diagnostic]:
    """One diagnostic per code and place: a mistake inside a block or a `repeat` is made in
    every instance, at the same line, and is reported once, at its first instance, with how
    many instances have it (`(in 17 instances)`), not once per copy."""
    groups: dict[object, list[Diagnostic]] = {}
    for d in diags:
        key = (d.code, d.span, d.severity) if d.span is not None else id(d)
        groups.setdefault(key, []).append(d)
    out = []
    for same in groups.values():
        first = same[0]
        if len(same) > 1:
            note = f"in {len(same):,} instances"
            kind = _INSTANCE_PARTS.sub("#", first.message)
            other = [d for d in same if _INSTANCE_PARTS.sub("#", d.message) != kind]
            if other:  # they differ in more than the copy's path and numbers: say so
                says = "says" if len(other) == 1 else "say"
                note += f"; {len(other):,} {says} otherwise, first: {other[0].message}"
            first = replace(first, message=f"{first.message} ({note})")
        out.append(first)
    return out


@dataclass
class DiagnosticBag:
    """Collects independent errors so that one run reports all of them."""

    diagnostics: list[Diagnostic] = field(default_factory=list)

    def add(self, diag: Diagnostic) -> None:
        self.diagnostics.append(diag)

    def extend(self, diags: list[Diagnostic]) -> None:
        self.diagnostics.extend(diags)

    @property
    def errors(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.ERROR]

    @property
    def warnings(self) -> list[Diagnostic]:
        return [d for d in self.diagnostics if d.severity is Severity.WARNING]


def exception_text(exc: BaseException) -> str:
    """`str(exc)` of an exception raised by code not archspec's (a plugin file, a model, a
    factory), or "" when its own `__str__` fails: a plugin raising such an exception ended
    `archspec check` in an internal error, from the message that quoted it."""
    try:
        return str(exc)
    except Exception:
        return ""


def exception_said(exc: BaseException) -> str:
    """`Type: text` of a foreign exception as a message quotes it, `Type` when it says
    nothing (or cannot)."""
    text = exception_text(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def clipped(text: str, limit: int = 60) -> str:
    """`text` as a message quotes a name it was given: whole up to `limit` characters, else
    its start and its length (a name from the command line or a spec may be any size)."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text):,} characters)"


def close_names_to(text: str, names: Sequence[str], n: int = 1) -> list[str]:
    """Names to suggest for a mistyped `text`: difflib's closest, else those whose last
    `_`-separated parts are the text (`b0` names `efficientnet_b0`, which difflib misses)."""
    close = difflib.get_close_matches(text, list(names), n=n)
    tail = f"_{text.lower()}"
    return close or [m for m in names if text and m.lower().endswith(tail)][:n]


class UnknownKind(KeyError):
    """A kind no registry holds (`archspec.unregister("nosuch")`): a KeyError, as a lookup's
    miss is, whose text reads as a sentence rather than as a quoted key."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def unknown_kind(what: str, kind: object, known: Sequence[str], listed: str = "") -> UnknownKind:
    """UnknownKind for `kind` among `known`: the near name (a case-insensitive match first),
    and where the known ones are listed (`listed`: a command), else the names themselves."""
    names = sorted(known)
    text = kind if isinstance(kind, str) else ""
    near = [n for n in names if text and n.lower() == text.lower()] or close_names_to(text, names)
    guess = f"did you mean {near[0]!r}? " if text and near else ""
    where = f"{len(names)} are, which `{listed}` names" if listed else ", ".join(names)
    shown = clipped(repr(kind))
    return UnknownKind(f"{what} {shown} is not registered: {guess}{where or 'none are'}")
