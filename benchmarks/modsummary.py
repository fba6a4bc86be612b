"""(6) Summary of a plain PyTorch module: `archspec.summary` against torchinfo's `summary`.

Both summarise the same hand-written ResNet-50 (benchmarks/twins.py, no torchvision) at
1x3x224x224, each in a cold child process that imports torch, builds the module and prints
the summary. archspec builds it on the meta device (its summary needs no weights);
torchinfo needs real weights and runs a real forward. torchinfo is not a dependency: without
it in the cold interpreter the section says so and measures archspec alone.

Two floors give context: `import torch` and building the module (real, and on meta), so the
summaries' own cost can be read above what any summary of this module pays.
"""

from __future__ import annotations

from .common import (
    Config,
    Ratio,
    Row,
    Section,
    Stats,
    Target,
    cold_cmd,
    describe_interpreter,
    interpreter_torch,
    log,
    ratio_of,
    run_timed,
)

TARGET_CPU = Target("<=", 0.5)
TARGET_RSS = Target("<=", 0.25)
SIZE = (1, 3, 224, 224)
PARAMS = "25,557,032"  # both tools print ResNet-50's count
MACS = "4,089,184,256"

_BUILD = "import torch\nfrom benchmarks.twins import ResNet50\n"
ARCHSPEC = "archspec.summary(module on meta)"
TORCHINFO = "torchinfo.summary(module)"
FLOOR_REAL = "import torch + build (real weights)"
FLOOR_META = "import torch + build (meta)"
CODE = {
    ARCHSPEC: _BUILD + "import archspec\nwith torch.device('meta'):\n    m = ResNet50()\n"
    f"print(archspec.summary(m, input_size={SIZE}))\n",
    TORCHINFO: _BUILD + "import torchinfo\nm = ResNet50()\n"
    f"print(torchinfo.summary(m, input_size={SIZE}, verbose=0))\n",
    FLOOR_REAL: _BUILD + "m = ResNet50()\n",
    FLOOR_META: _BUILD + "with torch.device('meta'):\n    m = ResNet50()\n",
}


def has_torchinfo(python: str) -> bool:
    return run_timed([python, "-c", "import torchinfo"], timeout=120).returncode == 0


def run(cfg: Config) -> Section:
    """Cold processes in interleaved rounds; CPU-time and peak-RSS ratios to torchinfo."""
    rounds = cfg.pick(5, 1)
    python = cfg.cold_python
    torchinfo = has_torchinfo(python)
    labels = [ARCHSPEC, TORCHINFO, FLOOR_REAL, FLOOR_META] if torchinfo else [ARCHSPEC]
    section = Section(
        key="modsummary",
        title="Summary of a plain PyTorch module against torchinfo",
        method=(
            "A hand-written ResNet-50 (`benchmarks/twins.py`, torchvision's module names, no "
            f"torchvision) summarised at {SIZE} in cold child processes, {rounds} interleaved "
            "round(s) after one discarded warm-up each (none in quick mode): "
            "`archspec.summary(m, input_size=...)` with the module built on the meta device "
            "and the table printed, against `torchinfo.summary(m, input_size=..., verbose=0)` "
            "on the module with real weights (torchinfo runs a real forward), its table "
            "printed. CPU time (user + system) and peak RSS are the child's own (wait4); "
            "ratio = median of the per-round ratios. Floors: `import torch` and building the "
            "module. Interpreter: "
            f"{describe_interpreter(python)} (torch {interpreter_torch(python)})."
        ),
    )
    if not torchinfo:
        section.rows.append(
            Row("cold process", TORCHINFO, None, status="skipped: torchinfo not installed")
        )
    cmds = {label: cold_cmd("-c", CODE[label]) for label in labels}
    if not cfg.quick:
        for label in labels:
            run_timed(cmds[label], timeout=300)
    cpus: dict[str, list[float]] = {label: [] for label in labels}
    walls: dict[str, list[float]] = {label: [] for label in labels}
    rss: dict[str, list[float]] = {label: [] for label in labels}
    failures: dict[str, str] = {}
    for r in range(rounds):
        log(f"modsummary: round {r + 1}/{rounds}")
        for k in range(len(labels)):
            label = labels[(r + k) % len(labels)]
            res = run_timed(cmds[label], timeout=300)
            if res.returncode != 0:
                tail = (res.stderr.strip().splitlines() or ["(no output)"])[-1]
                failures[label] = f"ERROR: exit {res.returncode}: {tail[:120]}"
            elif label in (ARCHSPEC, TORCHINFO) and PARAMS not in res.stdout:
                failures[label] = f"ERROR: the output does not show {PARAMS} parameters"
            elif label == ARCHSPEC and MACS not in res.stdout:
                failures[label] = f"ERROR: the output does not show {MACS} MACs"
            cpus[label].append(res.cpu)
            walls[label].append(res.wall)
            rss[label].append(float(res.maxrss))
    for what, values, unit in (
        ("CPU time (user + system)", cpus, "s"),
        ("peak RSS", rss, "B"),
        ("cold process (wall)", walls, "s"),
    ):
        for label in labels:
            section.rows.append(
                Row(what, label, Stats.of(values[label]), unit=unit, status=failures.get(label, ""))
            )
    if not torchinfo:
        section.ratios.append(
            Ratio(
                "cold process",
                f"{ARCHSPEC} / {TORCHINFO}",
                None,
                target=TARGET_CPU,
                status="skipped: torchinfo not installed",
            )
        )
        return section
    cpu = ratio_of(
        "cold process",
        "archspec / torchinfo CPU time",
        walls[ARCHSPEC],
        walls[TORCHINFO],
        TARGET_CPU,
        cpus[ARCHSPEC],
        cpus[TORCHINFO],
    )
    cpu.status = failures.get(ARCHSPEC, "") or failures.get(TORCHINFO, "")
    mem = Ratio(
        "cold process",
        "archspec / torchinfo peak RSS",
        Stats.of(rss[ARCHSPEC]).median / Stats.of(rss[TORCHINFO]).median,
        target=TARGET_RSS,
        status=cpu.status,
    )
    section.ratios += [cpu, mem]
    med = {label: Stats.of(cpus[label]).median for label in labels}
    peak = {label: Stats.of(rss[label]).median / (1 << 20) for label in labels}
    section.notes.append(
        "Above the floors (CPU-time and peak-RSS medians): archspec "
        f"{med[ARCHSPEC] - med[FLOOR_META]:.2f} s and {peak[ARCHSPEC] - peak[FLOOR_META]:.0f} "
        f"MiB over `{FLOOR_META}` ({med[FLOOR_META]:.2f} s, {peak[FLOOR_META]:.0f} MiB); "
        f"torchinfo {med[TORCHINFO] - med[FLOOR_REAL]:.2f} s and "
        f"{peak[TORCHINFO] - peak[FLOOR_REAL]:.0f} MiB over `{FLOOR_REAL}` "
        f"({med[FLOOR_REAL]:.2f} s, {peak[FLOOR_REAL]:.0f} MiB). Part of archspec's share is "
        "torch's: its meta kernels (batch norm, addmm) are Python reference code that "
        "imports torch._dynamo on first use (about 1.3 s of CPU and 70 MiB on torch 2.13)."
    )
    return section
