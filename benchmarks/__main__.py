"""`python -m benchmarks [--quick] [--out benchmarks/results.md]`: run, print, write results.

The full run takes a few minutes and is what `benchmarks/results.md` records; `--quick` is
the CI smoke mode (few repeats, small sizes, targets reported but never enforced). The exit
status is 1 only when a measurement itself broke (an ERROR row), never for a missed target.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .common import (
    BASIS,
    COLD_PYTHON,
    ROOT,
    Config,
    Section,
    cpu_model,
    describe_interpreter,
    error_text,
    git_revision,
    load_average,
    log,
    versions,
)

#: Section key -> module name, in the order of the issue.
SECTIONS = ("forward", "startup", "compile", "scaling", "huge", "modsummary")


def runner(key: str) -> Callable[[Config], Section]:
    """The `run` function of a section (imported lazily: each pulls in torch or archspec)."""
    from . import compile_latency, forward, huge, modsummary, scaling, startup

    modules = {
        "forward": forward,
        "startup": startup,
        "compile": compile_latency,
        "scaling": scaling,
        "huge": huge,
        "modsummary": modsummary,
    }
    return modules[key].run


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="CI smoke mode: few repeats, small sizes")
    p.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results.md", help="results file"
    )
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default 1)")
    p.add_argument(
        "--only", action="append", choices=SECTIONS, help="run only these sections (repeatable)"
    )
    p.add_argument(
        "--basis",
        choices=("cpu", "wall"),
        default="cpu",
        help="time the ratios are computed from (default: process CPU time; wall time is "
        "shown alongside)",
    )
    p.add_argument(
        "--extras-budget",
        type=float,
        default=420.0,
        help="seconds after the start past which optional profiles are skipped (default 420)",
    )
    p.add_argument(
        "--cold-python",
        default=sys.executable,
        help="interpreter for the cold-process measurements (startup, huge, modsummary); "
        "default: this one",
    )
    return p.parse_args(argv)


def missing_packages() -> list[str]:
    """What this interpreter lacks: found before any section runs, not after minutes of errors."""
    import importlib.util

    return [
        m for m in ("torch", "archspec", "pydantic", "yaml") if importlib.util.find_spec(m) is None
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = missing_packages()
    if missing:
        log(
            f"error: {sys.executable} cannot import {', '.join(missing)}; install the project "
            "into this interpreter first (pip install -e .), then run the benchmarks"
        )
        return 2
    cfg = Config(
        quick=args.quick,
        threads=args.threads,
        only=tuple(args.only or ()),
        cold_python=args.cold_python,
        basis=args.basis,
        extras_until=time.monotonic() + args.extras_budget,
    )
    COLD_PYTHON["path"] = cfg.cold_python
    BASIS["name"] = cfg.basis
    started = time.perf_counter()
    load_start = load_average()
    sections: list[Section] = []
    for key in cfg.only or SECTIONS:
        log(f"== {key}")
        t0 = time.perf_counter()
        try:
            sections.append(runner(key)(cfg))
        except Exception as exc:  # one broken section must not hide the others' figures
            s = Section(key=key, title=key, method="(the section failed)")
            s.notes.append(f"**{error_text(exc)}**")
            sections.append(s)
        log(f"== {key}: {time.perf_counter() - t0:.1f} s")
    wall = time.perf_counter() - started

    from .report import print_console, render_markdown

    info = environment(cfg, wall, load_start)
    command = "python -m benchmarks" + "".join(
        [" --quick"] * cfg.quick
        + [f" --threads {cfg.threads}"] * (cfg.threads != 1)
        + [f" --only {k}" for k in cfg.only]
        + [" --cold-python PYTHON"] * (cfg.cold_python != sys.executable)
        + [f" --basis {cfg.basis}"] * (cfg.basis != "cpu")
    )
    text = render_markdown(sections, info, command, "archspec benchmarks")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print_console(sections)
    print(f"\nwrote {args.out} in {wall:.0f} s")
    errors = [e for s in sections for e in s.errors]
    errors += [n for s in sections for n in s.notes if n.startswith("**ERROR")]
    for e in errors:
        log(f"error: {e}")
    return 1 if errors else 0


def environment(cfg: Config, wall: float, load_start: str) -> dict[str, str]:
    """The table at the top of results.md: machine, versions, date, settings."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count() or 0
    import platform

    info = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_model()}, {os.cpu_count()} cores ({usable} usable), "
        f"{platform.system()} {platform.release()}",
    }
    for name, version in versions().items():
        info[name] = version
    info["interpreter"] = describe_interpreter(sys.executable)
    if cfg.cold_python != sys.executable:
        info["cold-process interpreter (PYTHON)"] = describe_interpreter(cfg.cold_python)
    info["archspec revision"] = git_revision()
    info["threads"] = f"torch.set_num_threads({cfg.threads}) for in-process timings"
    info["ratios from"] = (
        "process CPU time (wall-time ratios in brackets): on a shared machine wall time "
        "mostly measures the other processes"
        if cfg.basis == "cpu"
        else "wall time (CPU-time ratios in brackets)"
    )
    info["mode"] = "quick (CI smoke: few repeats, small sizes)" if cfg.quick else "full"
    info["load average (1, 5, 15 min)"] = f"{load_start} at start, {load_average()} at end"
    info["run time"] = f"{wall:.0f} s"
    return info


if __name__ == "__main__":
    sys.exit(main())
