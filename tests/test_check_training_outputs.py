"""`archspec check` labels the outputs a model returns in training mode only (a `train_only`
node in `outputs:`, GoogLeNet's and Inception v3's aux logits): one `output` line each, the
training-only ones named, and in JSON a `training_only` list beside `outputs`. They were
printed as plain outputs, as if eval mode returned them too.
"""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

import archspec
from archspec.cli import app

runner = CliRunner()

TWO_HEADS = """\
archspec: 1
name: two_heads
input: [N, 8]
layers:
  - {name: body, type: linear, out_features: 4}
  - {name: head, type: linear, out_features: 2}
  - {name: aux, type: linear, out_features: 3, from: body, train_only: true}
  - {name: side, type: linear, out_features: 5, from: body}
outputs: [head, aux, side]
"""


def cli(*args: str) -> str:
    result = runner.invoke(app, list(args), env={"NO_COLOR": "1", "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    return result.output


def test_each_training_only_output_is_labelled_in_its_place(tmp_path: Path) -> None:
    spec = tmp_path / "two.yaml"
    spec.write_text(TWO_HEADS)
    lines = [ln for ln in cli("check", str(spec)).splitlines() if ln.startswith("  output")]
    assert lines == [
        "  output  (N, 2)",
        "  output  (N, 3)  aux, training only",
        "  output  (N, 5)",
    ]
    record = json.loads(cli("check", str(spec), "--json"))[0]
    assert record["training_only"] == [None, "aux", None]
    keys = list(record)
    assert keys.index("training_only") == keys.index("outputs") + 1
    result = archspec.check(spec)
    assert result.training_only == (None, "aux", None)
    assert result.to_dict()["training_only"] == [None, "aux", None]


def test_googlenet_and_inception_v3_name_their_aux_logits() -> None:
    text = cli("check", "googlenet", "inception_v3", "--input", "1,3,299,299")
    assert "  output  (1, 1000)\n  output  (1, 1000)  aux2, training only\n" in text
    assert "  output  (1, 1000)  aux1, training only\n" in text
    assert "  output  (1, 1000)  AuxLogits, training only\n" in text
    records = json.loads(cli("check", "googlenet", "inception_v3", "--json"))
    assert [r["training_only"] for r in records] == [[None, "aux2", "aux1"], [None, "AuxLogits"]]


def test_a_model_whose_outputs_all_run_in_eval_keeps_one_line_and_no_field() -> None:
    text = cli("check", "resnet18")
    assert "  output  (N, 1000)\n" in text and "training only" not in text
    record = json.loads(cli("check", "resnet18", "--json"))[0]
    assert "training_only" not in record
    assert archspec.check("resnet18").training_only == (None,)


def test_the_report_copies_the_check_result_as_its_init_would(tmp_path: Path) -> None:
    """CheckReport.of copies the passes' result without the frozen __init__: the same
    report, field for field and in the same order, as CheckReport(**fields) makes."""
    import dataclasses

    from archspec import api
    from archspec.passes.pipeline import run

    spec = tmp_path / "two.yaml"
    spec.write_text(TWO_HEADS)
    analysis = api._lowered(api._parse(str(spec)), {}, api.DEFAULT_MAX_LAYERS)
    result = run(dataclasses.replace(analysis, symbolic_rows=False)).check_result()
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    made = api.CheckReport(**fields, training_only=(None, "aux", None))
    copied = api.CheckReport.of(result, analysis.graph)
    assert copied == made and repr(copied) == repr(made)
    assert vars(copied) == vars(made) and list(vars(copied)) == list(vars(made))
