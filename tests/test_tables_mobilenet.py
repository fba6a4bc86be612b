"""The worked example of config tables: torchvision's MobileNetV2 written as a `for_each`
over its `[t, c, n, s]` table, flat in `features`, with `let:` and `make_divisible`.

Checked against the zoo fixture (tests/parity/, recorded from torchvision 0.29.1): the
state_dict (keys, shapes, dtypes, order), the parameter count and the float64 output under
the fixture's deterministic weights."""

from __future__ import annotations

import gzip
import json

import torch

import archspec
from tests.conftest import ROOT
from tests.emit_helpers import _load
from tests.parity.weights import (
    deterministic_input,
    fill_deterministic,
    output_summary,
    summary_matches,
)

SPEC = ROOT / "examples" / "mobilenet_v2_table.yaml"
PARITY = ROOT / "tests" / "parity"


def test_state_dict_and_param_count_are_torchvisions() -> None:
    expected = json.loads(gzip.decompress((PARITY / "zoo_state_dicts.json.gz").read_bytes()))
    record = json.loads((PARITY / "zoo.json").read_text())["models"]["mobilenet_v2"]
    model = archspec.compile(SPEC, device="meta")
    ours = [
        [k, list(v.shape), str(v.dtype).removeprefix("torch.")]
        for k, v in model.state_dict().items()
    ]
    assert ours == expected["mobilenet_v2"]
    assert sum(p.numel() for p in model.parameters()) == record["param_count"] == 3_504_872
    # the 17 inverted residual blocks are numbered flat, after the stem
    names = [n for n, _ in model.features.named_children()]
    assert names == [str(k) for k in range(19)]


def test_output_is_torchvisions_in_float64() -> None:
    record = json.loads((PARITY / "zoo.json").read_text())["models"]["mobilenet_v2"]
    model = archspec.compile(SPEC).eval()
    model.load_state_dict(fill_deterministic(model.state_dict()))
    model = model.double()
    with torch.no_grad():
        out = model(deterministic_input(tuple(record["output"]["input_shape"])).double())
    # float64 against float64 (the residual adds included): only summation order may differ
    assert summary_matches(output_summary(out), record["output64"], rtol=1e-9) == []


def test_width_multiplier_rounds_channels_as_torchvision() -> None:
    # torchvision's mobilenet_v2(width_mult=0.5): stem 16, last 1280, block outputs rounded
    # with _make_divisible(c * 0.5, 8)
    model = archspec.compile(SPEC, width_mult=0.5, device="meta")
    assert model.features[0][0].out_channels == 16
    assert model.features[18][0].out_channels == 1280
    outs = [model.features[k].conv[-2].out_channels for k in range(1, 18)]
    assert outs == [8, 16, 16, 16, 16, 16, 32, 32, 32, 32, 48, 48, 48, 80, 80, 80, 160]


def test_emitted_source_equals_compile() -> None:
    graph = archspec.build_graph(SPEC)
    emitted = getattr(_load(archspec.emit(SPEC), "mobilenet_v2_table"), graph.class_name)()
    compiled = archspec.compile(SPEC).eval()
    compiled.load_state_dict(fill_deterministic(compiled.state_dict()))
    emitted.load_state_dict(compiled.state_dict())
    x = deterministic_input((1, 3, 64, 64))
    with torch.no_grad():
        torch.testing.assert_close(emitted.eval()(x), compiled(x))
