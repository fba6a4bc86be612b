"""The instance memo (lowering/memo.py): a block instance equal to one lowered before (same
block, arguments and input) is copied, not lowered again, and nothing downstream can tell:
the graph, its shape requirements, the layer count and every diagnostic are those of
lowering each instance for real."""

from __future__ import annotations

import dataclasses
import textwrap
from typing import Any

import pytest

import archspec
from archspec.errors import ArchSpecError
from archspec.ir import Graph, iter_modules
from archspec.lowering import memo as memo_module
from archspec.lowering.context import RequireOnce
from archspec.lowering.memo import args_key
from archspec.lowering.walker import Lowerer

from .conftest import spec_source


def _without_memo(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every instance lowered for real: the lookup never finds one."""
    monkeypatch.setattr(memo_module.InstanceMemo, "lookup", lambda *a, **k: None)


def _constraints(graph: Graph) -> list[tuple[Any, ...]]:
    """The requirements in comparable form (a rule's message may be a fresh function)."""
    return [(c.kind, c.lhs, c.rhs, c.code, c.template, c.hint, c.node) for c in graph.constraints]


def _both(source: str, monkeypatch: pytest.MonkeyPatch, **kw: Any) -> tuple[Graph, Graph]:
    with_memo = archspec.build_graph(source, **kw)
    with monkeypatch.context() as m:
        _without_memo(m)
        without = archspec.build_graph(source, **kw)
    return with_memo, without


@pytest.mark.parametrize(
    "name", ["resnet152", "efficientnet_b0", "densenet121", "regnet_y_400mf", "mobilenet_v2"]
)
def test_a_shipped_spec_lowers_to_the_same_graph(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_memo, without = _both(spec_source(name), monkeypatch)
    assert _constraints(with_memo) == _constraints(without)
    assert dataclasses.replace(with_memo, constraints=()) == dataclasses.replace(
        without, constraints=()
    )
    paths = [m.path for m in iter_modules(with_memo.root)]
    assert paths == [m.path for m in iter_modules(without.root)]
    assert len(set(paths)) == len(paths)  # every copy is re-rooted at its own path


def test_identical_instances_are_lowered_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """ResNet-152's 50 Bottlenecks: one lowering per distinct (arguments, input)."""
    lowered: list[str] = []
    real = Lowerer.lower_scope

    def counting(self: Lowerer, child: Any, *args: Any, **kw: Any) -> Any:
        if child.block == "Bottleneck":
            lowered.append(child.block)
        return real(self, child, *args, **kw)

    monkeypatch.setattr(Lowerer, "lower_scope", counting)
    graph = archspec.build_graph(spec_source("resnet152"))
    instances = [m for m in iter_modules(graph.root) if m.block == "Bottleneck"]
    assert len(instances) == 3 + 8 + 36 + 3
    # per stage: the first (stride, projection) and the rest, which all look alike
    assert len(lowered) == 8


SYMBOLIC = """\
archspec: 1
name: sym
input: [N, 3, H, W]
blocks:
  Same:
    params: {c: int}
    layers:
      - {name: conv, type: conv2d, out_channels: c, kernel_size: 3, padding: 1}
      - {type: relu}
layers:
  - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3}
  - {name: stage, type: repeat, count: 4, layer: {type: Same, c: 8}}
  - {type: maxpool2d, kernel_size: 2}
"""


def test_shape_requirements_of_a_copy_name_the_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    # every copy's requirements recorded (lowering keeps each once: see the next test)
    monkeypatch.setattr(RequireOnce, "wants", lambda self, kind, lhs, rhs: True)
    with_memo, without = _both(SYMBOLIC, monkeypatch)
    got = _constraints(with_memo)
    assert got == _constraints(without)
    nodes = {c[-1] for c in got}
    assert {"stage.1.conv", "stage.2.conv", "stage.3.conv"} <= nodes, nodes
    assert archspec.check(SYMBOLIC).domain_text == "sym accepts (N, 3, H, W) with H, W >= 4"


def test_each_shape_requirement_is_recorded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lowering keeps the first of equal requirements (kind, lhs, rhs), with or without the
    memo: what recording every copy's gives, its repeats left out."""
    once, once_without = _both(SYMBOLIC, monkeypatch)
    monkeypatch.setattr(RequireOnce, "wants", lambda self, kind, lhs, rhs: True)
    every = _constraints(archspec.build_graph(SYMBOLIC))
    firsts, seen = [], set()
    for c in every:
        if c[:3] not in seen:
            seen.add(c[:3])
            firsts.append(c)
    assert _constraints(once) == _constraints(once_without) == firsts
    assert len(firsts) < len(every)
    assert [c[-1] for c in firsts] == ["stem", "stem", "2", "2"]


def test_the_layer_count_of_copies_still_stops_expansion(monkeypatch: pytest.MonkeyPatch) -> None:
    """E310 at the same item whether the instance over the limit is copied or lowered."""
    text = SYMBOLIC.replace("count: 4", "count: 40")
    for limit in (20, 57, 58, 122, 123):
        outcomes = []
        for memo in (True, False):
            with monkeypatch.context() as m:
                if not memo:
                    _without_memo(m)
                try:
                    archspec.build_graph(text, max_layers=limit)
                    outcomes.append("ok")
                except ArchSpecError as exc:
                    outcomes.append(exc.render())
        assert outcomes[0] == outcomes[1], limit
        assert (outcomes[0] == "ok") == (limit >= 123), limit  # 1 + 1 + 40 * 3 + 1 items


def test_errors_inside_instances_are_those_of_lowering_each(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = textwrap.dedent(
        """\
        archspec: 1
        name: t
        input: [N, 3, 32, 32]
        blocks:
          Unit:
            params: {w: int}
            layers:
              - {name: a, type: conv2d, out_channels: w, kernel_size: 3, padding: widht}
        layers:
          - {name: stem, type: conv2d, out_channels: 8, kernel_size: 3}
          - {name: stage, type: repeat, count: 5, layer: {type: Unit, w: 8}}
        """
    )
    renders = []
    for memo in (True, False):
        with monkeypatch.context() as m:
            if not memo:
                _without_memo(m)
            with pytest.raises(ArchSpecError) as info:
                archspec.build_graph(text)
            renders.append(info.value.render())
    assert renders[0] == renders[1]
    assert "(in 5 instances)" in renders[0]


def test_arguments_that_compare_equal_are_different_calls() -> None:
    assert len({args_key({"x": v}) for v in (1, 1.0, True, 0.0, -0.0, [1], (1,))}) == 7
    assert args_key({"x": [1, 2]}) == args_key({"x": [1, 2]})
    keys = {args_key({"a": 0.5, "b": b, "c": 3}) for b in (0.0, -0.0, 0, False, 0.25)}
    assert len(keys) == 5 and args_key({"a": 0.5}) == args_key({"a": 0.5})


#: child modules that are no block call (a `sequential` inside a block, a repeat's
#: Sequential, a shortcut): an instance's differs from another's only by the names its
#: text reads (`w`, `act` and `tag`, not `p`)
CHILDREN = textwrap.dedent(
    """\
    archspec: 1
    name: t
    input: [N, 8, 16, 16]
    blocks:
      Unit:
        params:
          w: int
          act: {type: str, default: relu}
          tag: {type: int, default: 0}
          p: {type: float, default: 0.0}
        layers:
          - name: body
            type: sequential
            layers:
              - {type: conv2d, out_channels: w, kernel_size: 1}
              - {type: relu, when: "act == 'relu'"}
              - {type: gelu, when: "act != 'relu'"}
              - {type: repeat, count: 2, layer: {type: conv2d, out_channels: 8, kernel_size: 1,
                 key: "c{tag}-{i}"}}
          - {type: dropout, p: p}
          - type: residual
            body: [{type: identity}]
            shortcut: {layers: [{type: conv2d, out_channels: 8, kernel_size: 1}]}
    layers:
      - {type: Unit, w: 8}
      - {type: Unit, w: 8, p: 0.5}
      - {type: Unit, w: 16}
      - {type: Unit, w: 8, act: gelu}
      - {type: Unit, w: 8, tag: 1}
      - {type: Unit, w: 8, p: 0.25}
    """
)


def test_child_modules_are_kept_by_what_their_text_reads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A `sequential` inside a block is kept by the values its layers read (`w`, `act`, a
    key template's `tag`), not by the block's other arguments (`p`): a key without those
    would hand the third instance the first one's 8 channels."""
    lowered: list[str] = []
    real = Lowerer.lower_scope

    def counting(self: Lowerer, child: Any, *args: Any, **kw: Any) -> Any:
        lowered.append(args[2])
        return real(self, child, *args, **kw)

    with monkeypatch.context() as m:
        m.setattr(Lowerer, "lower_scope", counting)
        with_memo = archspec.build_graph(CHILDREN)
    with monkeypatch.context() as m:
        _without_memo(m)
        without = archspec.build_graph(CHILDREN)
    assert _constraints(with_memo) == _constraints(without)
    assert dataclasses.replace(with_memo, constraints=()) == dataclasses.replace(
        without, constraints=()
    )
    bodies = [n.child.nodes[0].child for n in with_memo.root.nodes]
    assert [b.nodes[0].attrs["out_channels"] for b in bodies] == [8, 8, 16, 8, 8, 8]
    assert [b.nodes[1].kind for b in bodies] == ["relu"] * 3 + ["gelu"] + ["relu"] * 2
    keys = [[n.name for n in b.nodes[-1].child.nodes] for b in bodies]
    assert keys[3:5] == [["c0-0", "c0-1"], ["c1-0", "c1-1"]]
    assert [n.child.nodes[1].attrs["p"] for n in with_memo.root.nodes][:2] == [0.0, 0.5]
    # instances 1 and 5 (p differs) are lowered, their bodies and shortcuts copied
    assert {"1", "5"} <= set(lowered) and not {"1.body", "5.body"} & set(lowered)
    assert not {"1.2.downsample", "1.downsample"} & set(lowered)
    assert {"2.body", "3.body", "4.body"} <= set(lowered)


def test_a_fan_based_init_rule_looks_at_each_copied_instance_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """E313's search for a thin tensor (init._first_thin) skips the copies of an instance
    it found none in (the same kinds and attributes), and still finds the first one."""
    from archspec.lowering import init

    searched: list[int] = []
    real = init._first_thin

    def counting(nodes: Any, *args: Any) -> Any:
        searched.append(len(nodes))
        return real(nodes, *args)

    monkeypatch.setattr(init, "_first_thin", counting)
    text = SYMBOLIC.replace("count: 4", "count: 30") + textwrap.dedent(
        """\
        init:
          - {layers: [conv2d], weight: {kaiming_normal: {}}}
        """
    )
    archspec.build_graph(text)
    # the root, the stage, its first instance (the other 29 are copies of it)
    assert len(searched) == 3
    searched.clear()
    bad = text.replace("weight: {kaiming_normal: {}}", "bias: {kaiming_normal: {}}")
    with pytest.raises(ArchSpecError, match=r"kaiming_normal cannot initialise the bias of `stem`"):
        archspec.build_graph(bad)
