"""(6) Summary of a plain PyTorch module: `archspec.summary` against torchinfo's `summary`.

Both summarise the same hand-written ResNet-50 (benchmarks/twins.py, no torchvision) at
batch 1 and 16 (3x224x224), each in a cold child process that imports torch, builds the
module and prints the summary. archspec builds it on the meta device (its summary needs no
weights); torchinfo needs real weights and runs a real forward. torchinfo is not a
dependency: without it in the cold interpreter the section says so and measures archspec
alone.

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
#: Batches summarised: the issue's case (1), and one where torchinfo's real forward grows.
BATCHES = (1, 16)
PARAMS = "25,557,032"  # both tools print ResNet-50's count
MACS = {1: "4,089,184,256", 16: "65,426,948,096"}

_BUILD = "import torch\nfrom benchmarks.twins import ResNet50\n"
FLOOR_REAL = "import torch + build (real weights)"
FLOOR_META = "import torch + build (meta)"


def archspec_label(batch: int) -> str:
    return f"archspec.summary(module on meta) b{batch}"


def torchinfo_label(batch: int) -> str:
    return f"torchinfo.summary(module) b{batch}"


def code(label: str) -> str:
    """The child's program for a candidate."""
    if label == FLOOR_REAL:
        return _BUILD + "m = ResNet50()\n"
    if label == FLOOR_META:
        return _BUILD + "with torch.device('meta'):\n    m = ResNet50()\n"
    size = (int(label.rsplit(" b", 1)[1]), 3, 224, 224)
    if label.startswith("archspec"):
        return (
            _BUILD + "import archspec\nwith torch.device('meta'):\n    m = ResNet50()\n"
            f"print(archspec.summary(m, input_size={size}))\n"
        )
    return (
        _BUILD + "import torchinfo\nm = ResNet50()\n"
        f"print(torchinfo.summary(m, input_size={size}, verbose=0))\n"
    )


def _floor_ratios(
    b: int, cpus: dict[str, list[float]], rss: dict[str, list[float]], walls: dict[str, list[float]]
) -> list[Ratio]:
    """No target: the floor's share of torchinfo's figures (what no summary that imports torch
    and builds the module can go under), and each tool's own work above its floor compared."""
    mine, theirs = archspec_label(b), torchinfo_label(b)
    floor_cpu = ratio_of(
        f"cold process b{b}",
        f"floor: `{FLOOR_META}` / torchinfo CPU time",
        walls[FLOOR_META],
        walls[theirs],
        None,
        cpus[FLOOR_META],
        cpus[theirs],
    )
    peak = {label: Stats.of(v).median for label, v in rss.items()}
    floor_rss = Ratio(
        f"cold process b{b}",
        f"floor: `{FLOOR_META}` / torchinfo peak RSS",
        peak[FLOOR_META] / peak[theirs],
    )
    cpu = {label: Stats.of(v).median for label, v in cpus.items()}
    theirs_cpu = cpu[theirs] - cpu[FLOOR_REAL]
    work_cpu = Ratio(
        f"cold process b{b}",
        "above the floors: archspec's CPU time over its floor (meta build) / torchinfo's over "
        "its floor (real build) (medians)",
        (cpu[mine] - cpu[FLOOR_META]) / theirs_cpu if theirs_cpu > 0 else None,
    )
    theirs_rss = peak[theirs] - peak[FLOOR_REAL]
    work_rss = Ratio(
        f"cold process b{b}",
        "above the floors: archspec's peak RSS over its floor / torchinfo's over its floor "
        "(medians)",
        (peak[mine] - peak[FLOOR_META]) / theirs_rss if theirs_rss > 0 else None,
    )
    return [floor_cpu, floor_rss, work_cpu, work_rss]


def has_torchinfo(python: str) -> bool:
    return run_timed([python, "-c", "import torchinfo"], timeout=120).returncode == 0


def run(cfg: Config) -> Section:
    """Cold processes in interleaved rounds; CPU-time and peak-RSS ratios to torchinfo."""
    rounds = cfg.pick(5, 1)
    batches = cfg.pick(BATCHES, BATCHES[:1])
    python = cfg.cold_python
    torchinfo = has_torchinfo(python)
    labels = [archspec_label(b) for b in batches]
    if torchinfo:
        labels += [torchinfo_label(b) for b in batches] + [FLOOR_REAL, FLOOR_META]
    section = Section(
        key="modsummary",
        title="Summary of a plain PyTorch module against torchinfo",
        method=(
            "A hand-written ResNet-50 (`benchmarks/twins.py`, torchvision's module names, no "
            f"torchvision) summarised at batch {' and '.join(map(str, batches))} (3x224x224) "
            f"in cold child processes, {rounds} interleaved "
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
            Row(
                "cold process",
                "torchinfo.summary(module)",
                None,
                status="skipped: torchinfo not installed",
            )
        )
    cmds = {label: cold_cmd("-c", code(label)) for label in labels}
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
            elif label not in (FLOOR_REAL, FLOOR_META) and PARAMS not in res.stdout:
                failures[label] = f"ERROR: the output does not show {PARAMS} parameters"
            elif label.startswith("archspec"):
                macs = MACS[int(label.rsplit(" b", 1)[1])]
                if macs not in res.stdout:
                    failures[label] = f"ERROR: the output does not show {macs} MACs"
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
                "archspec / torchinfo CPU time",
                None,
                target=TARGET_CPU,
                status="skipped: torchinfo not installed",
            )
        )
        return section
    for b in batches:
        mine, theirs = archspec_label(b), torchinfo_label(b)
        cpu = ratio_of(
            f"cold process b{b}",
            "archspec / torchinfo CPU time",
            walls[mine],
            walls[theirs],
            TARGET_CPU,
            cpus[mine],
            cpus[theirs],
        )
        cpu.status = failures.get(mine, "") or failures.get(theirs, "")
        mem = Ratio(
            f"cold process b{b}",
            "archspec / torchinfo peak RSS",
            Stats.of(rss[mine]).median / Stats.of(rss[theirs]).median,
            target=TARGET_RSS,
            status=cpu.status,
        )
        section.ratios += [cpu, mem, *_floor_ratios(b, cpus, rss, walls)]
    med = {label: Stats.of(cpus[label]).median for label in labels}
    peak = {label: Stats.of(rss[label]).median / (1 << 20) for label in labels}
    mine, theirs = archspec_label(batches[0]), torchinfo_label(batches[0])
    section.notes.append(
        f"Above the floors at batch {batches[0]} (CPU-time and peak-RSS medians): archspec "
        f"{med[mine] - med[FLOOR_META]:.2f} s and {peak[mine] - peak[FLOOR_META]:.0f} "
        f"MiB over `{FLOOR_META}` ({med[FLOOR_META]:.2f} s, {peak[FLOOR_META]:.0f} MiB); "
        f"torchinfo {med[theirs] - med[FLOOR_REAL]:.2f} s and "
        f"{peak[theirs] - peak[FLOOR_REAL]:.0f} MiB over `{FLOOR_REAL}` "
        f"({med[FLOOR_REAL]:.2f} s, {peak[FLOOR_REAL]:.0f} MiB). The floor of any summary "
        "of this module in a cold process is `import torch` and building it. archspec's "
        "summary answers the ResNet's ops by their shape rules (archspec/meta_kernels.py), "
        "so neither torch's Python meta kernels (and the sympy and torch._dynamo they "
        "import) nor torch.utils.flop_counter (triton on CUDA builds) nor rich is loaded. "
        "archspec's figures do not grow with the batch; torchinfo's real forward does."
    )
    return section
