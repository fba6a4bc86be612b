"""Render benchmark sections as the results.md tables and as a console summary.

Rendering only arranges text: every figure is computed by the measurement modules.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence

from .common import Ratio, Row, Section, fmt_value

MEASURE_HEADER = ["case", "candidate", "median", "IQR", "min .. max", "n"]
RATIO_HEADER = ["case", "ratio", "median", "IQR", "95% CI", "target", "verdict"]
TARGET_HEADER = ["measurement", "case", "ratio", "median", "IQR", "95% CI", "target", "verdict"]


def measure_cells(row: Row) -> list[str]:
    if row.stats is None:
        return [row.case, row.candidate, row.status or "-", "", "", ""]
    s, u = row.stats, row.unit
    cand = row.candidate + (f" ({row.note})" if row.note else "")
    spread = f"{fmt_value(s.q1, u)} .. {fmt_value(s.q3, u)}" if s.n > 1 else ""
    rng = f"{fmt_value(s.min, u)} .. {fmt_value(s.max, u)}" if s.n > 1 else ""
    return [row.case, cand, fmt_value(s.median, u), spread, rng, str(s.n)]


def ratio_cells(r: Ratio) -> list[str]:
    value = "" if r.value is None else f"{r.value:.3f}"
    spread = f"{r.spread[0]:.3f} .. {r.spread[1]:.3f}" if r.spread else ""
    ci = f"{r.ci[0]:.3f} .. {r.ci[1]:.3f}" if r.ci else ""
    verdict = r.verdict if not r.status else r.status
    name = r.name + (f" ({r.note})" if r.note else "")
    return [r.case, name, value, spread, ci, str(r.target) if r.target else "-", verdict]


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table; pipes inside cells are escaped."""

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    out = [line(header), line(["---"] * len(header))]
    out += [line(r) for r in rows]
    return "\n".join(out)


def render_markdown(
    sections: Sequence[Section], info: Mapping[str, str], command: str, title: str
) -> str:
    """The whole results.md: environment, the targets at a glance, then each section."""
    parts = [f"# {title}", ""]
    parts.append(
        f"Reproduce with `{command}` from the repository root, under the interpreter named "
        "below (a venv where torchvision is importable gives the torchvision ratios)."
    )
    parts.append("")
    parts.append(md_table(["", ""], [[k, v] for k, v in info.items()]))
    parts.append("")
    parts.append("## Targets at a glance")
    parts.append("")
    target_rows = [
        [s.title, *ratio_cells(r)] for s in sections for r in s.ratios if r.target is not None
    ]
    parts.append(md_table(TARGET_HEADER, target_rows) if target_rows else "(no targets)")
    parts.append("")
    for i, s in enumerate(sections, 1):
        parts.append(f"## {i}. {s.title}")
        parts.append("")
        parts.append(s.method)
        parts.append("")
        if s.rows:
            parts.append(md_table(MEASURE_HEADER, [measure_cells(r) for r in s.rows]))
            parts.append("")
        for caption, header, rows in s.extra_tables:
            parts.append(f"{caption}")
            parts.append("")
            parts.append(md_table(header, rows))
            parts.append("")
        if s.ratios:
            parts.append(md_table(RATIO_HEADER, [ratio_cells(r) for r in s.ratios]))
            parts.append("")
        for note in s.notes:
            parts.append(note)
            parts.append("")
        for caption, text in s.profiles:
            parts.append(f"<details><summary>Profile: {caption}</summary>")
            parts.append("")
            parts.append("```text")
            parts.append(text)
            parts.append("```")
            parts.append("")
            parts.append("</details>")
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def print_console(sections: Sequence[Section]) -> None:
    """The measurement and ratio tables on stdout (rich when it is installed)."""
    try:
        from rich.console import Console
        from rich.table import Table
    except ImportError:  # rich is an archspec dependency, but the runner needs only stdlib
        for s in sections:
            print(f"\n== {s.title} ==")
            for row in s.rows:
                print("  " + " | ".join(measure_cells(row)))
            for extra in s.extra_tables:
                for cells in extra[2]:
                    print("  " + " | ".join(cells))
            for r in s.ratios:
                print("  " + " | ".join(ratio_cells(r)))
        return
    console = Console(file=sys.stdout, width=160)
    for s in sections:
        table = Table(title=s.title, title_justify="left")
        for h in MEASURE_HEADER:
            table.add_column(h)
        for row in s.rows:
            table.add_row(*measure_cells(row))
        if s.rows:
            console.print(table)
        for caption, header, rows in s.extra_tables:
            extra = Table(title=f"{s.title}: {caption}", title_justify="left")
            for h in header:
                extra.add_column(h)
            for cells in rows:
                extra.add_row(*cells)
            console.print(extra)
        if s.ratios:
            ratios = Table(title=f"{s.title}: ratios", title_justify="left")
            for h in RATIO_HEADER:
                ratios.add_column(h)
            for r in s.ratios:
                cells = ratio_cells(r)
                style = {"PASS": "green", "MISS": "red", "ERROR": "red"}.get(
                    r.verdict.split(" ")[0], ""
                )
                ratios.add_row(*cells, style=style)
            console.print(ratios)
