"""(2) Startup and check latency: cold `archspec check` processes against a cold torch import.

Each command is a fresh interpreter, timed from spawn to exit, in interleaved rounds after
one discarded warm-up run each (so every candidate reads its files from the page cache).
"""

from __future__ import annotations

import json

from .common import (
    BASIS,
    ROOT,
    SPECS,
    Config,
    Row,
    Section,
    Stats,
    Target,
    archspec_cmd,
    child_env,
    cold_cmd,
    describe_interpreter,
    import_profile,
    interpreter_torch,
    log,
    profile_process,
    ratio_of,
    run_timed,
)

TARGET_ALL = Target("<=", 0.3)
ONE_SPEC = ("resnet", "resnet50")  # a family file and the variant checked

FLOOR = "python -c pass"
TORCH = "python -c 'import torch'"
STARTUP = "archspec --version"
LIBS = "archspec's libraries alone"

#: Run in a child: a real one-spec `archspec check`, then the names of every module it loaded
#: that is not archspec's own (pydantic, yaml, typer, rich and what they pull in), on the
#: last line of stderr.
_LOADED = """
import runpy, sys
sys.argv = ["archspec", "check", "specs/lenet5.yaml"]
try:
    runpy.run_module("archspec", run_name="__main__")
except SystemExit:
    pass
others = sorted(m for m in sys.modules if m.partition(".")[0] != "archspec")
print(" ".join(others), file=sys.stderr)
"""

#: Run in a child: import each module named in argv (in the order a check loaded them does
#: not matter: each import pulls in its own dependencies first).
_IMPORT_ALL = """
import importlib, sys
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
    except Exception:  # a module only importable as a side effect of another (rare)
        pass
"""


#: Run in a child: one cold process checking every shipped spec as `archspec check specs/*.yaml`
#: does, with `time.process_time` around each stage; prints the stages' CPU seconds as JSON.
_PHASES = """
import dataclasses, glob, itertools, json, os, sys, time
os.chdir(sys.argv[1])
clock = time.process_time
out = {}
t = clock()
import archspec.cli
archspec.cli.app  # the commands loaded, as a command line loads them (the collector paused)
from archspec import api
from archspec.passes.pipeline import run
out["imports"] = clock() - t
t = clock()
files = sorted(glob.glob("specs/*.yaml"))
targets = [(f, v) for f in files for v in api.family_variants(f) or [None]]
out["variants"] = clock() - t
for key in ("parse", "lower", "passes", "warnings"):
    out[key] = 0.0
limit = api.DEFAULT_MAX_LAYERS
# as api._check does it, a family's variants inside one family_budget (one reading)
with api._gc_paused():
    for _, group in itertools.groupby(targets, key=lambda t: t[0]):
        with api.family_budget(limit):
            for path, variant in group:
                t0 = clock()
                parsed = api._parse(path, variant)
                t1 = clock()
                analysis = api._lowered(parsed, {}, limit, None)
                t2 = clock()
                run(dataclasses.replace(analysis, symbolic_rows=False)).check_result()
                t3 = clock()
                api.limit_warnings(analysis.graph)
                api.legacy_errors(*parsed, analysis.graph, {}, limit)
                out["parse"] += t1 - t0
                out["lower"] += t2 - t1
                out["passes"] += t3 - t2
                out["warnings"] += clock() - t3
out["specs"] = len(targets)
print(json.dumps(out))
"""

#: The stages of _PHASES, as the table names them.
_PHASE_NAMES = {
    "imports": "imports (`archspec.cli` and its commands)",
    "variants": "family variants (listing each family file's variants)",
    "parse": "read + compose + validate (YAML with positions, `use:`, `extends:`, pydantic)",
    "lower": "lowering (bind params, expand blocks, each layer's rule at the input; verify)",
    "passes": "passes (symbolic shapes, domain solving, declared shapes, window lint)",
    "warnings": "limit and legacy-layout warnings (W501/W502, older layouts a load builds)",
}


def phase_table(section: Section, env: dict[str, str], runs: int = 3) -> None:
    """Where a cold check of every spec spends its CPU, by stage (the run of `runs` with the
    lowest total): what a change to archspec's own code can win, stage by stage."""
    best: dict[str, float] | None = None
    for _ in range(runs):
        res = run_timed(cold_cmd("-c", _PHASES, str(ROOT)), timeout=300, env=env)
        if res.returncode != 0:
            section.notes.append(f"(phase breakdown failed: exit {res.returncode})")
            return
        got = json.loads(res.stdout.strip().splitlines()[-1])
        if best is None or sum(got[k] for k in _PHASE_NAMES) < sum(best[k] for k in _PHASE_NAMES):
            best = got
    assert best is not None
    total = sum(best[k] for k in _PHASE_NAMES)
    rows = [
        [name, f"{best[key] * 1000:.0f}", f"{best[key] / total:.0%}"]
        for key, name in _PHASE_NAMES.items()
    ]
    rows.append(["in all (one process, the interpreter's start aside)", f"{total * 1000:.0f}", ""])
    title = (
        f"Where a cold check of all {best['specs']:.0f} specs spends its CPU, by stage "
        f"(`time.process_time` around each, in one process, the lowest of {runs} runs)"
    )
    section.extra_tables.append((title, ["stage", "CPU ms", "share"], rows))


def libraries_cmd(env: dict[str, str]) -> list[str]:
    """A cold process importing exactly the modules other than archspec's own that
    `archspec check` loads: the share of a check's start-up that no change to archspec's code
    can remove while its dependencies are what they are (pydantic validates, typer and rich
    make the CLI, yaml reads)."""
    res = run_timed(cold_cmd("-c", _LOADED), timeout=300, env=env)
    lines = res.stderr.strip().splitlines()
    mods = lines[-1].split() if res.returncode == 0 and lines else []
    return cold_cmd("-c", _IMPORT_ALL, *(m for m in mods if m != "__main__"))


def spec_paths() -> list[str]:
    """Every built-in spec, as paths relative to the repository root."""
    return [f"specs/{p.name}" for p in sorted(SPECS.glob("*.yaml"))]


def commands(env: dict[str, str]) -> tuple[dict[str, list[str]], str, str]:
    """Label -> command, and the labels of the one-spec and all-specs checks.

    `archspec --version` is the CLI's start-up alone (interpreter and imports, no spec),
    which splits a check's time into start-up and work.
    """
    import archspec

    paths = spec_paths()
    one = f"archspec check specs/{ONE_SPEC[0]}.yaml --variant {ONE_SPEC[1]}"
    # a family file is checked variant by variant: count the specs, not the files (issue 14:
    # every shipped spec in one cold process, at most 0.3x a cold `import torch`)
    every = (
        f"check all shipped specs: archspec check specs/*.yaml "
        f"({len(archspec.builtin_index())} specs)"
    )
    cmds = {
        FLOOR: cold_cmd("-c", "pass"),
        TORCH: cold_cmd("-c", "import torch"),
        STARTUP: archspec_cmd("--version"),
        LIBS: libraries_cmd(env),
        one: archspec_cmd("check", f"specs/{ONE_SPEC[0]}.yaml", "--variant", ONE_SPEC[1]),
        every: archspec_cmd("check", *paths),
    }
    return cmds, one, every


#: Bytecode caches of every candidate, written by the warm-up runs: an installed package has
#: them (pip compiles on install), while the repository's editable checkout would otherwise
#: be compiled from source in every cold process (the children run with
#: PYTHONDONTWRITEBYTECODE so that nothing is written into the source tree).
PYCACHE = ROOT / "benchmarks" / "_work" / "pycache"


def cold_env() -> dict[str, str]:
    """The children's environment, with bytecode cached under PYCACHE for every module."""
    return child_env(PYTHONDONTWRITEBYTECODE="", PYTHONPYCACHEPREFIX=str(PYCACHE))


def run(cfg: Config) -> Section:
    """Time the cold processes and report check/import-torch ratios."""
    rounds = cfg.pick(5, 1)
    env = cold_env()
    cmds, one, every = commands(env)
    section = Section(
        key="startup",
        title="Startup and check latency",
        method=(
            f"Cold processes, {rounds} interleaved round(s) "
            "after one discarded warm-up run each (none in quick mode); wall time from spawn "
            "to exit, the child's own CPU time and peak RSS (wait4, through a small launcher "
            "process); ratio = median of the per-round ratios (CPU time unless "
            "`--basis wall`; the other in brackets). "
            f"Interpreter: {describe_interpreter(cfg.cold_python)} "
            f"(torch {interpreter_torch(cfg.cold_python)}). "
            "The CLI runs as `python -m archspec` (the console script's entry point); "
            "`archspec --version` is its start-up alone. Every process reads compiled "
            "bytecode (PYTHONPYCACHEPREFIX=benchmarks/_work/pycache, written by the warm-up "
            "runs), as an installed package would: torch's comes from its install, and "
            "without this the editable checkout of archspec is compiled in every run."
        ),
    )
    labels = list(cmds)
    if not cfg.quick:
        for label in labels:
            run_timed(cmds[label], timeout=300, env=env)
    walls: dict[str, list[float]] = {label: [] for label in labels}
    cpus: dict[str, list[float]] = {label: [] for label in labels}
    rss: dict[str, list[float]] = {label: [] for label in labels}
    failures: dict[str, str] = {}
    for r in range(rounds):
        log(f"startup: round {r + 1}/{rounds}")
        for k in range(len(labels)):
            label = labels[(r + k) % len(labels)]
            res = run_timed(cmds[label], timeout=300, env=env)
            if res.returncode != 0:
                tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
                failures[label] = f"ERROR: exit {res.returncode}: {tail[:120]}"
            walls[label].append(res.wall)
            cpus[label].append(res.cpu)
            rss[label].append(float(res.maxrss))
    for label in labels:
        section.rows.append(
            Row("cold process", label, Stats.of(walls[label]), status=failures.get(label, ""))
        )
    for label in labels:
        section.rows.append(Row("CPU time (user + system)", label, Stats.of(cpus[label])))
    for label in labels:
        section.rows.append(Row("peak RSS", label, Stats.of(rss[label]), unit="B"))
    for label, target in ((LIBS, None), (STARTUP, None), (one, None), (every, TARGET_ALL)):
        ratio = ratio_of(
            "cold process",
            f"{label.split(' (')[0]} / import torch",
            walls[label],
            walls[TORCH],
            target,
            cpus[label],
            cpus[TORCH],
        )
        ratio.status = failures.get(label, "")
        section.ratios.append(ratio)
    if section.ratios[-1].missed and cfg.extras(section, "profiles of the check miss"):
        basis = cpus if BASIS["name"] == "cpu" else walls
        explain_miss(section, cmds[every], basis, every)
    return section


def explain_miss(
    section: Section, cmd: list[str], times: dict[str, list[float]], label: str
) -> None:
    """Where the cold check's time goes: interpreter, CLI start-up (imports), the checks."""
    floor = Stats.of(times[FLOOR]).median
    libs = Stats.of(times[LIBS]).median
    startup = Stats.of(times[STARTUP]).median
    total = Stats.of(times[label]).median
    torch_med = Stats.of(times[TORCH]).median
    budget = TARGET_ALL.bound * torch_med
    kind = "CPU time" if BASIS["name"] == "cpu" else "wall time"
    section.notes.append(
        f"**{section.ratios[-1].verdict}** ({kind} medians): the cold check of all specs "
        f"takes {total:.3f} s "
        f"against a budget of {budget:.3f} s (0.3 x {torch_med:.3f} s), {total / budget:.2f}x "
        f"the budget. It splits into the bare interpreter ({floor:.3f} s, "
        f"`python -c pass`), the CLI's start-up beyond it ({startup - floor:.3f} s, "
        f"`archspec --version`: imports) and the checking itself ({total - startup:.3f} s). "
        f"The libraries a check loads besides archspec's own code (pydantic, yaml, typer, rich "
        f"and what they import) take {libs - floor:.3f} s beyond the bare interpreter, "
        f"{(libs - floor) / budget:.0%} of the budget before archspec runs a line. "
        "Profiles below."
    )
    env = cold_env()
    phase_table(section, env)
    section.profiles.append((f"imports of `{label}` (-X importtime)", import_profile(cmd, env=env)))
    section.profiles.append((f"`{label}` (cProfile, cold process)", profile_process(cmd, env=env)))
