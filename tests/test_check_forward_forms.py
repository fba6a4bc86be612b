"""`check` says ok exactly where the forward runs, for small random networks of the forms
session 24 added: pads (constant, reflection, replication, zero), `unflatten`, torch's
elementwise activations (as kinds and as `activation` fns) and `glu`, `when`s over
`in_channels`, pieces of `select`, `chunk` and `split`, `embedding` over an int64 buffer moved
by them and joined, blocks with several `inputs`, and flat `repeat`s read back through
computed `from` lists (name templates, `{each, for, in, when}` entries).

Each case is a spec over a symbolic input ((N, C, L), (N, C, H, W) or (N, C, D, H, W)): a
chain of two to five steps drawn from those forms (a conv or pool among them, so domains
have edges), and a grid of tiny input sizes with the edges of the domain check states. At
every size check's verdict (`domain.contains`) must be the forward's (the compiled module on
a real tensor runs or refuses) and, where it runs, the output shapes check's symbolic ones
at those sizes; a spec check refuses, compile refuses too. At one accepted and one refused
size, `check --input` says the same, and the emitted source with compile's weights runs (and
computes what compile's module does) or refuses as compile's does.

Examples: `ARCHSPEC_FORMS_EXAMPLES` (default 120, about 20 s). The long run outside the suite,
`ARCHSPEC_FORMS_EXAMPLES=3000 pytest tests/test_check_forward_forms.py` (10 minutes), found
the lookups of a select's or split's part of a buffer (passes/dtypes.py) and a split into
more pieces than named, which compile ran (ops/split.py); it agrees everywhere since.
"""

from __future__ import annotations

import itertools
import math
import os
import types
from collections import Counter
from typing import Any

import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archspec
from archspec.errors import ArchSpecError

EXAMPLES = int(os.environ.get("ARCHSPEC_FORMS_EXAMPLES", "120"))
LIMITS = {"max_params": 200_000, "max_activations": 200_000}
#: The symbols of each input rank's sizes, and the sizes tried for each.
SYMBOLS = {3: ("L",), 4: ("H", "W"), 5: ("D", "H", "W")}
GRID = {3: range(1, 13), 4: range(1, 8), 5: range(1, 5)}
ELEMENTWISE = (
    ("softplus", {"beta": [1.0, 0.5, 2.0, 0.0, -1.0], "threshold": [20.0, 0.5, -1.0]}),
    ("selu", {}),
    ("celu", {"alpha": [1.0, 0.5, 0.0, -2.0]}),
    ("hardtanh", {"min_val": [-1.0, -2.0, 0.5, 1.0], "max_val": [1.0, 2.0, -1.0]}),
    ("logsigmoid", {}),
    ("softsign", {}),
    ("tanhshrink", {}),
    ("threshold", {"threshold": [0.1, -1.0], "value": [0.0, 2.0]}),
    ("activation", {"fn": ["softplus", "selu", "celu", "hardtanh", "logsigmoid", "softsign"]}),
)
#: `when`s of a step: some read the width the node's input has.
WHENS = ("in_channels % 2 == 0", "in_channels > 2", "in_channels == 1")


class Net:
    """The spec being drawn: its layers and blocks, the rank of the main chain's tensor and
    the node it continues from (every layer names what it reads)."""

    def __init__(self, rank: int) -> None:
        self.rank = rank
        self.layers: list[dict[str, Any]] = []
        self.blocks: dict[str, Any] = {}
        self.lookups: list[str] = []
        self.chain: list[str] = ["input"]  # the main chain's nodes, in order

    @property
    def spatial(self) -> int:
        """The spatial dims of the current tensor, clamped to what 1d..3d kinds take."""
        return max(1, min(3, self.rank - 2))

    def add(self, layer: dict[str, Any], *, main: bool = True) -> str:
        name = f"l{len(self.layers)}"
        self.layers.append({"name": name, "from": self.chain[-1], **layer})
        if main:
            self.chain.append(name)
        return name


def _pad(draw: st.DrawFn, net: Net) -> None:
    family = draw(st.sampled_from(["zero", "constant", "reflection", "replication"]))
    d = draw(st.sampled_from([net.spatial] * 3 + [1, 2, 3]))
    side = st.integers(0, 3)
    if family != "zero" and not draw(st.integers(0, 9)):  # seldom: a size torch refuses
        side = st.sampled_from([-1, 0, 1])
    padding = draw(st.one_of(side, st.lists(side, min_size=2 * d, max_size=2 * d)))
    layer: dict[str, Any] = {"type": f"{family}_pad{d}d", "padding": padding}
    if family == "constant":
        layer["value"] = draw(st.sampled_from([0.0, 1.5, -2.0]))
    net.add(layer)


def _elementwise(draw: st.DrawFn, net: Net) -> None:
    kind, fields = draw(st.sampled_from(ELEMENTWISE))
    layer: dict[str, Any] = {"type": kind}
    for field, values in fields.items():
        if kind in ("threshold", "activation") or draw(st.booleans()):
            layer[field] = draw(st.sampled_from(values))
    if not draw(st.integers(0, 3)):
        layer["when"] = draw(st.sampled_from(WHENS))
    net.add(layer)


def _glu(draw: st.DrawFn, net: Net) -> None:
    layer: dict[str, Any] = {"type": "glu"}
    if draw(st.booleans()):
        layer["dim"] = draw(st.integers(-net.rank, net.rank - 1))
    elif draw(st.booleans()):
        layer["dim"], layer["when"] = 1, "in_channels % 2 == 0"
    net.add(layer)


def _pieces(draw: st.DrawFn, net: Net) -> None:
    """A select, chunk or split of the main chain, often along a spatial dim."""
    dim = draw(st.integers(1, net.rank - 1))
    kind = draw(st.sampled_from(["select", "chunk", "split"]))
    if kind == "select":
        net.add({"type": "select", "dim": dim, "index": draw(st.integers(-2, 2))})
        net.rank -= 1
        return
    count = draw(st.integers(2, 3))
    names = [f"q{len(net.layers)}_{i}" for i in range(count)]
    layer: dict[str, Any] = {"type": kind, "names": names, "dim": dim, "from": net.chain[-1]}
    if kind == "split":
        layer["split_size"] = draw(st.integers(1, 3))
    net.layers.append(layer)
    net.chain.append(names[draw(st.integers(0, count - 1))])


def _unflatten(draw: st.DrawFn, net: Net) -> None:
    """An unflatten, and mostly a flatten back (the spatial kinds need the rank)."""
    dim = draw(st.sampled_from([*range(1, net.rank), -1, 0]))
    k = draw(st.integers(1, 3))
    sizes = draw(st.sampled_from([[-1, k], [k, -1], [k, 2], [1, -1], [2, 2, -1], [0, -1], [-2, 2]]))
    net.add({"type": "unflatten", "dim": dim, "unflattened_size": sizes})
    if draw(st.integers(0, 3)):
        first = dim if dim >= 0 else -len(sizes)
        last = dim + len(sizes) - 1 if dim >= 0 else -1
        net.add({"type": "flatten", "start_dim": first, "end_dim": last})
    else:
        net.rank += len(sizes) - 1


def _window(draw: st.DrawFn, net: Net) -> None:
    d = net.spatial
    k, s = draw(st.integers(1, 3)), draw(st.integers(1, 2))
    if draw(st.booleans()):
        layer = {"type": f"conv{d}d", "out_channels": draw(st.integers(1, 4)), "kernel_size": k}
        layer["stride"], layer["padding"] = s, draw(st.integers(0, 1))
    else:
        layer = {"type": f"maxpool{d}d", "kernel_size": k, "stride": s}
        layer["ceil_mode"] = draw(st.booleans())
    net.add(layer)


def _two_inputs(draw: st.DrawFn, net: Net) -> None:
    """A block of `inputs: [x, skip]` joining the current tensor with an earlier one."""
    join = draw(st.sampled_from(["add", "concat", "mul"]))
    body: list[dict[str, Any]] = []
    if draw(st.booleans()):
        pad = {"name": "padded", "type": f"replication_pad{net.spatial}d", "from": "skip"}
        body.append({**pad, "padding": draw(st.sampled_from([0, 0, 1]))})
        body.append({"name": "joined", "type": join, "from": ["x", "padded"]})
    else:
        body.append({"name": "joined", "type": join, "from": ["x", "skip"]})
    if draw(st.booleans()):
        body.append({"name": "act", "type": "softsign"})
    name = f"Join{len(net.blocks)}"
    net.blocks[name] = {"inputs": ["x", "skip"], "layers": body}
    net.add({"type": name, "from": [net.chain[-1], draw(st.sampled_from(net.chain))]})


def _copies(draw: st.DrawFn, net: Net) -> None:
    """A flat repeat of named copies, and a concat of some of them through a computed
    `from` (an `{each, for, in, when}` entry, a name template, the repeat's input)."""
    n = draw(st.integers(0, 3))
    tag = f"c{len(net.layers)}_"
    one = draw(st.sampled_from(["tanhshrink", "pad", "pool"]))
    if one == "pad":  # copies of different widths: 0, 1, 0, ... on each side
        layer: dict[str, Any] = {"type": f"reflection_pad{net.spatial}d", "padding": "i % 2"}
    elif one == "pool":
        layer = {"type": f"maxpool{net.spatial}d", "kernel_size": 2, "stride": 1}
    else:
        layer = {"type": one}
    before = net.chain[-1]
    repeat = {"type": "repeat", "count": n, "flat": True, "names": tag + "{i}", "layer": layer}
    net.layers.append({**repeat, "from": before})
    entry: dict[str, Any] = {"each": tag + "{j}", "for": "j", "in": n}
    if draw(st.booleans()):
        entry["when"] = draw(st.sampled_from(["j % 2 == 0", "j > 0", f"j == {n - 1}"]))
    froms: list[Any] = [entry]
    if draw(st.booleans()):
        froms.insert(0, {"each": before, "when": draw(st.sampled_from([f"{n} >= 0", f"{n} < 1"]))})
    if draw(st.booleans()):
        froms.append(tag + "{" + str(max(n - 1, 0)) + "}")
    net.add({"type": "concat", "from": froms})


def _lookup(draw: st.DrawFn, net: Net) -> None:
    """An embedding of an int64 buffer's values moved by select, chunk, split or flatten,
    and joined by concat, add, sub or mul: an output of its own, whose indices, not its
    shape, decide whether the forward runs."""
    shape = draw(st.lists(st.integers(1, 4), min_size=1, max_size=3))
    fill = draw(st.sampled_from(["arange", "arange", "constant"]))
    ids: dict[str, Any] = {"type": "buffer", "dtype": "int64", "shape": shape, "fill": fill}
    if fill == "constant":
        ids["value"] = draw(st.integers(-1, 4))
    source = net.add(ids, main=False)
    del net.layers[-1]["from"]  # a buffer reads nothing
    step = draw(st.sampled_from(["select", "chunk", "split", "none", "flatten"]))
    dim = draw(st.integers(0, len(shape) - 1))
    if step == "select":
        index = draw(st.integers(-2, 2))
        select = {"type": "select", "dim": max(dim, 1), "index": index, "from": source}
        source = net.add(select, main=False)
    elif step in ("chunk", "split"):
        names = [f"p{len(net.layers)}_{i}" for i in range(2)]
        piece: dict[str, Any] = {"type": step, "names": names, "dim": dim, "from": source}
        if step == "split":
            piece["split_size"] = draw(st.integers(1, 3))
        net.layers.append(piece)
        source = names[draw(st.integers(0, 1))]
    elif step == "flatten":
        source = net.add({"type": "flatten", "start_dim": 0, "from": source}, main=False)
    join = draw(st.sampled_from(["none", "none", "concat", "add", "sub", "mul"]))
    if join == "concat":  # with itself: the same values, twice as many
        source = net.add({"type": "concat", "dim": 0, "from": [source, source]}, main=False)
    elif join != "none":  # with a constant of one element, broadcast
        value = draw(st.integers(-1, 2))
        more = {"type": "buffer", "dtype": "int64", "shape": [1], "value": value}
        other = net.add(more, main=False)
        del net.layers[-1]["from"]
        pair = [source, other] if draw(st.booleans()) else [other, source]
        source = net.add({"type": join, "from": pair}, main=False)
    top = math.prod(shape) if fill == "arange" else 4  # rows around the largest index
    top = top + 2 if join in ("add", "mul") else top
    rows = draw(st.integers(max(1, top - 3), top + 1))
    lookup = {"type": "embedding", "num_embeddings": rows, "embedding_dim": 2, "from": source}
    net.lookups.append(net.add(lookup, main=False))


STEPS = (_pad, _elementwise, _glu, _unflatten, _window, _two_inputs, _copies, _lookup, _pieces)


@st.composite
def specs(draw: st.DrawFn) -> dict[str, Any]:
    """A spec over a symbolic input: two to five steps of the forms above."""
    rank = draw(st.sampled_from([3, 4, 4, 5]))
    net = Net(rank)
    for _ in range(draw(st.integers(2, 5))):
        if net.rank >= 3:
            draw(st.sampled_from(STEPS))(draw, net)
    channels = draw(st.integers(1, 4))
    spec: dict[str, Any] = {"archspec": 1, "name": "net", "input": ["N", channels, *SYMBOLS[rank]]}
    if net.blocks:
        spec["blocks"] = net.blocks
    spec["layers"] = net.layers
    if net.lookups:
        spec["outputs"] = [net.chain[-1], *net.lookups]
    return spec


def _sizes(result: Any, rank: int) -> list[dict[str, int]]:
    """The grid of tiny sizes, and each box's edges (its least member, one below, one above)."""
    names = SYMBOLS[rank]
    values = {s: set(GRID[rank]) for s in names}
    if result.ok and result.domain is not None:
        for box in result.domain.boxes:
            for s in names:
                if s in box:
                    for least in box[s].members(1):
                        values[s] |= {least - 1, least, least + 1} - {0}
    picks = [sorted(values[s])[:16] for s in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*picks)]


def _forward(model: torch.nn.Module, x: torch.Tensor) -> tuple[bool, Any]:
    """(True, the outputs) where the module runs on `x`, (False, why) where it refuses."""
    try:
        with torch.no_grad():
            out = model(x)
    except Exception as exc:  # torch refusing the input: the verdict under test
        return False, exc
    return True, out if isinstance(out, tuple) else (out,)


def _emitted(spec: dict[str, Any]) -> type[torch.nn.Module]:
    """The class of the emitted source (run in memory, nothing written)."""
    source = archspec.emit(spec)
    module = types.ModuleType("emitted_forms")
    exec(compile(source, "<emitted>", "exec"), module.__dict__)
    return module.Net


def judge(spec: dict[str, Any], counts: Counter[str]) -> None:
    """Check's verdict and shapes against real forwards at every size of `_sizes` (the
    batch 1 or 2 in turn); `check --input` and the emitted module at one accepted and one
    refused size."""
    result = archspec.check(spec)
    rank = len(spec["input"])
    try:
        model = archspec.compile(spec, **LIMITS).eval()
    except ArchSpecError as exc:
        assume(exc.error_code not in ("E501", "E502"))  # over the small limits: no verdict
        assert not result.ok, f"check said ok, compile refused: {exc}"
        counts["refused spec"] += 1
        return
    assert result.ok, f"check refused ({[d.code for d in result.errors]}) what compile built"
    picked: dict[bool, tuple[int, ...]] = {}
    for k, env in enumerate(_sizes(result, rank)):
        env = {"N": 1 + k % 2, **env}
        shape = (env["N"], spec["input"][1], *(env[s] for s in SYMBOLS[rank]))
        expected = result.domain.contains(env)
        ran, out = _forward(model, torch.randn(shape))
        what = [tuple(t.shape) for t in out] if ran else repr(out)
        assert ran == expected, f"{shape}: check says {expected}, forward {what}"
        if ran:
            want = [tuple(d.evaluate(env) for d in s) for s in result.outputs]
            assert what == want, f"{shape}: forward gives {what}, check {want}"
        picked.setdefault(ran, shape)
        counts["accepted" if ran else "refused"] += 1
    emitted = _emitted(spec)().eval()
    emitted.load_state_dict(model.state_dict(), strict=True)
    for ran, shape in picked.items():
        assert archspec.check(spec, input=shape).ok == ran, shape
        x = torch.randn(shape)
        ours, theirs = _forward(emitted, x), _forward(model, x)
        assert ours[0] == ran, f"{shape}: emitted {ours[1]!r}, compiled {ran}"
        if ran:
            torch.testing.assert_close(ours[1], theirs[1])
    counts["emitted"] += 1


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    """Tiny tensors: one thread is faster than a pool on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def test_check_agrees_with_the_forward_on_random_networks() -> None:
    counts: Counter[str] = Counter()

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(spec=specs())
    def run(spec: dict[str, Any]) -> None:
        judge(spec, counts)

    run()
    # every case judged: specs built and refused, and sizes on both sides of each domain
    assert counts["emitted"] + counts["refused spec"] >= EXAMPLES, dict(counts)
    assert counts["emitted"] >= EXAMPLES // 4, dict(counts)
    assert min(counts["refused"], counts["accepted"]) >= EXAMPLES, dict(counts)
