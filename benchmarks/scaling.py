"""(4) Scaling: check, compile on meta and emit of synthetic specs of growing size.

Each (family, size) runs in three child processes of its own (`python -m benchmarks.scaling
FAMILY SIZE`) so that one slow size cannot stall the run past its timeout, caches do not
leak from one size into the next, and a child's peak RSS belongs to that size alone. Times
are medians of the repeated calls of all three, each after a warm-up on the smallest spec
of the family (one process alone swung a growth step over its line about every other run);
memory is the peak traced by tracemalloc over one more call (Python allocations; meta
tensors allocate none), the median of the three.

Growth is normalised to a 10x step in IR layers, (t1/t0) ** (1 / log10(L1/L0)), and
flagged above 11 (linear growth with some slack); nothing is asserted.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

from . import synth
from .common import (
    Config,
    Ratio,
    Section,
    Stats,
    Target,
    error_text,
    fmt_bytes,
    fmt_time,
    growth_per_10x,
    log,
    python_cmd,
    run_timed,
    summarise_stats,
)

TARGET = Target("<=", 11.0)
STAGES = ("check", "compile (meta)", "emit")
WORKER_TIMEOUT = 300.0
#: The expansion limit (`--max-layers`) for sizes the default refuses: 10x the default.
RAISED_MAX_LAYERS = 100_000
#: Stages slower than this (CPU seconds per call) are not traced for memory, to keep the
#: full run within its time budget.
TRACE_LIMIT_S = 5.0
#: Call counts are exact, but a fixed part (stem, head) makes them grow a little faster or
#: slower than the layers; above this a function is called per layer per layer somewhere.
CALL_GROWTH_FLAG = 15.0
#: Child processes per size, their calls pooled: one process's layout of the heap (and so
#: when its collector runs) moves its times by more than a step's margin over its line.
PROCESSES = 3


# -- the worker (runs in the child) -----------------------------------------------------------
def count_layers(graph: Any) -> int:
    """Layers in the IR: every node that is not itself a module of nodes (conv, bn, add...)."""
    stack = [graph.root]
    n = 0
    while stack:
        module = stack.pop()
        for node in module.nodes:
            if node.child is not None:
                stack.append(node.child)
            else:
                n += 1
    return n


def limit_kwargs(max_layers: int | None) -> dict[str, Any]:
    """archspec's expansion limit as API keywords: none when unset, so defaults apply."""
    return {} if max_layers is None else {"max_layers": max_layers}


def stage_functions(text: str, max_layers: int | None = None) -> dict[str, Callable[[], Any] | str]:
    """Each stage as a call on the public API, or why it is unavailable.

    `max_layers` is archspec's expansion limit (`--max-layers`), given only when set.
    """
    import archspec

    from .common import api_function

    kw = limit_kwargs(max_layers)

    def check() -> Any:
        result = archspec.check(text, **kw)
        if not result.ok:
            codes = sorted({d.code for d in result.diagnostics if d.severity.value == "error"})
            first = next(iter(result.diagnostics), None)
            raise RuntimeError(
                f"check failed: {', '.join(codes)}: {first.message if first else ''}"
            )
        return result

    out: dict[str, Callable[[], Any] | str] = {
        "check": check if api_function("check") else (lambda: archspec.build_graph(text, **kw)),
        "compile (meta)": lambda: archspec.compile(text, device="meta", **kw),
    }
    emit = api_function("emit")
    out["emit"] = (lambda: emit(text, **kw)) if emit else "n/a: archspec.emit is not available yet"
    return out


def refusal(text: str, max_layers: int | None = None) -> str | None:
    """The diagnostic archspec answers with when it refuses the spec outright (a limit)."""
    import archspec

    try:
        archspec.build_graph(text, **limit_kwargs(max_layers))
    except archspec.ArchSpecError as exc:
        d = exc.diagnostics[0] if exc.diagnostics else None
        return f"refused: {d.code}: {d.message}" if d else f"refused: {exc}"
    return None


class GcClock:
    """CPU seconds spent in Python's cyclic garbage collector while the block runs.

    The collector's full passes scan every live object, so their cost grows with the heap:
    this separates that (a property of CPython) from archspec's own algorithmic growth.
    """

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._start = time.process_time()
        else:
            self.seconds += time.process_time() - self._start

    def __enter__(self) -> GcClock:
        gc.callbacks.append(self._callback)
        return self

    def __exit__(self, *exc: object) -> None:
        gc.callbacks.remove(self._callback)


def measure(
    family: str, size: int, reps: int, budget_s: float, max_layers: int | None = None
) -> dict[str, Any]:
    """Time and trace each stage at one size; `max_layers` raises archspec's expansion limit
    (what a user with a network that large passes as `--max-layers`).

    Times are process CPU seconds (the stages are single-threaded), which leave out the
    waits for a core that make wall time noisy on a shared machine; walls are kept too.
    """
    import archspec

    smallest = synth.RESNET_DEPTHS[0] if family == "resnet" else synth.INCEPTION_BRANCHES[0]
    warm = stage_functions(synth.generate(family, smallest))
    for fn in warm.values():
        if callable(fn):
            fn()

    text = synth.generate(family, size)
    out: dict[str, Any] = {
        "family": family,
        "size": size,
        "yaml_bytes": len(text.encode()),
        "max_layers": max_layers,
        "stages": {},
    }
    refused = refusal(text, max_layers)
    if refused:
        out["refused"] = refused
        return out
    out["layers"] = count_layers(archspec.build_graph(text, **limit_kwargs(max_layers)))
    for stage, fn in stage_functions(text, max_layers).items():
        if not callable(fn):
            out["stages"][stage] = {"status": fn}
            continue
        try:
            times: list[float] = []
            walls: list[float] = []
            gcs: list[float] = []
            t_start = time.perf_counter()
            while len(times) < reps and (not times or time.perf_counter() - t_start < budget_s):
                with GcClock() as clock:
                    c0, t0 = time.process_time(), time.perf_counter()
                    fn()
                    walls.append(time.perf_counter() - t0)
                    times.append(time.process_time() - c0)
                gcs.append(clock.seconds)
            peak = None
            if min(times) <= TRACE_LIMIT_S:  # tracing makes a call about 3x slower
                tracemalloc.start()
                fn()
                peak = tracemalloc.get_traced_memory()[1]
                tracemalloc.stop()
        except Exception as exc:
            if tracemalloc.is_tracing():
                tracemalloc.stop()
            out["stages"][stage] = {"status": error_text(exc)}
            continue
        out["stages"][stage] = {"times": times, "walls": walls, "gc": gcs, "peak_traced": peak}
    return out


def profile_stage(
    family: str, size: int, stage: str, max_layers: int | None = None
) -> dict[str, Any]:
    """cProfile of one call of one stage at one size (after the same warm-up).

    Returns the text summary and, per function, (calls, self s, cumulative s) for the
    functions that matter (comparing two sizes then shows which of them grow too fast).
    """
    import cProfile
    import io
    import pstats

    smallest = synth.RESNET_DEPTHS[0] if family == "resnet" else synth.INCEPTION_BRANCHES[0]
    for warm in stage_functions(synth.generate(family, smallest)).values():
        if callable(warm):
            warm()
    import archspec

    text = synth.generate(family, size)
    layers = count_layers(archspec.build_graph(text, **limit_kwargs(max_layers)))
    fn = stage_functions(text, max_layers)[stage]
    if not callable(fn):
        return {"error": fn}
    prof = cProfile.Profile()
    with GcClock() as clock:
        prof.enable()
        fn()
        prof.disable()
    st = pstats.Stats(prof, stream=io.StringIO())
    raw: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    total = st.total_tt  # type: ignore[attr-defined]
    funcs = {
        f"{short_name(f)}:{line}({name})" if line else name: [nc, tt, ct]
        for (f, line, name), (_cc, nc, tt, ct, _callers) in raw.items()
        if ct > 0.002 * total or nc >= 1000
    }
    return {
        "layers": layers,
        "total": total,
        "gc": clock.seconds,
        "summary": summarise_stats(st),
        "funcs": funcs,
    }


def short_name(filename: str) -> str:
    from .common import _short

    return _short(filename) or filename


def compare_profiles(a: dict[str, Any], b: dict[str, Any], top: int = 10) -> str:
    """Which functions grow faster than the layers between two profiled sizes.

    Call counts do not depend on machine load, so a count that grows faster than the
    layers is an algorithmic cost (a loop over all nodes per node), not noise.
    """
    la, lb = a["layers"], b["layers"]
    scale = lb / la
    lines = [
        f"one profiled call at {la:,} and at {lb:,} IR layers (x{scale:.1f}): "
        f"{a['total']:.3f} s -> {b['total']:.3f} s "
        f"({growth_per_10x(la, lb, a['total'], b['total']):.1f}x per 10x layers); "
        f"garbage collector {a['gc']:.3f} s -> {b['gc']:.3f} s, without it "
        f"{growth_per_10x(la, lb, a['total'] - a['gc'], b['total'] - b['gc']):.1f}x per 10x"
    ]
    fa, fb = a["funcs"], b["funcs"]
    fast_calls = []
    for name, (nb, _tt, ct) in fb.items():
        na = fa.get(name, [0, 0, 0])[0]
        if na and nb >= 1000:
            g = growth_per_10x(la, lb, na, nb)
            if g > CALL_GROWTH_FLAG:
                fast_calls.append((nb, na, g, ct, name))
    lines.append(f"calls growing clearly faster than the layers (per 10x > {CALL_GROWTH_FLAG:g}):")
    if not fast_calls:
        lines.append(
            "  (none: every function's call count grows at most linearly, so no algorithm "
            "is super-linear here; extra time per call comes from memory effects such as "
            "caches and the garbage collector, or from noise)"
        )
    for nb, na, g, ct, name in sorted(fast_calls, key=lambda r: -r[3])[:top]:
        lines.append(f"  {na:>9,} -> {nb:>11,} calls ({g:6.1f}x per 10x)  {ct:7.3f}s  {name}")
    excess = []
    for name, (_nb, _tt, ct) in fb.items():
        if name.startswith("benchmarks/"):  # the harness's own frames
            continue
        ca = fa.get(name, [0, 0, 0])[2]
        excess.append((ct - ca * scale, ca, ct, name))
    lines.append("cumulative time beyond linear (t_b - t_a * layers_b / layers_a):")
    for ex, ca, ct, name in sorted(excess, key=lambda r: -r[0])[:top]:
        if ex <= 0:
            break
        lines.append(f"  {ex:7.3f}s  ({ca:.3f}s -> {ct:.3f}s)  {name}")
    lines.append("")
    lines.append(f"profile at {lb:,} layers:")
    lines.append(b["summary"])
    return "\n".join(lines)


def worker_main(argv: list[str] | None = None) -> int:
    """`python -m benchmarks.scaling FAMILY SIZE [--reps N] [--max-layers N]`, or
    `... FAMILY SIZE [SIZE...] --profile STAGE`: JSON on stdout."""
    p = argparse.ArgumentParser(prog="python -m benchmarks.scaling")
    p.add_argument("family", choices=sorted(synth.FAMILIES))
    p.add_argument("size", type=int, nargs="+", help="one size; several with --profile")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--budget", type=float, default=5.0, help="seconds of repeats per stage")
    p.add_argument("--max-layers", type=int, help="archspec's expansion limit (E310)")
    p.add_argument("--profile", choices=STAGES, help="print a profile of one stage instead")
    args = p.parse_args(argv)
    if args.profile:
        profiles = [profile_stage(args.family, n, args.profile, args.max_layers) for n in args.size]
        print(json.dumps(profiles))
        return 0
    if len(args.size) != 1:
        p.error("give one size (several only with --profile)")
    result = measure(args.family, args.size[0], args.reps, args.budget, args.max_layers)
    print(json.dumps(result))
    return 0


# -- the driver (runs in the benchmark process) -----------------------------------------------
def limit_args(max_layers: int | None) -> list[str]:
    return [] if max_layers is None else ["--max-layers", str(max_layers)]


def limit_label(r: dict[str, Any]) -> str:
    """How a result measured with a raised expansion limit is marked in the tables."""
    return f" (--max-layers {r['max_layers']:,})" if r.get("max_layers") else ""


def worker(
    cfg: Config, family: str, size: int, reps: int, max_layers: int | None = None
) -> dict[str, Any]:
    """One size's figures: pooled from `PROCESSES` child processes (full run), or measured
    in this process (quick mode)."""
    if cfg.quick:
        try:
            return measure(family, size, reps, budget_s=5.0, max_layers=max_layers)
        except Exception as exc:
            return {"family": family, "size": size, "error": error_text(exc), "stages": {}}
    return pooled([child(family, size, reps, max_layers) for _ in range(PROCESSES)])


def pooled(results: list[dict[str, Any]]) -> dict[str, Any]:
    """One size's children as one result: every call's times together (a median over all
    of them), the median traced peak and the largest child RSS; a child that failed, or a
    stage one child could not time, is the result as that child gave it."""
    first = results[0]
    for r in results:
        if "error" in r or "refused" in r:
            return r
    out = {**first, "stages": {}, "child_rss": max(r["child_rss"] for r in results)}
    for stage in first["stages"]:
        runs = [r["stages"].get(stage, {}) for r in results]
        if not all("times" in x for x in runs):
            out["stages"][stage] = next(x for x in runs if "times" not in x)
            continue
        peaks = [x["peak_traced"] for x in runs if x["peak_traced"]]
        out["stages"][stage] = {
            "times": [t for x in runs for t in x["times"]],
            "walls": [t for x in runs for t in x["walls"]],
            "gc": [t for x in runs for t in x["gc"]],
            "peak_traced": int(statistics.median(peaks)) if peaks else None,
        }
    return out


def child(family: str, size: int, reps: int, max_layers: int | None) -> dict[str, Any]:
    """One size measured in one fresh child process."""
    args = ["-m", "benchmarks.scaling", family, str(size), "--reps", str(reps)]
    res = run_timed(python_cmd(*args, *limit_args(max_layers)), timeout=WORKER_TIMEOUT)
    if res.timed_out:
        return {"family": family, "size": size, "error": f"timeout after {WORKER_TIMEOUT:.0f} s"}
    if res.returncode != 0:
        tail = (res.stderr.strip().splitlines() or ["?"])[-1]
        return {"family": family, "size": size, "error": f"ERROR: worker exit: {tail[:150]}"}
    out = json.loads(res.stdout.strip().splitlines()[-1])
    out["child_rss"] = res.maxrss
    return out


def profile_children(
    family: str, sizes: list[int], stage: str, max_layers: int | None
) -> list[dict[str, Any]]:
    """`profile_stage` at each size, in one fresh child process."""
    args = ["-m", "benchmarks.scaling", family, *map(str, sizes), "--profile", stage]
    res = run_timed(python_cmd(*args, *limit_args(max_layers)), timeout=WORKER_TIMEOUT)
    try:
        return list(json.loads(res.stdout.strip().splitlines()[-1]))
    except (IndexError, ValueError):
        why = f"profile failed (exit {res.returncode}): {res.stderr.strip()[-300:]}"
        return [{"error": why}]


def size_label(r: dict[str, Any]) -> str:
    unit = "depth" if r["family"] == "resnet" else "branches"
    return f"{r['family']} {unit} {r['size']:,}{limit_label(r)}"


def run(cfg: Config) -> Section:
    """Every size of both families, the growth per 10x layers, and profiles of flagged steps."""
    families = {
        "resnet": cfg.pick(synth.RESNET_DEPTHS, synth.RESNET_DEPTHS[:2]),
        "inception": cfg.pick(synth.INCEPTION_BRANCHES, synth.INCEPTION_BRANCHES[:2]),
    }
    reps = cfg.pick(3, 2)
    section = Section(
        key="scaling",
        title="Scaling",
        method=(
            "Synthetic specs from `benchmarks/synth.py` (every block written out in the YAML; "
            "ResNet-like: BasicBlocks of conv-bn-relu-conv-bn + add, a projection every 10 "
            "blocks; Inception-like: 4 blocks of N parallel conv branches joined by concat). "
            "Stages through the public API: `archspec.check(text)` (load, validate, lower, "
            "shape pass), `archspec.compile(text, device='meta')`, `archspec.emit(text)`. "
            "Times are process CPU time (the stages are single-threaded; CPU time leaves out "
            "waiting for a core on a shared machine). "
            f"Each size in {PROCESSES} child processes of its own, their calls pooled ("
            + ("in-process in quick mode; " if cfg.quick else "")
            + f"up to {reps} calls or 5 s per stage in each, after a warm-up on the smallest "
            "size; the median is over every call); peak memory is tracemalloc's peak over one "
            "more call, the median of the processes' (skipped when a call takes over "
            f"{TRACE_LIMIT_S:.0f} s); 'child RSS' is the whole child "
            "(interpreter, torch and all). Growth per 10x = (t1/t0) ** (1/log10(L1/L0)) over "
            "IR layers L (conv, bn, relu, add... counted in the IR), over each 10x step of "
            "the ResNet-like family and over 4x steps (2→8, 8→32, 16→64) of the "
            "Inception-like one; flagged above 11. It is also given without the time spent "
            "in CPython's garbage collector, whose full passes grow with the heap. "
            "A flagged step is profiled at both of its "
            "sizes (the smallest flagged step of each family and stage; one call each, "
            "cProfile) to name the functions whose call counts or "
            "times grow faster than the layers."
        ),
    )
    header = [
        "size",
        "IR layers",
        "YAML",
        "stage",
        "median CPU time",
        "min .. max",
        "n",
        "median wall",
        "of which GC",
        "peak traced",
    ]
    table: list[list[str]] = []
    results: dict[str, list[dict[str, Any]]] = {}
    for family, sizes in families.items():
        results[family] = []
        for size in sizes:
            log(f"scaling: {family} {size}")
            r = worker(cfg, family, size, reps)
            if "refused" in r and not cfg.quick:
                # The default expansion bound (E310) is the hostile-input guard; a user with
                # a network this large raises it, and so does the benchmark.
                add_rows(table, r)
                section.ratios.append(
                    Ratio(
                        size_label(r),
                        "default expansion limit",
                        None,
                        status=f"n/a: {r['refused']}; measured with --max-layers "
                        f"{RAISED_MAX_LAYERS:,}",
                    )
                )
                log(f"scaling: {family} {size} again with --max-layers {RAISED_MAX_LAYERS:,}")
                r = worker(cfg, family, size, reps, max_layers=RAISED_MAX_LAYERS)
            results[family].append(r)
            add_rows(table, r)
    section.extra_tables.append(("Time and memory per size", header, table))
    flagged: dict[tuple[str, str], tuple[float, dict[str, Any], dict[str, Any]]] = {}
    for family, rs in results.items():
        for a, b in growth_steps(family, [r for r in rs if "layers" in r]):
            for stage in STAGES:
                sa, sb = a["stages"].get(stage, {}), b["stages"].get(stage, {})
                case = f"{size_label(a)} → {b['size']:,}{limit_label(b)}"
                if "times" not in sa or "times" not in sb:
                    why = sb.get("status") or sa.get("status") or "n/a"
                    section.ratios.append(Ratio(case, f"{stage}: time per 10x", None, status=why))
                    continue
                ta, tb = Stats.of(sa["times"]).median, Stats.of(sb["times"]).median
                g = growth_per_10x(a["layers"], b["layers"], ta, tb)
                ga, gb = Stats.of(sa["gc"]).median, Stats.of(sb["gc"]).median
                g_nogc = growth_per_10x(a["layers"], b["layers"], ta - ga, tb - gb)
                pa, pb = sa["peak_traced"], sb["peak_traced"]
                gm = growth_per_10x(a["layers"], b["layers"], pa, pb) if pa and pb else math.nan
                rt = Ratio(
                    case,
                    f"{stage}: time per 10x",
                    g,
                    target=TARGET,
                    note=f"{fmt_time(ta)} → {fmt_time(tb)}; without GC {g_nogc:.1f}",
                )
                rm = Ratio(
                    case,
                    f"{stage}: memory per 10x",
                    gm,
                    target=TARGET,
                    note=f"{fmt_bytes(pa)} → {fmt_bytes(pb)}" if pa and pb else "not traced",
                )
                section.ratios += [rt, rm]
                if (rt.missed or rm.missed) and (family, stage) not in flagged:
                    flagged[(family, stage)] = (max(g, gm), a, b)
    for (family, stage), (_g, a, b) in flagged.items():
        if not cfg.extras(section, f"profile of {stage} ({family})"):
            continue
        log(f"scaling: profiling {stage} at {size_label(a)} and {size_label(b)}")
        profiles = profile_children(family, [a["size"], b["size"]], stage, b.get("max_layers"))
        bad = [p["error"] for p in profiles if "error" in p]
        text = bad[0] if bad else compare_profiles(profiles[0], profiles[1])
        section.profiles.append((f"{stage}, {size_label(a)} vs {size_label(b)}", text))
    return section


#: Inception sizes double; growth is taken over 4x steps, where noise weighs less once
#: normalised to 10x, ending at the largest size.
INCEPTION_STEPS = ((2, 8), (8, 32), (16, 64))


def growth_steps(
    family: str, ok: list[dict[str, Any]]
) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """The (smaller, larger) size pairs whose growth is reported."""
    by_size = {r["size"]: r for r in ok}
    if family == "inception" and all(a in by_size and b in by_size for a, b in INCEPTION_STEPS):
        return [(by_size[a], by_size[b]) for a, b in INCEPTION_STEPS]
    return list(itertools.pairwise(ok))


def add_rows(table: list[list[str]], r: dict[str, Any]) -> None:
    """The table rows of one size: one per stage."""
    label = size_label(r)
    if "error" in r:
        table.append([label, "-", "-", "all", r["error"], "", "", "", "", ""])
        return
    if "refused" in r:
        table.append(
            [label, "-", fmt_bytes(r["yaml_bytes"]), "all", r["refused"], "", "", "", "", ""]
        )
        return
    rss = f" (child RSS {fmt_bytes(r['child_rss'])})" if "child_rss" in r else ""
    for stage in STAGES:
        s = r["stages"].get(stage, {})
        if "times" not in s:
            cells = [s.get("status", "n/a"), "", "", "", "", ""]
        else:
            st = Stats.of(s["times"])
            spread = f"{fmt_time(st.min)} .. {fmt_time(st.max)}" if st.n > 1 else ""
            wall = fmt_time(Stats.of(s["walls"]).median)
            peak = fmt_bytes(s["peak_traced"]) if s["peak_traced"] else "not traced"
            gc_s = fmt_time(Stats.of(s["gc"]).median)
            cells = [fmt_time(st.median), spread, str(st.n), wall, gc_s, peak]
        table.append(
            [
                label + (rss if stage == STAGES[0] else ""),
                f"{r['layers']:,}",
                fmt_bytes(r["yaml_bytes"]),
                stage,
                *cells,
            ]
        )


if __name__ == "__main__":
    sys.exit(worker_main())
