"""What every benchmark shares: statistics, interleaved timing, timed subprocesses, the result
records the report renders, the machine description, profile summaries and feature probes.

Stdlib only (torch and archspec are imported where a measurement needs them), so that the
runner's own import cost never enters a measurement.
"""

from __future__ import annotations

import cProfile
import functools
import gc
import io
import math
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


# -- statistics ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Stats:
    """Summary of repeated measurements: the median and the spread (IQR and range)."""

    values: tuple[float, ...]

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            raise ValueError("no measurements")
        return cls(tuple(values))

    @property
    def n(self) -> int:
        return len(self.values)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def q1(self) -> float:
        return self._quartiles()[0]

    @property
    def q3(self) -> float:
        return self._quartiles()[2]

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    def _quartiles(self) -> tuple[float, float, float]:
        if len(self.values) < 2:
            v = self.values[0]
            return v, v, v
        q = statistics.quantiles(self.values, n=4, method="inclusive")
        return q[0], q[1], q[2]


# -- result records ------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A bound a figure must meet, e.g. `<= 1.02`."""

    op: str
    bound: float
    text: str = ""

    def met(self, value: float) -> bool:
        return value <= self.bound if self.op == "<=" else value >= self.bound

    def __str__(self) -> str:
        return self.text or f"{self.op} {self.bound:g}"


@dataclass
class Row:
    """One measured quantity: a case (model, size), a candidate and its distribution.

    `status` is empty for a measurement, or says why there is none (`n/a: ...`, `ERROR: ...`).
    """

    case: str
    candidate: str
    stats: Stats | None
    unit: str = "s"
    note: str = ""
    status: str = ""


@dataclass
class Ratio:
    """A ratio with its target: `value` is the median, `spread` its (q1, q3) when paired."""

    case: str
    name: str
    value: float | None
    spread: tuple[float, float] | None = None
    target: Target | None = None
    note: str = ""
    status: str = ""
    #: 95% confidence interval of the median, when the ratio is a median of paired ratios
    ci: tuple[float, float] | None = None

    @property
    def missed(self) -> bool:
        """The target is missed (on the median, whatever the noise)."""
        return self.verdict.startswith("MISS")

    @property
    def verdict(self) -> str:
        """PASS or MISS on the median; `(within noise)` when the CI reaches the other side."""
        if self.status:
            return self.status.split(":")[0]
        if self.value is None or math.isnan(self.value):
            return "n/a"
        if self.target is None:
            return "-"
        met = self.target.met(self.value)
        word = "PASS" if met else "MISS"
        if self.ci is not None and any(self.target.met(b) != met for b in self.ci):
            word += " (within noise)"
        return word


@dataclass
class Section:
    """The results of one measurement: how it was taken, the figures, ratios and notes."""

    key: str
    title: str
    method: str
    rows: list[Row] = field(default_factory=list)
    ratios: list[Ratio] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    profiles: list[tuple[str, str]] = field(default_factory=list)
    extra_tables: list[tuple[str, list[str], list[list[str]]]] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        out = [f"{r.case} / {r.candidate}: {r.status}" for r in self.rows if is_error(r.status)]
        out += [f"{r.case} / {r.name}: {r.status}" for r in self.ratios if is_error(r.status)]
        return out


def is_error(status: str) -> bool:
    return status.startswith("ERROR")


def error_text(exc: BaseException) -> str:
    """`ERROR: Type: first line of the message`, short enough for a table cell."""
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    text = f"ERROR: {type(exc).__name__}" + (f": {msg}" if msg else "")
    return text if len(text) <= 160 else text[:157] + "..."


# -- in-process timing ---------------------------------------------------------------------
def time_calls(fn: Callable[[], Any], inner: int) -> float:
    """Wall seconds per call of `fn`, over `inner` back-to-back calls with the collector off."""
    return time_calls_both(fn, inner)[0]


def time_calls_both(fn: Callable[[], Any], inner: int) -> tuple[float, float]:
    """(wall, process CPU) seconds per call of `fn` over `inner` calls, collector off.

    CPU time leaves out the time spent waiting for a core, which on a shared machine is
    most of the noise; with one torch thread the two agree on an idle machine.
    """
    gc_was = gc.isenabled()
    gc.disable()
    try:
        c0 = time.process_time()
        t0 = time.perf_counter()
        for _ in range(inner):
            fn()
        t1 = time.perf_counter()
        c1 = time.process_time()
        return (t1 - t0) / inner, (c1 - c0) / inner
    finally:
        if gc_was:
            gc.enable()


def calibrate(fn: Callable[[], Any], sample_s: float, max_inner: int = 100_000) -> int:
    """Calls per sample so that one sample lasts about `sample_s` (at least one call)."""
    per_call = time_calls(fn, 1)
    if per_call * 10 < sample_s:
        per_call = time_calls(fn, 10)
    return max(1, min(max_inner, round(sample_s / max(per_call, 1e-9))))


def interleave(
    candidates: Mapping[str, Callable[[], Any]],
    rounds: int,
    sample_s: float = 0.05,
    warmup: int = 2,
    cpu: dict[str, list[float]] | None = None,
) -> dict[str, list[float]]:
    """Per-call wall seconds of each candidate, `rounds` samples each, taken in turn
    (and the CPU seconds into `cpu` when given).

    Every round samples each candidate once, starting from a different one each round, so
    drift (thermal, other load on the machine) falls on all candidates alike and the
    per-round ratios pair samples taken moments apart.
    """
    names = list(candidates)
    for name in names:
        for _ in range(warmup):
            candidates[name]()
    inner = {name: calibrate(candidates[name], sample_s) for name in names}
    out: dict[str, list[float]] = {name: [] for name in names}
    if cpu is not None:
        cpu.update({name: [] for name in names})
    for r in range(rounds):
        for k in range(len(names)):
            name = names[(r + k) % len(names)]
            wall, used = time_calls_both(candidates[name], inner[name])
            out[name].append(wall)
            if cpu is not None:
                cpu[name].append(used)
    return out


def paired_ratio(num: Sequence[float], den: Sequence[float]) -> Stats:
    """Round-by-round ratios of two interleaved series."""
    return Stats.of([a / b for a, b in zip(num, den)])


def median_ci(values: Sequence[float]) -> tuple[float, float]:
    """A distribution-free 95% confidence interval of the median (binomial order statistics,
    normal approximation): the ranks n/2 -+ 0.98 sqrt(n) of the sorted values."""
    xs = sorted(values)
    n = len(xs)
    half = 0.98 * math.sqrt(n)
    lo = max(0, math.floor(n / 2 - half))
    hi = min(n - 1, math.ceil(n / 2 + half) - 1)
    return xs[lo], xs[hi]


#: What paired ratios and their verdicts are computed from: "cpu" (process CPU time, the
#: default: on a shared machine wall time mostly measures the other processes) or "wall".
BASIS = {"name": "cpu"}


def ratio_of(
    case: str,
    name: str,
    wall_num: Sequence[float],
    wall_den: Sequence[float],
    target: Target | None,
    cpu_num: Sequence[float] | None = None,
    cpu_den: Sequence[float] | None = None,
) -> Ratio:
    """The median of the per-round ratios with its IQR and 95% CI, on the chosen basis
    (`BASIS`); the median on the other basis goes in the note."""
    wall = paired_ratio(wall_num, wall_den)
    cpu = paired_ratio(cpu_num, cpu_den) if cpu_num is not None and cpu_den is not None else None
    if cpu is not None and BASIS["name"] == "cpu":
        r, note = cpu, f"wall time {wall.median:.3f}"
    else:
        r, note = wall, (f"CPU time {cpu.median:.3f}" if cpu is not None else "")
    spread = (r.q1, r.q3) if r.n > 1 else None
    ci = median_ci(r.values) if r.n >= 5 else None  # fewer: the CI is the whole range
    return Ratio(case, name, r.median, spread, target, note=note, ci=ci)


def growth_per_10x(x0: float, x1: float, y0: float, y1: float) -> float:
    """y's growth normalised to a 10x step in x: (y1/y0) ** (1 / log10(x1/x0))."""
    if x1 <= x0 or y0 <= 0 or y1 <= 0:
        return float("nan")
    return (y1 / y0) ** (1.0 / math.log10(x1 / x0))


# -- subprocesses ----------------------------------------------------------------------------
@dataclass(frozen=True)
class ProcResult:
    """A finished child process: wall and CPU seconds, peak RSS in bytes, exit code, output."""

    wall: float
    maxrss: int
    returncode: int
    stdout: str
    stderr: str
    timed_out: bool = False
    cpu: float = float("nan")


def child_env(**extra: str) -> dict[str, str]:
    """The environment for children: plain output, no bytecode writes, this repo importable."""
    env = dict(os.environ)
    env.update({"NO_COLOR": "1", "PYTHONDONTWRITEBYTECODE": "1", "COLUMNS": "200"})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.update(extra)
    return env


#: Runs in a small `python -S` launcher: spawns the command, waits for it with wait4 and
#: writes its wall time and rusage to the file named by argv[2]. The launcher exists because
#: on Linux a child's ru_maxrss starts from the high-water mark of the process it was
#: forked from: spawned straight from the benchmark process (torch loaded, hundreds of MiB)
#: every child would report at least that much.
_LAUNCHER = """
import json, os, sys, time
argv = json.loads(sys.argv[1])
t0 = time.perf_counter()
pid = os.posix_spawn(argv[0], argv, os.environ)
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - t0
with open(sys.argv[2], "w") as f:
    json.dump({"wall": wall, "maxrss_kib": usage.ru_maxrss,
               "cpu": usage.ru_utime + usage.ru_stime,
               "returncode": os.waitstatus_to_exitcode(status)}, f)
"""


def run_timed(
    cmd: Sequence[str], timeout: float | None = None, env: Mapping[str, str] | None = None
) -> ProcResult:
    """Run a command; time it from spawn to exit and take its own peak RSS from wait4.

    The command is started by a small launcher process (see `_LAUNCHER`) in its own session,
    so a timeout kills the whole group. Output goes to temporary files, not pipes, so the
    child never blocks on a full pipe.
    """
    import json

    argv = list(cmd)
    if not os.path.isabs(argv[0]):
        import shutil

        argv[0] = shutil.which(argv[0]) or argv[0]
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.TemporaryDirectory() as tmp,
    ):
        report = Path(tmp) / "rusage.json"
        proc = subprocess.Popen(
            [sys.executable, "-S", "-c", _LAUNCHER, json.dumps(argv), str(report)],
            stdout=out,
            stderr=err,
            cwd=ROOT,
            env=dict(env or child_env()),
            start_new_session=True,
        )
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            os.killpg(proc.pid, 9)
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout = out.read().decode(errors="replace")
        stderr = err.read().decode(errors="replace")
        if timed_out or not report.exists():
            return ProcResult(float("nan"), 0, proc.returncode or -9, stdout, stderr, timed_out)
        data = json.loads(report.read_text())
        return ProcResult(
            wall=data["wall"],
            maxrss=data["maxrss_kib"] * 1024,  # kilobytes on Linux
            returncode=data["returncode"],
            stdout=stdout,
            stderr=stderr,
            cpu=data["cpu"],
        )


def python_cmd(*args: str) -> list[str]:
    """A command running this interpreter (the one the benchmarks run under)."""
    return [sys.executable, *args]


#: The interpreter of the cold-process measurements (startup, huge); `--cold-python`.
COLD_PYTHON = {"path": sys.executable}


def cold_cmd(*args: str) -> list[str]:
    """A command for a cold-process measurement (see `COLD_PYTHON`)."""
    return [COLD_PYTHON["path"], *args]


def archspec_cmd(*args: str) -> list[str]:
    """The archspec CLI as `python -m archspec` (the console script's entry point) under the
    cold-process interpreter, so the CLI and the library measured are one installation."""
    return cold_cmd("-m", "archspec", *args)


@functools.cache  # results.md names the cold interpreter three times: one child process
def describe_interpreter(python: str) -> str:
    """An interpreter as results.md names it: its version and whether it is a venv, not its
    absolute path (which says where one machine keeps it, not how to reproduce the run)."""
    path = Path(python)
    in_venv = (path.parent.parent / "pyvenv.cfg").is_file()
    where = "a venv" if in_venv else "no venv"
    res = run_timed([python, "-c", "import platform; print(platform.python_version())"], timeout=60)
    version = res.stdout.strip() if res.returncode == 0 else "unknown version"
    return f"`{path.name}` (Python {version}, {where})"


def interpreter_torch(python: str) -> str:
    """`torch.__version__` (and CUDA build or not) under another interpreter."""
    code = "import torch; print(torch.__version__, 'cuda' if torch.version.cuda else 'cpu')"
    res = run_timed([python, "-c", code], timeout=300)
    return res.stdout.strip() if res.returncode == 0 else "unknown"


# -- machine and versions --------------------------------------------------------------------
def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision() -> str:
    """Short commit and whether the working tree has changes (read-only git calls)."""
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
        ).stdout.strip()
    except OSError:
        return "unknown"
    if not rev:
        return "unknown"
    return rev + (" (with uncommitted changes)" if dirty else "")


def load_average() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def versions() -> dict[str, str]:
    """Versions of python and of the libraries measured (torchvision only if importable)."""
    import torch

    import archspec

    out = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "archspec": getattr(archspec, "__version__", "?"),
    }
    for name in ("torchvision", "pydantic", "yaml"):
        try:
            mod = __import__(name)
        except Exception:  # torchvision may be absent or broken: it is optional here
            continue
        out["pyyaml" if name == "yaml" else name] = getattr(mod, "__version__", "?")
    return out


# -- profiles --------------------------------------------------------------------------------
def _bucket(filename: str) -> str:
    """Where a profiled function lives: an archspec file, a package, stdlib or builtins."""
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins/C"
    path = Path(filename)
    parts = path.parts
    if "archspec" in parts and "site-packages" not in parts:
        i = len(parts) - 1 - parts[::-1].index("archspec")
        return "/".join(parts[i:])
    if "site-packages" in parts:
        i = parts.index("site-packages")
        return parts[i + 1].removesuffix(".py") if i + 1 < len(parts) else "site-packages"
    if "benchmarks" in parts:
        return "benchmarks (harness)"
    return "stdlib"


def _short(filename: str) -> str:
    path = Path(filename)
    parts = path.parts
    for anchor in ("archspec", "site-packages", "benchmarks"):
        if anchor in parts:
            i = len(parts) - 1 - parts[::-1].index(anchor)
            if anchor == "site-packages":
                i += 1
            return "/".join(parts[i:])
    if filename.startswith("~"):
        return ""
    return path.name


def summarise_stats(stats: pstats.Stats, top: int = 12) -> str:
    """A short text: total time, time by package/file (self time), top functions (cumulative)."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]
    by_bucket: dict[str, float] = {}
    for (filename, _line, _name), (_cc, _nc, tt, _ct, _callers) in raw.items():
        b = _bucket(filename)
        by_bucket[b] = by_bucket.get(b, 0.0) + tt
    lines = [f"profiled total: {total:.3f} s"]
    shares = sorted(by_bucket.items(), key=lambda kv: -kv[1])[:8]
    lines.append(
        "self time by place: "
        + ", ".join(f"{b} {100 * t / max(total, 1e-12):.0f}%" for b, t in shares)
    )

    def label(filename: str, line: int, name: str) -> str:
        return f"{_short(filename)}:{line}({name})" if line else name

    def harness(filename: str) -> bool:
        return "benchmarks" in filename or "cProfile" in filename or "profile" in filename

    lines.append("top functions by self time:")
    lines.append(f"{'self':>9} {'cumulative':>10} {'calls':>9}  function")
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in sorted(
        raw.items(), key=lambda kv: -kv[1][2]
    )[:top]:
        lines.append(f"{tt:>8.3f}s {ct:>9.3f}s {nc:>9}  {label(filename, line, name)}")
    lines.append("archspec functions by cumulative time:")
    lines.append(f"{'cumulative':>10} {'self':>8} {'calls':>9}  function")
    own = [
        kv
        for kv in raw.items()
        if _bucket(kv[0][0]).startswith("archspec/") and not harness(kv[0][0])
    ]
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in sorted(
        own, key=lambda kv: -kv[1][3]
    )[:top]:
        lines.append(f"{ct:>9.3f}s {tt:>7.3f}s {nc:>9}  {label(filename, line, name)}")
    return "\n".join(lines)


def profile_stats(fn: Callable[[], Any], repeat: int = 1) -> pstats.Stats:
    """cProfile statistics of `repeat` calls of `fn` in this process."""
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(repeat):
        fn()
    prof.disable()
    return pstats.Stats(prof, stream=io.StringIO())


def profile_call(fn: Callable[[], Any], repeat: int = 1, top: int = 12) -> str:
    """Profile `repeat` calls of `fn` in this process and summarise."""
    return summarise_stats(profile_stats(fn, repeat), top)


def cumulative_share(stats: pstats.Stats, function: str) -> float:
    """The share of the profiled time spent under functions named `function` (outermost)."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = stats.total_tt  # type: ignore[attr-defined]
    cum = max((v[3] for (_f, _l, n), v in raw.items() if n == function), default=0.0)
    return cum / total if total else 0.0


def profile_process(
    cmd: Sequence[str],
    top: int = 12,
    timeout: float = 300,
    env: Mapping[str, str] | None = None,
) -> str:
    """Profile a cold `python ...` child command with cProfile."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "child.prof"
        python, args = cmd[0], list(cmd[1:])
        if args[:1] == ["-c"]:  # cProfile runs scripts and modules, not -c code
            script = Path(tmp) / "child.py"
            script.write_text(args[1])
            args = [str(script), *args[2:]]
        res = run_timed([python, "-m", "cProfile", "-o", str(out), *args], timeout=timeout, env=env)
        if not out.exists():
            return f"(profile failed: exit {res.returncode}) {res.stderr.strip()[-300:]}"
        return summarise_stats(pstats.Stats(str(out), stream=io.StringIO()), top)


def import_profile(cmd: Sequence[str], top: int = 12, env: Mapping[str, str] | None = None) -> str:
    """`python -X importtime` of a child command: the slowest imports by cumulative time
    and the self time of each top-level package."""
    res = run_timed([cmd[0], "-X", "importtime", *cmd[1:]], timeout=300, env=env)
    rows: list[tuple[int, int, str]] = []
    for line in res.stderr.splitlines():
        # "import time:       438 |     355858 |   archspec.api"
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        fields = line.removeprefix("import time:").split("|")
        if len(fields) != 3:
            continue
        rows.append((int(fields[0]), int(fields[1]), fields[2].rstrip()))
    if not rows:
        return "(no import timings)"
    by_pkg: dict[str, int] = {}
    for self_us, _cum, name in rows:
        pkg = name.strip().split(".")[0]
        by_pkg[pkg] = by_pkg.get(pkg, 0) + self_us
    total = sum(by_pkg.values())
    lines = [f"imports: {len(rows)} modules, {total / 1e6:.3f} s self time in total"]
    lines.append(
        "self time by top-level package: "
        + ", ".join(
            f"{p} {t / 1e6:.3f}s" for p, t in sorted(by_pkg.items(), key=lambda kv: -kv[1])[:10]
        )
    )
    lines.append("slowest imports (cumulative, nesting shown by indent):")
    for _self, cum, name in sorted(rows, key=lambda r: -r[1])[:top]:
        lines.append(f"  {cum / 1e6:>7.3f}s  {name}")
    lines.append("largest self times:")
    for self_us, _cum, name in sorted(rows, key=lambda r: -r[0])[:top]:
        lines.append(f"  {self_us / 1e6:>7.3f}s  {name.strip()}")
    return "\n".join(lines)


# -- feature probes --------------------------------------------------------------------------
def api_function(name: str) -> Callable[..., Any] | None:
    """A public archspec function, or None while it is not (yet) part of the API."""
    import archspec

    fn = getattr(archspec, name, None)
    return fn if callable(fn) else None


_CLI_CACHE: dict[str, bool] = {}


def cli_has(command: str) -> bool:
    """Whether the archspec CLI has `command` (its --help exits 0)."""
    if command not in _CLI_CACHE:
        res = run_timed(archspec_cmd(command, "--help"), timeout=120)
        _CLI_CACHE[command] = res.returncode == 0
    return _CLI_CACHE[command]


# -- formatting ------------------------------------------------------------------------------
def fmt_time(seconds: float) -> str:
    """A duration with a unit that keeps three significant figures."""
    a = abs(seconds)
    if a >= 1:
        return f"{seconds:.3g} s" if a < 100 else f"{seconds:.0f} s"
    if a >= 1e-3:
        return f"{seconds * 1e3:.3g} ms"
    if a >= 1e-6:
        return f"{seconds * 1e6:.3g} µs"
    return f"{seconds * 1e9:.3g} ns"


def fmt_bytes(n: float) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if abs(n) >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} B"


def fmt_value(value: float, unit: str) -> str:
    if unit == "s":
        return fmt_time(value)
    if unit == "B":
        return fmt_bytes(value)
    if unit == "x":
        return f"{value:.3f}"
    return f"{value:.4g} {unit}".rstrip()


def log(msg: str) -> None:
    """Progress on stderr (the table goes to stdout)."""
    print(msg, file=sys.stderr, flush=True)


# -- run configuration -----------------------------------------------------------------------
@dataclass(frozen=True)
class Config:
    """How hard to measure: the full run, or the CI quick mode (few repeats, small sizes)."""

    quick: bool = False
    threads: int = 1
    only: tuple[str, ...] = ()
    cold_python: str = sys.executable
    basis: str = "cpu"
    #: time.monotonic() after which optional work (profiles of misses, first-call builds) is
    #: skipped, so that a run on a busy machine still ends within its budget
    extras_until: float = math.inf

    def pick(self, full: Any, quick: Any) -> Any:
        """`quick` in quick mode, `full` otherwise."""
        return quick if self.quick else full

    def extras(self, section: Section | None = None, what: str = "") -> bool:
        """Whether to do optional work now (never in quick mode); notes a skip in `section`."""
        if self.quick:
            return False
        if time.monotonic() < self.extras_until:
            return True
        if section is not None and what:
            section.notes.append(f"({what} skipped: the run's time budget for extras is spent)")
        return False
