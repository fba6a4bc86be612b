"""Swapped instances (lowering/swap.py): a block instance that differs from a kept one only
in params that reach nothing but some of its layers' fields (a stochastic depth rate per
block) is the kept instance with those layers bound again, and nothing downstream can
tell: the graph, every diagnostic and the emitted code are those of lowering it for real."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import archspec
from archspec.errors import ArchSpecError
from archspec.ir import Graph, iter_modules
from archspec.lowering import memo as memo_module
from archspec.lowering.walker import Lowerer

from .conftest import spec_source

#: `rate` reaches only a dropout's p (swappable); `width` a linear's size (the shape
#: changes: a real lowering); `gate` a `when`; `k` a let; `inner` a layer of a sequential
NET = """\
archspec: 1
name: swaps
input: [2, 8, 6, 6]
blocks:
  Unit:
    params:
      rate: float
      width: {type: int, default: 8}
      gate: {type: bool, default: true}
      k: {type: int, default: 1}
      inner: {type: float, default: 0.0}
    let: {kk: k * 2}
    layers:
      - {name: conv, type: conv2d, out_channels: 8, kernel_size: 1}
      - {name: drop, type: dropout, p: rate}
      - {name: gated, type: dropout, p: 0.5, when: gate}
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


def _without_swaps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(memo_module, "swap_key", lambda *a: None)


def _copies(graph: Graph) -> list[tuple[str, bool]]:
    return [(m.path, m.copy_of is None) for m in iter_modules(graph.root)]


def _both(source: Any, monkeypatch: pytest.MonkeyPatch) -> tuple[Graph, Graph]:
    swapped = archspec.build_graph(source)
    with monkeypatch.context() as m:
        _without_swaps(m)
        real = archspec.build_graph(source)
    return swapped, real


def test_instances_that_differ_only_in_a_layer_field_are_swapped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lowered = _real_lowerings(monkeypatch)
    swapped = archspec.build_graph(NET)
    # 0: the first; 3: `gate` decides a node; 5 and 6: `inner` reaches a sequential's layer
    # (each its own value); 7: `k` a let; 8: `width` a shape (rebinding finds it); 9: the
    # first with 4 channels in. 1 and 4 are swapped (2 is an exact copy of 1's instance)
    assert lowered == ["0", "3", "5", "6", "7", "8", "9"]
    lowered.clear()
    with monkeypatch.context() as m:
        _without_swaps(m)
        real = archspec.build_graph(NET)
    assert lowered == ["0", "1", "3", "4", "5", "6", "7", "8", "9"]
    assert swapped == real
    assert _copies(swapped) == _copies(real)
    drops = [m.node("drop").attrs["p"] for m in iter_modules(swapped.root) if m.block == "Unit"]
    assert drops == [0.1, 0.2, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]
    args = [m.args["rate"] for m in iter_modules(swapped.root) if m.block == "Unit"]
    assert args == drops


def test_a_swapped_value_a_field_refuses_is_reported_as_lowering_reports_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The rebinding finds p = 1.5 out of range: the instance is lowered for real, which
    reports it (the block param itself has no bounds)."""
    text = NET.replace("{type: Unit, rate: 0.4, gate: false}", "{type: Unit, rate: 1.5}")
    lowered = _real_lowerings(monkeypatch)
    with pytest.raises(ArchSpecError) as swapped:
        archspec.build_graph(text)
    assert "4" in lowered
    with monkeypatch.context() as m:
        _without_swaps(m)
        with pytest.raises(ArchSpecError) as real:
            archspec.build_graph(text)
    assert swapped.value.render() == real.value.render()
    assert "1.5 is above the maximum 1" in swapped.value.render()


@pytest.mark.parametrize("name", ["efficientnet_b0", "convnext_tiny", "swin_t", "maxvit_t"])
def test_a_shipped_spec_with_swaps_lowers_to_the_same_graph(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    swapped, real = _both(spec_source(name), monkeypatch)
    assert dataclasses.replace(swapped, constraints=()) == dataclasses.replace(real, constraints=())
    assert _copies(swapped) == _copies(real)


def test_swapped_instances_emit_the_same_code(monkeypatch: pytest.MonkeyPatch) -> None:
    swapped = archspec.emit(NET)
    with monkeypatch.context() as m:
        _without_swaps(m)
        real = archspec.emit(NET)
    assert swapped == real


def test_a_block_whose_swaps_change_shapes_stops_being_tried(
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
    from archspec.lowering import swap as swap_module

    tried: list[int] = []
    real = swap_module.swapped_attrs

    def counting(*args: Any) -> Any:
        tried.append(1)
        return real(*args)

    monkeypatch.setattr(memo_module, "swapped_attrs", counting)
    swapped, plain = _both(text, monkeypatch)
    assert 0 < len(tried) < 12  # 19 calls could have tried
    assert swapped == plain
    assert _copies(swapped) == _copies(plain)
