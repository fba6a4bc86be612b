"""(1) Forward overhead: a compiled module and an emitted one against a hand-written twin.

All candidates hold the same weights (the compiled module's state_dict is loaded into the
others, and their outputs are checked equal), run in eval mode under torch.inference_mode
with one fixed thread count, and are timed in interleaved rounds. LeNet-5 at batch 1 is
where Python overhead shows; ResNet-18 at batch 16 is where it should vanish.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .common import (
    Config,
    Ratio,
    Row,
    Section,
    Stats,
    Target,
    api_function,
    error_text,
    fmt_time,
    interleave,
    log,
    profile_call,
    ratio_of,
)

TARGET = Target("<=", 1.02)


@dataclass(frozen=True)
class Case:
    spec: str
    batch: int
    shape: tuple[int, ...]
    rounds: int
    sample_s: float
    warmup: int = 3

    @property
    def label(self) -> str:
        return f"{self.spec} b{self.batch}"


FULL = (
    Case("lenet5", 1, (1, 32, 32), rounds=31, sample_s=0.1),
    Case("resnet18", 1, (3, 224, 224), rounds=17, sample_s=0.1),
    Case("resnet18", 16, (3, 224, 224), rounds=7, sample_s=0.0, warmup=1),
    Case("googlenet", 1, (3, 224, 224), rounds=17, sample_s=0.1),
    Case("mobilenet_v2", 1, (3, 224, 224), rounds=17, sample_s=0.1),
    Case("efficientnet_b0", 1, (3, 224, 224), rounds=17, sample_s=0.1),
    Case("convnext_tiny", 1, (3, 224, 224), rounds=9, sample_s=0.1),
)
QUICK = (
    Case("lenet5", 1, (1, 32, 32), rounds=3, sample_s=0.02),
    Case("resnet18", 1, (3, 224, 224), rounds=3, sample_s=0.0),
)

COMPILED = "archspec.compile"
EMITTED = "archspec.emit"


def build_candidates(spec: str) -> tuple[dict[str, Any], dict[str, str]]:
    """The models to race for one spec, all holding the compiled module's weights.

    Returns ({label: model}, {label: why it is missing}) so a missing candidate is reported,
    not silently dropped.
    """
    import archspec

    from .twins import load_emitted, twin

    models: dict[str, Any] = {}
    missing: dict[str, str] = {}
    compiled = archspec.compile(spec).eval()
    models[COMPILED] = compiled
    state = compiled.state_dict()

    emit = api_function("emit")
    if emit is None:
        missing[EMITTED] = "n/a: archspec.emit is not available yet"
    else:
        try:
            class_name = archspec.build_graph(spec).class_name
            cls = load_emitted(emit(spec), class_name, spec)
            emitted = cls()
            emitted.load_state_dict(state)
            models[EMITTED] = emitted.eval()
        except Exception as exc:
            missing[EMITTED] = error_text(exc)

    found = twin(spec)
    if found is not None:
        label, make = found
        try:
            ref = make()
            ref.load_state_dict(state)
            models[label] = ref.eval()
        except Exception as exc:
            missing[label] = error_text(exc)
    elif spec != "lenet5":
        missing["torchvision"] = "n/a: torchvision is not importable"
    return models, missing


def check_same_outputs(models: dict[str, Any], x: Any) -> dict[str, float]:
    """Max absolute difference of each model's output from the compiled module's."""
    import torch

    with torch.inference_mode():
        outs = {name: m(x) for name, m in models.items()}
    base = outs[COMPILED]
    return {name: float((o - base).abs().max()) for name, o in outs.items() if name != COMPILED}


def reference_of(models: dict[str, Any]) -> str | None:
    """The hand-written twin when there is one, else the emitted module."""
    for name in models:
        if name not in (COMPILED, EMITTED):
            return name
    return EMITTED if EMITTED in models else None


def run(cfg: Config) -> Section:
    """Time every case and report compiled/reference and emitted/reference."""
    import torch

    torch.set_num_threads(cfg.threads)
    cases = cfg.pick(FULL, QUICK)
    section = Section(
        key="forward",
        title="Forward overhead",
        method=(
            f"CPU, eval(), torch.inference_mode(), torch.set_num_threads({cfg.threads}); "
            "the compiled module's weights are loaded into every candidate (load_state_dict, "
            "outputs checked equal); the emitted source is written to a file and imported. "
            "Candidates are timed in interleaved rounds (each round starts with a different "
            "candidate); a sample is the mean of back-to-back calls lasting about 0.1 s (one "
            "call at batch 16), timed in wall and in process CPU time. Ratio = median of the "
            "per-round ratios (CPU time unless `--basis wall`; the other in brackets), with "
            "their IQR and a 95% CI of the median ('within noise' when the CI crosses the "
            "target). Measurement rows show wall time, CPU time in brackets. "
            "Reference: torchvision's model, or a hand-written twin (LeNet-5, not in "
            "torchvision), or the emitted module when neither exists."
        ),
    )
    calls_table: list[list[str]] = []
    section.extra_tables.append(
        (
            "Python-level work per forward (cProfile of one call: function calls, and "
            "nn.Module calls among them); unlike time, these counts do not depend on load",
            ["case", "candidate", "function calls", "module calls"],
            calls_table,
        )
    )
    built: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
    for case in cases:
        log(f"forward: {case.label}")
        try:
            if case.spec not in built:
                built[case.spec] = build_candidates(case.spec)
            models, missing = built[case.spec]
            gen = torch.Generator().manual_seed(0)
            x = torch.randn((case.batch, *case.shape), generator=gen)
            diffs = check_same_outputs(models, x)
            bad = {n: d for n, d in diffs.items() if not d <= 1e-3}
            if bad:
                raise AssertionError(f"outputs differ from the compiled module's: {bad}")
            calls: dict[str, Callable[[], Any]] = {
                name: (lambda m=m, x=x: m(x)) for name, m in models.items()
            }
            cpu: dict[str, list[float]] = {}
            with torch.inference_mode():
                times = interleave(calls, case.rounds, case.sample_s, case.warmup, cpu=cpu)
        except Exception as exc:
            section.rows.append(Row(case.label, COMPILED, None, status=error_text(exc)))
            continue
        counts: dict[str, tuple[int, int]] = {}
        for name, series in times.items():
            used = fmt_time(Stats.of(cpu[name]).median)
            section.rows.append(Row(case.label, name, Stats.of(series), note=f"CPU {used}"))
            counts[name] = python_calls(models[name], x)
            calls_table.append([case.label, name, *(f"{n:,}" for n in counts[name])])
        for name, why in missing.items():
            section.rows.append(Row(case.label, name, None, status=why))
        ref = reference_of(models)
        if ref is None or ref == COMPILED:
            section.ratios.append(
                Ratio(case.label, "compiled / reference", None, status="n/a: no reference")
            )
            continue
        for name in (COMPILED, EMITTED):
            if name not in times or name == ref:
                continue
            short = "compiled" if name == COMPILED else "emitted"
            ratio = ratio_of(
                case.label,
                f"{short} / {ref}",
                times[name],
                times[ref],
                TARGET,
                cpu[name],
                cpu[ref],
            )
            section.ratios.append(ratio)
            if ratio.missed and cfg.extras(section, f"profiles of the {case.label} miss"):
                explain_miss(section, case, models, name, ref, x, times, ratio, counts)
        if EMITTED in missing and ref != EMITTED:
            section.ratios.append(
                Ratio(case.label, f"emitted / {ref}", None, target=TARGET, status=missing[EMITTED])
            )
    return section


def python_calls(model: Any, x: Any) -> tuple[int, int]:
    """Function calls and module calls made by one forward, counted by cProfile."""
    import cProfile
    import pstats

    import torch

    prof = cProfile.Profile()
    with torch.inference_mode():
        prof.enable()
        model(x)
        prof.disable()
    st = pstats.Stats(prof)
    raw: dict[Any, Any] = st.stats  # type: ignore[attr-defined]
    module_calls = sum(
        v[1] for (f, _l, n), v in raw.items() if n == "_call_impl" and f.endswith("module.py")
    )
    return st.total_calls, module_calls  # type: ignore[attr-defined]


def explain_miss(
    section: Section,
    case: Case,
    models: dict[str, Any],
    name: str,
    ref: str,
    x: Any,
    times: dict[str, list[float]],
    ratio: Ratio,
    counts: dict[str, tuple[int, int]],
) -> None:
    """Say by how much the candidate is slower, and profile both forwards."""
    import torch

    assert ratio.value is not None
    extra = (ratio.value - 1) * Stats.of(times[ref]).median
    ci = f"; 95% CI {ratio.ci[0]:.3f} .. {ratio.ci[1]:.3f}" if ratio.ci else ""
    section.notes.append(
        f"**{case.label}, {name} vs {ref}: {ratio.verdict}**, ratio {ratio.value:.3f}{ci} "
        f"({100 * (ratio.value - 1):+.1f}%, about {fmt_time(extra)} per call; "
        f"{ratio.note or 'no CPU-time figure'}). "
        + (
            f"The {name} forward makes no more Python calls than {ref}'s ({counts[name][0]:,} "
            f"vs {counts[ref][0]:,}), so the difference is not Python overhead: it is timing "
            "noise in the same tensor kernels on the same weights. Profiles below."
            if counts[name][0] <= counts[ref][0]
            else f"The {name} forward makes {counts[name][0] - counts[ref][0]:,} more Python "
            f"calls than {ref}'s ({counts[name][0]:,} vs {counts[ref][0]:,}). Profiles below."
        )
    )
    repeat = max(3, min(1000, round(2.0 / Stats.of(times[ref]).median)))
    with torch.inference_mode():
        for who in (name, ref):
            model = models[who]
            section.profiles.append(
                (
                    f"{case.label}: {who} forward x{repeat}",
                    profile_call(lambda m=model: m(x), repeat=repeat),
                )
            )
