"""The imported spec's input header: the example input's sizes, or symbols for them where
the model reads its last dim as features (tokens (N, L, 32), sequence first (L, N, 32),
NHWC maps) or takes token ids (`[N, L]`), chosen by checking both readings."""

from __future__ import annotations

from typing import Any

from .render import render


def named_sizes(
    imported: Any, spec_name: str, text: str, shape: list[Any], dtype: str, more: list[Any]
) -> str:
    """The spec `text` with its input's sizes named (`_sizes_named`) where that checks clean."""
    sized = None if more else _sizes_named(shape, dtype)
    if sized is None:
        return text
    from ..api import check

    written = check(text)
    if not written.ok:  # the example input itself is refused: said so downstream
        return text
    other = render(imported, spec_name, sized, dtype)
    # token ids, and tokens sequence first, name their sizes wherever that checks clean;
    # tokens (N, L, C) where the example's reading (N, C, L) takes its sizes alone (a Linear
    # of the features pins that L to C's size) and the named one takes more
    named = dtype == "int64" or shape[0] != "N" or not _generalises(written)
    if named:
        return other if _generalises(check(other)) else text
    if _pinned(written):
        named_report = check(other)
        return other if _generalises(named_report) and not _pinned(named_report) else text
    return text


#: The names of a features-last input's sizes, by how many it has.
_SIZE_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def _sizes_named(shape: list[Any], dtype: str) -> list[Any] | None:
    """The input header with its sizes as symbols where the last dim is the features (tokens
    (N, L, 32), sequence first (L, N, 32), NHWC maps) or, for token ids, every dim but the
    batch is a size: `[N, L, 32]` where the example gave `[N, 20, 32]`, which `check` reads
    as 20 channels of length L; None for a header with no such form."""
    batch = shape.index("N")
    dims = [i for i in range(len(shape)) if i != batch]
    if dtype != "int64":
        dims = dims[:-1]  # the features stay
    names = _SIZE_NAMES.get(len(dims))
    if names is None or len(shape) < (2 if dtype == "int64" else 3):
        return None
    out = list(shape)
    for i, symbol in zip(dims, names, strict=True):
        out[i] = symbol
    return out


def _generalises(report: Any) -> bool:
    """Whether a spec's check (an api.CheckReport) found no error and a domain of input
    sizes (no W403; a warning of another kind, an output nothing reads, is the model's)."""
    generalised = not any(w.code == "W403" for w in report.warnings)
    return report.ok and generalised and report.domain is not None


def _pinned(report: Any) -> bool:
    """Whether a spec's domain (of a check that generalises) takes one size alone for each
    of its input's sizes but the batch: the example's, as a Linear of (N, C, L) pins L."""
    domain = report.domain
    if domain.unsolved:
        return False
    sizes = [s for s in domain.symbols if s != "N"]
    return bool(sizes) and all(
        s in box and box[s].min() is not None and box[s].min() == box[s].max()
        for box in domain.boxes
        for s in sizes
    )
