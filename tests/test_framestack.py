"""archspec.framestack: a deep walk run through `on_own_stack` maps no frame-stack chunks.

Page faults are the measure: each chunk CPython maps for frames faults its first page in
when the frame is written, so a walk that keeps crossing a chunk's end faults once per
crossing, and one that runs inside the big chunk faults only while it first grows.
"""

from __future__ import annotations

import resource
import sys

import pytest

from archspec import framestack
from archspec.framestack import on_own_stack

#: each pass goes this deep and back: past several 16 KiB chunks of small frames
DEPTH = 400
PASSES = 300


def _down(n: int) -> int:
    return 0 if n == 0 else 1 + _down(n - 1)


def _walks() -> int:
    """Faults taken by PASSES walks DEPTH frames deep."""
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    total = sum(_down(DEPTH) for _ in range(PASSES))
    assert total == DEPTH * PASSES
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before


def test_walk_on_own_stack_maps_no_chunks() -> None:
    assert sys.getrecursionlimit() > DEPTH + 50
    _walks()  # the allocator's own first touches are not what is measured
    plain = _walks()
    # the first walk on the new chunk faults its pages in once (~16 of them): not measured
    own = on_own_stack(lambda: (_walks(), _walks())[1])
    # a plain call maps and unmaps chunks on every pass (CPython 3.11): that is the cost
    assert plain >= PASSES
    assert own < PASSES // 10, (own, plain)


def test_reserved_stack_is_set_on_the_calling_code() -> None:
    assert framestack._call.__code__.co_stacksize == framestack.RESERVED_SLOTS


def test_on_own_stack_passes_arguments_and_results_through() -> None:
    assert on_own_stack(divmod, 17, 5) == (3, 2)
    assert on_own_stack(dict, a=1) == {"a": 1}
    with pytest.raises(ZeroDivisionError):
        on_own_stack(divmod, 1, 0)


def test_the_api_lowers_and_checks_on_its_own_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every command lowers through api._lowered, and check runs its passes inside too."""
    import archspec.api as api

    seen = []
    real_lower, real_run = api.lower, api.run

    def lower(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(("lower", framestack._inside.active))
        return real_lower(*args, **kwargs)

    def run(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(("run", framestack._inside.active))
        return real_run(*args, **kwargs)

    monkeypatch.setattr(api, "lower", lower)
    monkeypatch.setattr(api, "run", run)
    assert api.check("lenet5").ok
    api.build_graph("lenet5")
    assert seen and all(inside for _, inside in seen), seen
    assert {step for step, _ in seen} == {"lower", "run"}
    assert not framestack._inside.active  # and left again


def test_a_call_inside_is_a_plain_call() -> None:
    depth = on_own_stack(lambda: on_own_stack(lambda: framestack._inside.active))
    assert depth is True
    assert not framestack._inside.active


def test_the_cli_runs_its_command_on_its_own_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """The whole command (reading, printing) shares one chunk; the API's calls inside are
    plain calls on it."""
    import archspec.cli as cli

    seen = []

    def command(*args, **kwargs):  # type: ignore[no-untyped-def]
        seen.append(framestack._inside.active)

    def app_for(args):  # type: ignore[no-untyped-def]
        seen.append(framestack._inside.active)  # the commands' imports too
        return command

    monkeypatch.setattr(cli, "_app_for", app_for)
    monkeypatch.setattr(sys, "argv", ["archspec", "check", "lenet5"])
    with pytest.raises(SystemExit) as exc:
        cli.main()
    assert exc.value.code == 0
    assert seen == [True, True]
    assert not framestack._inside.active
