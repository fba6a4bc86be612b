"""The check verdict holds: where `archspec.check` accepts an input, the compiled module runs
on it (and gives the shape check computed); where check refuses, PyTorch refuses too.

Every registered layer kind (`archspec.ops.REGISTRY`, plugins included) is driven from its
own spec model: each field gets values from its declared type and bounds (small ones, edge
ones such as 2**31 - 1, 2**31 and the 10**15 the loader allows, wrong list lengths, the
string choices), and the input is a small random tensor of random rank, tiny and odd sizes
included. Cases the spec language refuses before shapes are involved (E2xx, E3xx) are
`assume`d away, as are models over deliberately small resource limits (E501, E502), so
real tensors stay small. Each kind must reach a minimum number of real cases. One regime is
refused on purpose although PyTorch sometimes runs it (`_torch_unreliable`).

Examples: `ARCHSPEC_CHECK_FORWARD_EXAMPLES` (default 60: 2,128 cases over 50 runs, scaled
up for kinds with more fields and split over each value of a choice field such as
padding_mode) with `--all`; the default run drives every run with a sixth of its examples, 12
at least, and a run whose sixth meets no accepted case (or fewer than 10 real ones) again in
full. With 1,000 (34,000 cases, 15 minutes) every case agreed
when this was written.
"""

from __future__ import annotations

import functools
import itertools
import os
import typing
from collections import Counter
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archspec
from archspec.errors import ArchSpecError
from archspec.ops import REGISTRY
from archspec.ops.base import META_FIELDS, Final
from archspec.passes.dtypes import INDEXED

EXAMPLES = int(os.environ.get("ARCHSPEC_CHECK_FORWARD_EXAMPLES", "60"))
#: Small limits keep real tensors small: a model over them is not a verdict, only a refusal.
LIMITS = {"max_params": 200_000, "max_activations": 200_000}
#: Values at the edges of what PyTorch's kernels take (int32, int64) and the loader allows.
EDGE_INTS = [2**31 - 1, 2**31, 2**32 + 1, 2**40, 10**15]
#: Codes that say nothing about shapes: the spec is refused before any shape rule runs.
UNRELATED = ("E1", "E2", "E3")


def _final(field: Any) -> Final | None:
    """The `Final` marker of a field, wherever pydantic left it (Optional wraps it)."""
    for meta in field.metadata:
        if isinstance(meta, Final):
            return meta
    stack = [field.annotation]
    while stack:
        tp = stack.pop()
        for meta in getattr(tp, "__metadata__", ()):
            if isinstance(meta, Final):
                return meta
        stack.extend(typing.get_args(tp))
    return None


def _literals(annotation: Any) -> list[Any]:
    out: list[Any] = []
    stack = [annotation]
    while stack:
        tp = stack.pop()
        if typing.get_origin(tp) is typing.Literal:
            out.extend(typing.get_args(tp))
        else:
            stack.extend(typing.get_args(tp))
    return out


def _int(lo: int | None) -> st.SearchStrategy[int]:
    base = 0 if lo is None else int(lo)
    small = st.integers(min_value=base if lo is not None else -3, max_value=base + 3)
    wider = st.integers(min_value=base, max_value=base + 8)
    edges = st.sampled_from(EDGE_INTS)
    return st.one_of(*[st.just(base)] * 5, *[small] * 8, wider, wider, edges)


def _float(final: Final) -> st.SearchStrategy[float]:
    lo = final.gt if final.gt is not None else final.ge
    hi = final.le
    edges = [x for x in (0.0, 1e-12, 0.5, 1.0, 2.0, 1e30, -1.0) if _within(x, final)]
    return st.one_of(
        st.sampled_from(edges),
        st.floats(
            min_value=lo if lo is not None else -10.0,
            max_value=hi if hi is not None else 10.0,
            allow_nan=False,
            exclude_min=final.gt is not None,
        ),
    )


def _within(x: float, final: Final) -> bool:
    return (
        (final.ge is None or x >= final.ge)
        and (final.gt is None or x > final.gt)
        and (final.le is None or x <= final.le)
    )


def _value(name: str, field: Any, nd: int) -> st.SearchStrategy[Any] | None:
    """A strategy for one field, or None to leave it out (its default, or inferred)."""
    final = _final(field)
    literals = _literals(field.annotation) if final is None else []
    if literals:
        return st.sampled_from(literals)
    if final is None:
        return None
    if final.kind == "word":  # one of its words (a param's name is another test's)
        return st.sampled_from(list(final.choices or ()))
    if final.kind == "bool":
        return st.booleans()
    if final.kind == "float":
        return _float(final)
    if final.kind == "floats":  # one per channel: lengths the drawn shapes often have
        return st.lists(_float(final), min_size=1, max_size=4)
    if final.kind == "int":
        lo = final.ge
        if name == "dim" or name.endswith("_dim"):
            return st.integers(-6, 6)
        return _int(lo)
    if final.kind == "ints":
        one = _int(final.ge)
        exact = st.lists(one, min_size=nd, max_size=nd)
        lists = st.lists(one, min_size=max(nd - 1, 1), max_size=nd + 1)
        choices = st.sampled_from(list(final.choices or ())) if final.choices else st.nothing()
        if typing.get_origin(field.annotation) is list:  # a list only (unflattened_size, a
            return st.one_of(exact, exact, lists, choices)  # norm's dims): no lone int
        return st.one_of(one, one, one, exact, exact, lists, choices)
    return None


@functools.cache
def _field_strategy(kind: str, name: str, nd: int) -> st.SearchStrategy[Any] | None:
    """`_value` of a kind's field, built once: hypothesis validates a strategy on its first
    draw, and building them anew for every case cost more than running the case."""
    return _value(name, REGISTRY[kind].spec.model_fields[name], nd)


@functools.cache
def _ranks(kind: str, pinned: tuple[str, Any] | None = None) -> list[int]:
    """The input ranks a kind takes with its smallest arguments and the pinned choice (a
    trilinear mode takes rank 5 only), found by asking check: the strategy draws these
    mostly (any rank sometimes), so most cases reach the size rules."""
    op = REGISTRY[kind]
    layer: dict[str, Any] = {"type": kind}
    for name, field in op.spec.model_fields.items():
        if name in META_FIELDS or not field.is_required():
            continue
        final = _final(field)
        literals = _literals(field.annotation)
        word = final is None or final.kind == "word"  # a word field: one of its words
        layer[name] = literals[0] if literals and word else 1
        if name == op.names_field:
            layer[name] = ["p0", "p1"]
    if pinned is not None:
        layer[pinned[0]] = pinned[1]
    out = []
    for rank in range(1, 6):
        layers = [layer]
        if kind in FEEDS:
            fed, picks = FEEDS[kind](rank)
            layers = [*_mirrored(kind, fed, layer), {**layer, "from": picks}]
        elif op.arity == "many" or op.arity > 1:
            picks = ["a", "input"] + ["input"] * (0 if op.arity == "many" else op.arity - 2)
            first = UNDOES[kind](layer) if kind in UNDOES else {"type": "identity"}
            layers = [{"name": "a", **first}, {**layer, "from": picks}]
        spec = {"archspec": 1, "name": "net", "input": [2] + [8] * (rank - 1), "layers": layers}
        if archspec.check(spec).ok:
            out.append(rank)
    return out or list(range(1, 6))


#: One input size: mostly tiny.
SIZE = st.one_of(st.integers(1, 4), st.integers(1, 4), st.integers(1, 9))


@st.composite
def cases(
    draw: st.DrawFn, kind: str, pinned: tuple[str, Any] | None = None
) -> tuple[dict[str, Any], tuple[int, ...]]:
    """A one-layer spec (two or three inputs for merge ops) and a concrete input shape;
    `pinned` fixes one field (a choice such as padding_mode) for the whole run."""
    op = REGISTRY[kind]
    fits = draw(st.sampled_from([True, True, True, True, False]))
    rank = draw(st.sampled_from(_ranks(kind, pinned)) if fits else st.integers(1, 5))
    shape = tuple(draw(st.lists(SIZE, min_size=rank, max_size=rank)))
    nd = min(max(max(_ranks(kind)) - 2, 1), 3)  # the kind's spatial dims, as far as known
    layer: dict[str, Any] = {"type": kind}
    for name, field in op.spec.model_fields.items():
        if name in META_FIELDS:
            continue
        if pinned is not None and name == pinned[0]:
            layer[name] = pinned[1]
            continue
        if name in op.inferred and draw(st.integers(0, 9)):
            continue  # usually inferred; sometimes stated, right or wrong
        strategy = _field_strategy(kind, name, nd)
        if strategy is None and name != op.names_field:
            continue
        if name == "dims":  # permute: mostly a permutation of the input's dims
            perms = st.permutations(list(range(rank)))
            strategy = st.one_of(perms, perms, strategy)
        if name == op.names_field:  # chunk, split: the pieces' names
            layer[name] = [f"p{i}" for i in range(draw(st.integers(2, 4)))]
            continue
        if not field.is_required() and draw(st.booleans()):
            continue  # the default
        layer[name] = draw(strategy)
    if kind == "check_size" and draw(st.booleans()):  # random sizes seldom fit
        layer["size"] = list(shape[2:])
    if op.names_field and "split_size" in layer and draw(st.booleans()):
        _fitting_split(draw, layer, shape)
    layers: list[dict[str, Any]] = []
    if op.reads_nodes:  # a reuse: of a module written above it, on its output or the input
        layers.append({"name": "t", "type": "linear", "out_features": draw(st.integers(1, 6))})
        layer["node"], layer["from"] = "t", draw(st.sampled_from(["t", "input"]))
    if op.arity == "many" or op.arity > 1:
        start, end = draw(st.integers(-rank, rank - 1)), draw(st.integers(-rank, rank - 1))
        layers.append({"name": "a", "type": "identity"})
        layers.append({"name": "b", "type": "flatten", "start_dim": start, "end_dim": end})
        least, most = (2, 3) if op.arity == "many" else (op.arity, op.arity)
        picks = draw(st.lists(st.sampled_from(["a", "b", "input"]), min_size=least, max_size=most))
        layer["from"] = picks
        if "b" not in picks:
            layers = layers[:1]
        if kind in UNDOES and draw(st.booleans()):  # often: undo what made its input
            layers, layer["from"] = [{"name": "a", **UNDOES[kind](layer)}], ["a", "input"]
        if kind in FEEDS and draw(st.booleans()):  # often: inputs made to fit from the input
            layers, layer["from"] = FEEDS[kind](rank)
            if kind.startswith("maxunpool") and draw(st.booleans()):
                layer.update(kernel_size=2, stride=2, padding=0)  # SegNet's: often fits
            layers = _mirrored(kind, layers, layer)
    if kind in INDEXED:  # indices: an int64 buffer of the drawn shape (a spec's input is float)
        ids = {"name": "ids", "type": "buffer", "dtype": "int64", "shape": list(shape)}
        ids["fill"] = draw(st.sampled_from(["arange", "constant"]))
        if ids["fill"] == "constant":
            ids["value"] = draw(st.integers(-1, 3))
        layers.append(ids)
        layer["from"] = "ids"
    layers.append(layer)
    spec = {"archspec": 1, "name": "net", "input": list(shape), "layers": layers}
    return spec, shape


#: kinds that undo another one's layout: their first input is often that kind's output
UNDOES = {
    "departition": lambda layer: {
        "type": "partition",
        "size": layer.get("size", 1),
        "grid": layer.get("grid", False),
    },
}


def _theta(rank: int) -> list[dict[str, Any]]:
    """Layers making an affine theta from the input: (N, 2, 3), or (N, 3, 4) for rank 5."""
    nd = 3 if rank == 5 else 2
    return [
        {"name": "t", "type": "flatten"},
        {"name": "th", "type": "linear", "out_features": nd * (nd + 1)},
        {"name": "theta", "type": "reshape", "shape": [-1, nd, nd + 1]},
    ]


#: kinds of two inputs that random pairs seldom fit: layers making fitting ones from the
#: input, and what the kind reads
FEEDS: dict[str, Any] = {
    "affine_grid": lambda rank: (_theta(rank), ["theta", "input"]),
    "grid_sample": lambda rank: (
        [*_theta(rank), {"name": "g", "type": "affine_grid", "from": ["theta", "input"]}],
        ["input", "g"],
    ),
    # position 0, which every dim of the input has
    "index": lambda rank: (
        [{"name": "pos", "type": "buffer", "shape": [1], "fill": "arange", "dtype": "int64"}],
        ["input", "pos"],
    ),
}


def _pooled(nd: int, more: tuple[str, ...]) -> Any:
    """An unpool's feed: the input max-pooled by 2 with its indices, read as the unpool's
    values and indices (and `more`: the pool's input, for a `_as` unpool's size)."""

    def feed(rank: int) -> tuple[list[dict[str, Any]], list[str]]:
        pool = {"type": f"maxpool{nd}d_with_indices", "kernel_size": 2, "names": ["v", "i"]}
        return [pool], ["v", "i", *more]

    return feed


def _mirrored(kind: str, fed: list[dict[str, Any]], layer: dict[str, Any]) -> list[dict[str, Any]]:
    """An unpool's pool with the unpool's window (as SegNet pairs them), so drawn windows
    often fit; any other kind's feed as it is."""
    if not kind.startswith("maxunpool"):
        return fed
    window = {k: layer[k] for k in ("kernel_size", "stride", "padding") if k in layer}
    return [{**fed[0], **window}, *fed[1:]]


for _nd in (1, 2, 3):
    FEEDS[f"maxunpool{_nd}d"] = _pooled(_nd, ())
    FEEDS[f"maxunpool{_nd}d_as"] = _pooled(_nd, ("input",))


def _fitting_split(draw: st.DrawFn, layer: dict[str, Any], shape: tuple[int, ...]) -> None:
    """Sizes that cut the split's dim into as many pieces as it names (random ones seldom
    do): a list adding up to the dim, or one size leaving a last piece of 1 to that size."""
    dim = layer.get("dim", 1)
    if not -len(shape) <= dim < len(shape) or shape[dim] < len(layer["names"]):
        return
    size, k = shape[dim], len(layer["names"])
    cuts = sorted(
        draw(st.lists(st.integers(1, size - 1), min_size=k - 1, max_size=k - 1, unique=True))
    )
    bounds = [0, *cuts, size]
    sizes = [b - a for a, b in itertools.pairwise(bounds)]
    one = -(-size // k)
    layer["split_size"] = sizes if draw(st.booleans()) or (k - 1) * one >= size else one


def _forward(spec: dict[str, Any], shape: tuple[int, ...]) -> tuple[bool, Any]:
    """(True, output) if the compiled module runs; (False, why) if anything refuses."""
    try:
        model = archspec.compile(spec, **LIMITS)  # type: ignore[arg-type]
    except ArchSpecError as exc:
        return False, exc
    except Exception as exc:  # torch refusing the arguments at construction
        return False, exc
    model.eval()
    try:
        with torch.no_grad():
            return True, model(torch.randn(shape))
    except Exception as exc:
        return False, exc


def _unpool_warned(result: Any, out: Any) -> bool:
    """A plain unpool to another size than its pool's input, which check warns of (W409):
    torch refuses an index past the smaller output for some data only, which no shape rule
    sees (docs/errors.md, W409)."""
    warned = any(d.code == "W409" for d in result.diagnostics)
    return warned and "invalid max index" in str(out)


def _torch_unreliable(result: Any) -> bool:
    """The places check refuses more than PyTorch does, on purpose: a conv stride of 2**31
    or more with a padded extent reaching 2**31, where PyTorch computes the output size in
    32-bit ints: some such inputs fail, some run with a shape other than its own formula's
    (tests/test_trust_bounds.py shows one), some happen to come out right. No exact rule
    is documented, so check refuses the whole regime rather than guess. Likewise a
    transposed convolution's size of 2**31 or more, which torch truncates to 32 bits
    (stride 2**31 fails, 2**32 + 1 runs as 1)."""
    return all(d.code == "E409" and "32-bit ints" in d.message for d in result.errors)


def _runs() -> list[tuple[str, tuple[str, Any] | None, int]]:
    """(kind, pinned choice, examples): each choice of a kind's first choice field gets a
    run of its own, so a rule of one padding mode cannot hide among the others; kinds with
    more fields get more examples."""
    out = []
    for kind in sorted(k for k, op in REGISTRY.items() if op.written):  # `block_output`: not
        fields = {
            n: f
            for n, f in REGISTRY[kind].spec.model_fields.items()
            if n not in META_FIELDS and _value(n, f, 2) is not None
        }
        examples = max(20, EXAMPLES * (1 + len(fields)) // 5)
        choice = next(
            ((n, _literals(f.annotation)) for n, f in fields.items() if _final(f) is None), None
        )
        if choice is None:
            out.append((kind, None, examples))
        else:
            name, values = choice
            out += [(kind, (name, v), max(20, examples // 2)) for v in values]
    return out


RUNS = _runs()


def _sampled_runs() -> list[object]:
    """RUNS as (kind, pinned, examples, full) params: the default run drives every kind (and
    choice) with a sixth of its examples (12 at least) and falls back to the full run where
    that sixth meets too few real cases; `--all` adds each run in full (the default run spent
    77 of its 1,284 s here with a third)."""
    out: list[object] = []
    for kind, pinned, examples in RUNS:
        name = f"{kind}-{pinned[1]}" if pinned else kind
        out.append(pytest.param(kind, pinned, max(12, examples // 6), examples, id=name))
        out.append(
            pytest.param(
                kind, pinned, examples, examples, id=f"{name}-all", marks=pytest.mark.heavy
            )
        )
    return out


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    """Tiny tensors: a thread pool costs ~30 ms a forward on a busy machine, one thread 0.1."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize(("kind", "pinned", "examples", "full"), _sampled_runs())
def test_check_accepts_exactly_what_the_module_runs(
    kind: str, pinned: tuple[str, Any] | None, examples: int, full: int
) -> None:
    counts = _drive(kind, pinned, examples)
    if examples < full and not (counts["accepted"] >= 1 and _checked(counts) >= 10):
        # a kind whose sample met too few real cases: judged on its full run, from scratch
        counts, examples = _drive(kind, pinned, full), full
    # every kind really exercised: a strategy that only produced rejected specs fails here
    assert _checked(counts) >= min(examples, 10), (kind, dict(counts))
    assert counts["accepted"] >= 1, (kind, dict(counts))


def _checked(counts: Counter[str]) -> int:
    return counts["accepted"] + counts["refused"]


def _drive(kind: str, pinned: tuple[str, Any] | None, examples: int) -> Counter[str]:
    """Run `examples` cases of `kind` (asserting each verdict); how many were accepted,
    refused, or left aside as unreliable."""
    counts: Counter[str] = Counter()

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(case=cases(kind, pinned))
    def run(case: tuple[dict[str, Any], tuple[int, ...]]) -> None:
        spec, shape = case
        result = archspec.check(spec)
        codes = [d.code for d in result.errors]
        assume(not any(c.startswith(UNRELATED) for c in codes))
        ran, out = _forward(spec, shape)
        if isinstance(out, ArchSpecError):
            refused_for_size = out.error_code in ("E501", "E502")
            assume(not (result.ok and refused_for_size))
        if result.ok and not ran and _unpool_warned(result, out):
            counts["unreliable"] += 1  # W409: an unpool to another size, as it warns
        elif result.ok:
            assert ran, f"check accepted {spec} but the module failed: {out!r}"
            (expected,) = result.outputs
            assert tuple(out.shape) == tuple(d.value for d in expected), spec
            counts["accepted"] += 1
        elif ran and _torch_unreliable(result):
            counts["unreliable"] += 1  # see _torch_unreliable: refused on purpose
        else:
            assert not ran, f"check refused {spec} ({codes}) but the module ran"
            counts["refused"] += 1

    run()
    return counts
