"""Spec file bytes -> text: UTF-8 with an optional BOM; NUL bytes and undecodable input are
located errors (E105), by line and column, before YAML sees anything."""

from __future__ import annotations

from .errors import LoadError, SourceSpan


def decode_spec_bytes(raw: bytes, file: str) -> str:
    """UTF-8 (with optional BOM) or a clear E105."""
    nul = raw.find(b"\x00")
    if nul >= 0:
        line = raw.count(b"\n", 0, nul) + 1
        raise LoadError(
            "the file contains NUL bytes: it looks binary (or UTF-16), not a YAML spec",
            span=SourceSpan(file, line, nul - (raw.rfind(b"\n", 0, nul) + 1) + 1),
            code="E105",
            hint="a spec is UTF-8 text",
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise LoadError(
            f"the file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})",
            span=SourceSpan(file, line, col),
            code="E105",
            hint="save the spec as UTF-8",
        ) from None
    return text
