"""Reshaped instances (lowering/reshape.py): an instance of a block of plain layers that
takes the structure of a kept one (its `when`s, names and inputs decided by the same
values) but has other widths, kernels or input sizes is the kept instance's nodes bound and
shaped again, and nothing downstream can tell: the graph (field by field, types and key
order included), every diagnostic, every requirement and the emitted code are those of
lowering it for real."""

from __future__ import annotations

import functools
import itertools
import random
from typing import Any

import pytest

import archspec
from archspec import api
from archspec.errors import ArchSpecError
from archspec.ir import Graph, iter_modules
from archspec.lowering import memo as memo_module
from archspec.lowering import reshape
from archspec.lowering.walker import Lowerer

from .conftest import spec_files

#: `act` decides a `when` (held); `drop` reaches a let a `when` reads (held); `width` and `k`
#: reach only fields, and each instance reads more channels than the one before (the concat)
NET = """\
archspec: 1
name: reshapes
input: [2, 8, 12, 12]
blocks:
  Unit:
    params:
      width: int
      k: {type: int, default: 3}
      act: {type: str, default: relu, choices: [relu, silu]}
      drop: {type: float, default: 0.0}
    let: {mid: width * 2, dropping: drop > 0}
    layers:
      - {type: conv2d, out_channels: mid, kernel_size: k, padding: k // 2, bias: false}
      - {type: batchnorm2d}
      - {type: relu, inplace: true, when: "act == 'relu'"}
      - {type: silu, when: "act == 'silu'"}
      - {name: proj, type: conv2d, out_channels: width, kernel_size: 1}
      - {name: dropout, type: dropout, p: drop, when: dropping}
      - {name: out, type: concat, from: [input, dropout], when: dropping}
      - {name: out, type: concat, from: [input, proj], when: not dropping}
layers:
  - {type: Unit, width: 4}
  - {type: Unit, width: 6}
  - {type: Unit, width: 6, k: 5}
  - {type: Unit, width: 3, act: silu}
  - {type: Unit, width: 5, act: silu}
  - {type: Unit, width: 2, drop: 0.1}
  - {type: Unit, width: 3, drop: 0.1}
  - {type: Unit, width: 2, drop: 0.2}
  - {type: Unit, width: 7}
"""


def _real_lowerings(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths of the Unit instances lowered for real, appended to as they are."""
    lowered: list[str] = []
    real = Lowerer.lower_scope

    def counting(self: Lowerer, child: Any, env: Any, shape: Any, path: str, *a: Any) -> Any:
        if child.block == "Unit":
            lowered.append(path)
        return real(self, child, env, shape, path, *a)

    monkeypatch.setattr(Lowerer, "lower_scope", counting)
    return lowered


def _without_reshaping(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reshape, "masked_key", lambda *a: None)


def _same(a: Any, b: Any, where: str = "graph") -> None:
    """`a` and `b` alike field by field: the same types, dict keys in the same order (`==`
    would take 1 for 1.0 and True, and ignore order)."""
    assert type(a) is type(b), where
    fields = getattr(type(a), "__dataclass_fields__", None)
    if fields is not None:
        for f in fields:
            if f != "copy_of":  # not compared: a copy equals what it would be lowered to
                _same(getattr(a, f), getattr(b, f), f"{where}.{f}")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            _same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, functools.partial):  # a requirement's message: compared by repr
        assert repr(a) == repr(b), where
    else:
        assert a == b, where


def _both(source: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Graph, Graph]:
    reshaped = archspec.build_graph(source)
    with monkeypatch.context() as m:
        _without_reshaping(m)
        real = archspec.build_graph(source)
    return reshaped, real


def _units(graph: Graph) -> list[Any]:
    return [m for m in iter_modules(graph.root) if m.block == "Unit"]


def test_instances_of_one_structure_are_reshaped(monkeypatch: pytest.MonkeyPatch) -> None:
    lowered = _real_lowerings(monkeypatch)
    reshaped = archspec.build_graph(NET)
    # 0: the first; 3: `act` decides a node; 5: `drop` decides nodes (through `dropping`),
    # and so 7, whose `drop` is another value; 1, 2, 4, 6 and 8 take their structure, each
    # with its own widths, kernel and input channels
    assert lowered == ["0", "3", "5", "7"]
    lowered.clear()
    with monkeypatch.context() as m:
        _without_reshaping(m)
        real = archspec.build_graph(NET)
    assert lowered == [str(i) for i in range(9)]
    _same(reshaped, real)
    units = _units(reshaped)
    assert [m.in_shape[1].value for m in units] == [8, 12, 18, 24, 27, 32, 34, 37, 39]
    assert [m.node("proj").attrs["out_channels"] for m in units] == [4, 6, 6, 3, 5, 2, 3, 2, 7]
    assert [m.nodes[0].attrs["kernel_size"] for m in units][1:3] == [3, 5]
    assert [dict((let.name, let.value) for let in m.lets)["mid"] for m in units][:3] == [8, 12, 12]
    assert all(m.copy_of is None for m in units)


def test_reshaped_instances_emit_the_same_code(monkeypatch: pytest.MonkeyPatch) -> None:
    reshaped = archspec.emit(NET)
    with monkeypatch.context() as m:
        _without_reshaping(m)
        real = archspec.emit(NET)
    assert reshaped == real


def test_the_shipped_specs_lower_alike_with_and_without_reshaping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Every variant of every shipped spec, lowered as `archspec check specs/*.yaml` does
    (a family's variants sharing their memo), with its diagnostics and requirements."""
    taken: list[int] = []
    real_take = memo_module.reshaped_instance

    def counting(*args: Any) -> Any:
        module = real_take(*args)
        taken.append(module is not None)
        return module

    def lowered() -> list[Any]:
        targets = [(f, v) for f in spec_files() for v in api.family_variants(f) or [None]]
        out = []
        for _, group in itertools.groupby(targets, key=lambda t: t[0]):
            with api.family_budget(api.DEFAULT_MAX_LAYERS):
                for path, variant in group:
                    parsed = api._parse(path, variant)
                    out.append(api._lowered(parsed, {}, api.DEFAULT_MAX_LAYERS, None))
        return out

    monkeypatch.setattr(memo_module, "reshaped_instance", counting)
    reshaped = lowered()
    assert sum(taken) > 500  # EfficientNet's, RegNet's, DenseNet's ... instances
    with monkeypatch.context() as m:
        _without_reshaping(m)
        real = lowered()
    assert len(reshaped) == len(real) > 80
    for a, b in zip(reshaped, real):
        _same(a.graph, b.graph, a.graph.name)
        assert repr(a) == repr(b)


#: one block, each call's width, kernel or input taken from the spec's params
PLAIN = """\
archspec: 1
name: plain
input: [2, 8, 9, 9]
params: {w2: {type: int, default: 6}, k2: {type: int, default: 3}}
blocks:
  Unit:
    params: {width: int, k: {type: int, default: 3}}
    layers:
      - {name: conv, type: conv2d, out_channels: width, kernel_size: k}
      - {name: act, type: relu}
layers:
  - {type: Unit, width: 4}
  - {type: Unit, width: 5}
  - {type: Unit, width: w2, k: k2}
"""


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"w2": 0}, "E309"),  # a width the conv's field refuses
        ({"k2": 11}, "E405"),  # a kernel larger than the input: the rule fails
    ],
)
def test_what_a_reshaping_finds_wrong_is_reported_by_a_real_lowering(
    monkeypatch: pytest.MonkeyPatch, params: dict[str, int], code: str
) -> None:
    """The second call is reshaped; the reshaping of the third fails: it is lowered for
    real, which reports the error at its place, as it does without reshaping."""
    lowered = _real_lowerings(monkeypatch)
    with pytest.raises(ArchSpecError) as reshaped:
        archspec.build_graph(PLAIN, params)
    assert lowered == ["0", "2"]
    with monkeypatch.context() as m:
        _without_reshaping(m)
        with pytest.raises(ArchSpecError) as real:
            archspec.build_graph(PLAIN, params)
    assert [d.code for d in reshaped.value.diagnostics] == [code]
    assert repr(reshaped.value.diagnostics) == repr(real.value.diagnostics)


def test_instances_that_meet_requirements_are_lowered_for_real(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On a symbolic input, each conv requires its output extent to be at least 1: the
    first instance records that, the others meet it recorded already. None is kept for a
    reshaping, so each is lowered for real, and the requirements are the same."""
    text = PLAIN.replace("input: [2, 8, 9, 9]", "input: [2, 8, H, 9]")
    lowered = _real_lowerings(monkeypatch)
    reshaped, real = _both(text, monkeypatch)
    assert lowered == ["0", "1", "2"] * 2
    _same(reshaped, real)
    assert reshaped.constraints and repr(reshaped.constraints) == repr(real.constraints)


def test_an_instance_whose_rule_would_record_a_requirement_is_lowered_for_real(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A prelu with one slope asks nothing of the symbolic channels C; with three it
    requires C == 3: the third call, taken from the second, finds its rule asking, and is
    lowered for real, which records the requirement. (The input's map is fixed by a first
    layer: an input written `[2, C, 8]` holds tokens, its features last, and an instance
    on another channel axis than dim 1 is never reshaped.)"""
    text = """\
archspec: 1
name: asks
input: [2, C, H, W]
blocks:
  Unit:
    params: {width: int, n: int}
    layers:
      - {name: pool, type: upsample, size: width}
      - {name: act, type: prelu, num_parameters: n}
layers:
  - {name: fixed, type: upsample, size: 8}
  - {type: Unit, width: 4, n: 1}
  - {type: Unit, width: 5, n: 1}
  - {type: Unit, width: 6, n: 3}
"""
    lowered = _real_lowerings(monkeypatch)
    reshaped, real = _both(text, monkeypatch)
    assert lowered == ["1", "3"] + ["1", "2", "3"]
    _same(reshaped, real)
    assert [c.rhs for c in reshaped.constraints] == [3]


@pytest.mark.parametrize(
    ("layers", "why"),
    [
        ("- {name: conv, type: conv2d, out_channels: in_channels * 2, kernel_size: 1}", "input"),
        ("- {name: seq, type: sequential, layers: [{type: relu}]}", "a construct"),
        (
            "- {name: conv, type: conv2d, out_channels: 4, kernel_size: 1, when: in_channels < 9}",
            "a `when` on the input",
        ),
    ],
)
def test_blocks_that_do_not_qualify_are_always_lowered_for_real(
    monkeypatch: pytest.MonkeyPatch, layers: str, why: str
) -> None:
    text = f"""\
archspec: 1
name: unfit
input: [2, 8, 9, 9]
blocks:
  Unit:
    params: {{width: int}}
    layers:
      {layers}
      - {{name: proj, type: conv2d, out_channels: width, kernel_size: 1}}
layers:
  - {{type: Unit, width: 4}}
  - {{type: Unit, width: 5}}
  - {{type: Unit, width: 6}}
"""
    lowered = _real_lowerings(monkeypatch)
    reshaped, real = _both(text, monkeypatch)
    assert lowered == ["0", "1", "2"] * 2, why
    _same(reshaped, real)


def test_a_let_that_decides_structure_must_keep_its_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`wide` reads the block's input channels and decides a `when`: an instance is taken
    from a kept one only when its `wide` is the kept one's."""
    text = """\
archspec: 1
name: lets
input: [2, 4, 9, 9]
blocks:
  Unit:
    params: {width: int}
    let: {wide: in_channels > 6}
    layers:
      - {name: squeeze, type: conv2d, out_channels: 2, kernel_size: 1, when: wide}
      - {name: proj, type: conv2d, out_channels: width, kernel_size: 1}
layers:
  - {type: Unit, width: 5}
  - {type: Unit, width: 6}
  - {type: Unit, width: 9}
  - {type: Unit, width: 8}
"""
    lowered = _real_lowerings(monkeypatch)
    reshaped, real = _both(text, monkeypatch)
    # 0 reads 4 channels, 1 reads 5 (reshaped), 2 reads 6 (reshaped), 3 reads 9: wide
    assert lowered == ["0", "3"] + ["0", "1", "2", "3"]
    _same(reshaped, real)
    assert [m.node("proj").in_shapes[0][1].value for m in _units(reshaped)] == [4, 5, 6, 2]


def test_a_block_whose_reshapings_mostly_fail_stops_being_tried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`odd` decides a `when` (always true) and reads the block's input channels, which
    every call makes odd where the one before made them even: each reshaping finds its
    value changed, and after a few the block's calls go straight to a real lowering; the
    graph is the same either way."""
    calls = "\n".join(f"  - {{type: Unit, width: {w}}}" for w in range(4, 26))
    text = f"""\
archspec: 1
name: parities
input: [2, 3, 5, 5]
blocks:
  Unit:
    params: {{width: int}}
    let: {{odd: in_channels % 2}}
    layers:
      - {{name: conv, type: conv2d, out_channels: width, kernel_size: 1, when: odd >= 0}}
layers:
{calls}
"""
    tried: list[int] = []
    real_try = reshape.reshaped

    def counting(*args: Any) -> Any:
        tried.append(1)
        return real_try(*args)

    monkeypatch.setattr(reshape, "reshaped", counting)
    lowered = _real_lowerings(monkeypatch)
    reshaped, real = _both(text, monkeypatch)
    assert 0 < len(tried) < 12  # 21 calls could have tried
    assert len(lowered) == 2 * 22
    _same(reshaped, real)


#: layers a random Unit is made of: fields that read free params, held ones (`act`,
#: `flag`), the let `mid`, and rules that fail or record requirements for some values
_PIECES = (
    "{{type: conv2d, out_channels: {w}, kernel_size: {k}, padding: {p}, stride: {s}}}",
    "{{type: batchnorm2d}}",
    "{{type: relu, when: \"act == 'relu'\"}}",
    "{{type: silu, when: \"act == 'silu'\"}}",
    "{{type: maxpool2d, kernel_size: {k}, stride: {s}, padding: {p2}}}",
    "{{type: dropout, p: rate}}",
    "{{type: conv2d, out_channels: {w}, kernel_size: 1, groups: {g}}}",
    "{{type: prelu, num_parameters: {n}}}",
    "{{type: avgpool2d, kernel_size: {k}, stride: {s}, ceil_mode: true}}",
    "{{type: identity, train_only: {t}}}",
)


def _random_net(rnd: random.Random) -> str:
    items = []
    for i in range(rnd.randint(1, 5)):
        item = rnd.choice(_PIECES).format(
            w=rnd.choice(["width", "width * 2", "mid", "8"]),
            k=rnd.choice(["k", "3", "1"]),
            p=rnd.choice(["k // 2", "0", "1"]),
            s=rnd.choice(["1", "stride"]),
            p2=rnd.choice(["0", "k // 2"]),
            g=rnd.choice(["1", "groups"]),
            n=rnd.choice(["1", "n"]),
            t=rnd.choice(["false", "flag"]),
        )
        if rnd.random() < 0.6:
            item = item.replace("{type", f"{{name: out{i}, type", 1)
        items.append(f"      - {item}")
    if rnd.random() < 0.5:  # a join, reading a name the block may not give (an error)
        items.append(f"      - {{name: cat, type: concat, from: [input, out{len(items) - 1}]}}")
    calls = []
    for _ in range(rnd.randint(2, 7)):
        args = {
            "width": rnd.choice([1, 2, 3, 4, 6, 8]),
            "k": rnd.choice([1, 3, 5]),
            "stride": rnd.choice([1, 2]),
            "act": rnd.choice(["relu", "silu"]),
            "rate": rnd.choice([0.0, 0.1, 0.5]),
            "groups": rnd.choice([1, 2]),
            "n": rnd.choice([1, 2, 4]),
            "flag": rnd.choice(["false", "true"]),
        }
        if rnd.random() < 0.5:
            del args["act"]
        calls.append("  - {type: Unit, " + ", ".join(f"{k}: {v}" for k, v in args.items()) + "}")
    shapes = ["[2, 4, 16, 16]", "[2, 3, 9, 11]", "[N, 4, 16, 16]", "[2, 4, H, 12]", "[2, C, 6, 6]"]
    shape = rnd.choice(shapes)
    body = "\n".join(items)
    return (
        f"""\
archspec: 1
name: random_units
input: {shape}
blocks:
  Unit:
    params:
      width: int
      k: int
      stride: int
      act: {{type: str, default: relu, choices: [relu, silu]}}
      rate: float
      groups: int
      n: int
      flag: bool
    let: {{mid: width + k}}
    layers:
{body}
layers:
"""
        + "\n".join(calls)
        + "\n"
    )


def test_random_blocks_lower_alike_with_and_without_reshaping(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Random blocks of plain layers and calls of them: the same graph field by field, or
    the same diagnostics, either way; and some instances are reshaped."""
    taken: list[bool] = []
    real_try = reshape.reshaped

    def counting(*args: Any) -> Any:
        made = real_try(*args)
        taken.append(made is not None)
        return made

    monkeypatch.setattr(reshape, "reshaped", counting)
    rnd = random.Random(22)
    lowered = 0
    for _ in range(80):
        text = _random_net(rnd)
        outcomes = []
        for on in (True, False):
            with monkeypatch.context() as m:
                if not on:
                    _without_reshaping(m)
                try:
                    outcomes.append((archspec.build_graph(text), None))
                except ArchSpecError as exc:
                    outcomes.append((None, repr(exc.diagnostics)))
        (a, errors), (b, real_errors) = outcomes
        assert errors == real_errors, text
        if a is not None:
            _same(a, b, text)
            lowered += 1
    assert lowered > 20
    assert sum(taken) > 50
