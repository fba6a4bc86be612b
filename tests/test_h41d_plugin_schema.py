"""A plugin's field whose type JSON Schema cannot state (a callable, a type of its own with a
plain validator function) leaves that field open in the editor schema: `archspec schema
--plugins FILE` was an internal error (exit 3, PydanticInvalidForJsonSchema), and so was
`archspec new` with the plugin, which writes the schema beside the spec, while check and
compile of a spec using the kind worked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from archspec.cli import app

from .conftest import plugins_restored

runner = CliRunner()

PLUGIN = '''\
from typing import Any, Callable, Literal

from pydantic_core import core_schema
from torch import nn

import archspec


class Odd:
    """A value of the plugin's own, validated by a plain function."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        return core_schema.no_info_plain_validator_function(lambda v: v)


class OpenSpec(archspec.LayerSpec):
    """open_fields: fields JSON Schema cannot state."""

    type: Literal["open_fields"]
    fn: Callable[[int], int] = abs
    odd: Odd = None
    width: archspec.Int(ge=1) = 3


class OpenOp(archspec.Op):
    kind = "open_fields"
    spec = OpenSpec
    torch_name = "Identity"

    def infer(self, attrs, inputs, ctx):
        return archspec.Inferred(attrs, tuple(inputs[0]))

    def build(self, a):
        return nn.Identity()

    def emit(self, a, lit):
        return "nn.Identity()"
'''

SPEC = """\
archspec: 1
name: open_net
input: [N, 3]
layers:
  - {type: open_fields, width: 2}
"""


@pytest.fixture
def plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.delenv("ARCHSPEC_PLUGINS", raising=False)
    path = tmp_path / "open_fields.py"
    path.write_text(PLUGIN)
    with plugins_restored():
        yield path


def test_schema_of_a_plugin_field_json_schema_cannot_state_leaves_it_open(plugin: Path) -> None:
    done = runner.invoke(app, ["schema", "--plugins", str(plugin)])
    assert done.exit_code == 0, done.output
    assert "Warning" not in done.stderr  # pydantic's, of the default JSON cannot hold
    fields = json.loads(done.stdout)["$defs"]["OpenSpec"]["properties"]
    assert fields["fn"] == {"title": "Fn"} or "type" not in fields["fn"], fields["fn"]
    assert "type" not in fields["odd"], fields["odd"]
    assert fields["width"] != {}  # a field it states is stated as before
    assert fields["type"]["const"] == "open_fields"


def test_new_with_such_a_plugin_writes_the_spec_and_its_schema(
    plugin: Path, tmp_path: Path
) -> None:
    target = tmp_path / "net.yaml"
    done = runner.invoke(app, ["new", "net", "-o", str(target), "--plugins", str(plugin)])
    assert done.exit_code == 0, done.output
    assert "OpenSpec" in (tmp_path / "archspec.schema.json").read_text()


def test_a_spec_using_the_kind_checks_as_before(plugin: Path, tmp_path: Path) -> None:
    spec = tmp_path / "open_net.yaml"
    spec.write_text(SPEC)
    done = runner.invoke(app, ["check", str(spec), "--plugins", str(plugin)])
    assert done.exit_code == 0, done.output
