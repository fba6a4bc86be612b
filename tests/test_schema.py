"""The JSON Schema editors use: fresh in docs/, named by every spec, and it judges like archspec.

jsonschema validates with the schema generated from the Pydantic models, so a spec that the
editor accepts is one that the loader's schema stage accepts too, and the mistakes people
make (a misspelt field, a wrong type, a layer without `type`) are flagged in the editor.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from archspec.cli import app
from archspec.schema import json_schema, json_schema_text

from .conftest import ROOT, SPECS, spec_files

SCHEMA_FILE = ROOT / "docs" / "archspec.schema.json"
MODELINE = "# yaml-language-server: $schema=../docs/archspec.schema.json"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """The schema, built once for the module (each build takes a second or more)."""
    return json_schema()


@pytest.fixture(scope="module")
def schema_text() -> str:
    """The schema's text as written to docs/ and by `archspec schema`, built once."""
    return json_schema_text()


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def load(name: str) -> dict[str, Any]:
    return yaml.safe_load((SPECS / f"{name}.yaml").read_text())


FILES = [p.stem for p in spec_files()]


def test_docs_schema_is_generated_from_the_models(schema_text: str) -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text, (
        "docs/archspec.schema.json is stale: run `archspec schema -o docs/archspec.schema.json`"
    )


def test_schema_command_writes_the_same_text(
    tmp_path: Path, schema: dict[str, Any], schema_text: str
) -> None:
    out = tmp_path / "s.json"
    result = CliRunner().invoke(app, ["schema", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text(encoding="utf-8") == schema_text
    printed = CliRunner().invoke(app, ["schema"])
    assert json.loads(printed.stdout) == schema


@pytest.mark.parametrize("name", FILES)
def test_spec_names_the_schema_on_its_first_line(name: str) -> None:
    first = (SPECS / f"{name}.yaml").read_text().splitlines()[0]
    assert first == MODELINE
    target = (SPECS / first.split("$schema=", 1)[1]).resolve()
    assert target == SCHEMA_FILE.resolve()


@pytest.mark.parametrize("name", FILES)
def test_every_builtin_spec_validates(validator: jsonschema.Validator, name: str) -> None:
    errors = [e.message for e in validator.iter_errors(load(name))]
    assert errors == []


def _matches(schema: dict[str, Any], layer: dict[str, Any]) -> list[str]:
    """The $defs members of the layer union that accept `layer`."""
    union = schema["properties"]["layers"]["items"]["oneOf"]
    names = []
    for member in union:
        sub = {"$defs": schema["$defs"], "$ref": member["$ref"]}
        if jsonschema.Draft202012Validator(sub).is_valid(layer):
            names.append(member["$ref"].rsplit("/", 1)[1])
    return names


def test_layers_and_block_calls_match_exactly_one_member(schema: dict[str, Any]) -> None:
    assert "oneOf" in schema["properties"]["layers"]["items"]
    inception = next(x for x in load("googlenet")["layers"] if x.get("type") == "Inception")
    assert _matches(schema, inception) == ["BlockCall"]
    conv = {"name": "c", "type": "conv2d", "out_channels": 8, "kernel_size": 3}
    assert _matches(schema, conv) == ["Conv2dSpec"]
    library = SPECS.parent / "archspec" / "library" / "blocks" / "resnet.yaml"
    residual = yaml.safe_load(library.read_text())["blocks"]["BasicBlock"]["layers"][0]
    assert _matches(schema, residual) == ["ResidualNode"]
    # A misspelt field on a built-in layer matches nothing, not the block-call catch-all.
    assert _matches(schema, {**conv, "out_chanels": 8}) == []


def _with_layer(layer: dict[str, Any]) -> dict[str, Any]:
    spec = copy.deepcopy(load("lenet5"))
    spec["layers"].append(layer)
    return spec


@pytest.mark.parametrize(
    ("what", "spec"),
    [
        ("unknown field", _with_layer({"type": "linear", "out_features": 3, "biass": False})),
        ("wrong type", _with_layer({"type": "linear", "out_features": [3]})),
        ("wrong type (bool)", _with_layer({"type": "linear", "out_features": 3, "bias": 1})),
        ("missing type", _with_layer({"name": "fc2", "out_features": 3})),
        ("layer kind as block", _with_layer({"type": "conv2d", "planes": 3})),
        ("unknown top-level field", {**load("lenet5"), "layer": []}),
        ("missing input", {k: v for k, v in load("lenet5").items() if k != "input"}),
        ("wrong version", {**load("lenet5"), "archspec": 2}),
    ],
)
def test_invalid_specs_fail(validator: jsonschema.Validator, what: str, spec: Any) -> None:
    assert not validator.is_valid(spec), what


def test_a_word_field_takes_its_words_and_a_param_in_the_schema(
    validator: jsonschema.Validator,
) -> None:
    """A word field (spec-language.md, word fields) is its words or text that names a
    param or is a template (it was the words alone: an editor flagged `fn: act`); a number
    is neither."""
    for fn in ("relu", "act", "{act}"):
        assert validator.is_valid(_with_layer({"type": "activation", "fn": fn})), fn
    assert not validator.is_valid(_with_layer({"type": "activation", "fn": 3}))
    assert not validator.is_valid(_with_layer({"type": "upsample", "mode": ["bilinear"]}))


def test_schema_and_loader_agree_on_a_misspelt_field(validator: jsonschema.Validator) -> None:
    """The editor's verdict is the compiler's: both reject the same spec."""
    import archspec

    spec = _with_layer({"type": "linear", "out_features": 3, "biass": False})
    assert not validator.is_valid(spec)
    with pytest.raises(archspec.ArchSpecError):
        archspec.build_graph(spec)
