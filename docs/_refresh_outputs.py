"""Re-run the CLI commands shown in the docs and write their real output under them.

    python docs/_refresh_outputs.py            # rewrite every page in place
    python docs/_refresh_outputs.py --check    # exit 1 if a page shows stale output

Only ```console blocks marked `<!-- output -->` are touched: each `$ archspec ...` line is run
in a temporary directory holding the page's `<!-- file: NAME -->` blocks, without colour and
at 100 columns, exactly as tests/test_docs.py runs them, and the lines under it are replaced
by what it printed (stdout and stderr in the order a terminal shows them).
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PAGES = [*sorted((ROOT / "docs").glob("*.md")), ROOT / "README.md"]
ENV = {"NO_COLOR": "1", "COLUMNS": "100", "TERM": "dumb", "PYTHONUNBUFFERED": "1"}

_FENCE = re.compile(r"^(`{3,}|~{3,})\s*([\w+-]*)\s*$")
_DIRECTIVE = re.compile(r"^<!--\s*(.*?)\s*-->\s*$")


def run(command: str, cwd: Path) -> str:
    """What `command` (an `archspec ...` line) prints, stdout and stderr interleaved."""
    argv = shlex.split(command)
    if argv[0] != "archspec":
        raise ValueError(f"only archspec commands are run, not {command!r}")
    proc = subprocess.run(
        [sys.executable, "-m", "archspec", *argv[1:]],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **ENV, "TORCH_HOME": str(cwd / ".torch")},  # an empty hub cache
        timeout=600,
    )
    return "\n".join(line.rstrip() for line in proc.stdout.strip().splitlines())


def directives(lines: list[str], fence: int) -> list[str]:
    found: list[str] = []
    j = fence - 1
    while j >= 0 and not lines[j].strip():
        j -= 1
    while j >= 0 and (m := _DIRECTIVE.match(lines[j].strip())):
        found.append(m[1])
        j -= 1
    return found


def refresh(page: Path) -> str:
    """The page's text with fresh output under every marked console command."""
    lines = page.read_text(encoding="utf-8").splitlines()
    out: list[str] = []
    files: dict[str, str] = {}
    blocks: list[tuple[int, int, str]] = []  # (first body line, fence end line, lang)
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        start, j = i, i + 1
        while j < len(lines) and not lines[j].startswith(m[1]):
            j += 1
        blocks.append((start, j, m[2]))
        for d in directives(lines, start):
            name, _, value = d.partition(":")
            if name.strip() == "file":
                files[value.strip()] = "\n".join(lines[start + 1 : j]) + "\n"
        i = j + 1
    with tempfile.TemporaryDirectory() as tmp:
        for name, text in files.items():
            (Path(tmp) / name).write_text(text, encoding="utf-8")
        cursor = 0
        for start, end, lang in blocks:
            if lang != "console" or "output" not in directives(lines, start):
                continue
            out += lines[cursor : start + 1]
            for line in lines[start + 1 : end]:
                if line.startswith("$ "):
                    out.append(line)
                    out += run(line[2:].strip(), Path(tmp)).splitlines()
            cursor = end
        out += lines[cursor:]
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    stale = []
    for page in PAGES:
        if not page.exists():
            continue
        text = page.read_text(encoding="utf-8")
        fresh = refresh(page)
        if fresh != text:
            stale.append(page.relative_to(ROOT))
            if "--check" not in argv:
                page.write_text(fresh, encoding="utf-8")
    if stale and "--check" in argv:
        print("stale command output in: " + ", ".join(map(str, stale)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
