"""One error model for the whole pipeline: every user-facing failure knows where it is.

Stdlib only, so every stage (and `archspec check`, which must not import torch) can use it.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


@dataclass(frozen=True)
class SourceSpan:
    """A position in a spec file (1-based line and column), as YAML marks report it."""

    file: str
    line: int
    col: int
    end_line: int | None = None
    end_col: int | None = None

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


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
            src_lines = text.splitlines()
            if 1 <= self.span.line <= len(src_lines):
                src = src_lines[self.span.line - 1].expandtabs(1)
                gutter = f"{self.span.line:>5} | "
                lines.append(gutter + src)
                width = 1
                if self.span.end_line == self.span.line and self.span.end_col:
                    width = max(
                        1, min(self.span.end_col - self.span.col, len(src) - self.span.col + 1)
                    )
                pad = " " * (len(gutter) - 2) + "| " + " " * (self.span.col - 1)
                lines.append(pad + "^" + "~" * (width - 1))
        if self.hint:
            lines.append(f"  = hint: {self.hint}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, object]:
        """Plain data for JSON output and tests."""
        return {
            "code": self.code,
            "severity": self.severity.value,
            "message": self.message,
            "hint": self.hint,
            "file": self.span.file if self.span else None,
            "line": self.span.line if self.span else None,
            "col": self.span.col if self.span else None,
        }


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
