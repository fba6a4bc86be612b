"""`archspec.summary`: published figures, column sums equal to totals at every depth, the
symbolic table agreeing with the concrete one, and each output format."""

from __future__ import annotations

import csv
import io
import json

import pytest
from rich.console import Console

import archspec
from archspec.dims import Dim
from archspec.passes.costs import graph_cost
from archspec.report import Summary

from .conftest import spec_names, spec_source, zoo_params

#: (params, MACs at 1x3x224x224 / the declared input); torchvision publishes resnet50 at
#: 4.09 GFLOPS, vgg16 at 15.47 and alexnet at 0.71 (its "FLOPS" count MACs).
FIGURES = {
    "resnet50": (25_557_032, 4_089_184_256),
    "vgg16": (138_357_544, 15_470_264_320),
    "alexnet_torchvision": (61_100_840, 714_188_480),
}


@pytest.mark.parametrize("name", sorted(FIGURES))
def test_published_figures(name: str) -> None:
    s = archspec.summary(spec_source(name), input=(1, 3, 224, 224))
    params, macs = FIGURES[name]
    assert s.params == params
    assert s.macs == macs
    assert f"({macs / 1e9:.2f} G)" in s.footer()


def test_resnet50_in_giga_macs_is_torchvisions_figure() -> None:
    s = archspec.summary("resnet50", input=(1, 3, 224, 224))
    assert round(s.macs.value / 1e9, 2) == 4.09


def _sums(s: Summary) -> tuple[int, Dim]:
    rows = [r for r in s.rows if not r.is_heading]
    return sum(r.params or 0 for r in rows), sum((r.macs or Dim.of(0) for r in rows), Dim.of(0))


@pytest.mark.parametrize("name", zoo_params(spec_names(), share=(0, 2)))
def test_column_sums_equal_totals_at_every_depth(name: str) -> None:
    path = spec_source(name)
    graph = archspec.build_graph(path)
    cost = graph_cost(graph)
    declared = archspec.summary(path)
    for depth in (None, 1, 2, 3):
        for s in (archspec.summary(path, depth=depth),):
            assert _sums(s) == (s.params, s.macs), (name, depth)
            assert s.params == cost.params
    # symbolic totals, substituted, equal the costs pass at the declared input
    env = {"N": 1, "H": graph.input_shape[2].value, "W": graph.input_shape[3].value}
    assert declared.macs.evaluate(env) == cost.macs.evaluate({"N": 1})
    assert declared.example_macs == cost.macs.evaluate({"N": 1})


def test_symbolic_rows_substituted_equal_the_concrete_rows() -> None:
    symbolic = archspec.summary("googlenet")
    concrete = archspec.summary("googlenet", input=(2, 3, 160, 192))
    env = {"N": 2, "H": 160, "W": 192}
    assert [r.path for r in symbolic.rows] == [r.path for r in concrete.rows]
    for a, b in zip(symbolic.rows, concrete.rows):
        assert tuple(d.evaluate(env) for d in a.shape) == tuple(d.value for d in b.shape)
        assert a.params == b.params
        if a.macs is not None and b.macs is not None:
            assert a.macs.evaluate(env) == b.macs.value, a.path
    assert symbolic.macs.evaluate(env) == concrete.macs.value


def test_depth_folds_modules_into_single_rows() -> None:
    s = archspec.summary("resnet50", input=(1, 3, 224, 224), depth=1)
    assert [r.path for r in s.rows] == [
        "conv1",
        "bn1",
        "relu",
        "maxpool",
        "layer1",
        "layer2",
        "layer3",
        "layer4",
        "avgpool",
        "flatten",
        "fc",
    ]
    layer1 = s.rows[4]
    assert layer1.folded and layer1.type == "Sequential" and layer1.params == 215_808
    two = archspec.summary("resnet50", depth=2)
    assert two.rows[4].is_heading and two.rows[5].path == "layer1.0"
    assert two.rows[5].type == "Bottleneck" and two.rows[5].folded
    with pytest.raises(ValueError):
        archspec.summary("resnet50", depth=0)


def test_symbolic_macs_read_as_kernel_cost_times_output() -> None:
    s = archspec.summary("lenet5")
    row = {r.path: r for r in s.rows}
    assert row["features.c1"].macs_text == "150*N*(H - 4)*(W - 4)"
    assert row["features.c1"].shape_text == "(N, 6, H - 4, W - 4)"
    assert row["flatten"].shape_text == "(N, 16*(H//4 - 3)*(W//4 - 3))"
    assert row["classifier.c5"].macs_text == "48000*N"
    assert s.example_macs == 416_520


def test_train_only_layers_are_marked() -> None:
    s = archspec.summary("googlenet", input=(1, 3, 224, 224), depth=1)
    marked = {r.path for r in s.rows if r.train_only}
    assert marked == {"aux1", "aux2"}
    assert "| `aux1` | InceptionAux (train) |" in s.to_markdown()


def test_formats_carry_the_same_numbers() -> None:
    s = archspec.summary("resnet18", input=(1, 3, 224, 224), depth=2)
    data = json.loads(s.to_json())
    assert data["total"] == {
        "params": s.params,
        "macs": s.macs.value,
        "connections": s.connections.value,
    }
    assert sum(r["params"] or 0 for r in data["rows"]) == s.params
    rows = list(csv.DictReader(io.StringIO(s.to_csv())))
    assert len(rows) == len(s.rows)
    assert sum(int(r["macs"]) for r in rows if r["macs"]) == s.macs.value
    assert sum(int(r["connections"]) for r in rows if r["connections"]) == s.connections.value
    md = s.to_markdown().splitlines()
    assert md[2] == "| Layer | Type | Output shape | Params | MACs | Connections |"
    assert md[-3] == (
        f"| **Total** | | | **{s.params:,}** | **{s.macs.value:,}** | **{s.connections.value:,}** |"
    )
    console = Console(record=True, width=160)
    console.print(s.table())
    text = console.export_text()
    assert "Total" in text and f"{s.params:,}" in text and "layer4" in text


def test_symbolic_json_keeps_expressions_as_text() -> None:
    data = archspec.summary("vgg16", depth=1).to_dict()
    assert data["input"] == "(N, 3, H, W)"
    assert data["rows"][0]["output_shape"] == "(N, 512, H//32, W//32)"
    assert isinstance(data["total"]["macs"], str) and "H//2" in data["total"]["macs"]
    assert data["example"] == {"input": "(1, 3, 224, 224)", "macs": 15_470_264_320}


def test_summary_refuses_an_input_the_network_cannot_take() -> None:
    with pytest.raises(archspec.ArchSpecError) as info:
        archspec.summary("vgg16", input=(1, 3, 16, 16))
    assert info.value.error_code == "E405"


def test_csv_cells_never_start_a_spreadsheet_formula() -> None:
    """Keys are the spec's text: `=1+2` or `+SUM(A1)` in a CSV cell would run as a formula
    when the file is opened in a spreadsheet (CSV injection); they get a leading `'`."""
    spec = """
archspec: 1
name: inj
input: [N, 4]
layers:
  - {type: linear, out_features: 3, key: "=1+2"}
  - {type: relu, key: "+SUM(A1)"}
  - {type: relu, key: "-x"}
  - {type: relu, key: "@x"}
  - {type: relu, key: "plain=1"}
"""
    rows = list(csv.DictReader(io.StringIO(archspec.summary(spec).to_csv())))
    assert [r["path"] for r in rows] == ["'=1+2", "'+SUM(A1)", "'-x", "'@x", "plain=1"]
    assert all(r["name"] == r["path"] for r in rows)
    assert rows[0]["params"] == "15" and rows[0]["macs"] == "12*N"


def test_a_count_formats_as_an_int_and_a_symbolic_one_says_it_has_no_value() -> None:
    """`f"{table.macs:,}"` raised 'unsupported format string passed to Dim.__format__'."""
    table = archspec.summary("lenet5", input=(2, 1, 32, 32))
    assert f"{table.macs:,}" == f"{int(table.macs):,}" and "," in f"{table.macs:,}"
    assert f"{table.macs:>20}" == f"{int(table.macs):>20}"
    symbolic = archspec.summary("lenet5").macs
    assert not symbolic.is_const and f"{symbolic}" == str(symbolic)
    with pytest.raises(TypeError, match="no one value: give a concrete input"):
        f"{symbolic:,}"


_SIZED = """
archspec: 1
name: sized
input: [N, 3, 16, 16]
params:
  input_size: {type: int, default: 4}
layers:
  - {type: conv2d, out_channels: input_size, kernel_size: 3}
"""


def test_input_size_is_the_input_of_a_spec_too() -> None:
    """torchinfo's name, which a module's summary takes: a spec's summary read it as a spec
    param, E302 'unknown param `input_size`' pointing at the spec's params as if the spec
    were wrong. A param of that name is reached through params=, as `depth` is."""
    assert archspec.summary("resnet50", input_size=(1, 3, 224, 224)).macs.value == 4_089_184_256
    s = archspec.summary(_SIZED, input_size=(2, 3, 8, 8), params={"input_size": 5})
    assert s.params == 5 * 3 * 9 + 5 and s.input_shape == (2, 3, 8, 8)
    with pytest.raises(TypeError, match="input_size= or input=, not both"):
        archspec.summary("lenet5", input=(1, 1, 32, 32), input_size=(1, 1, 32, 32))
