"""Rebound instances (lowering/rebind.py): a block instance that differs from a kept one only
in value-only params (ones that reach nothing but some of its layers' fields, directly or
through a let derived from them: a stochastic depth rate per block) is the kept instance with
those layers bound again, and nothing downstream can tell: the graph, every diagnostic and
the emitted code are those of lowering it for real."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import archspec
from archspec.errors import ArchSpecError
from archspec.ir import Graph, iter_modules
from archspec.lowering import memo as memo_module
from archspec.lowering import reshape
from archspec.lowering.walker import Lowerer

from .conftest import spec_source

#: `rate` reaches only a dropout's p, `scale` only a let that only a dropout's p reads, `k` a
#: pool's padding and, through a let, its size (all value-only); `width` a conv's width (the
#: shape changes: a real lowering); `gate` a `when`; `cond` a let a `when` reads (which
#: holds it); `inner` a layer of a sequential
NET = """\
archspec: 1
name: rebinds
input: [2, 8, 6, 6]
blocks:
  Unit:
    params:
      rate: float
      scale: {type: float, default: 1.0}
      width: {type: int, default: 8}
      gate: {type: bool, default: true}
      k: {type: int, default: 1}
      inner: {type: float, default: 0.0}
      cond: {type: int, default: 1}
    let: {kk: k * 2, halfway: rate * scale / 2, enabled: cond > 0}
    layers:
      - {name: conv, type: conv2d, out_channels: 8, kernel_size: 1}
      - {name: drop, type: dropout, p: rate}
      - {name: halved, type: dropout, p: halfway}
      - {name: gated, type: dropout, p: 0.5, when: gate}
      - {name: extra, type: dropout, p: 0.1, when: enabled}
      - {name: pool, type: maxpool2d, kernel_size: kk + 1, stride: 1, padding: k}
      - name: seq
        type: sequential
        layers: [{type: dropout, p: inner}]
      - {name: proj, type: conv2d, out_channels: width, kernel_size: 1}
layers:
  - {type: Unit, rate: 0.1}
  - {type: Unit, rate: 0.2}
  - {type: Unit, rate: 0.2}
  - {type: Unit, rate: 0.3, gate: false}
  - {type: Unit, rate: 0.4, gate: false}
  - {type: Unit, rate: 0.5, inner: 0.1}
  - {type: Unit, rate: 0.6, inner: 0.2}
  - {type: Unit, rate: 0.7, k: 2}
  - {type: Unit, rate: 0.8, width: 4}
  - {type: Unit, rate: 0.9, width: 4}
  - {type: Unit, rate: 0.9, width: 4, scale: 0.5}
  - {type: Unit, rate: 0.1, cond: 2}
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


def _without_rebinding(monkeypatch: pytest.MonkeyPatch) -> None:
    """No rebinding, and no reshaping either (reshape.py), which would take some of the
    instances a rebinding leaves to a real lowering."""
    monkeypatch.setattr(memo_module, "masked_key", lambda *a: None)
    monkeypatch.setattr(reshape, "masked_key", lambda *a: None)


def _copies(graph: Graph) -> list[tuple[str, bool]]:
    return [(m.path, m.copy_of is None) for m in iter_modules(graph.root)]


def _both(source: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Graph, Graph]:
    rebound = archspec.build_graph(source)
    with monkeypatch.context() as m:
        _without_rebinding(m)
        real = archspec.build_graph(source)
    return rebound, real


def _units(graph: Graph) -> list[Any]:
    return [m for m in iter_modules(graph.root) if m.block == "Unit"]


def test_instances_that_differ_only_in_value_fields_are_rebound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lowered = _real_lowerings(monkeypatch)
    rebound = archspec.build_graph(NET)
    # 0: the first; 3: `gate` decides a node; 5 and 6: `inner` reaches a sequential's layer
    # (each its own value); 8: `width` a shape (the rebinding finds it); 9: the first with 4
    # channels in; 11: `cond` reaches a `when` through a let. 1, 4 and 7 (a pool's size and
    # padding, the same shape) are rebound (2 is an exact copy of 1's instance), and so is
    # 10, whose `scale` reaches a dropout through a let
    assert lowered == ["0", "3", "5", "6", "8", "9", "11"]
    lowered.clear()
    with monkeypatch.context() as m:
        _without_rebinding(m)
        real = archspec.build_graph(NET)
    assert lowered == ["0", "1", "3", "4", "5", "6", "7", "8", "9", "10", "11"]
    assert rebound == real
    assert _copies(rebound) == _copies(real)
    units = _units(rebound)
    drops = [m.node("drop").attrs["p"] for m in units]
    assert drops == [0.1, 0.2, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.9, 0.1]
    assert [m.args["rate"] for m in units] == drops
    assert [m.node("pool").attrs["kernel_size"] for m in units][6:8] == [3, 5]
    halves = [m.node("halved").attrs["p"] for m in units]
    assert halves == [r / 2 for r in drops[:10]] + [0.9 * 0.5 / 2, 0.05]
    assert [dict((let.name, let.value) for let in m.lets)["halfway"] for m in units] == halves


def test_a_rebound_value_a_field_refuses_is_reported_as_lowering_reports_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rebinding finds p = 1.5 out of range: the instance is lowered for real, which
    reports it at its place (the block param itself has no bounds)."""
    text = NET.replace("{type: Unit, rate: 0.4, gate: false}", "{type: Unit, rate: 1.5}")
    lowered = _real_lowerings(monkeypatch)
    with pytest.raises(ArchSpecError) as rebound:
        archspec.build_graph(text)
    assert "4" in lowered
    with monkeypatch.context() as m:
        _without_rebinding(m)
        with pytest.raises(ArchSpecError) as real:
            archspec.build_graph(text)
    assert rebound.value.render() == real.value.render()
    assert "1.5 is above the maximum 1" in rebound.value.render()
    assert [(d.code, d.span.line) for d in rebound.value.diagnostics] == [
        (d.code, d.span.line) for d in real.value.diagnostics
    ]


@pytest.mark.parametrize("name", ["efficientnet_b0", "convnext_tiny", "swin_t", "maxvit_t"])
def test_a_shipped_spec_with_rebinds_lowers_to_the_same_graph(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    rebound, real = _both(spec_source(name), monkeypatch)
    assert dataclasses.replace(rebound, constraints=()) == dataclasses.replace(real, constraints=())
    assert _copies(rebound) == _copies(real)


def test_list_arguments_do_not_keep_a_block_from_being_rebound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A call with a list argument (Swin's window size) has a memo key of another form;
    its value-only params are left out of it all the same."""
    text = """\
archspec: 1
name: lists
input: [2, 8, 6, 6]
blocks:
  Unit:
    params: {rate: float, size: list}
    layers:
      - {name: pool, type: maxpool2d, kernel_size: size, stride: 1, padding: 1}
      - {name: drop, type: dropout, p: rate}
layers:
  - {type: Unit, rate: 0.1, size: [3, 3]}
  - {type: Unit, rate: 0.2, size: [3, 3]}
  - {type: Unit, rate: 0.3, size: [3, 3]}
"""
    lowered = _real_lowerings(monkeypatch)
    rebound = archspec.build_graph(text)
    assert lowered == ["0"]
    lowered.clear()
    with monkeypatch.context() as m:
        _without_rebinding(m)
        real = archspec.build_graph(text)
    assert lowered == ["0", "1", "2"]
    assert rebound == real
    assert [m.node("drop").attrs["p"] for m in _units(rebound)] == [0.1, 0.2, 0.3]


def test_rebound_instances_emit_the_same_code(monkeypatch: pytest.MonkeyPatch) -> None:
    rebound = archspec.emit(NET)
    with monkeypatch.context() as m:
        _without_rebinding(m)
        real = archspec.emit(NET)
    assert rebound == real


def test_a_block_whose_rebinds_change_shapes_stops_being_tried(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`width` reaches only a linear's field, but every call changes the linear's shape:
    after a few rebindings that found it, the block's calls go straight to a real lowering,
    and the graph is the same either way."""
    calls = "\n".join(
        f"  - {{type: Unit, width: {w}}}\n  - {{type: linear, out_features: 8}}"
        for w in range(1, 21)
    )
    text = f"""\
archspec: 1
name: widths
input: [2, 6, 8]
blocks:
  Unit:
    params: {{width: int}}
    layers:
      - {{name: proj, type: linear, out_features: width}}
layers:
{calls}
"""
    tried: list[int] = []
    real = memo_module.rebound_attrs

    def counting(*args: Any) -> Any:
        tried.append(1)
        return real(*args)

    monkeypatch.setattr(memo_module, "rebound_attrs", counting)
    rebound, plain = _both(text, monkeypatch)
    assert 0 < len(tried) < 12  # 19 calls could have tried
    assert rebound == plain
    assert _copies(rebound) == _copies(plain)
