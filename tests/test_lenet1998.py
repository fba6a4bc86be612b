"""LeNet-5 of 1998 through the extension API: the paper's figures, and digits that train."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

import archspec
from archspec.dims import Dim
from archspec.ops import REGISTRY
from archspec.passes.costs import connections as per_sample

from .conftest import ROOT, SPECS

#: Section II.B of LeCun et al. (1998): (trainable parameters, connections) per layer.
PAPER = {
    "c1": (156, 122_304),
    "s2": (12, 5_880),
    "c3": (1_516, 151_600),
    "s4": (32, 2_000),
    "c5": (48_120, 48_120),
    "f6": (10_164, 10_164),
}


def test_layers_come_from_the_plugin_entry_point() -> None:
    from archspec.plugins import load_plugins

    assert "lenet1998" in load_plugins()
    for kind in ("scaled_tanh", "subsampling", "connection_table_conv2d", "euclidean_rbf"):
        assert REGISTRY[kind].__module__ == "archspec.contrib.lenet1998"


def test_parameters_and_connections_match_the_paper() -> None:
    graph = archspec.build_graph(SPECS / "lenet5_1998.yaml")
    for name, (params, connections) in PAPER.items():
        node = graph.root.node(name)
        op = REGISTRY[node.kind]
        assert op.params(node.attrs) == params, name
        # the op counts the whole batch N, the summary one sample (archspec.passes.costs)
        whole = op.connections(node.attrs, node.in_shapes, node.shape)
        assert whole == Dim.of("N") * connections, name
        assert per_sample(node, node.in_shapes, node.shape, Dim.of("N")) == connections, name
    model = archspec.compile(SPECS / "lenet5_1998.yaml")
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 60_000
    # the RBF prototypes are fixed: a buffer, not a parameter
    assert not list(model.output.parameters()) and model.output.prototypes.shape == (10, 84)


def test_connection_table_keeps_unconnected_kernels_at_zero() -> None:
    model = archspec.compile(SPECS / "lenet5_1998.yaml")
    c3 = model.c3
    x = torch.zeros(1, 6, 14, 14)
    x[0, 5] = 1.0  # only S2 map 5 is active
    y = c3(x) - c3.bias.view(1, -1, 1, 1)
    fed_by_5 = {3, 4, 5, 8, 9, 10, 11, 13, 14, 15}
    for j in range(16):
        assert (y[0, j].abs().sum() > 0) == (j in fed_by_5), j


def _example():
    path = ROOT / "examples" / "train_lenet_digits.py"
    spec = importlib.util.spec_from_file_location("train_lenet_digits", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_short_training_run_learns_digits() -> None:
    results = _example().run(epochs=4, seed=0, emitted=False, quiet=True)
    assert results["lenet5"] > 0.85
    assert results["lenet5_1998"] > 0.85


def test_the_epochs_progress_is_on_stderr_and_only_on_a_terminal(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    example = _example()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: False, raising=False)
    bar = example.progress_bar()
    assert bar.disable and bar.console.stderr
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    bar = example.progress_bar()
    assert not bar.disable and bar.console.stderr
    assert example.progress_bar(quiet=True).disable


def test_digits_are_loaded_locally_at_32x32() -> None:
    x_train, y_train, _x_test, y_test = _example().load_digits_32(0)
    assert x_train.shape[1:] == (1, 32, 32) and len(y_train) + len(y_test) == 1797
    assert x_train.min().item() == pytest.approx(-0.1, abs=1e-6)
    assert Path(ROOT / "specs" / "lenet5_1998.yaml").exists()


@pytest.mark.slow
def test_emitted_source_trains_like_the_compiled_model() -> None:
    """Loaded with the compiled model's initial weights, the emitted class trains the same."""
    results = _example().run(epochs=2, seed=0, emitted=True, quiet=True)
    compiled, emitted = results["lenet5_1998"], results["lenet5_1998 (emitted)"]
    assert compiled > 0.5
    assert abs(compiled - emitted) <= 1 / 450


def test_summary_reports_the_papers_parameters_and_connections() -> None:
    table = archspec.summary(SPECS / "lenet5_1998.yaml", input=(1, 1, 32, 32))
    rows = {r.path: r for r in table.rows}
    for name, (params, connections) in PAPER.items():
        assert rows[name].params == params, name
        assert rows[name].connections == connections, name
    assert "| Connections |" in table.to_markdown()
    assert table.to_dict()["total"]["connections"] == sum(
        r.connections.value for r in table.rows if r.connections is not None
    )
