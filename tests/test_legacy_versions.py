"""Older state_dict formats (`legacy_versions:`): MNASNet's version-1 checkpoints.

torchvision's MNASNet is `_version` 2; given a version-1 checkpoint (saved before its stem
scaled with alpha) its `_load_from_state_dict` rebuilds the stem with version 1's widths,
warns, and stays version 1. tests/parity/legacy.json (tests/parity/make_legacy.py) records
what torchvision's model is after such a load: its state_dict keys and shapes, its root
`_version`, its warnings and its float64 output under deterministic weights. The checkpoints
here are made from those shapes, without torchvision.
"""

from __future__ import annotations

import copy
import json
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch

import archspec
from archspec.errors import ArchSpecError

from .parity.weights import deterministic_input, fill_deterministic, output_summary, summary_matches

LEGACY = json.loads((Path(__file__).parent / "parity" / "legacy.json").read_text())["models"]


def _v1_checkpoint(record: dict[str, Any]) -> OrderedDict[str, torch.Tensor]:
    """A version-1 state_dict of the fixture's shapes, values from the parity formula."""
    shapes = OrderedDict(
        (k, torch.zeros(s, dtype=torch.long if k.endswith("num_batches_tracked") else None))
        for k, s in record["state_dict"]
    )
    state = OrderedDict(fill_deterministic(shapes))
    state._metadata = OrderedDict({"": {"version": 1}})  # type: ignore[attr-defined]
    return state


def _load(name: str, weights: Any, **kw: Any) -> tuple[torch.nn.Module, list[str]]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = archspec.load(name, weights=weights, **kw)
    assert all(w.filename == __file__ for w in caught)  # the caller's line, as torchvision's
    return model, [str(w.message) for w in caught]


@pytest.mark.parametrize("name", sorted(LEGACY))
def test_a_version_1_checkpoint_loads_as_torchvision_loads_it(name: str) -> None:
    record = LEGACY[name]
    model, said = _load(name, _v1_checkpoint(record))
    state = model.state_dict()
    assert [[k, list(v.shape)] for k, v in state.items()] == record["state_dict"]
    assert state._metadata[""]["version"] == record["root_version"]  # type: ignore[attr-defined]
    assert said == record["warnings"]  # torchvision's text, and only for alpha != 1
    with torch.no_grad():
        out = model.double().eval()(deterministic_input((1, 3, 224, 224)).double())
    assert summary_matches(output_summary(out), record["output"], rtol=1e-9) == []


def test_the_rebuilt_model_saves_version_1_and_loads_again(tmp_path: Path) -> None:
    model, _ = _load("mnasnet0_5", _v1_checkpoint(LEGACY["mnasnet0_5"]))
    assert type(model).__name__ == "MNASNet"
    path = tmp_path / "v1.pth"
    torch.save(model.state_dict(), path)
    again, said = _load("mnasnet0_5", str(path))
    assert len(said) == 1 and said[0].startswith("A new version of MNASNet model")
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        assert torch.equal(a, b), k


def test_the_version_1_layout_is_a_param_and_the_current_checkpoint_is_unchanged() -> None:
    v1 = archspec.load("mnasnet0_5", v1_stem=True)
    assert [list(v.shape) for v in v1.state_dict().values()] == [
        s for _, s in LEGACY["mnasnet0_5"]["state_dict"]
    ]
    current = archspec.load("mnasnet0_5").state_dict()
    assert current["layers.0.weight"].shape == (16, 3, 3, 3)
    model, said = _load("mnasnet0_5", current)  # version 2: loaded as it is, no warning
    assert said == [] and model._version == 2
    assert model.state_dict()["layers.0.weight"].shape == (16, 3, 3, 3)


def test_load_weights_rebuilds_a_compiled_model_in_place() -> None:
    record = LEGACY["mnasnet1_3"]
    checkpoint = _v1_checkpoint(record)
    model = archspec.compile("specs/mnasnet.yaml", variant="mnasnet1_3")
    classifier = model.classifier
    with pytest.warns(UserWarning, match="A new version of MNASNet model") as caught:
        diff = archspec.load_weights(model, checkpoint)
    assert [w.filename for w in caught] == [__file__]
    assert diff.compatible and model._version == 1 and model.classifier is classifier
    assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == record["state_dict"]
    assert all(torch.equal(v, checkpoint[k]) for k, v in model.state_dict().items())
    # the current format into the same (now version-1) model is the usual strict mismatch
    with pytest.raises(ArchSpecError):
        archspec.load_weights(model, archspec.load("mnasnet1_3").state_dict())


def test_load_state_dict_reads_version_1_as_torchvisions_does(tmp_path: Path) -> None:
    """torch's own load into a compiled model, also after pickling and deepcopy (the pre-hook
    goes with the model)."""
    record = LEGACY["mnasnet0_5"]
    checkpoint = _v1_checkpoint(record)
    built = archspec.compile("specs/mnasnet.yaml", variant="mnasnet0_5")
    torch.save(built, tmp_path / "model.pt")
    for model in (
        built,
        copy.deepcopy(archspec.compile("specs/mnasnet.yaml", variant="mnasnet0_5")),
        torch.load(tmp_path / "model.pt", weights_only=False),
    ):
        with pytest.warns(UserWarning, match="A new version of MNASNet model") as caught:
            model.load_state_dict(checkpoint)
        assert [w.filename for w in caught] == [__file__]
        assert [[k, list(v.shape)] for k, v in model.state_dict().items()] == record["state_dict"]
        assert model._version == 1 and type(model).__name__ == "MNASNet"


def test_a_model_that_cannot_rebuild_says_what_to_do() -> None:
    text = (Path(__file__).parent.parent / "specs" / "mnasnet.yaml").read_text()
    model = archspec.compile(text, variant="mnasnet0_5")  # from text: no file to build from
    with pytest.raises(ArchSpecError) as err:
        archspec.load_weights(model, _v1_checkpoint(LEGACY["mnasnet0_5"]))
    assert err.value.error_code == "E803"
    assert "saved by version 1 of the network class, the model is version 2" in err.value.hint
    assert "legacy_versions" in err.value.hint


def test_strict_false_warns_at_the_callers_line() -> None:
    checkpoint = archspec.load("mnasnet0_5").state_dict()
    with pytest.warns(archspec.WeightsWarning) as caught:
        archspec.load("mnasnet0_5", weights=checkpoint, num_classes=10, strict=False)
    assert [w.filename for w in caught] == [__file__]
    with pytest.warns(archspec.WeightsWarning) as caught:
        archspec.load_weights(archspec.load("mnasnet0_5", num_classes=10), checkpoint, strict=False)
    assert [w.filename for w in caught] == [__file__]


SPEC = """\
archspec: 1
name: net
input: [N, 3, 8, 8]
state_dict_version: 2
params:
  wide: {type: bool, default: false}
  width: {type: int, default: 4}
legacy_versions:
  - {version: 1, when: width != 4, params: {wide: true}, warning: old}
let:
  out: "8 if wide else width"
layers:
  - {name: conv, type: conv2d, out_channels: out, kernel_size: 3}
"""


def test_a_spec_of_ones_own_records_its_legacy_formats() -> None:
    graph = archspec.build_graph(SPEC, params={"width": 6})
    (entry,) = graph.legacy_formats
    assert (entry.version, entry.applies, dict(entry.params), entry.warning) == (
        1,
        True,
        {"wide": True},
        "old",
    )
    assert not archspec.build_graph(SPEC).legacy_formats[0].applies


@pytest.mark.parametrize(
    "entry,code,line,col",
    [
        ("{version: 2, params: {wide: true}}", "E301", 9, 15),
        ("{version: 1, params: {wdie: true}}", "E302", 9, 27),
        ("{version: 1, params: {wide: 3}}", "E309", 9, 33),
        ("{version: 1, when: widht != 4, params: {}}", "E302", 9, 24),
        ("{version: 1, params: {}, warn: x}", "E201", 9, 30),
        ("{version: 0, params: {}}", "E204", 9, 15),
    ],
)
def test_a_bad_entry_is_a_located_error(entry: str, code: str, line: int, col: int) -> None:
    text = SPEC.replace("{version: 1, when: width != 4, params: {wide: true}, warning: old}", entry)
    with pytest.raises(ArchSpecError) as info:
        archspec.build_graph(text)
    e = info.value
    assert e.error_code == code, e.render()
    assert e.span is not None and (e.span.line, e.span.col) == (line, col), e.render()


def test_check_validates_an_entrys_params_as_set_params_are() -> None:
    """`archspec check` finds what a load would refuse: an unknown param or a wrong type
    (at the entry), and an older layout the entry's params break (at the layer, named)."""
    for name, code, col in (("w", "E302", 45), ("wide", "E309", 51)):
        text = SPEC.replace("params: {wide: true}", f"params: {{{name}: 3}}")
        (diag,) = archspec.check(text, width=6).errors
        assert diag.code == code and diag.span is not None
        assert (diag.span.line, diag.span.col) == (9, col), diag.render()
        (same,) = archspec.check(SPEC, **{name: 3}).errors
        assert same.code == code  # the code the same param given by the caller gets
    broken = SPEC.replace("params: {wide: true}", "params: {width: 0}")
    (diag,) = archspec.check(broken, width=6).errors
    assert diag.code == "E309" and "legacy version 1's layout (width: 0)" in diag.message
    assert diag.span is not None and diag.span.line == 13  # the layer it breaks
    assert archspec.check(broken).ok  # width 4: the entry's `when` does not hold, no such load
    assert archspec.check(SPEC, width=6).ok


def test_check_walks_the_older_layout_without_a_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """check lowers and checks the older layout a load would build (its errors are check's),
    and, as for the spec itself, asks the symbolic walk for no rows nobody reads."""
    from archspec.passes import pipeline

    asked: list[bool] = []
    real = pipeline.infer_shapes
    monkeypatch.setattr(
        pipeline,
        "infer_shapes",
        lambda graph, shape, rows=True, **more: (
            asked.append(rows),
            real(graph, shape, rows=rows, **more),
        )[1],
    )
    assert archspec.check("mnasnet0_5").ok
    assert asked == [False, False]  # the spec, then its version-1 layout
