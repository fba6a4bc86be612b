"""Shared test setup: a fixed hypothesis profile, paths to the specs, and the default sample.

Tests marked `heavy` are left out of the default run (`python -m pytest -q`, what CI runs) and
run with `--all` (or ARCHSPEC_ALL_TESTS=1): the zoo members whose forward passes cost the
most while a cheaper member of their family covers the same structure. `zoo_params` marks
them, so the default run samples each family and `--all` runs every member; `sample_params`
does the same for other large families of like cases (the first of each kind and a stride).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

import archspec

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

settings.register_profile(
    "ci",
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@contextmanager
def plugins_restored() -> Iterator[None]:
    """Plugin files may be loaded inside; afterwards the layer registry, the plugin state and
    sys.modules are as they were (archspec's own installed plugins are the baseline)."""
    from archspec import plugins
    from archspec.ops import REGISTRY

    plugins.load_plugins()
    before, modules = set(REGISTRY), set(sys.modules)
    plugins.reset()
    try:
        yield
    finally:
        for kind in set(REGISTRY) - before:
            archspec.unregister(kind)
        plugins.reset()
        for name in set(sys.modules) - modules:
            if name.startswith("archspec_plugin_"):
                del sys.modules[name]


def spec_names() -> list[str]:
    """Every built-in name: a plain spec file by its stem, each variant of a family file by
    the variant's name (what `archspec list --names` prints)."""
    return sorted(archspec.builtin_index())


def spec_files() -> list[Path]:
    """The spec files in specs/ (a family file once, however many variants it has)."""
    return sorted(SPECS.glob("*.yaml"))


def spec_source(name: str) -> Path | str:
    """What to hand archspec for built-in `name`: the file of a plain spec (so messages show
    specs/NAME.yaml, as for a user's own file), the name itself for a family's variant."""
    path, variant = archspec.builtin_index()[name]
    return name if variant is not None else path


def family_extras() -> frozenset[str]:
    """Variants after the first of each family file: the default run samples a family by its
    first variant (family files list their cheapest first) and leaves these to `--all`."""
    firsts: dict[Path, str] = {}
    extras = set()
    for name, (path, variant) in archspec.builtin_index().items():
        if variant is not None and firsts.setdefault(path, name) != name:
            extras.add(name)
    return frozenset(extras)


@pytest.fixture
def root() -> Path:
    return ROOT


#: Zoo members the default run leaves to `--all`: each costs seconds of CPU per forward pass
#: and shares its structure with a sampled sibling (vgg11_bn for VGG's stacks, plain and with
#: batch norm alike; resnet50 for the bottleneck ResNets, wide_resnet50_2's too: it is resnet50
#: with twice the inner width).
HEAVY_ZOO = frozenset(
    {
        "vgg11",
        "vgg13",
        "vgg13_bn",
        "vgg16",
        "vgg16_bn",
        "vgg19",
        "vgg19_bn",
        "resnet101",
        "resnet152",
        "wide_resnet50_2",
    }
)


#: Variants after the first of their family that the default run still samples: many tests
#: use them, and they carry what the first variant lacks (the bottleneck ResNet, the
#: batch-norm VGG).
SAMPLED_VARIANTS = frozenset({"resnet50", "vgg11_bn"})


def zoo_params(names: list[str], share: tuple[int, int] | None = None) -> list[object]:
    """`names` as pytest params, the members of HEAVY_ZOO and the variants after the first of
    each family file (but SAMPLED_VARIANTS) marked `heavy`. With `share=(k, n)` the default
    run keeps only the k-th of every n names it would otherwise run (counted in the order
    given): two tests that check one thing two ways (the shapes a hook records, the shapes
    torch computes) take complementary shares, so each sampled model meets one of them."""
    heavy = (HEAVY_ZOO | family_extras()) - SAMPLED_VARIANTS
    kept = [n for n in names if n not in heavy]
    if share is not None:
        k, every = share
        heavy |= {name for i, name in enumerate(kept) if i % every != k}
    return [pytest.param(n, marks=pytest.mark.heavy) if n in heavy else n for n in names]


def sample_params(
    values: Iterable[Any],
    family: Callable[[Any], object] = lambda value: None,
    stride: int = 4,
    ids: Callable[[Any], str] | None = None,
) -> list[object]:
    """`values` as pytest params for a large family of like cases: the default run keeps the
    first case of each family (`family(value)`, in the order given) and every `stride`-th
    case; the rest are marked `heavy`, so `--all` runs every case. A fixed rule, not a random
    draw: a run fails or passes the same way every time. A tuple value is the arguments of a
    multi-name parametrize."""
    seen: set[object] = set()
    out: list[object] = []
    for i, value in enumerate(values):
        kin = family(value)
        kept = kin not in seen or i % stride == 0
        seen.add(kin)
        args = value if isinstance(value, tuple) else (value,)
        marks = () if kept else (pytest.mark.heavy,)
        out.append(pytest.param(*args, marks=marks, id=ids(value) if ids else None))
    return out


#: Whether this run runs everything (`--all` or ARCHSPEC_ALL_TESTS=1): set by pytest_configure,
#: before any test module is imported, so `examples` can read it in a `@settings` decorator.
FULL_RUN = False


def examples(full: int, default: int) -> int:
    """Hypothesis examples for a property test that draws many: `full` under `--all`,
    `default` in the default run. The `ci` profile derandomizes, so the default run draws the
    same examples every time, and a failure it finds is replayed by the next run. Use it where
    the examples are many and each costs real time (say why at the call); `--all` runs the
    count the test was written with."""
    return full if FULL_RUN else min(default, full)


def _full_run(config: pytest.Config) -> bool:
    return bool(config.getoption("--all")) or os.environ.get("ARCHSPEC_ALL_TESTS") == "1"


def pytest_configure(config: pytest.Config) -> None:
    """One intra-op thread for the torch work done in this process. The suite's tensors are
    small: on two cores shared with other work, a second thread mostly spins waiting for a
    core (the forward passes of test_emit_files took 53 s of CPU with two threads, 15 s with
    one, and less than half the wall time). Child processes keep torch's own default."""
    import torch

    global FULL_RUN
    FULL_RUN = _full_run(config)
    torch.set_num_threads(1)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all",
        action="store_true",
        default=False,
        help="also run the tests marked heavy (left out of the default run)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect `heavy` tests unless --all (or ARCHSPEC_ALL_TESTS=1) asks for everything;
    order the rest (`_order`)."""
    if _full_run(config):
        _order(items, config)
        return
    heavy = [item for item in items if item.get_closest_marker("heavy") is not None]
    if heavy:
        config.hook.pytest_deselected(items=heavy)
        items[:] = [item for item in items if item.get_closest_marker("heavy") is None]
    _order(items, config)


def _order(items: list[pytest.Item], config: pytest.Config) -> None:
    """In one process the `early` tests run last, in their order: their work started with
    the session. Under xdist (`-n 2`) nothing starts early, and the run ends when the slower
    worker ends: there the `early` tests and then _LONGEST_MODULES come first, each module's
    tests in their order, so that both workers end on short tests."""

    def early(item: pytest.Item) -> bool:
        return item.get_closest_marker("early") is not None

    # (a stable sort: items of one key keep their order)
    if hasattr(config, "workerinput"):
        rank = {name: i for i, name in enumerate(_LONGEST_MODULES)}
        items.sort(key=lambda item: (not early(item), rank.get(item.path.stem, len(rank))))
    else:
        items.sort(key=early)


#: The test modules whose tests took 8 s or more together in a default run (measured with
#: --junitxml under -n 2, December 2026), longest first. Only the order of the run depends
#: on it: a module missing here runs after these, in its usual place.
_LONGEST_MODULES = [
    "test_fuzz",
    "test_docs",
    "test_trust_output",
    "test_emit_files",
    "test_zoo_parity",
    "test_benchmarks_quick",
    "test_hostile",
    "test_schema",
    "test_check_forward",
    "test_interop",
    "test_newuser38",
    "test_cli_tools",
    "test_zoo_calls",
    "test_importer_hostile",
    "test_cli_stdin",
    "test_zoo",
    "test_emit_text",
    "test_emit_shapes",
    "test_newuser37_attn",
    "test_lowering_reshape",
    "test_shapes",
    "test_keyed40",
    "test_hostile_sweep31",
    "test_module_summary",
    "test_h41d_onnx_data",
    "test_meta_kernels",
    "test_hostile_sweep38",
    "test_loader_events",
    "test_cli_startup",
    "test_lenet1998",
    "test_terminal",
    "test_op_facts",
    "test_newuser40",
    "test_emit_hunt",
    "test_hostile_sweep40",
    "test_emit_cli",
    "test_newuser39",
    "test_hostile_sweep17",
]


#: Hosts a test may resolve: the gloo tests' own loopback rendezvous.
_LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", "", None}


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Nothing in the suite downloads: a test that would (a weights fetch left unpatched)
    fails at once with this message, on a machine with network access as without it."""
    import socket

    real = socket.getaddrinfo

    def refuse(host: object, *args: object, **kwargs: object) -> object:
        if host not in _LOCAL_HOSTS:
            raise OSError(f"the test suite does not use the network (asked for {host!r})")
        return real(host, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    """A test that leaves signals blocked in the thread that runs the suite fails, and the
    mask is restored: every process a later test starts would inherit it (a child deaf to
    SIGTERM failed a CI run once: an alarm's handler had raised inside a signal block)."""
    if not hasattr(signal, "pthread_sigmask"):
        return (yield)
    before = signal.pthread_sigmask(signal.SIG_BLOCK, ())
    try:
        result = yield
    finally:
        after = signal.pthread_sigmask(signal.SIG_SETMASK, before)
    if after != before:
        raise AssertionError(
            f"the test left the signal mask at {sorted(after)}, not {sorted(before)}"
        )
    return result


_EARLY_DIRS: list[str] = []


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the background work of the selected `early` tests (tests/early.py): each module
    holding some gets `start_early(its items, a fresh directory)`."""
    import tempfile

    if session.config.option.collectonly or hasattr(session.config, "workerinput"):
        return  # an xdist worker (`-n 2`): both cores run tests, each early test does its work
    modules: dict[Any, list[pytest.Item]] = {}
    for item in session.items:
        if item.get_closest_marker("early") is not None:
            modules.setdefault(item.module, []).append(item)  # type: ignore[attr-defined]
    for module, items in modules.items():
        _EARLY_DIRS.append(tempfile.mkdtemp(prefix="archspec-early-"))
        module.start_early(items, Path(_EARLY_DIRS[-1]))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    import shutil

    from tests import early

    early.stop()
    for path in _EARLY_DIRS:
        shutil.rmtree(path, ignore_errors=True)
