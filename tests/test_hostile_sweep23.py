"""Hostile inputs found by the session-23 sweep, beyond the corpus of tests/hostile/.

Each test names what the input did before it was fixed.
"""

from __future__ import annotations

import pytest

import archspec
from archspec.constructs.block_call import LIST_ITEMS_PER_ITEM
from archspec.errors import SpecError
from tests.cpu import GUARD, cpu_seconds

HEAD = "archspec: 1\nname: x\ninput: [N, 3, 8, 8]\n"
#: a block whose only param is a list, which its layer never reads
LIST_BLOCK = (
    "blocks:\n  B:\n    params: {t: list}\n    layers:\n"
    "      - {type: conv2d, out_channels: 4, kernel_size: 1}\n"
)


def _table_spec(levels: int, count: int) -> str:
    """Lets that double a nested list `levels` times (2**(levels + 2) - 2 items in all, one
    line each), passed to a block repeated `count` times."""
    lets = "let:\n  l0: '[1, 1]'\n" + "".join(
        f"  l{k}: '[l{k - 1}, l{k - 1}]'\n" for k in range(1, levels + 1)
    )
    call = f"layers:\n  - {{type: repeat, count: {count}, layer: {{type: B, t: l{levels}}}}}\n"
    return HEAD + lets + LIST_BLOCK + call


def test_a_block_called_again_and_again_with_a_large_table_is_e310_fast() -> None:
    # 65,534 items per call, 300 calls: each call checked and keyed its table (~0.2 s), a
    # minute in all under the layer limit, ten minutes at 3,000 calls
    spec = _table_spec(14, 300)
    report, seconds = cpu_seconds(lambda: archspec.check(spec))
    (diag,) = report.diagnostics
    assert diag.code == "E310"
    assert "list items" in diag.message
    assert diag.span is not None and diag.span.line == spec.count("\n")
    assert seconds < GUARD


def test_a_call_counts_one_item_more_per_hundred_list_items_it_binds() -> None:
    # 3 calls of a 254-item table: the repeat, 3 x (call + conv), 2 more per call
    spec = _table_spec(6, 3)
    per_call = 254 // LIST_ITEMS_PER_ITEM
    assert per_call == 2
    archspec.build_graph(spec, max_layers=7 + 3 * per_call)
    with pytest.raises(SpecError) as refused:
        archspec.build_graph(spec, max_layers=7 + 3 * per_call - 1)
    assert [d.code for d in refused.value.diagnostics] == ["E310"]


def test_a_literal_table_argument_is_counted_as_an_evaluated_one() -> None:
    # a written list of 9,999 numbers passed to 4,500 calls: 22 s of keying every call
    table = "[" + ", ".join(["1"] * 9_999) + "]"
    spec = (
        HEAD
        + LIST_BLOCK
        + (f"layers:\n  - {{type: repeat, count: 4500, layer: {{type: B, t: {table}}}}}\n")
    )
    report, seconds = cpu_seconds(lambda: archspec.check(spec))
    assert [d.code for d in report.diagnostics] == ["E310"]
    assert seconds < GUARD


@pytest.mark.parametrize("last", ["0", "x"], ids=["fits", "fails-last"])
def test_a_layer_copied_thousands_of_times_with_a_long_list_field_is_e310_fast(last: str) -> None:
    # a 9,999-item list param as the padding of 9,000 copies: each copy bound the list (and
    # then failed E409): 16 s; with a text last, each copy walked it twice and failed: longer
    table = "[" + ", ".join(["0"] * 9_998 + [last]) + "]"
    spec = (
        HEAD
        + f"params:\n  t: {{type: list, default: {table}}}\nlayers:\n"
        + (
            "  - {type: repeat, count: 9000, "
            "layer: {type: conv2d, out_channels: 3, kernel_size: 1, padding: t}}\n"
        )
    )
    report, seconds = cpu_seconds(lambda: archspec.check(spec))
    (diag,) = [d for d in report.diagnostics if d.code == "E310"]
    assert "lists its fields hold" in diag.message
    assert seconds < GUARD


def test_a_layer_counts_one_item_more_per_hundred_items_of_its_list_fields() -> None:
    # 3 copies of a layer whose `dim` list has 250 items: 2 more each (it fails E409 later)
    dims = "[" + ", ".join(["1"] * 250) + "]"
    spec = HEAD + f"layers:\n  - {{type: repeat, count: 3, layer: {{type: sum, dim: {dims}}}}}\n"
    # the repeat and its 3 copies, then 2 more per copy: the last copy's charge is refused
    codes = [d.code for d in archspec.check(spec, max_layers=4 + 2 * 3 - 1).diagnostics]
    assert codes.count("E310") == 1
    assert "E310" not in [d.code for d in archspec.check(spec, max_layers=4 + 2 * 3).diagnostics]


def _stacks(count: int) -> str:
    """A chain of `count` one-input stacks: each adds a dim of 1."""
    chain = "".join(
        f"  - {{name: s{k}, type: stack, from: [{f's{k - 1}' if k else 'a'}]}}\n"
        for k in range(count)
    )
    return HEAD + "layers:\n  - {name: a, type: relu}\n" + chain


def test_an_output_of_more_than_64_dims_is_e401_at_its_layer() -> None:
    # 1,000 stacks made outputs of up to 1,004 dims: check printed them, compile took 43 s
    spec = _stacks(1000)
    report = archspec.check(spec)
    (diag,) = report.diagnostics
    assert diag.code == "E401"
    assert "65 dims" in diag.message and diag.message.startswith("s60:")
    assert diag.span is not None and diag.span.line == 4 + 1 + 61
    # 60 stacks make 64 dims: torch computes with them, and so does archspec
    report = archspec.check(_stacks(60))
    assert report.ok
    (out,) = report.outputs
    assert len(out) == 64


def test_a_reshape_to_thousands_of_dims_is_refused_before_the_layers_after_it() -> None:
    # a reshape to 3,002 dims and 2,000 layers after it: summary 31 s, emit 15 s
    shape = "[0, 192" + ", 1" * 3000 + "]"
    spec = HEAD + (
        f"layers:\n  - {{name: r, type: reshape, shape: {shape}}}\n"
        "  - {type: repeat, count: 2000, layer: {type: relu}}\n"
    )
    for run in (archspec.check, archspec.emit, archspec.summary):
        (info, seconds) = cpu_seconds(lambda run=run: _refusal(run, spec))
        assert info.code == "E401" and "3002 dims" in info.message
        assert seconds < GUARD


def _refusal(run: object, spec: str) -> object:
    try:
        result = run(spec)  # type: ignore[operator]
    except SpecError as exc:
        (diag,) = exc.diagnostics
        return diag
    (diag,) = result.diagnostics
    return diag
