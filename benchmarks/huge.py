"""(5) A 10^10-parameter spec summarised without memory: `archspec summary` in a child process.

Its weights would take 37 GiB in float32; the child's peak RSS (from wait4) shows that the
summary never allocates them. `archspec check` and a meta-device compile of the same spec
are measured alongside for context.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from . import synth
from .common import (
    Config,
    Ratio,
    Row,
    Section,
    Stats,
    Target,
    archspec_cmd,
    cli_has,
    cold_cmd,
    describe_interpreter,
    fmt_bytes,
    log,
    run_timed,
)

#: Far below the 37 GiB the weights would take; above what a bare torch import costs.
TARGET_RSS_MIB = 1024.0
TARGET = Target("<=", TARGET_RSS_MIB, "<= 1024 MiB")


def run(cfg: Config) -> Section:
    """Summary, check and meta compile of the huge spec, each in cold child processes."""
    width = synth.HUGE_WIDTH
    params = width * width
    repeats = cfg.pick(3, 1)
    section = Section(
        key="huge",
        title="Summary of a 10^10-parameter spec",
        method=(
            f"`benchmarks/synth.py` huge: one {width:,} x {width:,} linear layer without bias, "
            f"{params:,} parameters ({fmt_bytes(4 * params)} of float32 weights). Each command "
            f"is a cold child process, {repeats} run(s) (the meta compile: one); peak RSS is "
            "the child's own (wait4). "
            "The summary must print the exact parameter count. "
            f"Interpreter: {describe_interpreter(cfg.cold_python)}."
        ),
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "huge.yaml"
        path.write_text(synth.huge_linear(width))
        code = (
            "import archspec\n"
            f"m = archspec.compile({str(path)!r}, device='meta')\n"
            "print(sum(p.numel() for p in m.parameters()))\n"
        )
        cmds: dict[str, list[str] | str] = {
            "archspec summary": archspec_cmd("summary", str(path))
            if cli_has("summary")
            else "n/a: `archspec summary` is not available yet",
            "archspec check": archspec_cmd("check", str(path))
            if cli_has("check")
            else "n/a: `archspec check` is not available yet",
        }
        if not cfg.quick:  # context only, and a cold torch import: not worth it in CI
            cmds["archspec.compile(device='meta')"] = cold_cmd("-c", code)
        for label, cmd in cmds.items():
            log(f"huge: {label}")
            if isinstance(cmd, str):
                section.rows.append(Row("wall", label, None, status=cmd))
                continue
            walls: list[float] = []
            rss: list[float] = []
            status = ""
            # The meta compile is context, and each run pays a cold torch import: run it once.
            for _ in range(repeats if label.startswith("archspec ") else 1):
                res = run_timed(cmd, timeout=300)
                walls.append(res.wall)
                rss.append(float(res.maxrss))
                if res.returncode != 0:
                    tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
                    status = f"ERROR: exit {res.returncode}: {tail[:120]}"
                elif label == "archspec summary" and f"{params:,}" not in res.stdout:
                    status = f"ERROR: the output does not show {params:,} parameters"
            section.rows.append(Row("wall", label, Stats.of(walls), status=status))
            section.rows.append(Row("peak RSS", label, Stats.of(rss), unit="B"))
            if label == "archspec summary":
                peak = Stats.of(rss).max / (1 << 20)
                section.ratios.append(
                    Ratio(
                        label,
                        "peak RSS in MiB (max of runs)",
                        peak,
                        target=TARGET,
                        status=status,
                        note=f"{100 * Stats.of(rss).max / (4 * params):.2f}% of the weights",
                    )
                )
    return section
