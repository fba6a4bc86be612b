"""The least expansion of a block (lowering/bound.py) is a lower bound: a spec lowers with
its limit set to exactly what it expands to, and a block over the limit is refused at its
call before any of it is made."""

from __future__ import annotations

import time

import pytest

import archspec
from archspec import lower as lower_module
from archspec.errors import SpecError
from archspec.lowering.walker import Lowerer

from .conftest import spec_names, spec_source, zoo_params


@pytest.mark.parametrize("name", zoo_params(spec_names()))
def test_a_spec_lowers_with_the_limit_at_its_exact_size(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[Lowerer] = []

    class Counting(Lowerer):
        def __init__(self, *args: object, **kwargs: object) -> None:
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]
            made.append(self)

    monkeypatch.setattr(lower_module, "Lowerer", Counting)
    archspec.build_graph(spec_source(name))
    exact = made[-1].count
    assert exact > 0
    blocks = made[-1].spec.blocks
    assert all(made[-1].least.block(b) < exact for b in blocks)
    archspec.build_graph(spec_source(name), max_layers=exact)  # the bound never overstates
    with pytest.raises(SpecError) as refused:
        archspec.build_graph(spec_source(name), max_layers=exact - 1)
    assert [d.code for d in refused.value.diagnostics] == ["E310"]


BOMB = """archspec: 1
name: bomb
input: [N, 8]
blocks:
  A: {layers: [{type: relu}, {type: relu}]}
  B: {layers: [{type: A}, {type: A}, {type: A}, {type: A}]}
  C: {layers: [{type: repeat, count: 1000, layer: {type: B}}]}
  D: {layers: [{type: repeat, count: 1000, layer: {type: C}}]}
layers:
  - {type: relu}
  - {type: D}
"""


def test_a_block_over_the_limit_is_refused_at_its_call_before_expanding() -> None:
    """D makes a thousand Cs of a thousand Bs (13 million items): refused at the call,
    in far less time than making the first 10,000 would take."""
    started = time.process_time()
    with pytest.raises(SpecError) as refused:
        archspec.build_graph(BOMB)
    assert time.process_time() - started < 0.5
    (diag,) = refused.value.diagnostics
    assert diag.code == "E310" and diag.span is not None and diag.span.line == 11
    assert "block `D` expands to more than 10,000 layer items" in diag.message
    assert "counted before the block is expanded" in diag.message


def test_switched_and_computed_items_count_only_themselves() -> None:
    """A `when` may switch an item off and an expression count may be 0, so neither counts
    what it would expand to: such a spec under the limit still lowers."""
    spec = BOMB.replace("{type: repeat, count: 1000, layer: {type: C}}", "{type: C, when: n > 0}")
    spec = spec.replace("input: [N, 8]", "params: {n: 0}\ninput: [N, 8]")
    assert archspec.build_graph(spec).root is not None
    spec = BOMB.replace("count: 1000, layer: {type: C}", "count: n, layer: {type: C}")
    spec = spec.replace("input: [N, 8]", "params: {n: 0}\ninput: [N, 8]")
    assert archspec.build_graph(spec).root is not None
