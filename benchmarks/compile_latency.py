"""(3) Compile latency: spec -> nn.Module against constructing the hand-written twin, and
spec -> module on the meta device against parsing alone.

Both sides build on the CPU with their own (identical) init rules, timed in interleaved
rounds in one warm process; the first compile of a fresh process is measured separately,
in child processes, because it also pays for lazy imports and forward code generation.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from .common import (
    BASIS,
    ROOT,
    Config,
    Ratio,
    Row,
    Section,
    Stats,
    Target,
    cumulative_share,
    error_text,
    fmt_time,
    interleave,
    log,
    median_ci,
    profile_call,
    profile_stats,
    python_cmd,
    ratio_of,
    run_timed,
    summarise_stats,
)

TARGET = Target("<=", 1.1)
#: "a few milliseconds beyond parsing"
META_TARGET = Target("<=", 5.0, "<= 5 ms")

FULL_MODELS = (
    "lenet5",
    "resnet18",
    "resnet50",
    "googlenet",
    "mobilenet_v2",
    "efficientnet_b0",
    "convnext_tiny",
)
#: The first build in a fresh process costs a cold torch import per sample: one model only.
FIRST_CALL_MODEL = "resnet18"
QUICK_MODELS = ("lenet5",)
META_SPECS_FULL = ("vgg16", "resnet50")
META_SPECS_QUICK = ("vgg16",)

_FIRST_CALL = """
import json, sys, time
import torch
import archspec
{extra_import}
t0 = time.perf_counter()
{build}
t1 = time.perf_counter()
print(json.dumps(t1 - t0))
"""


def spec_path(name: str) -> str:
    """The spec's file, or its built-in name when it is a variant of a family file."""
    path = f"specs/{name}.yaml"
    return path if (ROOT / path).is_file() else name


def run(cfg: Config) -> Section:
    """Warm and first-call compile latency against the twins, and meta-device compile."""
    import torch

    torch.set_num_threads(cfg.threads)
    section = Section(
        key="compile",
        title="Compile latency",
        method=(
            "Warm: in one process, `archspec.compile('specs/<name>.yaml')` (read, validate, "
            "lower, build, init) and the twin's constructor (torchvision with weights=None, "
            "or the hand-written LeNet-5), both on the CPU with the same init rules, in "
            "interleaved rounds after two warm-up builds; ratio = median of per-round "
            "ratios with a 95% CI (CPU time unless `--basis wall`; the other in brackets; "
            "rows show wall time, CPU time in brackets). "
            f"torch.set_num_threads({cfg.threads}). First call: a child process "
            f"imports torch, archspec (and torchvision) and times one build ({FIRST_CALL_MODEL}, "
            "3 processes each). Meta: "
            "`archspec.compile(path, device='meta')` against `archspec.build_graph(path)` "
            "(parsing: read, validate, lower), interleaved; 'beyond parsing' is the "
            "median of the per-round differences."
        ),
    )
    import archspec

    from .twins import twin

    for name in cfg.pick(FULL_MODELS, QUICK_MODELS):
        log(f"compile: {name}")
        found = twin(name)
        if found is None:
            section.rows.append(
                Row(name, "twin", None, status="n/a: torchvision is not importable")
            )
            continue
        label, make = found
        path = spec_path(name)
        calls: dict[str, Callable[[], Any]] = {
            "archspec.compile": lambda p=path: archspec.compile(p),
            label: make,
        }
        cpu: dict[str, list[float]] = {}
        try:
            times = interleave(calls, cfg.pick(15, 2), sample_s=0.0, warmup=cfg.pick(2, 1), cpu=cpu)
        except Exception as exc:
            section.rows.append(Row(name, "archspec.compile", None, status=error_text(exc)))
            continue
        for cand, series in times.items():
            used = fmt_time(Stats.of(cpu[cand]).median)
            section.rows.append(Row(name, f"{cand} (warm)", Stats.of(series), note=f"CPU {used}"))
        # The target is against torchvision; LeNet-5's hand-written twin is for scale only.
        target = TARGET if label == "torchvision" else None
        ratio = ratio_of(
            name,
            f"compile / {label} (warm)",
            times["archspec.compile"],
            times[label],
            target,
            cpu["archspec.compile"],
            cpu[label],
        )
        section.ratios.append(ratio)
        if name == FIRST_CALL_MODEL and cfg.extras(section, f"{name} first-call builds"):
            first_call(section, name, label)
        if ratio.missed and cfg.extras(section, f"profiles of the {name} miss"):
            basis = cpu if BASIS["name"] == "cpu" else times
            explain_miss(section, name, path, make, basis, label, ratio)

    for name in cfg.pick(META_SPECS_FULL, META_SPECS_QUICK):
        log(f"compile: {name} on meta")
        meta(section, name, cfg)
    return section


def first_call(section: Section, name: str, label: str) -> None:
    """The first build in a fresh process (after imports), for both sides, 3 processes each."""
    tv = label == "torchvision"
    builds = {
        "archspec.compile": f"archspec.compile({spec_path(name)!r})",
        label: f"torchvision.models.{name}(weights=None)"
        if tv
        else "from benchmarks.twins import LeNet5; LeNet5()",
    }
    times: dict[str, list[float]] = {k: [] for k in builds}
    for _ in range(3):
        for cand, build in builds.items():
            code = _FIRST_CALL.format(extra_import="import torchvision" if tv else "", build=build)
            res = run_timed(python_cmd("-c", code), timeout=300)
            if res.returncode != 0:
                section.rows.append(
                    Row(name, f"{cand} (first call)", None, status=f"ERROR: {res.stderr[-200:]}")
                )
                return
            times[cand].append(json.loads(res.stdout.strip().splitlines()[-1]))
    for cand, series in times.items():
        section.rows.append(Row(name, f"{cand} (first call)", Stats.of(series)))
    a = Stats.of(times["archspec.compile"]).median
    b = Stats.of(times[label]).median
    section.ratios.append(
        Ratio(name, f"compile / {label} (first call in a process)", a / b, note="medians")
    )


def meta(section: Section, name: str, cfg: Config) -> None:
    """Meta-device compile against parsing alone; the difference is the module building."""
    import torch

    import archspec

    from .twins import constructors_only, twin

    path = spec_path(name)
    calls: dict[str, Callable[[], Any]] = {
        "archspec.build_graph": lambda: archspec.build_graph(path),
        "archspec.compile(device='meta')": lambda: archspec.compile(path, device="meta"),
    }
    found = twin(name)
    if found is not None:  # context: the twin's own constructor on meta
        label, make = found

        def make_on_meta() -> Any:
            with torch.device("meta"):
                return make()

        calls[f"{label} on meta"] = make_on_meta
    floor = constructors_only(name)
    floor_key = None
    if floor is not None:  # torch's floor: the same modules, constructors only
        floor_label, make_floor = floor
        floor_key = f"{floor_label} on meta"

        def floor_on_meta() -> Any:
            with torch.device("meta"):
                return make_floor()

        calls[floor_key] = floor_on_meta
    cpu: dict[str, list[float]] = {}
    try:
        walls = interleave(calls, cfg.pick(15, 3), sample_s=cfg.pick(0.1, 0.0), warmup=2, cpu=cpu)
    except Exception as exc:
        section.rows.append(Row(name, "meta", None, status=error_text(exc)))
        return
    for cand, series in walls.items():
        used = fmt_time(Stats.of(cpu[cand]).median)
        section.rows.append(Row(f"{name} (meta)", cand, Stats.of(series), note=f"CPU {used}"))
    times = cpu if BASIS["name"] == "cpu" else walls
    compile_s = times["archspec.compile(device='meta')"]
    parse_s = times["archspec.build_graph"]
    diffs = Stats.of([1e3 * (c - p) for c, p in zip(compile_s, parse_s)])
    beyond = diffs.median / 1e3
    ratio = Ratio(
        f"{name} (meta)",
        f"compile(device='meta') minus build_graph, ms of {BASIS['name']} time",
        diffs.median,
        (diffs.q1, diffs.q3),
        META_TARGET if name == "vgg16" else None,
        ci=median_ci(diffs.values),
    )
    section.ratios.append(ratio)
    if floor_key is not None:
        own = Stats.of([1e3 * (c - p - f) for c, p, f in zip(compile_s, parse_s, times[floor_key])])
        section.ratios.append(
            Ratio(
                f"{name} (meta)",
                f"the same minus torch's own constructors ({floor_key}), ms",
                own.median,
                (own.q1, own.q3),
                ci=median_ci(own.values),
            )
        )
    if ratio.missed and cfg.extras(section, f"profile of the {name} meta miss"):
        twin_note = ""
        if floor_key is not None:
            floor_s = Stats.of(times[floor_key]).median
            own = (
                f"about {fmt_time(beyond - floor_s)}"
                if beyond > floor_s
                else "nothing measurable (the difference is within noise)"
            )
            twin_note = (
                f" Torch alone needs {fmt_time(floor_s)} to construct the same modules on "
                f"meta ({floor_key}), so archspec's own share of the time beyond parsing is "
                f"{own}"
                + (
                    "; the target is below torch's floor."
                    if floor_s >= META_TARGET.bound / 1e3
                    else "."
                )
            )
        stats = profile_stats(lambda: archspec.compile(path, device="meta"), repeat=20)
        section.notes.append(
            f"**{name} on meta: {ratio.verdict}**, {fmt_time(beyond)} beyond parsing against "
            f"{META_TARGET} ({beyond * 1e3 / META_TARGET.bound:.1f}x).{twin_note} In the "
            f"profile of 20 meta compiles below, `build_module` (the backend and the torch "
            f"constructors it calls) takes {100 * cumulative_share(stats, 'build_module'):.0f}% "
            f"and `build_graph` (parsing) {100 * cumulative_share(stats, 'build_graph'):.0f}%."
        )
        section.profiles.append(
            (f"{name}: archspec.compile(device='meta') x20", summarise_stats(stats))
        )


def explain_miss(
    section: Section,
    name: str,
    path: str,
    make: Callable[[], Any],
    times: dict[str, list[float]],
    label: str,
    ratio: Ratio,
) -> None:
    """Split the compile into parsing and building, and profile both sides."""
    import archspec

    assert ratio.value is not None
    parse_cpu: dict[str, list[float]] = {}
    parse_wall = interleave(
        {"p": lambda: archspec.build_graph(path)}, 7, sample_s=0.0, cpu=parse_cpu
    )
    parse = Stats.of((parse_cpu if BASIS["name"] == "cpu" else parse_wall)["p"]).median
    ours = Stats.of(times["archspec.compile"]).median
    theirs = Stats.of(times[label]).median
    ci = f", 95% CI {ratio.ci[0]:.3f} .. {ratio.ci[1]:.3f}" if ratio.ci else ""
    section.notes.append(
        f"**{name}: {ratio.verdict}**, compile / {label} = {ratio.value:.3f}{ci} (target "
        f"{TARGET}); {BASIS['name']} medians {fmt_time(ours)} against {fmt_time(theirs)}. "
        "Parsing alone "
        f"(`build_graph`: read, validate, lower; the twin has none) takes {fmt_time(parse)}, "
        f"{100 * parse / theirs:.0f}% of the twin's build: with building and init exactly as "
        f"fast as the twin's, the ratio would still be {1 + parse / theirs:.3f}."
    )
    section.profiles.append(
        (f"{name}: archspec.compile x3", profile_call(lambda: archspec.compile(path), repeat=3))
    )
    section.profiles.append(
        (
            f"{name}: parsing alone, archspec.build_graph x10",
            profile_call(lambda: archspec.build_graph(path), repeat=10),
        )
    )
    section.profiles.append((f"{name}: {label} constructor x3", profile_call(make, repeat=3)))
