"""Config tables: `for_each` over a table's rows, flat `repeat`s and name templates; values,
errors at file:line:col, hostile tables refused fast, emitted code equal to compile."""

from __future__ import annotations

import textwrap
import time

import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import archspec
from archspec.errors import ArchSpecError
from tests.emit_helpers import _load


def spec(body: str, header: str = "input: [N, 8, 16, 16]") -> str:
    return f"archspec: 1\nname: t\n{header}\n" + textwrap.dedent(body)


def err(text: str, **params: object) -> ArchSpecError:
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text, params)
    return info.value


def where(e: ArchSpecError) -> tuple[str, int, int]:
    assert e.span is not None, e.render()
    return e.error_code, e.span.line, e.span.col


def children(model: torch.nn.Module) -> list[str]:
    return [name for name, _ in model.named_children()]


def emitted_equals_compiled(text: str, shape: tuple[int, ...] = (2, 8, 16, 16)) -> None:
    graph = archspec.build_graph(text)
    emitted = getattr(_load(archspec.emit(text), "t"), graph.class_name)()
    torch.manual_seed(0)
    compiled = archspec.compile(text)
    assert list(emitted.state_dict()) == list(compiled.state_dict())
    emitted.load_state_dict(compiled.state_dict())
    x = torch.randn(*shape)
    torch.testing.assert_close(emitted.eval()(x), compiled.eval()(x))


TABLE = """
params:
  # out channels, copies, stride of the first
  setting: [[8, 1, 1], [16, 2, 2], [24, 3, 1]]
layers:
  - {type: conv2d, out_channels: 8, kernel_size: 1}
  - type: for_each
    rows: setting
    fields: [c, n, s]
    count: n
    flat: true
    row_index: r
    global_index: b
    global_count: nb
    layer:
      type: sequential
      layers:
        - {type: conv2d, out_channels: c, kernel_size: 3, padding: 1, stride: "s if i == 0 else 1"}
        - {type: dropout, p: "(b + 10 * r + 100 * nb) / 1000"}
  - {type: flatten}
"""


def test_for_each_flat_splices_one_copy_per_row_and_count() -> None:
    model = archspec.compile(spec(TABLE))
    assert children(model) == [str(k) for k in range(8)]
    convs = [model[k][0] for k in range(1, 7)]
    assert [c.out_channels for c in convs] == [8, 16, 16, 24, 24, 24]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 1, 1, 1]
    # global index b, row index r and the total nb, as the names say
    rows = [0, 1, 1, 2, 2, 2]
    got = [model[k][1].p for k in range(1, 7)]
    assert got == [(b + 10 * r + 600) / 1000 for b, r in enumerate(rows)]


def test_for_each_in_a_sequential_of_its_own_and_grouped_by_row() -> None:
    body = """
    params:
      setting: [[8, 1], [16, 2]]
    layers:
      - name: stages
        type: for_each
        rows: setting
        fields: [c, n]
        count: n
        group_rows: {group}
        layer: {{type: conv2d, out_channels: c, kernel_size: 1}}
    """
    flat = archspec.compile(spec(body.format(group="false")))
    assert [k for k in flat.state_dict() if k.endswith("weight")] == [
        "stages.0.weight",
        "stages.1.weight",
        "stages.2.weight",
    ]
    grouped = archspec.compile(spec(body.format(group="true")))
    assert [k for k in grouped.state_dict() if k.endswith("weight")] == [
        "stages.0.0.weight",
        "stages.1.0.weight",
        "stages.1.1.weight",
    ]


def test_flat_grouped_rows_number_like_efficientnet_features() -> None:
    body = """
    params:
      stages: [[1, 16, 1], [6, 24, 2], [6, 40, 2]]
    layers:
      - name: features
        type: sequential
        layers:
          - {type: conv2d, out_channels: 32, kernel_size: 3, padding: 1}
          - type: for_each
            rows: stages
            fields: [t, c, n]
            count: n
            flat: true
            group_rows: true
            layer: {type: conv2d, out_channels: c, kernel_size: 1}
          - {type: conv2d, out_channels: 64, kernel_size: 1}
    """
    keys = [k for k in archspec.compile(spec(body)).state_dict() if k.endswith("weight")]
    assert keys == [
        "features.0.weight",
        "features.1.0.weight",
        "features.2.0.weight",
        "features.2.1.weight",
        "features.3.0.weight",
        "features.3.1.weight",
        "features.4.weight",
    ]


def test_flat_repeat_and_name_templates() -> None:
    body = """
    layers:
      - {name: stem, type: conv2d, out_channels: 8, kernel_size: 1}
      - type: repeat
        count: 3
        flat: true
        names: "denselayer{i + 1}"
        layer: {type: conv2d, out_channels: "8 * (i + 1)", kernel_size: 1}
      - {type: relu}
      - name: block
        type: repeat
        count: 2
        names: "unit{i}"
        layer: {type: relu}
    """
    model = archspec.compile(spec(body))
    assert children(model) == ["stem", "denselayer1", "denselayer2", "denselayer3", "4", "block"]
    assert model.denselayer3.out_channels == 24
    assert children(model.block) == ["unit0", "unit1"]
    emitted_equals_compiled(spec(body))


def test_a_plain_flat_repeat_takes_positions_and_reads_from() -> None:
    body = """
    layers:
      - {name: a, type: conv2d, out_channels: 4, kernel_size: 1}
      - {type: relu}
      - type: repeat
        count: 2
        flat: true
        from: a
        layer: {type: conv2d, out_channels: 6, kernel_size: 1}
    """
    g = archspec.build_graph(spec(body))
    names = [n.name for n in g.root.nodes]
    assert names == ["a", "1", "2", "3"]
    assert g.root.node("2").inputs == ("a",) and g.root.node("3").inputs == ("2",)


def test_a_zero_count_flat_repeat_passes_its_input_on() -> None:
    body = """
    layers:
      - {name: a, type: conv2d, out_channels: 4, kernel_size: 1}
      - {type: repeat, count: 0, flat: true, layer: {type: conv2d, out_channels: 6, kernel_size: 1}}
      - {name: b, type: relu}
    """
    g = archspec.build_graph(spec(body))
    assert g.root.node("b").inputs == ("a",)


def test_emitted_for_each_equals_compile() -> None:
    emitted_equals_compiled(spec(TABLE))


@pytest.mark.parametrize(
    "body,expected",
    [
        # a row of the wrong width, at the row
        (
            "layers:\n  - type: for_each\n    rows: [[8, 1], [16]]\n    fields: [c, n]\n"
            "    layer: {type: conv2d, out_channels: c, kernel_size: 1}\n",
            ("E309", 6, 20),
        ),
        # a table param of the wrong width, at `rows`
        (
            "params:\n  t: [[8, 1, 1]]\nlayers:\n  - type: for_each\n    rows: t\n"
            "    fields: [c, n]\n    layer: {type: conv2d, out_channels: c, kernel_size: 1}\n",
            ("E309", 8, 11),
        ),
        # a field hiding a param, at the field
        (
            "params:\n  c: 3\nlayers:\n  - type: for_each\n    rows: [[8]]\n"
            "    fields: [c]\n    layer: {type: conv2d, out_channels: c, kernel_size: 1}\n",
            ("E304", 9, 14),
        ),
        # a field named twice
        (
            "layers:\n  - type: for_each\n    rows: [[8, 1]]\n    fields: [c, c]\n"
            "    layer: {type: conv2d, out_channels: c, kernel_size: 1}\n",
            ("E304", 7, 17),
        ),
        # a field called in_channels
        (
            "layers:\n  - type: for_each\n    rows: [[8]]\n    fields: [in_channels]\n"
            "    layer: {type: conv2d, out_channels: 8, kernel_size: 1}\n",
            ("E204", 7, 14),
        ),
        # rows that are not a table
        (
            "params:\n  t: 3\nlayers:\n  - type: for_each\n    rows: t\n    fields: [c]\n"
            "    layer: {type: conv2d, out_channels: c, kernel_size: 1}\n",
            ("E309", 8, 11),
        ),
        # a name template giving the same name twice, at `names`
        (
            "layers:\n  - type: repeat\n    count: 3\n    names: 'b{i // 2}'\n"
            "    layer: {type: relu}\n",
            ("E304", 7, 12),
        ),
        # a name template giving an illegal name, at `names`
        (
            "layers:\n  - type: repeat\n    count: 2\n    names: '{i}block'\n"
            "    layer: {type: relu}\n",
            ("E204", 7, 12),
        ),
        # a name template giving a reserved name
        (
            "layers:\n  - type: repeat\n    count: 1\n    names: 'forward{\"\"}'\n"
            "    layer: {type: relu}\n",
            ("E204", 7, 12),
        ),
        # a flat repeat with a name
        (
            "layers:\n  - {name: r, type: repeat, count: 2, flat: true, layer: {type: relu}}\n",
            ("E204", 5, 12),
        ),
        # an index past the end of the row, read in the layer
        (
            "layers:\n  - type: for_each\n    rows: [[8, 1]]\n    fields: [c, n]\n"
            "    count: c * 10 ** 6\n    layer: {type: relu}\n",
            ("E310", 8, 12),
        ),
        # a field that is a mapping, not a name (the fuzz found it crashing the name checks)
        (
            "layers:\n  - type: for_each\n    rows: [[8, 1]]\n    fields: [c, {n: 1}]\n"
            "    layer: {type: relu}\n",
            ("E202", 7, 17),
        ),
    ],
)
def test_table_errors_are_located(body: str, expected: tuple[str, int, int]) -> None:
    e = err(spec(body))
    assert where(e) == expected, e.render()


def test_name_template_syntax_is_checked_by_the_schema() -> None:
    for template, words in (("block", "no `{expression}` part"), ("b{i", "unbalanced")):
        text = spec(
            f"layers:\n  - {{type: repeat, count: 2, names: '{template}', layer: {{type: relu}}}}\n"
        )
        e = err(text)
        assert e.span is not None and e.span.line == 5 and words in e.render(), e.render()


def test_hostile_tables_are_refused_fast() -> None:
    text = spec(
        "params:\n  t: list\nlayers:\n  - type: for_each\n    rows: t\n    fields: [n]\n"
        "    count: n\n    layer: {type: relu}\n"
    )
    start = time.perf_counter()
    # ten thousand rows of a million copies each: refused at the row that passes the bound
    e = err(text, t=[[10**6]] * 10_000)
    assert e.error_code == "E310"
    # a hundred thousand rows of one copy each: past the layer bound before any is made
    e = err(text, t=[[1]] * 99_000)
    assert e.error_code in ("E309", "E310")
    # a table of tables of tables, deeper than lists may nest
    deep: list[object] = [1]
    for _ in range(40):
        deep = [deep]
    e = err(text, t=deep)
    assert e.error_code == "E309"
    assert time.perf_counter() - start < 5


CHECKED = {"tables": 0}


@settings(max_examples=40)
@given(
    st.lists(
        st.tuples(st.integers(1, 32), st.integers(0, 3), st.integers(1, 2)), min_size=1, max_size=5
    )
)
def test_for_each_copies_match_the_table(rows: list[tuple[int, int, int]]) -> None:
    assume(sum(n for _, n, _ in rows) > 0)
    table = [list(r) for r in rows]
    body = f"""
    params:
      t: {table}
    layers:
      - type: for_each
        rows: t
        fields: [c, n, s]
        count: n
        flat: true
        layer: {{type: conv2d, out_channels: c, kernel_size: 1, stride: "s if i == 0 else 1"}}
    """
    g = archspec.build_graph(spec(body))
    expected = [(c, s if i == 0 else 1) for c, n, s in rows for i in range(n)]
    got = [(n.attrs["out_channels"], n.attrs["stride"]) for n in g.root.nodes]
    assert [(c, s if isinstance(s, int) else s[0]) for c, s in got] == expected
    assert [n.name for n in g.root.nodes] == [str(k) for k in range(len(expected))]
    CHECKED["tables"] += 1


def test_the_table_property_ran() -> None:
    test_for_each_copies_match_the_table()
    assert CHECKED["tables"] >= 20


def test_a_param_read_by_a_name_template_is_fixed_in_emitted_code() -> None:
    body = """
    params:
      first: 1
    layers:
      - type: repeat
        count: 2
        flat: true
        names: "layer{i + first}"
        layer: {type: conv2d, out_channels: 8 * first, kernel_size: 1}
    """
    source = archspec.emit(spec(body))
    assert "first" not in source.split("def __init__", 1)[1].split(")", 1)[0]
    assert "self.layer1 = " in source and "self.layer2 = " in source
