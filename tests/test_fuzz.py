"""Mutated shipped specs compile or fail with a located ArchSpecError: the CI share of the fuzz.

The mutator and the judge are `tests/fuzz.py`'s; here hypothesis draws the seed of each case's
random choices (derandomized by the `ci` profile of conftest.py), so a failure is replayed by
the next run and names its seed. The long run is `python -m tests.fuzz --examples 100000`.
"""

from __future__ import annotations

import builtins
import copy
import io
import random
import signal
import time
from collections import Counter
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import archspec
from archspec.compose.variants import variant_names
from tests import fuzz
from tests.cpu import GUARD

#: Examples per CI run (the issue asks for at least 2,000).
EXAMPLES = 2000


@cache
def corpus() -> fuzz.Corpus:
    return fuzz.load_corpus()


@pytest.fixture(scope="module", autouse=True)
def _warm() -> None:
    """Import torch and build the schema before the first timed case."""
    fuzz.warm_up()


@settings(
    max_examples=EXAMPLES,
    deadline=None,  # run_case times each case itself, in CPU time, against tests/cpu.GUARD
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(seed=st.integers(min_value=0, max_value=2**64 - 1))
def test_mutated_specs_compile_or_fail_with_a_span(seed: int) -> None:
    """Each case's choices come from a `random.Random` seeded by hypothesis, not from
    `st.randoms()`: hypothesis's randoms favour simple values (0.0, the first choice), which
    sent 42% of cases to the costly compile path the fuzz means for 10%, and a few origins
    most of the draws. A seed keeps the fuzz's own distribution; a failure names its seed."""
    case = fuzz.make_case(random.Random(seed), corpus(), compile_fraction=0.1)
    result = fuzz.run_case(case, time_limit=GUARD)
    assert result.failure is None, f"seed {seed}: {result.failure}\n{fuzz._describe(case)}"
    assert result.outcome in ("ok", "compiled", "error")
    if result.outcome == "error":
        assert result.codes, "an ArchSpecError without a diagnostic"


def test_examples_replay_from_their_seed() -> None:
    first = fuzz.make_case(fuzz.example_rng(3, 17), corpus())
    again = fuzz.make_case(fuzz.example_rng(3, 17), corpus())
    other = fuzz.make_case(fuzz.example_rng(3, 18), corpus())
    assert (first.text, first.raw, first.params) == (again.text, again.raw, again.params)
    assert (first.text, first.params) != (other.text, other.params)


def test_mutations_leave_the_corpus_alone() -> None:
    """Spliced pieces are copies: mutating them afterwards must not change the corpus (a
    shared piece did, and every later example then drew from a corrupted corpus)."""
    used, untouched = fuzz.load_corpus(), fuzz.load_corpus()
    rng = random.Random(5)
    for _ in range(100):
        data = {"layers": []}
        fuzz.splice_subtree(rng, data, used)
        for mutation in fuzz.DATA_MUTATIONS * 2:
            mutation(rng, data, used)
        fuzz.python_only(rng, data)
    assert used.data == untouched.data and used.subtrees == untouched.subtrees


def test_unmutated_specs_all_build() -> None:
    """The judge accepts the shipped specs themselves (a harness that fails everything
    would make the property above vacuous)."""
    checked = 0
    for path, variant in fuzz.shipped():
        text = corpus().texts[path.stem]
        result = fuzz.run_case(fuzz.Case(path.stem, (), text, variant=variant))
        assert result.outcome == "ok", (path.stem, variant, result.failure, result.codes)
        checked += 1
    assert checked == len(archspec.builtin_index())


def test_the_judge_reports_a_crash(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*args: object, **kwargs: object) -> None:
        raise KeyError("internal")

    monkeypatch.setattr(fuzz.api, "build_graph", boom)
    result = fuzz.run_case(fuzz.Case("lenet5", (), corpus().texts["lenet5"]))
    assert result.failure is not None and "KeyError" in result.failure


def test_the_judge_interrupts_a_case_that_computes_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def spin(*args: object, **kwargs: object) -> None:
        while True:
            pass

    monkeypatch.setattr(fuzz.api, "build_graph", spin)
    result = fuzz.run_case(fuzz.Case("lenet5", (), corpus().texts["lenet5"]), hang_limit=0.3)
    assert result.failure is not None and "interrupted" in result.failure
    assert (
        result.seconds < 3 and not fuzz._ARMED
    )  # the CPU timer, or on a busy machine the wall one


def test_the_judge_interrupts_a_case_that_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    """A case waiting without computing (a FIFO read, say) meets the wall-time backstop."""
    monkeypatch.setattr(fuzz.api, "build_graph", lambda *a, **k: time.sleep(60))
    result = fuzz.run_case(fuzz.Case("lenet5", (), corpus().texts["lenet5"]), hang_limit=0.2)
    assert result.failure is not None and "interrupted" in result.failure
    assert 0.2 * fuzz.HANG_WALL_FACTOR <= result.wall < 30 and not fuzz._ARMED


def test_a_timer_firing_as_a_case_ends_does_not_escape() -> None:
    """The handlers raise only while a case runs: a signal that arrives after `_disarm`
    (or between the case's end and its `finally`) is ignored, not raised into the caller."""
    previous = fuzz._arm(100.0)
    fuzz._disarm(previous)
    fuzz._on_alarm(signal.SIGALRM, None)  # what a late timer calls: must not raise
    assert not fuzz._ARMED


def test_the_second_timer_does_not_interrupt_the_handling_of_the_first() -> None:
    """Both hang timers can fire for one case (the wall timer, then the CPU timer while the
    interruption is being handled): only the first raises."""
    previous = fuzz._arm(100.0)
    try:
        with pytest.raises(fuzz._Hang):
            fuzz._on_alarm(signal.SIGALRM, None)
        fuzz._on_alarm(signal.SIGPROF, None)  # the second timer: ignored
        assert not fuzz._ARMED
    finally:
        fuzz._disarm(previous)


def test_fuzz_command_runs_and_summarises() -> None:
    out = io.StringIO()
    failures = fuzz.run(12, seed=11, out=out)
    assert failures == 0, out.getvalue()
    assert "12 examples (seed 11)" in out.getvalue()
    assert "error codes seen:" in out.getvalue()


HOSTILE_EXAMPLES = 50


@settings(
    max_examples=HOSTILE_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(rnd=st.randoms(use_true_random=False))
def test_hostile_text_stays_data_in_emitted_modules(rnd: random.Random) -> None:
    """Shipped specs whose free text only is hostile always compile: emitted and run as
    `archspec compile` runs them, with the canary armed. (Time is the other test's concern:
    every case here builds on meta, which a busy machine can slow past the fuzz's limit.)"""
    origin = rnd.choice(corpus().names)
    data = copy.deepcopy(corpus().data[origin])
    for _ in range(rnd.randint(1, 3)):
        fuzz.hostile_text(rnd, data, corpus())
    variant = (variant_names(data) or [None])[0]  # a family file: its first variant
    case = fuzz.Case(
        origin, ("hostile_text",), fuzz._dump(data), compile_meta=True, variant=variant
    )
    result = fuzz.run_case(case, time_limit=30.0, self_check_limit=60.0)
    assert result.failure is None, f"{result.failure}\n{fuzz._describe(case)}"
    assert result.outcome == "compiled" or result.nodes > fuzz.COMPILE_MAX_NODES, result.codes
    HOSTILE_OUTCOMES[result.outcome] += 1


HOSTILE_OUTCOMES: Counter[str] = Counter()


def test_hostile_text_cases_reached_the_emitter() -> None:
    """The property above is not vacuous: its cases were emitted and run."""
    if not HOSTILE_OUTCOMES:
        test_hostile_text_stays_data_in_emitted_modules()
    assert HOSTILE_OUTCOMES["compiled"] >= HOSTILE_EXAMPLES * 9 // 10, HOSTILE_OUTCOMES


def test_hostile_names_are_refused_with_a_span() -> None:
    rng = random.Random(12)
    for _ in range(40):
        # plain files: a hostile name may be a family's variant, which then is E113
        origin = rng.choice([n for n in corpus().names if not variant_names(corpus().data[n])])
        data = copy.deepcopy(corpus().data[origin])
        fuzz.hostile_name(rng, data, corpus())
        result = fuzz.run_case(fuzz.Case(origin, ("hostile_name",), fuzz._dump(data)))
        assert result.failure is None and result.outcome == "error", result
        assert "E204" in result.codes or "E201" in result.codes, result.codes


def test_the_judge_reports_text_that_ran(monkeypatch: pytest.MonkeyPatch) -> None:
    from archspec.backends import selfcheck

    def runs_the_payload(source: str, graph: object) -> tuple[int, int]:
        exec(compile(fuzz._TRIP, "<payload>", "exec"), {})
        return 0, 0

    monkeypatch.setattr(selfcheck, "check_emitted_source", runs_the_payload)
    text = corpus().texts["lenet5"]
    result = fuzz.run_case(fuzz.Case("lenet5", (), text, compile_meta=True))
    assert result.failure == "spec text ran as code"
    assert not hasattr(builtins, fuzz.CANARY)


def test_cases_spread_over_files_read_every_file_and_are_judged(tmp_path: Path) -> None:
    """The `split_files` cases: the spec's blocks in a library it imports, or the spec the
    base of one that extends it. Each runs clean, and errors are located in each of the
    files (so the files are read where the spec names them, not skipped)."""
    checked = 0
    located: set[str] = set()
    for seed in range(400):
        case = fuzz.make_case(fuzz.example_rng(35, seed), corpus())
        if not case.files:
            continue
        checked += 1
        result = fuzz.run_case(case, time_limit=GUARD)
        assert result.failure is None, f"35:{seed}: {result.failure}\n{fuzz._describe(case)}"
        folder = tmp_path / str(seed)
        folder.mkdir()
        for name, text in {**case.files, fuzz.MAIN_FILE: case.text}.items():
            (folder / name).write_text(text, encoding="utf-8")
        report = archspec.check(folder / fuzz.MAIN_FILE, variant=case.variant)
        located |= {Path(d.span.file).name for d in report.diagnostics if d.span is not None}
    assert checked >= 15, checked
    assert {"fuzz.yaml", "base.yaml", "lib.yaml"} <= located, located
